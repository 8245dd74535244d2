#!/usr/bin/python3
"""PyTorch reference values for attention, the transformer encoder layer and GPT
(tests/test_nn_attention.cpp, tests/test_nn_gpt.cpp).

Run with Debian's python3-torch:

    /usr/bin/python3 tests/reference/gen_nn_attention.py

Writes tests/reference/data/nn/attn_<case>.bin and nn/gpt_<case>.bin in the format of
tests/reference/generate.py (with the shared writer of refcommon.py). Each case seeds torch from a
hash of its own name, so the files are byte-identical across runs.

Tensor naming (the C++ side relies on it):
  * inputs by name (q, k, v, x, query, key, value, masks ...);
  * `param.<key>`: the module's state_dict, loaded into the C++ module with load_state_dict;
  * `out` (the differentiated output), `gout` (random upstream gradient), `grad_<input>` for the
    floating inputs, `grad_param.<name>` for every parameter; other outputs (e.g. `weights`)
    are compared without gradients.

Torch 1.13 has no F.scaled_dot_product_attention: sdpa_ref() below is the math of the PyTorch 2.x
documentation (bool mask true = take part; is_causal = lower-triangular mask; scale 1/sqrt(E)).
Rotary embedding has no torch op either: rope_ref() is the GPT-NeoX / LLaMA rotate-half form.

GPT (the issue-3 "done when" case, gpt_small): the weights are not stored (they would take
3 MB); both sides fill every parameter from a counter-based hash of its name (fill_param below
and gpt_fill_param in tests/test_nn_gpt.cpp), computed in float64 and rounded to float32, so they
are bit-identical. The file stores, per parameter, its shape and float64 sum (proving both sides
built the same weights), the loss, and every parameter's gradient in full (float32, as torch
computed it; about 3.2 MB), which the test compares elementwise.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcommon import DATA_DIR, F32, F64, case_registry, randn, write_cases  # noqa: E402

OUT_DIR = os.path.join(DATA_DIR, "nn")
PREFIXES = ("attn_", "gpt_")
CASES, case = case_registry(PREFIXES)


def bool_mask(*shape, p_true=0.3, keep_last_dim_open=True):
    """Random bool mask with about p_true of the entries true. With keep_last_dim_open, every row
    (last dim) keeps at least one false entry, so no query row is masked out completely."""
    m = torch.rand(shape, dtype=F64) < p_true
    if keep_last_dim_open:
        flat = m.reshape(-1, shape[-1])
        for r in range(flat.shape[0]):
            flat[r, r % shape[-1]] = False
    return m


def record(fn, inputs, grad=None, extra=None):
    """fn(**leaves) returns `out` or a dict with `out` and other outputs. Returns the tensors."""
    if grad is None:
        grad = [k for k, v in inputs.items() if v.is_floating_point()]
    leaves = {k: (v.clone().requires_grad_() if k in grad else v) for k, v in inputs.items()}
    result = fn(**leaves)
    outputs = result if isinstance(result, dict) else {"out": result}
    tensors = list(inputs.items()) + [(k, v.detach()) for k, v in outputs.items()]
    out = outputs["out"]
    gout = torch.randn(out.shape, dtype=F64).to(out.dtype)
    grads = torch.autograd.grad(out, [leaves[k] for k in grad], gout)
    tensors.append(("gout", gout))
    tensors += [("grad_" + k, g) for k, g in zip(grad, grads)]
    return tensors


def module_record(module, inputs, call, grad_inputs=None):
    """call(module, **leaves) returns `out` or a dict with `out`; params are stored and differentiated."""
    if grad_inputs is None:
        grad_inputs = [k for k, v in inputs.items() if v.is_floating_point() and not k.endswith("mask")]
    tensors = list(inputs.items())
    tensors += [("param." + k, v.detach().clone()) for k, v in module.state_dict().items()]
    leaves = {k: (v.clone().requires_grad_() if k in grad_inputs else v) for k, v in inputs.items()}
    result = call(module, **leaves)
    outputs = result if isinstance(result, dict) else {"out": result}
    out = outputs["out"]
    params = list(module.named_parameters())
    gout = torch.randn(out.shape, dtype=F64).to(out.dtype)
    wrt = [leaves[k] for k in grad_inputs] + [p for _, p in params]
    grads = torch.autograd.grad(out, wrt, gout, allow_unused=True)
    tensors += [(k, v.detach()) for k, v in outputs.items()] + [("gout", gout)]
    names = ["grad_" + k for k in grad_inputs] + ["grad_param." + n for n, _ in params]
    for n, g, w in zip(names, grads, wrt):
        tensors.append((n, g if g is not None else torch.zeros_like(w)))
    return tensors


def randomize_vectors(module):
    """torch's default init leaves biases at zero and LayerNorm at ones/zeros: perturb every 1-D
    parameter so that a test cannot pass while ignoring one."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape, dtype=F64).to(p.dtype) * 0.2)
    return module


# ------------------------------------------------------------------ scaled dot-product attention
def sdpa_ref(q, k, v, attn_mask=None, is_causal=False, scale=None):
    L, S = q.size(-2), k.size(-2)
    sc = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    bias = torch.zeros(L, S, dtype=q.dtype)
    if is_causal:
        assert attn_mask is None
        keep = torch.ones(L, S, dtype=torch.bool).tril(diagonal=0)
        bias = bias.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            bias = torch.where(attn_mask, bias, torch.tensor(float("-inf"), dtype=q.dtype))
        else:
            bias = attn_mask + bias
    w = torch.softmax(q @ k.transpose(-2, -1) * sc + bias, dim=-1)
    return w @ v


@case("attn_sdpa_basic")
def _():
    return record(lambda q, k, v: sdpa_ref(q, k, v),
                  {"q": randn(2, 3, 4, 8), "k": randn(2, 3, 5, 8), "v": randn(2, 3, 5, 6)})


@case("attn_sdpa_broadcast_f32")
def _():
    # key/value shared by the leading batch dim of the query.
    return record(lambda q, k, v: sdpa_ref(q, k, v),
                  {"q": randn(2, 3, 4, 8, dtype=F32), "k": randn(3, 5, 8, dtype=F32), "v": randn(3, 5, 6, dtype=F32)})


@case("attn_sdpa_causal")
def _():
    # L != S: the causal mask is aligned top-left as torch's tril.
    return record(lambda q, k, v: sdpa_ref(q, k, v, is_causal=True),
                  {"q": randn(2, 2, 5, 4), "k": randn(2, 2, 7, 4), "v": randn(2, 2, 7, 4)})


@case("attn_sdpa_bool_mask")
def _():
    # true = take part; the mask broadcasts over the head dim.
    mask = ~bool_mask(2, 1, 4, 5, p_true=0.4)
    return record(lambda q, k, v, attn_mask: sdpa_ref(q, k, v, attn_mask=attn_mask),
                  {"q": randn(2, 3, 4, 8), "k": randn(2, 3, 5, 8), "v": randn(2, 3, 5, 6), "attn_mask": mask})


@case("attn_sdpa_float_mask")
def _():
    # An additive mask that requires grad, and an explicit scale.
    return record(lambda q, k, v, attn_mask: sdpa_ref(q, k, v, attn_mask=attn_mask, scale=0.3),
                  {"q": randn(2, 4, 6), "k": randn(2, 5, 6), "v": randn(2, 5, 3), "attn_mask": randn(4, 5)})


# ------------------------------------------------------------------ MultiheadAttention
E, H, N, L, S = 8, 2, 3, 4, 5


def mha(batch_first, bias=True):
    return randomize_vectors(nn.MultiheadAttention(E, H, dropout=0.0, bias=bias, batch_first=batch_first))


@case("attn_mha_cross_kpm")
def _():
    # Sequence first, cross-attention, bool key_padding_mask (true = ignore), averaged weights.
    m = mha(False)
    call = lambda mod, query, key, value, key_padding_mask: dict(
        zip(("out", "weights"), mod(query, key, value, key_padding_mask=key_padding_mask)))
    return module_record(m, {"query": randn(L, N, E, dtype=F32), "key": randn(S, N, E, dtype=F32),
                             "value": randn(S, N, E, dtype=F32), "key_padding_mask": bool_mask(N, S)}, call)


@case("attn_mha_self_float_mask")
def _():
    # batch_first self-attention with an additive (L, L) mask and a bool key_padding_mask;
    # per-head weights.
    m = mha(True)

    def call(mod, x, attn_mask, key_padding_mask):
        out, w = mod(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask, average_attn_weights=False)
        return {"out": out, "weights": w}
    return module_record(m, {"x": randn(N, L, E, dtype=F32), "attn_mask": randn(L, L, dtype=F32),
                             "key_padding_mask": bool_mask(N, L)}, call)


@case("attn_mha_mask3d")
def _():
    # A 3-D bool attn_mask (N*num_heads, L, S), true = not allowed to attend.
    m = mha(True)

    def call(mod, query, key, value, attn_mask):
        out, w = mod(query, key, value, attn_mask=attn_mask)
        return {"out": out, "weights": w}
    return module_record(m, {"query": randn(N, L, E, dtype=F32), "key": randn(N, S, E, dtype=F32),
                             "value": randn(N, S, E, dtype=F32), "attn_mask": bool_mask(N * H, L, S)}, call)


@case("attn_mha_causal")
def _():
    # torch 1.13's MultiheadAttention has no is_causal: the C++ side passes is_causal=true and
    # no mask, and must match this explicit upper-triangular bool mask.
    m = mha(True)
    causal = torch.ones(L, L, dtype=torch.bool).triu(diagonal=1)

    def call(mod, x):
        out, w = mod(x, x, x, attn_mask=causal)
        return {"out": out, "weights": w}
    return module_record(m, {"x": randn(N, L, E, dtype=F32)}, call)


@case("attn_mha_unbatched")
def _():
    m = mha(False)

    def call(mod, query, key, value, key_padding_mask):
        out, w = mod(query, key, value, key_padding_mask=key_padding_mask)
        return {"out": out, "weights": w}
    return module_record(m, {"query": randn(L, E, dtype=F32), "key": randn(S, E, dtype=F32),
                             "value": randn(S, E, dtype=F32), "key_padding_mask": bool_mask(S, p_true=0.4)}, call)


@case("attn_mha_nobias")
def _():
    m = mha(True, bias=False)
    return module_record(m, {"x": randn(N, L, E, dtype=F32)}, lambda mod, x: mod(x, x, x, need_weights=False)[0])


# ------------------------------------------------------------------ TransformerEncoderLayer
def encoder(norm_first, activation, batch_first):
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.1, activation=activation,
                                       batch_first=batch_first, norm_first=norm_first)
    layer.eval()  # dropout off; grads are recorded, so torch takes its composed (not fast) path
    return randomize_vectors(layer)


@case("attn_encoder_post_relu")
def _():
    layer = encoder(False, "relu", True)
    return module_record(layer, {"x": randn(2, 5, 16, dtype=F32), "key_padding_mask": bool_mask(2, 5)},
                         lambda mod, x, key_padding_mask: mod(x, src_key_padding_mask=key_padding_mask))


@case("attn_encoder_pre_gelu")
def _():
    layer = encoder(True, "gelu", False)
    return module_record(layer, {"x": randn(5, 2, 16, dtype=F32), "attn_mask": randn(5, 5, dtype=F32)},
                         lambda mod, x, attn_mask: mod(x, src_mask=attn_mask))


# ------------------------------------------------------------------ position encodings
def rope_ref(x, rot_dim, base, offset):
    """GPT-NeoX / LLaMA rotate-half rotary embedding on the first rot_dim channels of x."""
    T = x.size(-2)
    inv_freq = base ** (-torch.arange(0, rot_dim, 2, dtype=F64) / rot_dim)
    angles = torch.outer(torch.arange(offset, offset + T, dtype=F64), inv_freq)
    emb = torch.cat([angles, angles], dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    xr, xp = x[..., :rot_dim], x[..., rot_dim:]
    x1, x2 = xr[..., : rot_dim // 2], xr[..., rot_dim // 2:]
    rotated = torch.cat([-x2, x1], dim=-1)
    return torch.cat([xr * cos + rotated * sin, xp], dim=-1)


@case("attn_rotary_full")
def _():
    # (B, H, T, head_dim), positions 3..8.
    return record(lambda x: rope_ref(x, 8, 10000.0, 3), {"x": randn(2, 3, 6, 8)})


@case("attn_rotary_partial_f32")
def _():
    # Only the first 8 of 12 channels rotate; base 500.
    return record(lambda x: rope_ref(x, 8, 500.0, 0), {"x": randn(2, 5, 12, dtype=F32)})


def sinusoidal_ref(max_len, d):
    """The table of the PyTorch transformer tutorial, in float64 (odd d allowed)."""
    pos = torch.arange(max_len, dtype=F64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=F64) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d, dtype=F64)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe


@case("attn_sinusoidal")
def _():
    # Batch-first input (2, 6, 10) plus the first 6 rows of a (16, 10) table; the odd-width table
    # is compared on its own.
    def fn(x):
        return {"out": x + sinusoidal_ref(16, 10)[:6].to(x.dtype), "table": sinusoidal_ref(16, 10).to(F32),
                "table_odd": sinusoidal_ref(9, 7).to(F32)}
    return record(fn, {"x": randn(2, 6, 10, dtype=F32)})


# ------------------------------------------------------------------ GPT
GPT_CFG = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
MASK64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode("ascii"):
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def hash_uniform(key, n):
    """n values in [-1, 1): splitmix64 of (fnv1a64(key) + (i+1) * golden), top 53 bits."""
    with np.errstate(over="ignore"):
        x = np.uint64(fnv1a64(key)) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53) * 2.0 - 1.0


def fill_param(name, shape):
    """1-D `*.weight` (LayerNorm scales): 1 + 0.1 u; other 1-D: 0.1 u; 2-D: u / sqrt(shape[1])."""
    n = int(np.prod(shape))
    u = hash_uniform(name, n)
    if len(shape) == 1:
        v = (1.0 if name.endswith(".weight") else 0.0) + 0.1 * u
    else:
        v = u / math.sqrt(shape[1])
    return torch.from_numpy(v.reshape(shape)).to(F32)


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiheadAttention(n_embd, n_head, batch_first=True)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.mlp.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x, causal):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=causal, need_weights=False)[0]
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)

    def forward(self, idx, targets):
        T = idx.size(1)
        causal = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for block in self.h:
            x = block(x, causal)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # tied head
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


@case("gpt_small")
def _():
    model = GPT(**GPT_CFG)
    model.train()  # dropout is 0; train mode keeps MultiheadAttention on its composed path
    tensors = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(fill_param(name, tuple(p.shape)))
            tensors.append(("shape." + name, torch.tensor(list(p.shape), dtype=torch.int64)))
            tensors.append(("wsum." + name, p.detach().to(F64).sum()))
    B, T = 2, GPT_CFG["block_size"]
    idx = torch.randint(0, GPT_CFG["vocab_size"], (B, T))
    targets = torch.randint(0, GPT_CFG["vocab_size"], (B, T))
    loss = model(idx, targets)
    loss.backward()
    tensors += [("idx", idx), ("targets", targets), ("loss", loss.detach())]
    tensors += [("grad." + name, p.grad.detach()) for name, p in model.named_parameters()]
    return tensors


def main():
    write_cases(CASES, OUT_DIR, PREFIXES)


if __name__ == "__main__":
    main()
