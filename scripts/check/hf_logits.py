#!/usr/bin/env python3
"""Check that a checkpoint of ours is a valid Hugging Face LlamaForCausalLM.

Loads CHECKPOINT (config.json, model.safetensors, tokenizer.json, as written by
`model train`) with transformers.LlamaForCausalLM.from_pretrained in float32,
encodes a fixed English text with PreTrainedTokenizerFast(tokenizer_file=...),
runs our binary (`model logits`) on the same token ids and compares the logits.

Checks (any failure -> exit status 1):
  1. loading info: no missing / unexpected / mismatched keys, no error messages;
  2. every tensor in model.safetensors equals (bitwise) the loaded parameter, and
     lm_head is tied to embed_tokens exactly when config.tie_word_embeddings is;
  3. logits of our binary vs transformers, for the text (~30 tokens) and for a
     longer sequence (the text's ids cycled up to --long-len positions, to
     exercise rotary embeddings far from position 0): max |diff| <= --atol, for
     both the 'sdpa' and the 'eager' attention implementations of transformers;
  4. per-position argmax agrees wherever transformers' top-1/top-2 margin exceeds
     2*atol (a near-tie closer than the tolerance may legitimately flip).

Tolerance (default 1e-3, absolute, on logits): both sides are float32 with
identical weights; they differ only in summation order (matmul blocking,
softmax, mean-square reductions) and in how cos/sin are evaluated, which moves
logits by a few float32 ulps times the reduction length -- measured ~1e-6 on
the tiny preset. --sensitivity re-runs transformers with one convention
deliberately changed (rotary pairing, GQA head grouping, RMSNorm eps, rope
theta) and shows that each moves the logits by far more than 1e-3, i.e. the
tolerance sits orders of magnitude above float noise and below any real
convention mismatch.

Prints a report on stdout; the last line is a one-line summary:
  hf_logits: PASS|FAIL <checkpoint> max_abs_diff=<float> argmax_agree=<n>/<N> ...
Run with the venv of scripts/check/install_transformers.sh; nothing touches the
Hub (HF_HUB_OFFLINE=1 is set here).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402

transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bars in CI logs

TEXT = ("The quick brown fox jumps over the lazy dog. A journey of a thousand miles "
        "begins with a single step, and fortune favors the bold.")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint directory from `model train`")
    p.add_argument("--model-bin", required=True, help="path of our `model` binary")
    p.add_argument("--text", default=TEXT, help="text to encode (default: a fixed English sentence)")
    p.add_argument("--atol", type=float, default=1e-3, help="max allowed |logit diff| (default 1e-3)")
    p.add_argument("--long-len", type=int, default=256,
                   help="length of the second, longer sequence (capped at max_position_embeddings; 0: skip)")
    p.add_argument("--threads", type=int, default=1, help="threads for torch and for our binary")
    p.add_argument("--sensitivity", action="store_true",
                   help="also show how far deliberately wrong conventions move the logits")
    return p.parse_args(argv)


def load_hf(ckpt: str, attn: str):
    kw = {"output_loading_info": True, "attn_implementation": attn}
    # transformers >= 4.56 renamed torch_dtype -> dtype (torch_dtype still works, with a warning)
    if int(transformers.__version__.split(".")[0]) >= 5:
        kw["dtype"] = torch.float32
    else:
        kw["torch_dtype"] = torch.float32
    model, info = LlamaForCausalLM.from_pretrained(ckpt, **kw)
    return model.eval(), info


@torch.no_grad()
def hf_logits(model, ids) -> np.ndarray:
    out = model(torch.tensor([ids], dtype=torch.long)).logits
    assert out.dtype == torch.float32, out.dtype
    return out[0].numpy()


def ours_logits(model_bin: str, ckpt: str, ids, threads: int) -> np.ndarray:
    cmd = [model_bin, "--threads", str(threads), "logits", "--checkpoint", ckpt,
           "--tokens", ",".join(map(str, ids))]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        return None
    arr = np.asarray(json.loads(r.stdout), dtype=np.float32)
    return arr


def compare(ref: np.ndarray, got: np.ndarray, atol: float) -> dict:
    assert ref.shape == got.shape, f"shape mismatch: transformers {ref.shape} vs ours {got.shape}"
    d = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    top2 = np.sort(ref, axis=-1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    am_ref, am_got = ref.argmax(-1), got.argmax(-1)
    agree = am_ref == am_got
    decisive = margin > 2 * atol
    return {
        "max_abs_diff": float(d.max()),
        "mean_abs_diff": float(d.mean()),
        "max_abs_logit": float(np.abs(ref).max()),
        "argmax_agree": int(agree.sum()),
        "positions": int(len(agree)),
        "argmax_bad": int((~agree & decisive).sum()),  # disagreements not explained by a near-tie
        "worst_pos": int(np.unravel_index(d.argmax(), d.shape)[0]),
    }


# --- deliberately wrong conventions, applied to a copy of the HF model ------------
def _per_head_rows(w: torch.Tensor, n_heads: int, hd: int, perm) -> torch.Tensor:
    return w.view(n_heads, hd, -1)[:, perm, :].reshape(w.shape)


def mutate_rope_interleaved(m, cfg):
    """Our rotary pairs (2i, 2i+1) instead of HF's (i, i+d/2): permute q/k rows per head."""
    hd = cfg.head_dim
    perm = list(range(0, hd, 2)) + list(range(1, hd, 2))
    for layer in m.model.layers:
        a = layer.self_attn
        a.q_proj.weight.data = _per_head_rows(a.q_proj.weight.data, cfg.num_attention_heads, hd, perm)
        a.k_proj.weight.data = _per_head_rows(a.k_proj.weight.data, cfg.num_key_value_heads, hd, perm)


def mutate_gqa_tiled(m, cfg):
    """Query head h uses kv head h % n_kv (tiled) instead of h // group (HF repeat_kv)."""
    nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    g = nh // nkv
    if g == 1:
        return False
    # HF slot s reads kv head s // g; put our head h (which should read h % nkv) in
    # slot (h % nkv) * g + h // nkv, moving its q_proj rows and o_proj columns together.
    slot_of = [(h % nkv) * g + h // nkv for h in range(nh)]
    head_in_slot = [0] * nh
    for h, s in enumerate(slot_of):
        head_in_slot[s] = h
    for layer in m.model.layers:
        a = layer.self_attn
        q = a.q_proj.weight.data.view(nh, hd, -1)
        a.q_proj.weight.data = q[head_in_slot].reshape(nh * hd, -1).contiguous()
        o = a.o_proj.weight.data.view(-1, nh, hd)
        a.o_proj.weight.data = o[:, head_in_slot, :].reshape(-1, nh * hd).contiguous()
    return True


def mutate_eps(m, cfg, factor=10.0):
    for mod in m.modules():
        if hasattr(mod, "variance_epsilon"):
            mod.variance_epsilon = mod.variance_epsilon * factor


def mutate_theta(m, cfg, theta=500000.0):
    hd = cfg.head_dim
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float) / hd))
    m.model.rotary_emb.inv_freq.copy_(inv)
    m.model.rotary_emb.original_inv_freq.copy_(inv)


def main(argv=None) -> int:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    ck = os.path.abspath(a.checkpoint)
    name = os.path.basename(ck.rstrip("/"))
    failures = []
    print(f"== {ck}  (transformers {transformers.__version__}, torch {torch.__version__})")

    t0 = time.perf_counter()
    model, info = load_hf(ck, "sdpa")
    cfg = model.config
    print(f"config: hidden={cfg.hidden_size} layers={cfg.num_hidden_layers} heads={cfg.num_attention_heads} "
          f"kv_heads={cfg.num_key_value_heads} head_dim={cfg.head_dim} vocab={cfg.vocab_size} "
          f"tie_word_embeddings={cfg.tie_word_embeddings} rms_norm_eps={cfg.rms_norm_eps} "
          f"rope={cfg.rope_parameters}")
    print(f"loaded in {time.perf_counter() - t0:.2f}s; loading info: "
          + ", ".join(f"{k}={sorted(v) if isinstance(v, (set, list)) else v}" for k, v in info.items()))
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(k):
            failures.append(f"{k}: {sorted(info[k])}")

    # 2. the loaded parameters are exactly the file's tensors; tying as configured
    st = load_file(os.path.join(ck, "model.safetensors"))
    sd = model.state_dict()
    diff_keys = [k for k, v in st.items() if k not in sd or sd[k].shape != v.shape or not torch.equal(sd[k], v)]
    if diff_keys:
        failures.append(f"loaded parameters differ from model.safetensors: {diff_keys[:5]}")
    tied = model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    has_head = "lm_head.weight" in st
    print(f"safetensors: {len(st)} tensors, all equal to the loaded parameters: {not diff_keys}; "
          f"lm_head.weight in file: {has_head}; lm_head tied to embed_tokens: {tied}")
    if bool(cfg.tie_word_embeddings) != tied or has_head == bool(cfg.tie_word_embeddings):
        failures.append(f"tying mismatch: config tie={cfg.tie_word_embeddings}, lm_head in file={has_head}, "
                        f"HF tied={tied}")

    # 3. logits
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(ck, "tokenizer.json"))
    ids = tok(a.text)["input_ids"][: cfg.max_position_embeddings]
    seqs = {"text": ids}
    long_len = min(a.long_len, cfg.max_position_embeddings)
    if long_len > len(ids):
        seqs[f"long{long_len}"] = [ids[i % len(ids)] for i in range(long_len)]
    print(f"text: {a.text!r}\nids ({len(ids)}): {ids}")

    eager, _ = load_hf(ck, "eager")
    worst = 0.0
    summary = {}
    ours_cache = {}
    for sname, sids in seqs.items():
        t1 = time.perf_counter()
        ours = ours_logits(a.model_bin, ck, sids, a.threads)
        t_ours = time.perf_counter() - t1
        if ours is None:
            failures.append(f"{sname}: `model logits` failed on this checkpoint (see stderr)")
            continue
        ours_cache[sname] = ours
        for impl, m in (("sdpa", model), ("eager", eager)):
            ref = hf_logits(m, sids)
            c = compare(ref, ours, a.atol)
            worst = max(worst, c["max_abs_diff"])
            summary[(sname, impl)] = c
            print(f"[{sname:>7} T={len(sids):3d} {impl:>5}] max_abs_diff={c['max_abs_diff']:.3e} "
                  f"mean_abs_diff={c['mean_abs_diff']:.3e} max|logit|={c['max_abs_logit']:.3f} "
                  f"argmax_agree={c['argmax_agree']}/{c['positions']} (ours took {t_ours:.2f}s)")
            if c["max_abs_diff"] > a.atol:
                failures.append(f"{sname}/{impl}: max_abs_diff {c['max_abs_diff']:.3e} > atol {a.atol:g} "
                                f"(worst position {c['worst_pos']})")
            if c["argmax_bad"]:
                failures.append(f"{sname}/{impl}: {c['argmax_bad']} argmax disagreements with margin > 2*atol")

    # sensitivity: how far do plausible convention bugs move the logits?
    if a.sensitivity and ours_cache:
        sname = list(ours_cache)[-1]
        sids, ours = seqs[sname], ours_cache[sname]
        muts = [("rope pairs (2i,2i+1) instead of (i,i+d/2)", mutate_rope_interleaved),
                ("GQA kv head h%n_kv instead of h//group", mutate_gqa_tiled),
                ("RMSNorm eps x10", mutate_eps),
                ("rope_theta 5e5 instead of config", mutate_theta)]
        for label, fn in muts:
            m2 = copy.deepcopy(eager)
            with torch.no_grad():
                applied = fn(m2, cfg)
            if applied is False:
                print(f"[sensitivity {sname}] {label}: not applicable")
                continue
            c = compare(hf_logits(m2, sids), ours, a.atol)
            print(f"[sensitivity {sname}] {label}: max_abs_diff={c['max_abs_diff']:.3e} "
                  f"({c['max_abs_diff'] / a.atol:.0f}x atol) argmax_agree={c['argmax_agree']}/{c['positions']}")

    for f in failures:
        print(f"FAIL: {f}")
    t = summary.get(("text", "sdpa"), {"argmax_agree": 0, "positions": 0})
    verdict = "PASS" if not failures else "FAIL"
    print(f"hf_logits: {verdict} {name} max_abs_diff={worst:.3e} atol={a.atol:g} "
          f"argmax_agree={t['argmax_agree']}/{t['positions']} tied={tied} "
          f"heads={cfg.num_attention_heads}/{cfg.num_key_value_heads} missing=0 unexpected=0"
          if not failures else
          f"hf_logits: {verdict} {name} max_abs_diff={worst:.3e} atol={a.atol:g} ({len(failures)} failures)")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
