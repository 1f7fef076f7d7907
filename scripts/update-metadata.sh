#!/usr/bin/env bash
# Rewrites metadata/subnet.scale from the runtime the node runs (V16, SCALE, `meta` prefix).
#
#   scripts/update-metadata.sh
#
# Builds the node, starts a throwaway dev chain and saves what its runtime serves. The test
# `checked_in_metadata_matches_the_runtime` (chain/devnode/tests/devnode/metadata.rs) fails while the
# checked-in file differs, so commit the result together with the runtime change.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
no_args_but_help "$@"
# Only the node and the devnode test: the client, which the rest of the workspace needs, is
# generated from the very file this script writes.
build_workspace --test devnode --test cli
mkdir -p "$REPO_ROOT/metadata"
cd "$REPO_ROOT"
SUBNET_NODE_BIN="$NODE_BIN" UPDATE_METADATA=1 cargo test "${WORKSPACE_ARGS[@]}" --test devnode \
  -- --nocapture metadata::
git -C "$REPO_ROOT" status --short metadata/
