#!/usr/bin/env bash
# Installs what the project needs (apt packages, the default corpus) and builds it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
setup_prereqs
build_release
log "ready: binaries in $BIN_DIR"
