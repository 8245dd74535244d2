#!/usr/bin/python3
"""PyTorch reference values for the core nn layers (tests/test_nn_layers.cpp, test_nn_norm.cpp).

Run with Debian's python3-torch:

    /usr/bin/python3 tests/reference/gen_nn_core.py

Writes tests/reference/data/nn/core_<case>.bin in the format of tests/reference/generate.py
(with the shared writer of refcommon.py). Each case seeds torch from a hash of its own name, so the
files are byte-identical across runs.

Tensor naming for module cases (the C++ side relies on it):
  * inputs: x (and x2 for Bilinear, idx for Embedding);
  * `param.<key>`: the module's state_dict before the forward, loaded into the C++ module with
    load_state_dict(strict=true), so the keys are checked too;
  * `out`, `gout` (random upstream gradient), `grad_x`, `grad_param.<name>` for every parameter;
  * `after.<key>`: buffers after the forward (BatchNorm running statistics).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcommon import DATA_DIR, F32, F64, case_registry, randn, write_cases  # noqa: E402

OUT_DIR = os.path.join(DATA_DIR, "nn")
PREFIX = "core_"
CASES, case = case_registry((PREFIX,), add_prefix=PREFIX)  # @case("linear") writes core_linear.bin


def randomize(module, dtype=F64):
    """Random parameters, so that a test cannot pass on default ones/zeros."""
    module.to(dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, dtype=F64).to(dtype))
    return module


def module_record(module, inputs, grad_inputs=None):
    """Runs module(*inputs.values()) and returns the tensors to store (see the module docstring)."""
    if grad_inputs is None:
        grad_inputs = [k for k, v in inputs.items() if v.is_floating_point()]
    tensors = list(inputs.items())
    tensors += [("param." + k, v.detach().clone()) for k, v in module.state_dict().items()]
    leaves = {k: (v.clone().requires_grad_() if k in grad_inputs else v) for k, v in inputs.items()}
    out = module(*leaves.values())
    params = list(module.named_parameters())
    gout = torch.randn(out.shape, dtype=F64).to(out.dtype)
    wrt = [leaves[k] for k in grad_inputs] + [p for _, p in params]
    grads = torch.autograd.grad(out, wrt, gout, allow_unused=True)
    tensors += [("out", out.detach()), ("gout", gout)]
    names = ["grad_" + k for k in grad_inputs] + ["grad_param." + n for n, _ in params]
    for n, g, w in zip(names, grads, wrt):
        tensors.append((n, g if g is not None else torch.zeros_like(w)))
    tensors += [("after." + k, v.detach().clone()) for k, v in module.named_buffers()]
    return tensors


# ------------------------------------------------------------------ shape-only and dropout modules
# Dropout's random stream differs from torch's, so its deterministic behaviour is what is
# compared: eval mode and p=0 in training mode are both the identity.
@case("identity")
def _():
    return module_record(nn.Identity(), {"x": randn(3, 4)})


@case("flatten")
def _():
    return module_record(nn.Flatten(), {"x": randn(2, 3, 4)})


@case("flatten_range")
def _():
    return module_record(nn.Flatten(0, 1), {"x": randn(2, 3, 4)})


@case("dropout_eval")
def _():
    return module_record(nn.Dropout(0.5).eval(), {"x": randn(4, 5)})


@case("dropout_p0_train")
def _():
    return module_record(nn.Dropout(0.0).train(), {"x": randn(4, 5)})


# ------------------------------------------------------------------ linear family
@case("linear")
def _():
    return module_record(randomize(nn.Linear(5, 3)), {"x": randn(4, 5)})


@case("linear_3d_f32")
def _():
    return module_record(randomize(nn.Linear(6, 4), F32), {"x": randn(2, 3, 6, dtype=F32)})


@case("linear_nobias")
def _():
    return module_record(randomize(nn.Linear(4, 2, bias=False)), {"x": randn(3, 4)})


@case("bilinear")
def _():
    return module_record(randomize(nn.Bilinear(3, 4, 2)), {"x": randn(5, 3), "x2": randn(5, 4)})


@case("embedding_padding")
def _():
    m = randomize(nn.Embedding(7, 3, padding_idx=2))  # the padding row is made non-zero on purpose
    idx = torch.tensor([[0, 2, 5], [2, 6, 0]], dtype=torch.int64)
    return module_record(m, {"idx": idx})


@case("mlp")
def _():
    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(),
                                     nn.Linear(8, 4))

        def forward(self, x):
            return self.net(x)
    m = MLP().to(F64)
    # torch's default init, only cast: the C++ side loads these values, so no randomisation needed.
    return module_record(m, {"x": randn(5, 3, 4)})


# ------------------------------------------------------------------ activations
class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def away_from_kinks(*shape):
    v = torch.randn(shape, dtype=F64) * 2
    return torch.where(v >= 0, v + 0.1, v - 0.1)


ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": lambda x: F.softplus(x, beta=2.0, threshold=5.0),
    "mish": F.mish,
    "glu": lambda x: F.glu(x, dim=1),
    "softmax": lambda x: F.softmax(x, dim=1),
    "log_softmax": lambda x: F.log_softmax(x, dim=1),
    "elu": lambda x: F.elu(x, 0.7),
    "relu6": lambda x: F.relu6(x),
    "hardswish": F.hardswish,
}
for _name, _fn in ACTIVATIONS.items():
    def _build(fn=_fn):
        return module_record(Fn(fn), {"x": away_from_kinks(4, 6)})
    case("act_" + _name)(_build)


# ------------------------------------------------------------------ normalization
@case("layer_norm")
def _():
    return module_record(randomize(nn.LayerNorm([4, 5])), {"x": randn(3, 4, 5) * 2 + 1})


@case("layer_norm_f32")
def _():
    return module_record(randomize(nn.LayerNorm(8), F32), {"x": randn(6, 8, dtype=F32)})


@case("layer_norm_noaffine")
def _():
    return module_record(nn.LayerNorm(6, eps=1e-3, elementwise_affine=False).to(F64), {"x": randn(2, 3, 6)})


class RMSNorm(nn.Module):
    """torch 1.13 has no nn.RMSNorm: the definition of torch 2.4's, written out."""

    def __init__(self, shape, eps=None):
        super().__init__()
        self.shape = tuple(shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.shape))

    def forward(self, x):
        eps = self.eps if self.eps is not None else torch.finfo(x.dtype).eps
        dims = tuple(range(-len(self.shape), 0))
        return x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps) * self.weight


@case("rms_norm")
def _():
    return module_record(randomize(RMSNorm([3, 4], eps=1e-6)), {"x": randn(2, 3, 4)})


@case("rms_norm_default_eps")
def _():
    return module_record(randomize(RMSNorm([5])), {"x": randn(4, 5)})


@case("group_norm")
def _():
    return module_record(randomize(nn.GroupNorm(3, 6)), {"x": randn(3, 6, 4, 2) * 3 - 1})


@case("group_norm_3d")
def _():
    return module_record(randomize(nn.GroupNorm(2, 4, eps=1e-3)), {"x": randn(2, 4, 5)})


def batch_norm_module(cls, c, **kw):
    m = randomize(cls(c, **kw))
    if m.track_running_stats:
        m.running_mean.copy_(torch.randn(c, dtype=F64))
        m.running_var.copy_(torch.rand(c, dtype=F64) + 0.5)
        m.num_batches_tracked.fill_(3)
    return m


@case("batch_norm1d_train")
def _():
    return module_record(batch_norm_module(nn.BatchNorm1d, 4), {"x": randn(6, 4) * 2 + 0.5})


@case("batch_norm1d_train_3d")
def _():
    return module_record(batch_norm_module(nn.BatchNorm1d, 3, momentum=0.3), {"x": randn(4, 3, 5)})


@case("batch_norm1d_eval")
def _():
    return module_record(batch_norm_module(nn.BatchNorm1d, 4).eval(), {"x": randn(5, 4)})


@case("batch_norm1d_cumulative")
def _():
    return module_record(batch_norm_module(nn.BatchNorm1d, 3, momentum=None), {"x": randn(5, 3)})


@case("batch_norm1d_no_stats")
def _():
    m = batch_norm_module(nn.BatchNorm1d, 3, track_running_stats=False).eval()
    return module_record(m, {"x": randn(5, 3)})


@case("batch_norm2d_train")
def _():
    return module_record(batch_norm_module(nn.BatchNorm2d, 3), {"x": randn(2, 3, 4, 3) + 1})


@case("batch_norm2d_eval")
def _():
    return module_record(batch_norm_module(nn.BatchNorm2d, 3).eval(), {"x": randn(2, 3, 2, 3)})


@case("batch_norm2d_train_f32")
def _():
    m = batch_norm_module(nn.BatchNorm2d, 4).to(F32)
    return module_record(m, {"x": randn(3, 4, 3, 3, dtype=F32)})


def main():
    write_cases(CASES, OUT_DIR, (PREFIX,))


if __name__ == "__main__":
    main()
