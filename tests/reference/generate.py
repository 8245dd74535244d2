#!/usr/bin/python3
"""Writes the PyTorch reference values that tests/test_reference.cpp checks neural_arch against.

Run with Debian's python3-torch (the pyenv `python3` on PATH has no torch):

    /usr/bin/python3 tests/reference/generate.py

Every case seeds torch from a hash of its own name, so adding or removing a case leaves the
others' files unchanged, and running the script twice writes byte-identical files.
Random inputs are drawn in float64 and cast afterwards, so float32 cases see the same values
rounded rather than a different random stream.

File format (one file per case, data/<case>.bin), chosen so the C++ loader needs no library:

    NAREF 1
    tensor <name> <dtype> <ndim> <d0> ... <d{ndim-1}>      (one line per tensor)
    data
    <raw little-endian row-major bytes of every tensor, in header order, nothing else>

dtype is one of float32 float64 int32 int64 uint8 bool (bool: one byte, 0 or 1).

Tensor naming convention, which the C++ runner relies on:
  * inputs have short names (x, y, w, index, ...);
  * outputs are whatever the case returns; the differentiated output is always `out`;
  * `gout` is the random upstream gradient for `out`, and `grad_<input>` is
    torch.autograd.grad(out, <input>, gout). An input has a grad_ entry exactly when the
    C++ side must make it a leaf that requires grad.
"""
import torch
import torch.nn.functional as F

# serialize and the input helpers are also used from here by the other generators.
from refcommon import DATA_DIR, F32, F64, case_registry, randn, serialize, write_cases  # noqa: F401

CASES, case = case_registry()


# ------------------------------------------------------------------ input helpers
def uniform(lo, hi, *shape, dtype=F64):
    return (torch.rand(shape, dtype=F64) * (hi - lo) + lo).to(dtype)


def randint(lo, hi, *shape, dtype=torch.int64):
    return torch.randint(lo, hi, shape, dtype=torch.int64).to(dtype)


def away_from_zero(*shape, margin=0.2):
    """Values with |v| >= margin: keeps kinks (abs, relu, sign, max ties) out of reach."""
    v = torch.randn(shape, dtype=F64)
    return torch.where(v >= 0, v + margin, v - margin)


def record(fn, grad=None, **inputs):
    """Runs fn on the inputs and returns the tensors to store.

    grad: names of inputs to differentiate; default every float64 input (when the op's
    `out` is floating). fn returns a tensor (stored as `out`) or a dict of named outputs.
    """
    if grad is None:
        grad = [k for k, v in inputs.items() if v.dtype == F64]
    leaves = {k: (v.clone().requires_grad_() if k in grad else v) for k, v in inputs.items()}
    result = fn(**leaves)
    outputs = result if isinstance(result, dict) else {"out": result}
    tensors = list(inputs.items())
    tensors += [(k, v.detach()) for k, v in outputs.items()]
    out = outputs.get("out")
    if grad and out is not None and out.is_floating_point():
        gout = torch.randn(out.shape, dtype=F64).to(out.dtype)
        grads = torch.autograd.grad(out, [leaves[k] for k in grad], gout)
        tensors.append(("gout", gout))
        tensors += [("grad_" + k, g) for k, g in zip(grad, grads)]
    return tensors


# ------------------------------------------------------------------ elementwise binary
@case("add_broadcast")
def _():
    return record(lambda x, y: torch.add(x, y), x=randn(3, 1, 4), y=randn(2, 4))


@case("add_alpha")
def _():
    return record(lambda x, y: torch.add(x, y, alpha=2.5), x=randn(2, 3), y=randn(3))


@case("sub_broadcast")
def _():
    return record(lambda x, y: torch.sub(x, y), x=randn(4, 1), y=randn(2, 1, 3))


@case("sub_alpha")
def _():
    return record(lambda x, y: torch.sub(x, y, alpha=-0.5), x=randn(3, 4), y=randn(3, 4))


@case("mul_broadcast")
def _():
    return record(lambda x, y: x * y, x=randn(4, 3), y=randn(3))


@case("mul_scalar_tensor_0d")
def _():
    # A 0-d operand broadcasts against everything; its gradient is a full sum.
    return record(lambda x, y: x * y, x=randn(2, 3, 2), y=randn())


@case("div_broadcast")
def _():
    return record(lambda x, y: x / y, x=randn(2, 3, 4), y=away_from_zero(3, 1, margin=0.5))


@case("pow_tensor")
def _():
    return record(lambda x, y: torch.pow(x, y), x=uniform(0.5, 2.0, 3, 4), y=randn(4))


@case("pow_scalar_int")
def _():
    return record(lambda x: torch.pow(x, 3), x=randn(3, 4))


@case("pow_scalar_float")
def _():
    return record(lambda x: torch.pow(x, 2.5), x=uniform(0.2, 2.0, 3, 4))


@case("pow_scalar_negative")
def _():
    return record(lambda x: torch.pow(x, -1.5), x=uniform(0.5, 2.0, 2, 5))


@case("maximum_broadcast")
def _():
    return record(lambda x, y: torch.maximum(x, y), x=randn(3, 4), y=randn(4))


@case("minimum_broadcast")
def _():
    return record(lambda x, y: torch.minimum(x, y), x=randn(2, 1, 3), y=randn(4, 3))


@case("comparisons")
def _():
    # Small integers stored as floats so that ties (eq, le, ge) really occur.
    def fn(x, y):
        return {"eq": x == y, "ne": x != y, "lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y}
    return record(fn, x=randint(-2, 3, 3, 4, dtype=F64), y=randint(-2, 3, 4, dtype=F64))


@case("comparisons_mixed_dtype")
def _():
    def fn(x, y):
        return {"eq": x == y, "lt": x < y, "ge": x >= y}
    return record(fn, x=randint(-2, 3, 2, 5), y=randint(-4, 6, 2, 5, dtype=F64) / 2)


@case("logical_ops")
def _():
    def fn(a, b, x):
        return {
            "and_": torch.logical_and(a, b),
            "or_": torch.logical_or(a, b),
            "xor_": torch.logical_xor(a, b),
            "not_a": torch.logical_not(a),
            # Non-bool inputs count nonzero as true.
            "and_float": torch.logical_and(x, b),
            "not_float": torch.logical_not(x),
        }
    x = randint(-1, 2, 3, 4, dtype=F64)
    return record(fn, a=randint(0, 2, 3, 4, dtype=torch.bool), b=randint(0, 2, 4, dtype=torch.bool), x=x)


@case("where_broadcast")
def _():
    return record(lambda cond, x, y: torch.where(cond, x, y),
                  cond=randint(0, 2, 3, 4, dtype=torch.bool), x=randn(3, 4), y=randn(4))


@case("masked_fill_broadcast")
def _():
    return record(lambda x, mask: x.masked_fill(mask, -1.5),
                  x=randn(3, 4), mask=randint(0, 2, 1, 4, dtype=torch.bool))


@case("clamp_both")
def _():
    return record(lambda x: torch.clamp(x, -0.5, 0.7), x=randn(4, 5, scale=2.0))


@case("clamp_min_only")
def _():
    return record(lambda x: torch.clamp(x, min=-0.3), x=randn(3, 5))


@case("clamp_max_only")
def _():
    return record(lambda x: torch.clamp(x, max=0.25), x=randn(3, 5))


# ------------------------------------------------------------------ elementwise unary (table)
# name -> (torch fn, input builder). The C++ table (unary_ops) mirrors the names. 35 elements:
# two full 16-lane float32 vectors plus a tail, so vector loops and their remainders both run.
UNARY = {
    "neg": (torch.neg, lambda: randn(5, 7)),
    "exp": (torch.exp, lambda: randn(5, 7)),
    "log": (torch.log, lambda: uniform(0.1, 3.0, 5, 7)),
    "log1p": (torch.log1p, lambda: uniform(-0.9, 3.0, 5, 7)),
    "sqrt": (torch.sqrt, lambda: uniform(0.1, 3.0, 5, 7)),
    "rsqrt": (torch.rsqrt, lambda: uniform(0.1, 3.0, 5, 7)),
    "abs": (torch.abs, lambda: away_from_zero(5, 7)),
    "sign": (torch.sign, lambda: away_from_zero(5, 7)),
    "sin": (torch.sin, lambda: randn(5, 7, scale=3.0)),
    "cos": (torch.cos, lambda: randn(5, 7, scale=3.0)),
    "tanh": (torch.tanh, lambda: randn(5, 7, scale=2.0)),
    "sigmoid": (torch.sigmoid, lambda: randn(5, 7, scale=3.0)),
    "relu": (torch.relu, lambda: away_from_zero(5, 7)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda: away_from_zero(5, 7)),
    "gelu": (lambda x: F.gelu(x, approximate="none"), lambda: randn(5, 7, scale=2.0)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda: randn(5, 7, scale=2.0)),
    "silu": (F.silu, lambda: randn(5, 7, scale=2.0)),
    # beta*x crosses the threshold inside the range, so both branches are covered.
    "softplus": (lambda x: F.softplus(x, beta=2.0, threshold=3.0), lambda: uniform(-3.0, 3.0, 5, 7)),
    "erf": (torch.erf, lambda: randn(5, 7, scale=1.5)),
}
for _name, (_fn, _make) in UNARY.items():
    def _build(fn=_fn, make=_make):
        return record(lambda x: fn(x), x=make())
    case("unary_" + _name)(_build)

# A few float32 forward cases with float32 inputs (compared with tolerance 1e-5).
F32_UNARY = ["exp", "log", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus", "erf", "rsqrt"]
for _name in F32_UNARY:
    def _build32(fn=UNARY[_name][0], make=UNARY[_name][1]):
        return record(lambda x: fn(x), x=make().to(F32))
    case("f32_unary_" + _name)(_build32)


@case("int_unary_dtypes")
def _():
    # Floating math on integer tensors gives float32; sign-preserving ops keep int64.
    def fn(x):
        return {"sqrt": torch.sqrt(x), "exp": torch.exp(x), "abs": torch.abs(x), "neg": torch.neg(x)}
    return record(fn, x=randint(0, 5, 2, 3))


# ------------------------------------------------------------------ reductions
@case("sum_dims")
def _():
    return record(lambda x: torch.sum(x, dim=[0, 2]), x=randn(2, 3, 4))


@case("sum_keepdim_negative_dim")
def _():
    return record(lambda x: torch.sum(x, dim=[-1], keepdim=True), x=randn(2, 3, 4))


@case("sum_all")
def _():
    return record(lambda x: torch.sum(x), x=randn(3, 5))


@case("sum_integer_and_bool")
def _():
    def fn(x, b):
        return {"sum_int": torch.sum(x, dim=[1]), "sum_bool": torch.sum(b), "sum_int_all": torch.sum(x)}
    return record(fn, x=randint(-5, 6, 3, 4), b=randint(0, 2, 3, 4, dtype=torch.bool))


@case("mean_dims")
def _():
    return record(lambda x: torch.mean(x, dim=[1, 2]), x=randn(2, 3, 4))


@case("mean_all_keepdim")
def _():
    return record(lambda x: torch.mean(x, dim=[0, 1], keepdim=True), x=randn(3, 4))


@case("var_dim_unbiased")
def _():
    return record(lambda x: torch.var(x, dim=[1]), x=randn(3, 5))


@case("var_dims_correction0_keepdim")
def _():
    return record(lambda x: torch.var(x, dim=[0, 2], correction=0, keepdim=True), x=randn(2, 3, 4))


@case("var_all")
def _():
    return record(lambda x: torch.var(x), x=randn(4, 3))


@case("std_dim")
def _():
    return record(lambda x: torch.std(x, dim=[2]), x=randn(2, 3, 4))


@case("std_all_correction0")
def _():
    return record(lambda x: torch.std(x, dim=None, correction=0), x=randn(3, 4))


@case("max_dim")
def _():
    def fn(x):
        r = torch.max(x, dim=1)
        return {"out": r.values, "indices": r.indices}
    return record(fn, x=randn(3, 5))


@case("min_dim_keepdim")
def _():
    def fn(x):
        r = torch.min(x, dim=0, keepdim=True)
        return {"out": r.values, "indices": r.indices}
    return record(fn, x=randn(4, 3))


@case("max_all")
def _():
    return record(lambda x: torch.max(x), x=randn(3, 4))


@case("min_all")
def _():
    return record(lambda x: torch.min(x), x=randn(2, 3, 2))


@case("argmax_argmin")
def _():
    def fn(x):
        return {
            "argmax_dim1": torch.argmax(x, dim=1),
            "argmax_all": torch.argmax(x),
            "argmin_dim0_keepdim": torch.argmin(x, dim=0, keepdim=True),
            "argmin_all": torch.argmin(x),
        }
    return record(fn, x=randn(3, 5))


@case("argmax_ties_first")
def _():
    # PyTorch documents argmax/argmin as returning the first index among ties.
    def fn(x):
        return {"argmax": torch.argmax(x, dim=1), "argmin": torch.argmin(x, dim=1)}
    return record(fn, x=torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, 5.0, -1.0, 5.0]], dtype=F64))


@case("logsumexp_dim")
def _():
    return record(lambda x: torch.logsumexp(x, dim=[1]), x=randn(3, 5, scale=2.0))


@case("logsumexp_large_keepdim")
def _():
    # Values near 800 overflow a naive exp: checks the max-subtraction.
    return record(lambda x: torch.logsumexp(x, dim=[0, 2], keepdim=True), x=randn(2, 3, 4) + 800.0)


@case("prod_dim")
def _():
    return record(lambda x: torch.prod(x, dim=1), x=uniform(0.5, 1.5, 3, 4))


@case("prod_all")
def _():
    return record(lambda x: torch.prod(x), x=uniform(-1.5, 1.5, 2, 3))


@case("prod_with_zeros")
def _():
    # Row 0 has one zero (its gradient is the product of the others), row 1 two zeros.
    x = uniform(0.5, 1.5, 3, 4)
    x[0, 2] = 0.0
    x[1, 0] = 0.0
    x[1, 3] = 0.0
    return record(lambda x: torch.prod(x, dim=1, keepdim=True), x=x)


@case("softmax_dim1")
def _():
    return record(lambda x: torch.softmax(x, dim=1), x=randn(3, 5, scale=2.0))


@case("softmax_dim0_large")
def _():
    return record(lambda x: torch.softmax(x, dim=0), x=randn(4, 3, 2, scale=3.0) + 500.0)


@case("log_softmax_last")
def _():
    return record(lambda x: torch.log_softmax(x, dim=-1), x=randn(2, 3, 4, scale=2.0))


# ------------------------------------------------------------------ linear algebra
@case("matmul_dot")
def _():
    return record(lambda a, b: torch.matmul(a, b), a=randn(5), b=randn(5))


@case("matmul_2d")
def _():
    return record(lambda a, b: torch.matmul(a, b), a=randn(3, 4), b=randn(4, 5))


@case("matmul_batched_broadcast")
def _():
    return record(lambda a, b: torch.matmul(a, b), a=randn(2, 1, 3, 4), b=randn(5, 4, 2))


@case("matmul_1d_nd")
def _():
    return record(lambda a, b: torch.matmul(a, b), a=randn(4), b=randn(2, 4, 3))


@case("matmul_nd_1d")
def _():
    return record(lambda a, b: torch.matmul(a, b), a=randn(2, 3, 4), b=randn(4))


@case("matmul_2d_1d")
def _():
    return record(lambda a, b: torch.matmul(a, b), a=randn(3, 4), b=randn(4))


@case("mm")
def _():
    return record(lambda a, b: torch.mm(a, b), a=randn(3, 4), b=randn(4, 2))


@case("bmm")
def _():
    return record(lambda a, b: torch.bmm(a, b), a=randn(2, 3, 4), b=randn(2, 4, 5))


@case("linear_bias")
def _():
    return record(lambda x, w, b: F.linear(x, w, b), x=randn(2, 3, 4), w=randn(5, 4), b=randn(5))


@case("linear_no_bias")
def _():
    return record(lambda x, w: F.linear(x, w), x=randn(3, 4), w=randn(2, 4))


@case("outer")
def _():
    return record(lambda a, b: torch.outer(a, b), a=randn(3), b=randn(4))


@case("f32_matmul_batched")
def _():
    return record(lambda a, b: torch.matmul(a, b), a=randn(2, 5, 7, dtype=F32), b=randn(7, 3, dtype=F32))


@case("f32_linear_bias")
def _():
    return record(lambda x, w, b: F.linear(x, w, b),
                  x=randn(4, 6, dtype=F32), w=randn(3, 6, dtype=F32), b=randn(3, dtype=F32))


@case("f32_reductions")
def _():
    def fn(x):
        return {
            "sum": torch.sum(x, dim=[1]),
            "mean": torch.mean(x),
            "var": torch.var(x, dim=[0]),
            "std": torch.std(x, dim=[1], keepdim=True),
            "logsumexp": torch.logsumexp(x, dim=[1]),
            "softmax": torch.softmax(x, dim=1),
            "log_softmax": torch.log_softmax(x, dim=0),
        }
    return record(fn, x=randn(4, 6, dtype=F32, scale=2.0))


# ------------------------------------------------------------------ shape and indexing
@case("cat_dim1")
def _():
    return record(lambda a, b, c: torch.cat([a, b, c], dim=1), a=randn(2, 1, 3), b=randn(2, 3, 3), c=randn(2, 2, 3))


@case("cat_negative_dim")
def _():
    return record(lambda a, b: torch.cat([a, b], dim=-1), a=randn(2, 3), b=randn(2, 1))


@case("stack_dim1")
def _():
    return record(lambda a, b, c: torch.stack([a, b, c], dim=1), a=randn(2, 3), b=randn(2, 3), c=randn(2, 3))


@case("index_select_repeated")
def _():
    # A repeated index must accumulate both gradients into the same input row.
    return record(lambda x, index: torch.index_select(x, 1, index),
                  x=randn(4, 5), index=torch.tensor([4, 0, 2, 0], dtype=torch.int64))


@case("gather_dim1")
def _():
    return record(lambda x, index: torch.gather(x, 1, index), x=randn(3, 4), index=randint(0, 4, 3, 2))


@case("gather_dim0")
def _():
    return record(lambda x, index: torch.gather(x, 0, index), x=randn(4, 3), index=randint(0, 4, 2, 3))


@case("scatter_dim1")
def _():
    # Unique indices per row: with duplicates PyTorch leaves the winner unspecified.
    index = torch.stack([torch.randperm(5)[:2] for _ in range(3)])
    return record(lambda x, index, src: torch.scatter(x, 1, index, src), x=randn(3, 5), index=index, src=randn(3, 2))


@case("scatter_add_dim1")
def _():
    return record(lambda x, index, src: torch.scatter_add(x, 1, index, src),
                  x=randn(3, 5), index=randint(0, 5, 3, 4), src=randn(3, 4))


@case("scatter_add_dim0")
def _():
    return record(lambda x, index, src: torch.scatter_add(x, 0, index, src),
                  x=randn(3, 2), index=randint(0, 3, 4, 2), src=randn(4, 2))


@case("embedding_repeated")
def _():
    return record(lambda w, indices: F.embedding(indices, w),
                  w=randn(6, 3), indices=torch.tensor([[0, 5, 2, 5], [1, 1, 0, 3]], dtype=torch.int64))


# ------------------------------------------------------------------ non-contiguous inputs
@case("transpose_mul")
def _():
    return record(lambda x, y: x.t() * y, x=randn(4, 3), y=randn(3, 4))


@case("transpose_matmul")
def _():
    return record(lambda a, b: torch.matmul(a.t(), b), a=randn(4, 3), b=randn(4, 2))


@case("permute_exp_sum")
def _():
    return record(lambda x: torch.exp(x.permute(2, 0, 1)).sum(dim=1), x=randn(2, 3, 4))


@case("narrow_matmul")
def _():
    return record(lambda x, w: torch.matmul(x.narrow(0, 1, 3), w), x=randn(5, 4), w=randn(4, 2))


@case("slice_step_add")
def _():
    return record(lambda x, y: x[0:6:2] + y, x=randn(6, 4), y=randn(4))


@case("expand_mul")
def _():
    return record(lambda x, y: x.expand(3, 4) * y, x=randn(3, 1), y=randn(3, 4))


@case("transpose_softmax")
def _():
    return record(lambda x: torch.softmax(x.t(), dim=1), x=randn(4, 3))


@case("select_sum_keepdim")
def _():
    return record(lambda x: x.select(1, 2).sum(dim=[0], keepdim=True), x=randn(3, 4, 2))


# ------------------------------------------------------------------ creation
@case("creation")
def _():
    def fn():
        return {
            "linspace_f64": torch.linspace(-1.0, 2.0, 7, dtype=F64),
            "linspace_f32": torch.linspace(0.0, 1.0, 5),
            "linspace_one": torch.linspace(3.0, 5.0, 1),
            "arange_int": torch.arange(10),
            "arange_int_step": torch.arange(-3, 7, 2),
            "arange_float": torch.arange(-1.0, 1.25, 0.25),
            "arange_float_f64_step": torch.arange(0.0, 1.0, 0.3, dtype=F64),
            "eye_square": torch.eye(3),
            "eye_rect_f64": torch.eye(2, 4, dtype=F64),
        }
    return record(fn)


# ------------------------------------------------------------------ type promotion
@case("type_promotion")
def _():
    def fn(i64, i32, f32, f64, b, u8, f64_0d, i64_0d):
        return {
            "i64_add_f32": i64 + f32,          # float32
            "i64_div_i64": i64 / (i64 + 10),   # true division: float32
            "b_add_i64": b + i64,              # int64
            "i32_mul_i64": i32 * i64,          # int64
            "f32_add_f64": f32 + f64,          # float64
            "i64_mul_float_scalar": i64 * 2.5,  # float32 (default dtype)
            "i32_add_int_scalar": i32 + 5,     # int32
            "f32_add_f64_0d": f32 + f64_0d,    # float32: same category, 0-d does not win
            "i64_add_f64_0d": i64 + f64_0d,    # float64: higher category 0-d tensor wins
            "i32_add_i64_0d": i32 + i64_0d,    # int32
            "u8_add_b": u8 + b,                # uint8
        }
    return record(fn, grad=[],
                  i64=randint(-5, 6, 4), i32=randint(-5, 6, 4, dtype=torch.int32),
                  f32=randn(4, dtype=F32), f64=randn(4), b=randint(0, 2, 4, dtype=torch.bool),
                  u8=randint(0, 200, 4, dtype=torch.uint8), f64_0d=randn(), i64_0d=torch.tensor(7))


def main():
    write_cases(CASES, DATA_DIR)


if __name__ == "__main__":
    main()
