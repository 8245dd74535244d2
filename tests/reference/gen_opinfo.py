#!/usr/bin/python3
"""Writes the PyTorch side of the OpInfo sweep (tests/test_opinfo.cpp, tables in tests/opinfo.hpp).

Run with Debian's python3-torch:

    /usr/bin/python3 tests/reference/gen_opinfo.py

One table, OPS below, lists every public op of include/neural_arch/ops.hpp that takes tensors
(plus the functional ops the sweep covers) with its torch equivalent and how to draw its
sample inputs. For every op it writes data/opinfo/<op>.<edge>.bin for each edge case:

  f64        random inputs in the op's domain, float64: outputs, gradients for a random `gout`,
             and `second_ok`: whether a second backward (no retain_graph) through the graph runs
  f32        the same values in float32
  nonfinite  float64 inputs with NaN, +inf and -inf planted: forward and gradient propagation
  empty      a zero-size dim (the reduced dim, for reductions)
  broadcast  operands of different shapes (binary ops)
  int64      the float inputs rounded to int64: values and dtype, or `error` when torch refuses
  bf16       the f64 sample in bfloat16 (forward only; stored as float32, which holds bfloat16
             values exactly, with `out_dtype_bf16` true when torch's result is bfloat16)
  special    float64 inputs from a grid of kinks and bounds (0, -0, +-0.5, +-1, +-3, +-6, ...),
             shifted per input so binary ops also see ties: gradients at kinks

A case whose op raises in torch stores only its inputs and `error` (bool, true); the C++ side
must then throw neural_arch::Error. Input tensors are x0, x1, ... in argument order.
The file format is generate.py's (see refcommon.py).
"""
import os

import torch
import torch.nn.functional as F

from refcommon import DATA_DIR, F64, write_cases

OUT_DIR = os.path.join(DATA_DIR, "opinfo")
CASES = []


# ------------------------------------------------------------------ sample inputs
# An input spec is (kind, shape, arg): kind "f" is a float input drawn from domain `arg`
# ("any" normal, "pos" in [0.5, 2], "nz" away from zero, "unit" in (-0.9, 0.9)); "i" an int64
# index tensor with values in [0, arg); "b" a bool mask.
def draw(kind, shape, arg):
    if kind == "i":
        return torch.randint(0, arg, shape, dtype=torch.int64)
    if kind == "b":
        return torch.rand(shape, dtype=F64) > 0.5
    v = torch.randn(shape, dtype=F64)
    if arg == "pos":
        return torch.rand(shape, dtype=F64) * 1.5 + 0.5
    if arg == "nz":
        return torch.where(v >= 0, v + 0.5, v - 0.5)
    if arg == "unit":
        return torch.rand(shape, dtype=F64) * 1.8 - 0.9
    return v


SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 6.0, -6.0, 3.0, -3.0, 2.0, 0.7, -2.0, 1e-3]


def special_values(t, k):
    """t's shape filled with the SPECIAL grid, starting k places in (so inputs k and k+1 meet
    in ties and in different pairs)."""
    n = t.numel()
    vals = [SPECIAL[(i + k) % len(SPECIAL)] for i in range(n)]
    return torch.tensor(vals, dtype=F64).reshape(t.shape)


def plant_nonfinite(t):
    """NaN, +inf, -inf at the first three elements (and the last, when there are more)."""
    t = t.clone().reshape(-1)
    specials = [float("nan"), float("inf"), float("-inf")]
    for i, v in enumerate(specials[: t.numel()]):
        t[i] = v
    if t.numel() > 4:
        t[-1] = float("nan")
    return t


class Op:
    def __init__(self, name, fn, specs, grad=True, empty=None, broadcast=None, int64=True,
                 nonfinite=True, f32=True):
        self.name = name
        self.fn = fn
        self.specs = specs
        self.grad = grad
        self.empty = empty          # list of shapes for the float inputs, or None: no empty case
        self.broadcast = broadcast  # list of shapes for the float inputs, or None
        self.int64 = int64
        self.nonfinite = nonfinite
        self.f32 = f32


def unary(name, fn, domain="any", **kw):
    kw.setdefault("empty", [(0, 3)])
    return Op(name, fn, [("f", (3, 4), domain)], **kw)


def binary(name, fn, d0="any", d1="any", **kw):
    kw.setdefault("empty", [(0, 4), (4,)])
    kw.setdefault("broadcast", [(3, 1), (4,)])
    return Op(name, fn, [("f", (3, 4), d0), ("f", (3, 4), d1)], **kw)


def reduction(name, fn, **kw):
    kw.setdefault("empty", [(3, 0)])
    return Op(name, fn, [("f", (3, 4), "any")], **kw)


OPS = [
    # elementwise binary
    binary("add", lambda a, b: torch.add(a, b, alpha=2)),
    binary("sub", lambda a, b: torch.sub(a, b)),
    binary("mul", lambda a, b: a * b),
    binary("div", lambda a, b: a / b, d1="nz"),
    binary("div_trunc", lambda a, b: torch.div(a, b, rounding_mode="trunc"), d1="nz"),
    binary("div_floor", lambda a, b: torch.div(a, b, rounding_mode="floor"), d1="nz"),
    binary("floor_divide", lambda a, b: torch.floor_divide(a, b), d1="nz", grad=False),
    binary("remainder", lambda a, b: torch.remainder(a, b), d1="nz"),
    binary("fmod", lambda a, b: torch.fmod(a, b), d1="nz"),
    binary("pow", lambda a, b: torch.pow(a, b), d0="pos"),
    binary("maximum", lambda a, b: torch.maximum(a, b)),
    binary("minimum", lambda a, b: torch.minimum(a, b)),
    binary("eq", lambda a, b: torch.eq(a, b), grad=False),
    binary("ne", lambda a, b: torch.ne(a, b), grad=False),
    binary("lt", lambda a, b: torch.lt(a, b), grad=False),
    binary("le", lambda a, b: torch.le(a, b), grad=False),
    binary("gt", lambda a, b: torch.gt(a, b), grad=False),
    binary("ge", lambda a, b: torch.ge(a, b), grad=False),
    binary("logical_and", lambda a, b: torch.logical_and(a, b), grad=False),
    binary("logical_or", lambda a, b: torch.logical_or(a, b), grad=False),
    binary("logical_xor", lambda a, b: torch.logical_xor(a, b), grad=False),
    unary("logical_not", lambda a: torch.logical_not(a), grad=False),
    unary("pow_scalar", lambda a: torch.pow(a, 3)),
    unary("pow_scalar_negative", lambda a: torch.pow(a, -2), domain="nz"),
    unary("eq_scalar", lambda a: a == 0.5, grad=False),
    unary("ne_scalar", lambda a: a != 0.5, grad=False),
    # elementwise unary
    unary("neg", torch.neg),
    unary("exp", torch.exp),
    unary("log", torch.log, domain="pos"),
    unary("log1p", torch.log1p, domain="pos"),
    unary("sqrt", torch.sqrt, domain="pos"),
    unary("rsqrt", torch.rsqrt, domain="pos"),
    unary("abs", torch.abs, domain="nz"),
    unary("sign", torch.sign, domain="nz"),
    unary("sin", torch.sin),
    unary("cos", torch.cos),
    unary("tanh", torch.tanh),
    unary("sigmoid", torch.sigmoid),
    unary("relu", torch.relu, domain="nz"),
    unary("leaky_relu", lambda a: F.leaky_relu(a, 0.1), domain="nz"),
    unary("gelu", F.gelu),
    unary("silu", F.silu),
    unary("softplus", F.softplus),
    unary("erf", torch.erf),
    unary("clamp", lambda a: torch.clamp(a, -0.5, 0.7), domain="nz"),
    unary("relu6", F.relu6, domain="nz"),
    unary("hardtanh", F.hardtanh, domain="nz"),
    Op("where", lambda c, a, b: torch.where(c, a, b), [("b", (3, 4), None), ("f", (3, 4), "any"),
                                                       ("f", (1, 4), "any")], empty=None),
    Op("masked_fill", lambda a, m: a.masked_fill(m, -1.5), [("f", (3, 4), "any"), ("b", (1, 4), None)]),
    # reductions
    reduction("sum", lambda a: torch.sum(a, 1)),
    reduction("mean", lambda a: torch.mean(a, 1)),
    reduction("var", lambda a: torch.var(a, 1)),
    reduction("std", lambda a: torch.std(a, 1)),
    reduction("prod", lambda a: torch.prod(a, 1)),
    reduction("logsumexp", lambda a: torch.logsumexp(a, 1)),
    reduction("vector_norm", lambda a: torch.linalg.vector_norm(a, dim=1)),
    reduction("vector_norm_1", lambda a: torch.linalg.vector_norm(a, 1, dim=1)),
    reduction("vector_norm_3", lambda a: torch.linalg.vector_norm(a, 3, dim=1)),
    reduction("vector_norm_inf", lambda a: torch.linalg.vector_norm(a, float("inf"), dim=1)),
    reduction("norm", lambda a: torch.norm(a, 2.5)),
    reduction("cumsum", lambda a: torch.cumsum(a, 1)),
    reduction("cumprod", lambda a: torch.cumprod(a, 1)),
    reduction("max", lambda a: torch.max(a)),
    reduction("min", lambda a: torch.min(a)),
    reduction("max_dim", lambda a: torch.max(a, 1).values),
    reduction("min_dim", lambda a: torch.min(a, 1).values),
    reduction("argmax", lambda a: torch.argmax(a, 1), grad=False),
    reduction("argmin", lambda a: torch.argmin(a, 1), grad=False),
    reduction("softmax", lambda a: torch.softmax(a, 1)),
    reduction("log_softmax", lambda a: torch.log_softmax(a, 1)),
    Op("normalize", lambda a: F.normalize(a, dim=1), [("f", (3, 4), "any")], empty=[(3, 0)], int64=False),
    # shape and indexing
    Op("cat", lambda a, b: torch.cat([a, b], 1), [("f", (3, 2), "any"), ("f", (3, 4), "any")],
       empty=[(0, 2), (0, 4)]),
    Op("stack", lambda a, b: torch.stack([a, b], 1), [("f", (3, 4), "any"), ("f", (3, 4), "any")],
       empty=[(0, 4), (0, 4)]),
    Op("index_select", lambda a, i: torch.index_select(a, 1, i), [("f", (3, 5), "any"), ("i", (4,), 5)],
       empty=[(0, 5)]),
    Op("gather", lambda a, i: torch.gather(a, 1, i), [("f", (3, 5), "any"), ("i", (3, 2), 5)]),
    Op("scatter", lambda a, i, s: torch.scatter(a, 1, i, s),
       [("f", (3, 5), "any"), ("i", (3, 1), 5), ("f", (3, 1), "any")]),
    Op("scatter_add", lambda a, i, s: torch.scatter_add(a, 1, i, s),
       [("f", (3, 5), "any"), ("i", (3, 2), 5), ("f", (3, 2), "any")]),
    Op("embedding", lambda w, i: F.embedding(i, w), [("f", (6, 3), "any"), ("i", (2, 4), 6)], int64=False),
    # linear algebra
    Op("matmul", torch.matmul, [("f", (2, 3, 4), "any"), ("f", (4, 5), "any")], empty=[(0, 3, 4), (4, 5)]),
    Op("mm", torch.mm, [("f", (3, 4), "any"), ("f", (4, 2), "any")], empty=[(0, 4), (4, 2)]),
    Op("bmm", torch.bmm, [("f", (2, 3, 4), "any"), ("f", (2, 4, 2), "any")], empty=[(0, 3, 4), (0, 4, 2)]),
    Op("linear", F.linear, [("f", (3, 4), "any"), ("f", (2, 4), "any"), ("f", (2,), "any")],
       empty=[(0, 4), (2, 4), (2,)]),
    Op("outer", torch.outer, [("f", (3,), "any"), ("f", (4,), "any")], empty=[(0,), (4,)]),
    Op("dropout_eval", lambda a: F.dropout(a, 0.5, training=False), [("f", (3, 4), "any")], empty=[(0, 4)]),
]


# ------------------------------------------------------------------ case builders
def run(op, inputs, grad, reentrant=False):
    """inputs: list of tensors. Returns the tensors to store for one case."""
    names = ["x%d" % i for i in range(len(inputs))]
    stored = list(zip(names, inputs))
    leaves = [t.clone().requires_grad_() if grad and t.is_floating_point() else t for t in inputs]
    try:
        out = op.fn(*leaves)
    except Exception:  # noqa: BLE001: torch refuses the case; the C++ side must refuse it too
        return stored + [("error", torch.tensor(True))]
    stored.append(("out", out.detach()))
    if not (grad and out.is_floating_point() and out.requires_grad):
        return stored
    gout = torch.randn(out.shape, dtype=F64).to(out.dtype)
    diff = [(n, l) for n, l in zip(names, leaves) if l.requires_grad]
    grads = torch.autograd.grad(out, [l for _, l in diff], gout, allow_unused=True)
    stored.append(("gout", gout))
    for (n, l), g in zip(diff, grads):
        stored.append(("grad_" + n, torch.zeros_like(l) if g is None else g))
    if reentrant:
        # The first backward above freed what the graph saved; does a second one still run?
        try:
            torch.autograd.grad(out, [l for _, l in diff], gout, allow_unused=True)
            ok = True
        except RuntimeError:
            ok = False
        stored.append(("second_ok", torch.tensor(ok)))
    return stored


def sample(op, shapes=None, dtype=F64):
    """The op's inputs; shapes replaces the float inputs' shapes in order."""
    out = []
    k = 0
    for kind, shape, arg in op.specs:
        if kind == "f":
            if shapes is not None:
                shape = shapes[k]
            k += 1
            out.append(draw(kind, shape, arg).to(dtype))
        else:
            out.append(draw(kind, shape, arg))
    return out


def register(op):
    def add(edge, builder):
        CASES.append(("%s.%s" % (op.name, edge), builder))

    # Every edge draws its own inputs after the case's own seed (write_cases seeds per name).
    add("f64", lambda: run_first_backward_once(op))
    if op.f32:
        add("f32", lambda: run(op, [t.float() if t.is_floating_point() else t for t in sample(op)], op.grad))
    if op.nonfinite:
        add("nonfinite", lambda: run(op, [plant_nonfinite(t).reshape(t.shape) if t.is_floating_point() else t
                                          for t in sample(op)], op.grad))
    if op.empty is not None:
        add("empty", lambda: run(op, sample(op, op.empty), op.grad))
    if op.broadcast is not None:
        add("broadcast", lambda: run(op, sample(op, op.broadcast), op.grad))
    if op.f32:
        add("bf16", lambda: run_bf16(op))
    add("special", lambda: run(op, [special_values(t, 3 * k) if t.is_floating_point() else t
                                     for k, t in enumerate(sample(op))], op.grad))
    if op.int64:
        add("int64", lambda: run(op, [(t * 3).round().to(torch.int64) if t.is_floating_point() else t
                                      for t in sample(op)], False))


def run_bf16(op):
    inputs = [t.to(torch.bfloat16) if t.is_floating_point() else t for t in sample(op)]
    stored = run(op, inputs, False)
    out = []
    for n, t in stored:
        if t.dtype == torch.bfloat16:
            if n == "out":
                out.append(("out_dtype_bf16", torch.tensor(True)))
            t = t.float()
        out.append((n, t))
    return out


def run_first_backward_once(op):
    # retain_graph=False on the first backward, then a second: the re-entrant sweep's reference.
    return run(op, sample(op), op.grad, reentrant=op.grad)


for _op in OPS:
    register(_op)


def main():
    write_cases(CASES, OUT_DIR)


if __name__ == "__main__":
    main()
