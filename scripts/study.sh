#!/usr/bin/env bash
# Convergence study: N simulated miners, centralized AdamW vs DiLoCo vs SparseLoCo (the
# gradient codec) on the same pages and tokens. Writes runs/study-<preset>/study.{csv,svg,md}.
#   scripts/study.sh [--preset tiny|small] [any other `model study` flag]
# Defaults: 4 miners, 12 windows x 10 inner steps x 4 pages of 256 tokens (480k tokens a run):
# tiny (default) takes about 7 minutes on 2 cores, small about 45.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

preset=tiny extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) extra+=("$1"); shift ;;
  esac
done

setup_prereqs
build_release
data=$(prepare_fortunes 256)
out="$REPO_ROOT/runs/study-$preset"
log "study: preset $preset -> $out"
"$BIN_DIR/model" study --preset "$preset" --data "$data" --out "$out" \
  "${extra[@]}"
