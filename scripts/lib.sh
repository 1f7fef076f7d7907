# Shared helpers for the project's scripts: `source "$(dirname "$0")/lib.sh"`.
# Idempotent: every install step checks first, so re-running costs nothing.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_HOME="${XDG_CACHE_HOME:-$HOME/.cache}/llm-subnet"
# The cargo target dir lives outside the clone so a fresh clone (CI) reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_HOME/target}"
BIN_DIR="$CARGO_TARGET_DIR/release"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need_apt PKG...: installs the Debian packages that are not installed yet.
need_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# no_args_but_help "$@": for scripts without options; `-h`/`--help` prints the script's header
# comment (its lines after the shebang, up to the first line that is not a comment).
no_args_but_help() {
  case "${1:-}" in
    "") ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
}

need_cargo() {
  command -v cargo >/dev/null || die "cargo is not installed: install Rust with rustup (https://rustup.rs)"
}

# Build prerequisites and the default corpus (Debian's fortunes, BSD licence). libopenblas0 is
# only for the optional `--gemm openblas` backend (loaded at run time) and its tests.
setup_prereqs() {
  need_apt fortunes libopenblas0 pkg-config gcc g++ python3
  need_cargo
}

# Debian's Chromium, which the end-to-end test opens the validator's dashboard in (headless).
setup_browser() {
  need_apt chromium
}

# The model's binaries (training, study, benchmarks); the chain builds on its own.
build_release() {
  log "building the model (release, target dir $CARGO_TARGET_DIR)"
  (cd "$REPO_ROOT" && cargo build --release -p model --locked)
}

# The devnet node's build prerequisites (litep2p/libp2p need protoc; ParityDb needs no libclang).
setup_node_prereqs() {
  need_apt protobuf-compiler libssl-dev pkg-config gcc g++
  need_cargo
}

NODE_BIN="$BIN_DIR/subnet-node"
# The wasm runtime the node embeds: the fast-blocks build, or a blob of the caller's own in
# SUBNET_RUNTIME_WASM (then used as it is). Every cargo command that builds the node hands it
# the same file, so none of them rebuilds the node for a changed environment.
RUNTIME_WASM_GIVEN="${SUBNET_RUNTIME_WASM:+1}"
export SUBNET_RUNTIME_WASM="${SUBNET_RUNTIME_WASM:-$CACHE_HOME/runtime/subnet_runtime-fast-blocks.wasm}"

CHAIN_VENV="$CACHE_HOME/chain-venv"
CHAIN_PY="$CHAIN_VENV/bin/python"

# setup_venv VENV REQUIREMENTS WHAT: a cached venv with pinned wheels, rebuilt only when the
# requirements file changes.
setup_venv() {
  local venv="$1" req="$2" what="$3" stamp="$1/.requirements"
  if [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp"; then return 0; fi
  need_apt python3 python3-venv
  log "installing $what into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary :all: -r "$req" >&2
  cp "$req" "$stamp"
}

# polkascan's substrate-interface: an independent client for the localnet's setup and the
# interop check (scripts/chain/requirements.txt).
setup_chain_venv() {
  setup_venv "$CHAIN_VENV" "$REPO_ROOT/scripts/chain/requirements.txt" substrate-interface
}

# Bittensor's wallet package for the wallet interop check (scripts/wallet-interop.sh).
WALLET_VENV="$CACHE_HOME/btwallet-venv"
WALLET_PY="$WALLET_VENV/bin/python"
setup_wallet_venv() {
  setup_venv "$WALLET_VENV" "$REPO_ROOT/scripts/wallet/requirements.txt" bittensor-wallet
}

# Features every build of the workspace uses, so the chain stack is compiled once in one
# configuration: runtime-benchmarks also runs each pallet benchmark once on the mock runtime.
# The node gets the runtime's benchmark code natively too, which changes nothing it does: the
# chain runs the wasm runtime, built without it.
CHAIN_TEST_FEATURES="subnet-runtime/runtime-benchmarks"
# The workspace as one cargo build: the node, the miner, validator and localnet binaries and
# every test, with one feature resolution, so nothing of it is compiled twice (chain-bench, the
# weight benchmarks' node, builds on its own: scripts/bench/chain-weights.sh).
WORKSPACE_ARGS=(--release --locked --workspace --exclude chain-bench --features "$CHAIN_TEST_FEATURES")

# build_workspace [CARGO_TARGET_FILTERS...]: the wasm runtime, then everything `cargo test`
# runs (`--no-run`: the tests then find it all fresh), which includes the node and the binaries
# the localnet starts. Target filters (`--test NAME`) build less with the same features.
build_workspace() {
  setup_node_prereqs
  if [ -n "$RUNTIME_WASM_GIVEN" ]; then
    [ -f "$SUBNET_RUNTIME_WASM" ] || die "SUBNET_RUNTIME_WASM=$SUBNET_RUNTIME_WASM: no such file"
  else
    "$REPO_ROOT/scripts/build-runtime-wasm.sh" --features fast-blocks --out "$SUBNET_RUNTIME_WASM" >/dev/null
  fi
  log "building the node, the miner, validator and localnet binaries and the tests (release, runtime $SUBNET_RUNTIME_WASM)"
  (cd "$REPO_ROOT" && cargo test "${WORKSPACE_ARGS[@]}" --no-run "$@")
}

FORTUNES_DIR="${FORTUNES_DIR:-/usr/share/games/fortunes}"
DATA_DIR="${DATA_DIR:-$REPO_ROOT/data}"
TOKENIZER="$REPO_ROOT/model/assets/fortunes-bpe-4k.json"

# prepare_fortunes PAGE_LEN: tokenizes the fortunes corpus into $DATA_DIR/fortunes-$PAGE_LEN.
prepare_fortunes() {
  local page_len="$1" out="$DATA_DIR/fortunes-$1"
  # Reuse an earlier preparation only if it was made with the current tokenizer.
  local want; want=$(b2sum -l 256 "$TOKENIZER" | cut -d' ' -f1)
  if [ -f "$out/val/manifest.json" ] && grep -q "\"tokenizer_hash\": \"$want\"" "$out/train/manifest.json" 2>/dev/null; then
    echo "$out"; return 0
  fi
  rm -rf "$out"
  log "preparing the fortunes corpus into $out"
  "$BIN_DIR/model" prepare --tokenizer "$TOKENIZER" --input "$FORTUNES_DIR" --separator % \
    --page-len "$page_len" --out "$out" >&2
  echo "$out"
}
