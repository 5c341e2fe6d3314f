#!/usr/bin/env bash
# Independent check of vknmt's gradients against the PyTorch reference
# (shared/ref, float64): for the tiny and small presets and every
# readout/attention combination, the reference writes a random model and
# batch and its gradients; `vknmt grad` computes ours on the device;
# compare_grads.py prints every tensor's relative error (must be < 1e-4).
# Needs Debian's python3-torch and python3-numpy; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
VKNMT=${VKNMT:-build/vknmt}
REF=${REF:-../shared/ref}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0
for cfg in tiny small; do
  for readout in maxout linear; do
    for attention in additive none; do
      name=$cfg-$readout-$attention
      echo "== $name"
      (cd "$REF" && /usr/bin/python3 check_grads.py --cfg $cfg --make-batch "$WORK/$name.batch.safetensors" \
          --B 8 --max-src 12 --max-tgt 10 >/dev/null &&
       /usr/bin/python3 check_grads.py --cfg $cfg --seed 1 --init test --readout $readout --attention $attention \
          --batch "$WORK/$name.batch.safetensors" --out "$WORK/$name.ref.safetensors" \
          --save-ckpt "$WORK/$name.params.safetensors" >/dev/null)
      "$VKNMT" grad --model "$WORK/$name.params.safetensors" --batch "$WORK/$name.batch.safetensors" \
          --out "$WORK/$name.vknmt.safetensors"
      (cd "$REF" && /usr/bin/python3 compare_grads.py "$WORK/$name.ref.safetensors" "$WORK/$name.vknmt.safetensors" \
          --tol 1e-4) || status=1
    done
  done
done
exit $status
