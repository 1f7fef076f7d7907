#!/usr/bin/env bash
# Add Hugging Face `transformers` to the CPU-torch bench venv, for the
# checkpoint-compatibility check (scripts/check/hf.sh, hf_logits.py).
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/llm-subnet/bench-venv   (same venv as scripts/bench)
#
# 1. scripts/bench/install_torch.sh makes the venv with the CPU-usable torch
#    (the PyPI torch wheel without its CUDA dependency tree, plus stub libs).
# 2. pip install --no-deps of an exact, hand-resolved pin list (below). --no-deps
#    so pip never resolves torch's nvidia-* requirements or anything else we did
#    not list; --only-binary so nothing is ever built from an sdist.
#
# The pin list is the closure of what `import transformers` and
# `LlamaForCausalLM.from_pretrained(<local dir>)` / `PreTrainedTokenizerFast`
# actually import, resolved against transformers 5.23.0 (its metadata asks for
# huggingface-hub>=1.31,<3; tokenizers>=0.23.1,<0.24; safetensors>=0.8;
# regex>=2025.10.22; ...). Declared requirements deliberately left out, because
# nothing on the local-checkpoint path imports them:
#   typer (+ pydantic, rich, shellingham, annotated-doc, ...)  -- the `transformers` CLI
#   click                                                      -- the `hf` CLI
#   hf-xet                                                     -- Hub downloads (Xet storage)
# so `pip check` lists them as missing: expected, harmless. numpy, filelock,
# fsspec and typing-extensions come from install_torch.sh.
# Nothing here talks to the Hub: the smoke test runs with HF_HUB_OFFLINE=1.
#
# Env knobs: those of install_torch.sh (PYTHON, TORCH_VERSION, LLM_SUBNET_BENCH_VENV).
# Progress goes to stderr; the last line on stdout is the venv's python path.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HF_PINS=(
  "transformers==5.23.0"
  "huggingface-hub==2.4.0"
  "tokenizers==0.23.3"
  "safetensors==0.8.0"
  "pyyaml==6.0.3"
  "regex==2026.11.15"
  "packaging==26.3"
  "tqdm==4.70.1"
  # HTTP stack that huggingface_hub 2.x imports at module load (even offline)
  "httpx2==2.16.2"
  "httpcore2==2.16.2"
  "anyio==4.16.0"
  "idna==3.20"
  "h11==0.16.0"
  "truststore==0.10.5"
)

log() { echo "[install_transformers] $*" >&2; }

# --- 1. venv with CPU torch (idempotent, fast when already there) -------------
VPY="$(bash "$HERE/../bench/install_torch.sh" | tail -n 1)"
[[ -x "$VPY" ]] || { log "ERROR: install_torch.sh gave no python ('$VPY')"; exit 1; }
VENV="$(cd "$(dirname "$VPY")/.." && pwd)"
PIN_HASH="$(printf '%s\n' "${HF_PINS[@]}" | sha256sum | cut -c1-12)"
STAMP="$VENV/.transformers-${PIN_HASH}.ok"

smoke_test() {
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VPY" - <<'EOF' >&2
import importlib.metadata as md
import torch, transformers, tokenizers, safetensors, huggingface_hub
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
bad = sorted(d.metadata["Name"] for d in md.distributions()
             if d.metadata["Name"].lower().startswith(("nvidia", "triton", "cuda")))
assert not bad, f"unexpected CUDA packages in the venv: {bad}"
cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16)
m = LlamaForCausalLM(cfg).eval()
with torch.no_grad():
    out = m(torch.tensor([[1, 2, 3]])).logits
assert out.shape == (1, 3, 64) and torch.isfinite(out).all()
print(f"[install_transformers] transformers {transformers.__version__} "
      f"(hub {huggingface_hub.__version__}, tokenizers {tokenizers.__version__}, "
      f"safetensors {safetensors.__version__}, torch {torch.__version__}) OK")
EOF
}

# Fast path: already installed and working.
if [[ -f "$STAMP" ]] && smoke_test 2>/dev/null; then
  log "already installed ($STAMP)"
  echo "$VPY"
  exit 0
fi

# Serialize concurrent installs into the same venv (install_torch.sh has
# finished and released this lock by now).
if command -v flock >/dev/null; then
  exec 9>"$VENV.lock"
  flock 9
fi

# --- 2. transformers + the deps it really imports, no resolver ----------------
export PIP_DISABLE_PIP_VERSION_CHECK=1
log "pip install --no-deps ${HF_PINS[*]}"
t0=$SECONDS
# pip may warn "transformers requires typer, which is not installed" (and the
# like for huggingface-hub / torch): expected, see the header.
"$VPY" -m pip install --no-input --no-deps --only-binary :all: "${HF_PINS[@]}" >&2
log "pip install took $((SECONDS - t0)) s"

# --- 3. smoke test -------------------------------------------------------------
if ! smoke_test; then
  log "ERROR: transformers does not import/run in $VENV"
  exit 1
fi
rm -f "$VENV"/.transformers-*.ok
touch "$STAMP"
echo "$VPY"
