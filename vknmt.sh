#!/usr/bin/env bash
# vknmt's two commands on a fresh Debian 12 machine:
#   ./vknmt.sh demo   the main job: installs what is missing, builds, makes the
#                     Bible corpus from Debian's SWORD packages, trains
#                     RNNsearch on the best device, translates the test split,
#                     shows BLEU, samples and pictures (in demo/)
#   ./vknmt.sh test   builds and runs the test suite
# Environment: BUILD_DIR (default build), SANITIZE=1 for an ASan+UBSan build,
# WERROR=1 to build with -Werror; for the demo DEMO_MINUTES (training budget,
# default 20 on a CPU device, 5 on a GPU), DEMO_FRESH=1 (train from scratch
# instead of resuming), DEMO_BEAM (default 5).
set -euo pipefail
cd "$(dirname "$0")"

BUILD_DIR=${BUILD_DIR:-build}
PACKAGES="cmake gcc make pkg-config libvulkan-dev libvulkan-volk-dev glslang-tools spirv-tools
mesa-vulkan-drivers vulkan-validationlayers libopenblas-dev libcjson-dev libcairo2-dev libutf8proc-dev
fonts-dejavu-core libsword-utils sword-text-sparv sword-text-web"

deps() {
    local missing=()
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "vknmt: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() { # [target]
    deps
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
        -DVKNMT_WERROR="${WERROR:-OFF}" -DVKNMT_SANITIZE="${SANITIZE:-OFF}" >/dev/null
    cmake --build "$BUILD_DIR" -j "$(nproc)" ${1:+--target "$1"}
}

# The chosen device's type (cpu, discrete, integrated, virtual) from
# `vknmt devices`, where `*` marks the one vknmt uses.
device_type() {
    "$BUILD_DIR/vknmt" devices | awk '/^\*/ { chosen = 1; next } chosen && $1 == "type" { print $2; exit }'
}

demo() {
    local vknmt="$BUILD_DIR/vknmt" corpus=demo/corpus model=demo/model
    mkdir -p demo
    local type
    type=$(device_type)
    [ -n "$type" ] || { echo "vknmt: no Vulkan device (vknmt devices)" >&2; exit 1; }
    echo "== device"
    "$vknmt" devices | grep '^\*'

    echo "== corpus: Spanish (Reina-Valera 1909) -> English (World English Bible), from Debian's SWORD modules"
    if [ -f $corpus/test.ref ]; then
        echo "reusing $corpus (remove it to rebuild)"
    else
        "$vknmt" corpus bible --out $corpus
    fi

    local minutes=${DEMO_MINUTES:-}
    [ -n "$minutes" ] || { [ "$type" = cpu ] && minutes=20 || minutes=5; }
    [ "${DEMO_FRESH:-0}" = 1 ] && rm -rf $model
    # A model of another recipe (an older demo's) cannot be resumed with this one.
    local recipe="small bpe8000 dropout0.2 adam0.001 batch40 seed1234"
    if [ -f $model/train_state.safetensors ] && [ "$(cat $model/recipe 2>/dev/null)" != "$recipe" ]; then
        echo "$model was trained with another recipe: starting again"
        rm -rf $model
    fi
    mkdir -p $model
    echo "$recipe" >$model/recipe
    local resume=()
    [ -f $model/train_state.safetensors ] && resume=(--resume)
    echo "== training RNNsearch (small: 256-wide, 8000 BPE merges, dropout 0.2, Adam) for at most $minutes min on a $type device"
    [ ${#resume[@]} -gt 0 ] && echo "resuming $model (DEMO_FRESH=1 starts again; a finished run goes straight to evaluation)"
    "$vknmt" train --src $corpus/train.es --tgt $corpus/train.en --dev-src $corpus/dev.es --dev-tgt $corpus/dev.en \
        --preset small --bpe 8000 --src-vocab 8004 --tgt-vocab 8004 --dropout 0.2 --batch 40 --optimizer adam \
        --lr 0.001 --valid-every 100 --valid-bleu 100 --save-every 50 \
        --time-limit "${minutes}m" --seed 1234 --out $model "${resume[@]}"
    local pick=$model/best.safetensors
    [ -f $pick ] || pick=$model/model.safetensors

    echo "== translating the test split (${DEMO_BEAM:-5}-beam search) and scoring it against the WEB"
    "$vknmt" eval -m $pick --label RNNsearch --save-hyp demo/test.hyp.en --beam "${DEMO_BEAM:-5}" \
        --src $corpus/test.es --ref $corpus/test.en --plot demo/bleu_by_length.png

    echo "== five test verses"
    # verses of 8 to 20 words, spread over the test split
    awk 'NF >= 8 && NF <= 20 { print NR }' $corpus/test.es >demo/.candidates
    awk -v n="$(wc -l <demo/.candidates)" 'NR % int(n / 5) == 1' demo/.candidates | head -5 | while read -r n; do
        echo "  source      $(sed -n "${n}p" $corpus/test.es)"
        echo "  reference   $(sed -n "${n}p" $corpus/test.en)"
        echo "  vknmt       $(sed -n "${n}p" demo/test.hyp.en)"
        echo
    done

    echo "== attention of one verse (demo/alignment.png)"
    local line
    line=$(awk 'NF >= 14 && NF <= 18 { print NR; exit }' $corpus/test.es)
    "$vknmt" align -m $pick -i $corpus/test.es --line "$line" -o demo/alignment.png
    echo
    echo "done: demo/bleu_by_length.png, demo/alignment.png, demo/test.hyp.en; the model is in $model"
}

case "${1:-}" in
test)
    build
    ctest --test-dir "$BUILD_DIR" --output-on-failure
    ;;
demo)
    build vknmt
    demo
    ;;
build)
    build
    ;;
*)
    echo "usage: $0 demo|test|build" >&2
    exit 2
    ;;
esac
