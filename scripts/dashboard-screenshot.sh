#!/usr/bin/env bash
# Saves a PNG of a running validator's dashboard, rendered by Debian's Chromium (headless;
# installed if missing): scripts/dashboard-screenshot.sh [URL] [OUT.png]
# URL defaults to the localnet's first validator (http://127.0.0.1:8092/), OUT to
# docs/dashboard.png.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
case "${1:-}" in -h | --help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
url="${1:-http://127.0.0.1:8092/}"
out="${2:-$REPO_ROOT/docs/dashboard.png}"
need_apt chromium fonts-dejavu-core
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
  --user-data-dir="$profile" --window-size=1400,1100 --virtual-time-budget=6000 \
  --screenshot="$out" "$url" 2>/dev/null
log "saved $out"
