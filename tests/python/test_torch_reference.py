"""Forward and backward of the public ops and layers against PyTorch, in process.

Inputs are float64 (the C++ reference tests' tolerances for f64: rtol 1e-9, atol 1e-12, loosened
only where noted); neural_arch results reach torch through DLPack, without copies.
"""
import numpy as np
import pytest

import neural_arch as na
import neural_arch.nn.functional as F

RTOL, ATOL = 1e-9, 1e-12


def to_torch(torch, t):
    return torch.from_dlpack(t.detach())


def check_close(torch, ours, theirs, rtol=RTOL, atol=ATOL, what=""):
    o = to_torch(torch, ours)
    assert tuple(o.shape) == tuple(theirs.shape), what
    np.testing.assert_allclose(o.numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol, err_msg=what)


def pos(shape):
    return np.random.uniform(0.5, 2.0, shape)


def normal(shape):
    return np.random.randn(*shape)


# name, neural_arch fn, torch fn (given the torch module), input generators, tolerances
OPS = [
    ("add", lambda a, b: a + b, lambda T, a, b: a + b, [normal((3, 4)), normal((4,))]),
    ("sub", lambda a, b: a - b, lambda T, a, b: a - b, [normal((3, 4)), normal((3, 1))]),
    ("mul", lambda a, b: a * b, lambda T, a, b: a * b, [normal((3, 4)), normal((3, 4))]),
    ("div", lambda a, b: a / b, lambda T, a, b: a / b, [normal((3, 4)), pos((3, 4))]),
    ("pow", lambda a, b: a ** b, lambda T, a, b: a ** b, [pos((3, 4)), normal((3, 4))]),
    ("pow_scalar", lambda a: a ** 3, lambda T, a: a ** 3, [normal((5,))]),
    ("rsub_scalar", lambda a: 2 - a, lambda T, a: 2 - a, [normal((5,))]),
    ("maximum", na.maximum, lambda T, a, b: T.maximum(a, b), [normal((6,)), normal((6,))]),
    ("minimum", na.minimum, lambda T, a, b: T.minimum(a, b), [normal((6,)), normal((6,))]),
    ("neg", na.neg, lambda T, a: -a, [normal((4,))]),
    ("exp", na.exp, lambda T, a: a.exp(), [normal((4, 3))]),
    ("log", na.log, lambda T, a: a.log(), [pos((4, 3))]),
    ("log1p", na.log1p, lambda T, a: a.log1p(), [pos((4, 3))]),
    ("sqrt", na.sqrt, lambda T, a: a.sqrt(), [pos((4, 3))]),
    ("rsqrt", na.rsqrt, lambda T, a: a.rsqrt(), [pos((4, 3))]),
    ("abs", na.abs, lambda T, a: a.abs(), [normal((4, 3))]),
    ("sin", na.sin, lambda T, a: a.sin(), [normal((4, 3))]),
    ("cos", na.cos, lambda T, a: a.cos(), [normal((4, 3))]),
    ("tanh", na.tanh, lambda T, a: a.tanh(), [normal((4, 3))]),
    ("sigmoid", na.sigmoid, lambda T, a: a.sigmoid(), [normal((4, 3))]),
    ("erf", na.erf, lambda T, a: T.erf(a), [normal((4, 3))]),
    ("relu", F.relu, lambda T, a: T.nn.functional.relu(a), [normal((4, 3))]),
    ("gelu", F.gelu, lambda T, a: T.nn.functional.gelu(a), [normal((4, 3))]),
    ("gelu_tanh", lambda a: F.gelu(a, "tanh"), lambda T, a: T.nn.functional.gelu(a, approximate="tanh"),
     [normal((4, 3))]),
    ("silu", F.silu, lambda T, a: T.nn.functional.silu(a), [normal((4, 3))]),
    ("softplus", F.softplus, lambda T, a: T.nn.functional.softplus(a), [normal((4, 3))]),
    ("leaky_relu", lambda a: F.leaky_relu(a, 0.2), lambda T, a: T.nn.functional.leaky_relu(a, 0.2), [normal((4, 3))]),
    ("elu", F.elu, lambda T, a: T.nn.functional.elu(a), [normal((4, 3))]),
    ("mish", F.mish, lambda T, a: T.nn.functional.mish(a), [normal((4, 3))]),
    ("hardswish", F.hardswish, lambda T, a: T.nn.functional.hardswish(a), [normal((4, 3))]),
    ("glu", F.glu, lambda T, a: T.nn.functional.glu(a), [normal((4, 6))]),
    ("clamp", lambda a: na.clamp(a, -0.5, 0.5), lambda T, a: a.clamp(-0.5, 0.5), [normal((4, 3))]),
    ("where", lambda a, b: na.where(a > 0, a, b), lambda T, a, b: T.where(a > 0, a, b), [normal((5,)), normal((5,))]),
    ("sum", lambda a: a.sum(), lambda T, a: a.sum(), [normal((3, 4))]),
    ("sum_dim", lambda a: a.sum(1, keepdim=True), lambda T, a: a.sum(1, keepdim=True), [normal((3, 4))]),
    ("mean", lambda a: a.mean((0, 2)), lambda T, a: a.mean((0, 2)), [normal((3, 4, 2))]),
    ("var", lambda a: a.var(1), lambda T, a: a.var(1), [normal((3, 4))]),
    ("std", lambda a: a.std(), lambda T, a: a.std(), [normal((3, 4))]),
    ("prod", lambda a: a.prod(1), lambda T, a: a.prod(1), [pos((3, 4))]),
    ("logsumexp", lambda a: na.logsumexp(a, 1), lambda T, a: a.logsumexp(1), [normal((3, 4))]),
    ("max_dim", lambda a: a.max(1)[0], lambda T, a: a.max(1)[0], [normal((3, 4))]),
    ("min_all", lambda a: a.min(), lambda T, a: a.min(), [normal((3, 4))]),
    ("softmax", lambda a: na.softmax(a, -1), lambda T, a: a.softmax(-1), [normal((3, 4))]),
    ("log_softmax", lambda a: na.log_softmax(a, 0), lambda T, a: a.log_softmax(0), [normal((3, 4))]),
    ("matmul", na.matmul, lambda T, a, b: a @ b, [normal((2, 3, 4)), normal((4, 5))]),
    ("mm", na.mm, lambda T, a, b: a.mm(b), [normal((3, 4)), normal((4, 2))]),
    ("bmm", na.bmm, lambda T, a, b: a.bmm(b), [normal((2, 3, 4)), normal((2, 4, 2))]),
    ("outer", na.outer, lambda T, a, b: T.outer(a, b), [normal((3,)), normal((4,))]),
    ("linear", F.linear, lambda T, x, w, b: T.nn.functional.linear(x, w, b), [normal((5, 4)), normal((3, 4)), normal((3,))]),
    ("cat", lambda a, b: na.cat([a, b], 1), lambda T, a, b: T.cat([a, b], 1), [normal((2, 3)), normal((2, 2))]),
    ("stack", lambda a, b: na.stack([a, b], 0), lambda T, a, b: T.stack([a, b], 0), [normal((2, 3)), normal((2, 3))]),
    ("transpose_view", lambda a: a.transpose(0, 1).reshape(-1), lambda T, a: a.transpose(0, 1).reshape(-1),
     [normal((2, 3))]),
    ("indexing", lambda a: a[1:, ::2] * 2, lambda T, a: a[1:, ::2] * 2, [normal((3, 5))]),
    ("permute", lambda a: a.permute(2, 0, 1), lambda T, a: a.permute(2, 0, 1), [normal((2, 3, 4))]),
    ("mse_loss", F.mse_loss, lambda T, a, b: T.nn.functional.mse_loss(a, b), [normal((4, 3)), normal((4, 3))]),
    ("l1_loss", F.l1_loss, lambda T, a, b: T.nn.functional.l1_loss(a, b), [normal((4, 3)), normal((4, 3))]),
    ("smooth_l1_loss", F.smooth_l1_loss, lambda T, a, b: T.nn.functional.smooth_l1_loss(a, b),
     [normal((4, 3)), normal((4, 3))]),
    ("huber_loss", F.huber_loss, lambda T, a, b: T.nn.functional.huber_loss(a, b), [normal((4, 3)), normal((4, 3))]),
    ("bce_with_logits", F.binary_cross_entropy_with_logits,
     lambda T, a, b: T.nn.functional.binary_cross_entropy_with_logits(a, b), [normal((4, 3)), np.random.rand(4, 3)]),
    ("bce", F.binary_cross_entropy, lambda T, a, b: T.nn.functional.binary_cross_entropy(a, b),
     [np.random.uniform(0.1, 0.9, (4, 3)), np.random.rand(4, 3)]),
    ("kl_div", lambda a, b: F.kl_div(a, b, "batchmean"),
     lambda T, a, b: T.nn.functional.kl_div(a, b, reduction="batchmean"),
     [np.log(np.random.dirichlet(np.ones(5), 3)), np.random.dirichlet(np.ones(5), 3)]),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b),
     lambda T, x, w, b: T.nn.functional.layer_norm(x, (4,), w, b), [normal((3, 4)), normal((4,)), normal((4,))]),
    ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b),
     lambda T, x, w, b: T.nn.functional.group_norm(x, 2, w, b), [normal((2, 4, 3)), normal((4,)), normal((4,))]),
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
     lambda T, x, w, b: T.nn.functional.conv2d(x, w, b, stride=2, padding=1),
     [normal((2, 3, 7, 7)), normal((4, 3, 3, 3)), normal((4,))]),
    ("conv1d", lambda x, w: F.conv1d(x, w, padding="same"),
     lambda T, x, w: T.nn.functional.conv1d(x, w, padding="same"), [normal((2, 3, 9)), normal((4, 3, 3))]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), lambda T, x: T.nn.functional.max_pool2d(x, 2), [normal((2, 3, 6, 6))]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1), lambda T, x: T.nn.functional.avg_pool2d(x, 3, 2, 1),
     [normal((2, 3, 7, 7))]),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
     lambda T, x: T.nn.functional.adaptive_avg_pool2d(x, (2, 3)), [normal((2, 3, 7, 8))]),
    ("sdpa_causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
     lambda T, q, k, v: T.nn.functional.softmax(
         (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).masked_fill(T.ones(4, 4).triu(1).bool(), float("-inf")), -1) @ v,
     [normal((2, 4, 8)), normal((2, 4, 8)), normal((2, 4, 8))]),
    ("fuse_linear_gelu", lambda x, w, b: na.optimization.fuse_linear_activation(x, w, b, "gelu"),
     lambda T, x, w, b: T.nn.functional.gelu(T.nn.functional.linear(x, w, b)),
     [normal((5, 4)), normal((3, 4)), normal((3,))]),
]


@pytest.mark.parametrize("name,ours,theirs,inputs", OPS, ids=[o[0] for o in OPS])
def test_op_forward_backward_matches_torch(torch, name, ours, theirs, inputs):
    xs = [na.tensor(a).requires_grad_() for a in inputs]
    ts = [torch.from_dlpack(x.detach()).clone().requires_grad_() for x in xs]
    out = ours(*xs)
    ref = theirs(torch, *ts)
    check_close(torch, out, ref, what=f"{name} forward")
    up = np.random.randn(*ref.shape)
    out.backward(na.tensor(up) if out.ndim else None)
    ref.backward(torch.from_numpy(up) if ref.ndim else None)
    for i, (x, t) in enumerate(zip(xs, ts)):
        check_close(torch, x.grad, t.grad, what=f"{name} grad of input {i}")


def test_cross_entropy_and_nll_match_torch(torch):
    logits = normal((6, 5))
    target = np.random.randint(0, 5, 6)
    for ours, theirs in [(F.cross_entropy, torch.nn.functional.cross_entropy),
                         (lambda a, b: F.nll_loss(na.log_softmax(a, 1), b),
                          lambda a, b: torch.nn.functional.nll_loss(a.log_softmax(1), b))]:
        x = na.tensor(logits).requires_grad_()
        t = torch.from_numpy(logits.copy()).requires_grad_()
        o, r = ours(x, na.tensor(target)), theirs(t, torch.from_numpy(target))
        check_close(torch, o, r)
        o.backward()
        r.backward()
        check_close(torch, x.grad, t.grad)


def _copy_params(torch, ours, theirs):
    sd = {k: torch.from_dlpack(v.detach()).clone() for k, v in ours.state_dict().items()}
    theirs.load_state_dict(sd, strict=True)


LAYERS = [
    ("Linear", lambda: na.nn.Linear(4, 3), lambda T: T.nn.Linear(4, 3), (5, 4)),
    ("Conv2d", lambda: na.nn.Conv2d(3, 4, 3, padding=1), lambda T: T.nn.Conv2d(3, 4, 3, padding=1), (2, 3, 6, 6)),
    ("Conv1d", lambda: na.nn.Conv1d(3, 4, 3, stride=2), lambda T: T.nn.Conv1d(3, 4, 3, stride=2), (2, 3, 9)),
    ("LayerNorm", lambda: na.nn.LayerNorm(6), lambda T: T.nn.LayerNorm(6), (3, 6)),
    ("GroupNorm", lambda: na.nn.GroupNorm(2, 4), lambda T: T.nn.GroupNorm(2, 4), (2, 4, 5)),
    ("BatchNorm1d", lambda: na.nn.BatchNorm1d(4), lambda T: T.nn.BatchNorm1d(4), (8, 4)),
    ("BatchNorm2d", lambda: na.nn.BatchNorm2d(3), lambda T: T.nn.BatchNorm2d(3), (4, 3, 5, 5)),
    ("Embedding", lambda: na.nn.Embedding(10, 4), lambda T: T.nn.Embedding(10, 4), None),
    ("Sequential", lambda: na.nn.Sequential(na.nn.Linear(4, 8), na.nn.GELU(), na.nn.Linear(8, 2), na.nn.Tanh()),
     lambda T: T.nn.Sequential(T.nn.Linear(4, 8), T.nn.GELU(), T.nn.Linear(8, 2), T.nn.Tanh()), (3, 4)),
    ("MaxPool2d+Flatten", lambda: na.nn.Sequential(na.nn.MaxPool2d(2), na.nn.Flatten()),
     lambda T: T.nn.Sequential(T.nn.MaxPool2d(2), T.nn.Flatten()), (2, 3, 4, 4)),
]


@pytest.mark.parametrize("name,make_ours,make_theirs,shape", LAYERS, ids=[l[0] for l in LAYERS])
def test_layer_forward_backward_matches_torch(torch, name, make_ours, make_theirs, shape):
    ours = make_ours().to(na.float64)
    theirs = make_theirs(torch).double()
    _copy_params(torch, ours, theirs)
    if shape is None:  # Embedding: integer input
        idx = np.random.randint(0, 10, (3, 5))
        x, t = na.tensor(idx), torch.from_numpy(idx)
    else:
        a = normal(shape)
        x, t = na.tensor(a).requires_grad_(), torch.from_numpy(a.copy()).requires_grad_()
    out, ref = ours(x), theirs(t)
    check_close(torch, out, ref, what=f"{name} forward")
    up = np.random.randn(*ref.shape)
    out.backward(na.tensor(up))
    ref.backward(torch.from_numpy(up))
    if shape is not None:
        check_close(torch, x.grad, t.grad, what=f"{name} input grad")
    tp = dict(theirs.named_parameters())
    for n, p in ours.named_parameters():
        check_close(torch, p.grad, tp[n].grad, what=f"{name} grad of {n}")
    for n, b in ours.named_buffers():  # running statistics updated alike
        check_close(torch, b, dict(theirs.named_buffers())[n], what=f"{name} buffer {n}")


def test_python_module_matches_torch_module(torch):
    class Ours(na.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = na.nn.Linear(4, 6)
            self.fc2 = na.nn.Linear(6, 2)

        def forward(self, x):
            return self.fc2(F.silu(self.fc1(x)))

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(4, 6)
            self.fc2 = torch.nn.Linear(6, 2)

        def forward(self, x):
            return self.fc2(torch.nn.functional.silu(self.fc1(x)))

    ours, theirs = Ours().to(na.float64), Theirs().double()
    _copy_params(torch, ours, theirs)
    a = normal((5, 4))
    out, ref = ours(na.tensor(a)), theirs(torch.from_numpy(a))
    check_close(torch, out, ref)
    out.sum().backward()
    ref.sum().backward()
    tp = dict(theirs.named_parameters())
    for n, p in ours.named_parameters():
        check_close(torch, p.grad, tp[n].grad, what=n)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 1e-2, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1}),
])
def test_optimizers_match_torch(torch, name, kwargs):
    init = normal((4, 3))
    p = na.tensor(init).requires_grad_()
    tp = torch.from_numpy(init.copy()).requires_grad_()
    opt = getattr(na.optim, name)([p], **kwargs)
    topt = getattr(torch.optim, name)([tp], **kwargs)
    for _ in range(5):
        g = normal((4, 3))
        p.grad = na.tensor(g)
        tp.grad = torch.from_numpy(g)
        opt.step()
        topt.step()
    check_close(torch, p, tp, rtol=1e-9, atol=1e-12)
