#!/usr/bin/env python3
"""PyTorch reference for the training-throughput benchmark.

A self-contained LLaMA (no `transformers`) whose architecture matches the
candle trainer: HF-style config.json, RMSNorm, GQA attention with HF-style
rotary embeddings (rotate_half), SwiGLU MLP, no biases, optional tied
embeddings; cross-entropy on next-token targets; AdamW + grad-norm clipping.

Usage:
  python torch_llama.py --config config.json --batch 8 --seq 256 --threads 2 \
      --steps 10 --warmup 2 [--sdpa] [--eval]

Prints progress on stderr and exactly one line on stdout:
  torch tokens_per_s=<float> step_ms=<float> peak_rss_mib=<int> params=<int> threads=<N> ...
or, with --eval (forward passes under torch.inference_mode and a loss per sequence, as the
candle validator scores pages):
  torch eval pages_per_s=<float> tokens_per_s=<float> peak_rss_mib=<int> params=<int> ...
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="HF-style config.json (or a directory containing one)")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--seq", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--steps", type=int, required=True, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed warmup steps")
    p.add_argument("--sdpa", action="store_true",
                   help="use F.scaled_dot_product_attention(is_causal=True) instead of "
                        "explicit matmul + masked softmax")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--eval", action="store_true",
                   help="time evaluation (no autograd, a loss per sequence) instead of training")
    p.add_argument("--bf16", action="store_true",
                   help="mixed precision: forward and loss under torch.autocast('cpu', bfloat16), "
                        "which runs the matmuls on oneDNN's bf16 kernels (AMX where the CPU has it); "
                        "weights, gradients and the optimizer stay f32")
    p.add_argument("--optim-impl", choices=["default", "foreach", "fused"], default="default",
                   help="torch.optim.AdamW implementation (default: torch's choice, which on CPU "
                        "is the per-parameter for-loop)")
    a = p.parse_args(argv)
    for name in ("batch", "seq", "threads", "steps"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be >= 1")
    if a.warmup < 0:
        p.error("--warmup must be >= 0")
    return a


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- config
class Config:
    REQUIRED = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "rms_norm_eps", "rope_theta")

    def __init__(self, d: dict):
        missing = [k for k in self.REQUIRED if k not in d]
        if missing:
            raise SystemExit(f"config is missing fields: {missing}")
        self.vocab_size = int(d["vocab_size"])
        self.hidden_size = int(d["hidden_size"])
        self.intermediate_size = int(d["intermediate_size"])
        self.num_hidden_layers = int(d["num_hidden_layers"])
        self.num_attention_heads = int(d["num_attention_heads"])
        self.num_key_value_heads = int(d["num_key_value_heads"])
        self.rms_norm_eps = float(d["rms_norm_eps"])
        self.rope_theta = float(d["rope_theta"])
        self.tie_word_embeddings = bool(d.get("tie_word_embeddings", False))
        if self.hidden_size % self.num_attention_heads:
            raise SystemExit("hidden_size must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise SystemExit("num_attention_heads must be divisible by num_key_value_heads")
        self.head_dim = self.hidden_size // self.num_attention_heads
        if self.head_dim % 2:
            raise SystemExit("head_dim must be even for rotary embeddings")

    @classmethod
    def load(cls, path: str) -> "Config":
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        with open(path) as f:
            return cls(json.load(f))


# --------------------------------------------------------------------------- model
class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # x * rsqrt(mean(x^2, -1) + eps) * weight
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x, cos, sin):
    # x: (B, H, T, D); cos/sin: (T, D)
    return x * cos + rotate_half(x) * sin


class Rotary(nn.Module):
    def __init__(self, head_dim: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self._cache = {}

    def forward(self, seq_len: int):
        # cos/sin of positions 0..T-1, frequencies concatenated twice (HF layout).
        # Constants (no grad): computed once per sequence length.
        if seq_len not in self._cache:
            t = torch.arange(seq_len, dtype=torch.float32)
            freqs = torch.outer(t, self.inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            self._cache[seq_len] = (emb.cos(), emb.sin())
        return self._cache[seq_len]


def repeat_kv(x, n_rep: int):
    # (B, KVH, T, D) -> (B, KVH * n_rep, T, D), each kv head repeated n_rep times
    if n_rep == 1:
        return x
    b, kvh, t, d = x.shape
    return x[:, :, None, :, :].expand(b, kvh, n_rep, t, d).reshape(b, kvh * n_rep, t, d)


class Attention(nn.Module):
    def __init__(self, cfg: Config, use_sdpa: bool):
        super().__init__()
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = cfg.head_dim
        self.use_sdpa = use_sdpa
        h = cfg.hidden_size
        self.q_proj = nn.Linear(h, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(h, self.n_kv * self.head_dim, bias=False)
        self.v_proj = nn.Linear(h, self.n_kv * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, h, bias=False)
        self.scale = 1.0 / math.sqrt(self.head_dim)

    def forward(self, x, cos, sin, causal_mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        q = apply_rotary(q, cos, sin)
        k = apply_rotary(k, cos, sin)
        n_rep = self.n_heads // self.n_kv
        k = repeat_kv(k, n_rep)
        v = repeat_kv(v, n_rep)
        if self.use_sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        else:
            att = torch.matmul(q, k.transpose(-2, -1)) * self.scale  # (B, H, T, T)
            att = att.masked_fill(causal_mask, float("-inf"))
            att = torch.softmax(att, dim=-1)
            y = torch.matmul(att, v)  # (B, H, T, D)
        y = y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        h, i = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: Config, use_sdpa: bool):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg, use_sdpa)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, causal_mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, causal_mask)
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x


class Llama(nn.Module):
    def __init__(self, cfg: Config, use_sdpa: bool = False):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Block(cfg, use_sdpa) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.rotary = Rotary(cfg.head_dim, cfg.rope_theta)
        self.apply(self._init)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self._masks = {}

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        elif isinstance(m, RMSNorm):
            nn.init.ones_(m.weight)

    def causal_mask(self, t: int):
        if t not in self._masks:
            # True above the diagonal = future positions, masked out
            self._masks[t] = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        return self._masks[t]

    def forward(self, idx):
        _, t = idx.shape
        cos, sin = self.rotary(t)
        mask = self.causal_mask(t)
        x = self.embed_tokens(idx)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.norm(x))


# --------------------------------------------------------------------------- bench
def main(argv=None):
    a = parse_args(argv)
    # Must happen before any parallel work starts.
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    cfg = Config.load(a.config)
    torch.manual_seed(a.seed)
    model = Llama(cfg, use_sdpa=a.sdpa)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())  # tied weights counted once

    opt_kw = dict(lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    if a.optim_impl == "foreach":
        opt_kw["foreach"] = True
    elif a.optim_impl == "fused":
        opt_kw["fused"] = True
    opt = torch.optim.AdamW(model.parameters(), **opt_kw)

    # Random token batches, fixed seed, generated outside the timed region.
    # Each batch has T+1 tokens: inputs are [:, :-1], next-token targets [:, 1:].
    n_batches = min(a.warmup + a.steps, 16)
    g = torch.Generator().manual_seed(a.seed + 1)
    batches = [torch.randint(0, cfg.vocab_size, (a.batch, a.seq + 1), generator=g)
               for _ in range(n_batches)]

    import contextlib
    autocast = ((lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.bf16
                else contextlib.nullcontext)
    precision = "bf16" if a.bf16 else "f32"

    if a.eval:
        model.eval()

        def evaluate(i):
            tok = batches[i % n_batches]
            inp, tgt = tok[:, :-1], tok[:, 1:]
            with torch.inference_mode(), autocast():
                logits = model(inp)
                per_token = F.cross_entropy(logits.float().reshape(-1, cfg.vocab_size), tgt.reshape(-1),
                                            reduction="none")
                return per_token.view(a.batch, a.seq).mean(1)

        for i in range(a.warmup):
            evaluate(i)
        t_start = time.perf_counter()
        for i in range(a.steps):
            evaluate(a.warmup + i)
        elapsed = time.perf_counter() - t_start
        pages = a.batch * a.steps
        print(f"torch eval pages_per_s={pages / elapsed:.2f} tokens_per_s={pages * a.seq / elapsed:.1f} "
              f"precision={precision} "
              f"peak_rss_mib={peak_rss_mib():.0f} params={n_params} threads={a.threads} "
              f"batch={a.batch} seq={a.seq}", flush=True)
        return

    def step(i):
        tok = batches[i % n_batches]
        inp, tgt = tok[:, :-1], tok[:, 1:]
        with autocast():
            logits = model(inp)
            # mean over B*T, in f32 either way
            loss = F.cross_entropy(logits.float().reshape(-1, cfg.vocab_size), tgt.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    log(f"torch {torch.__version__} threads={torch.get_num_threads()} "
        f"interop={torch.get_num_interop_threads()} attn={'sdpa' if a.sdpa else 'explicit'} "
        f"optim={a.optim_impl} params={n_params} "
        f"layers={cfg.num_hidden_layers} hidden={cfg.hidden_size} heads={cfg.num_attention_heads}/"
        f"{cfg.num_key_value_heads} vocab={cfg.vocab_size} tied={cfg.tie_word_embeddings}")

    for i in range(a.warmup):
        t0 = time.perf_counter()
        loss = step(i)
        log(f"warmup {i + 1}/{a.warmup} loss={loss.item():.4f} {1e3 * (time.perf_counter() - t0):.1f} ms")

    per_step = []
    t_start = time.perf_counter()
    for i in range(a.steps):
        t0 = time.perf_counter()
        loss = step(a.warmup + i)
        dt = time.perf_counter() - t0
        per_step.append(dt)
        # loss.item() is a no-op sync on CPU (ops are synchronous), cheap to print.
        log(f"step {i + 1}/{a.steps} loss={loss.item():.4f} {1e3 * dt:.1f} ms")
    elapsed = time.perf_counter() - t_start

    tokens = a.batch * a.seq * a.steps
    tps = tokens / elapsed
    step_ms = 1e3 * elapsed / a.steps
    srt = sorted(per_step)
    log(f"median step {1e3 * srt[len(srt) // 2]:.1f} ms, min {1e3 * srt[0]:.1f} ms, "
        f"max {1e3 * srt[-1]:.1f} ms")
    print(f"torch tokens_per_s={tps:.2f} step_ms={step_ms:.3f} peak_rss_mib={peak_rss_mib():.0f} "
          f"precision={precision} final_loss={loss.item():.4f} "
          f"params={n_params} "
          f"threads={a.threads} batch={a.batch} seq={a.seq}", flush=True)


if __name__ == "__main__":
    main()
