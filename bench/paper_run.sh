#!/usr/bin/env bash
# The paper's comparison on the Bible corpus (issue 5): RNNsearch and
# RNNencdec of the same sizes, trained on the same data for the same number
# of updates (in parallel), each picked by dev cross-entropy, then evaluated
# on the test split against the WEB references beside Apertium.
#
#   bench/paper_run.sh            # train (or resume) both, then evaluate
#   bench/paper_run.sh eval       # evaluate what is there
#
# Environment: VKNMT (binary, default build/vknmt), DATA (the corpus folder:
# train/dev/test .es/.en, default ../shared/data/bible-es-en or demo/corpus),
# OUT (default bench/paper-run), STEPS (updates per model), TRAIN_OPTS (model
# and optimiser options passed to both), BEAM (default 12), NICE (default 10),
# FIGS (where the two pictures go: bench/ for the default OUT, else OUT).
# Hours on lavapipe: run it in the background (nohup ... &).
set -euo pipefail
cd "$(dirname "$0")/.."

VKNMT=${VKNMT:-build/vknmt}
DATA=${DATA:-../shared/data/bible-es-en}
[ -f "$DATA/train.es" ] || DATA=demo/corpus
OUT=${OUT:-bench/paper-run}
STEPS=${STEPS:-600}
TRAIN_OPTS=${TRAIN_OPTS:-"--preset small --batch 40 --optimizer adam --lr 0.001"}
BEAM=${BEAM:-12}
if [ "$OUT" = bench/paper-run ]; then FIGS=${FIGS:-bench}; else FIGS=${FIGS:-$OUT}; fi
NICE=${NICE:-10}
mkdir -p "$OUT"

train_one() { # name attention
    local name=$1 att=$2 resume=""
    [ -f "$OUT/$name/train_state.safetensors" ] && resume=--resume
    # shellcheck disable=SC2086  # TRAIN_OPTS is a list of options
    nice -n "$NICE" "$VKNMT" train --src "$DATA/train.es" --tgt "$DATA/train.en" \
        --dev-src "$DATA/dev.es" --dev-tgt "$DATA/dev.en" --attention "$att" $TRAIN_OPTS \
        --steps "$STEPS" --valid-every 100 --save-every 100 --patience 1000 --seed 1234 \
        --out "$OUT/$name" $resume --quiet >>"$OUT/$name.log" 2>&1
}

if [ "${1:-}" != eval ]; then
    echo "training RNNsearch and RNNencdec for $STEPS updates each ($TRAIN_OPTS); logs in $OUT/*.log"
    date -u +"start %F %T UTC" >>"$OUT/times.txt"
    train_one rnnsearch additive &
    a=$!
    train_one rnnencdec none &
    b=$!
    wait $a
    wait $b
    date -u +"trained %F %T UTC" >>"$OUT/times.txt"
fi

# Apertium's output, made here if the corpus does not come with it.
ape="$DATA/test.apertium.en"
if [ ! -f "$ape" ]; then
    ape="$OUT/test.apertium.en"
    apertium -u spa-eng "$DATA/test.es" "$ape"
fi

"$VKNMT" eval --beam "$BEAM" --src "$DATA/test.es" --ref "$DATA/test.en" \
    -m "$OUT/rnnsearch/best.safetensors" --label RNNsearch --save-hyp "$OUT/test.rnnsearch.en" \
    -m "$OUT/rnnencdec/best.safetensors" --label RNNencdec --save-hyp "$OUT/test.rnnencdec.en" \
    --hyp "$ape" --label Apertium \
    --plot "$FIGS/bleu_by_length.png" | tee "$OUT/eval.txt"

# The attention of a long verse (the longest test verse of at most 50 words).
line=$(awk '{ n = NF } n <= 50 && n > best { best = n; at = NR } END { print at }' "$DATA/test.es")
"$VKNMT" align -m "$OUT/rnnsearch/best.safetensors" -i "$DATA/test.es" --line "$line" \
    -o "$FIGS/alignment_long.png" --ascii >"$OUT/alignment_long.txt"
date -u +"evaluated %F %T UTC" >>"$OUT/times.txt"
