#!/usr/bin/env bash
# Convergence study: N simulated miners, centralized AdamW vs DiLoCo vs SparseLoCo (the
# gradient codec) on the same pages and tokens. Writes runs/study-<preset>/study.{csv,svg,md}.
#   scripts/study.sh [--preset tiny|small] [any other `model study` flag]
# Sizes: tiny (default) 12 windows x 10 inner steps x 4 pages, ~6 min on 2 cores;
#        small 12 x 10 x 4, about 10x longer.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

preset=tiny extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) extra+=("$1"); shift ;;
  esac
done

setup_prereqs
build_release
data=$(prepare_fortunes 256)
out="$REPO_ROOT/runs/study-$preset"
log "study: preset $preset -> $out"
"$BIN_DIR/model" study --preset "$preset" --data "$data" --out "$out" \
  --miners 4 --windows 12 --inner-steps 10 --batch 4 "${extra[@]}"
