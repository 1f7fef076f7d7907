#!/usr/bin/env bash
# The main job as it stands: set up, prepare the corpus, train the `small` model as a
# single-process baseline, then sample from it.
#   scripts/train.sh [--preset small] [--steps 200] [any other `model train` flag]
# Outputs go to runs/<preset>/: model.safetensors, config.json, tokenizer.json, loss.csv, loss.svg.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

preset=small steps=200 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) extra+=("$1"); shift ;;
  esac
done

setup_prereqs
build_release
data=$(prepare_fortunes 256)
out="$REPO_ROOT/runs/$preset"
log "training preset $preset for $steps steps -> $out"
"$BIN_DIR/model" train --preset "$preset" --data "$data" --out "$out" --steps "$steps" \
  --warmup $(( steps / 10 + 1 )) "${extra[@]}"
"$BIN_DIR/model" eval --checkpoint "$out" --data "$data/val"
log "three samples from the trained model (top-p 0.9, temperature 0.8):"
for seed in 1 2 3; do
  "$BIN_DIR/model" generate --checkpoint "$out" --prompt "The " --max-new 80 --seed "$seed"
  echo "---"
done
log "loss curve: $out/loss.svg (CSV: $out/loss.csv)"
