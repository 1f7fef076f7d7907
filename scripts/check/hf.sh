#!/usr/bin/env bash
# Hugging Face compatibility check: our checkpoints load in `transformers` as
# LlamaForCausalLM (no missing/unexpected keys) and give the same logits as our
# implementation (`model logits`), within 1e-3.
#
#   bash scripts/check/hf.sh            # no prompts; fine with CI=true
#
# 1. scripts/check/install_transformers.sh (CPU torch + pinned transformers venv,
#    cached; first run about 1-2 minutes and ~560 MB of wheels, then ~15 s).
# 2. In a mktemp dir: tokenize the fortunes corpus, then train three tiny
#    checkpoints for 5 steps each with our binary:
#      tied     the `tiny` preset: tied embeddings, GQA 4 query / 2 kv heads
#      untied   same with "tie_word_embeddings": false (lm_head.weight in the file)
#      gqa8x2   untied, 8 query heads / 2 kv heads (head_dim 16): group size 4
# 3. scripts/check/hf_logits.py --sensitivity on each (details on stderr).
# 4. Removes the temp dir. Last stdout line: the verdict; exit status 0 iff all pass.
#
# Env: MODEL_BIN (default $CARGO_TARGET_DIR/release/model, built with
# `cargo build --release` only when missing), HF_CHECK_THREADS (default 1),
# HF_CHECK_ATOL (default 1e-3), FORTUNES_DIR.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
HERE="$REPO_ROOT/scripts/check"
THREADS="${HF_CHECK_THREADS:-1}"
ATOL="${HF_CHECK_ATOL:-1e-3}"
t_start=$SECONDS

MODEL_BIN="${MODEL_BIN:-$BIN_DIR/model}"
if [[ ! -x "$MODEL_BIN" ]]; then
  log "no $MODEL_BIN: building it"
  setup_prereqs
  build_release
fi
[[ -d "$FORTUNES_DIR" ]] || need_apt fortunes

log "installing/checking the transformers venv"
VPY="$(bash "$HERE/install_transformers.sh" | tail -n 1)"
[[ -x "$VPY" ]] || die "install_transformers.sh gave no python ('$VPY')"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hf-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "tokenizing $FORTUNES_DIR (page length 64)"
"$MODEL_BIN" prepare --tokenizer "$TOKENIZER" --input "$FORTUNES_DIR" --separator % \
  --page-len 64 --out "$WORK/data" >&2

train() {  # train NAME --preset tiny | --model-config FILE
  local name="$1"; shift
  log "training checkpoint '$name' (5 steps)"
  "$MODEL_BIN" train "$@" --data "$WORK/data" --out "$WORK/$name" \
    --steps 5 --eval-every 5 --threads "$THREADS" >&2
}

# derive CONFIG_OUT KEY=JSON...: the tied checkpoint's config.json with keys replaced
derive() {
  local out="$1"; shift
  "$VPY" - "$WORK/tied/config.json" "$out" "$@" <<'EOF'
import json, sys
src, out, *kv = sys.argv[1:]
cfg = json.load(open(src))
for item in kv:
    k, v = item.split("=", 1)
    cfg[k] = json.loads(v)
json.dump(cfg, open(out, "w"), indent=2)
EOF
}

train tied --preset tiny
derive "$WORK/untied.json" tie_word_embeddings=false num_key_value_heads=2
train untied --model-config "$WORK/untied.json"
derive "$WORK/gqa8x2.json" tie_word_embeddings=false num_attention_heads=8 num_key_value_heads=2 head_dim=16
train gqa8x2 --model-config "$WORK/gqa8x2.json"

pass=0 fail=0 results=()
for name in tied untied gqa8x2; do
  log "comparing logits: $name"
  set +e
  "$VPY" "$HERE/hf_logits.py" --checkpoint "$WORK/$name" --model-bin "$MODEL_BIN" \
    --threads "$THREADS" --atol "$ATOL" --sensitivity > "$WORK/$name.log" 2>&1
  rc=$?
  set -e
  cat "$WORK/$name.log" >&2
  diff="$(sed -n 's/^hf_logits: .* max_abs_diff=\([^ ]*\).*/\1/p' "$WORK/$name.log" | tail -n 1)"
  if [[ $rc -eq 0 ]]; then
    pass=$((pass + 1)); results+=("$name=${diff:-?}")
  else
    fail=$((fail + 1)); results+=("$name=FAIL(${diff:-rc $rc})")
  fi
done

verdict=PASS
[[ $fail -eq 0 ]] || verdict=FAIL
echo "hf check: $verdict ($pass passed, $fail failed) -- LlamaForCausalLM loads our checkpoints," \
  "no missing/unexpected keys; max |logit diff| vs transformers: ${results[*]} (atol $ATOL)" \
  "[$((SECONDS - t_start)) s]"
[[ $fail -eq 0 ]]
