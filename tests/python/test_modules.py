"""Modules written in Python: registration, traversal, state, the C++ optimizers, schedulers,
checkpointing, autocast, GradScaler and safetensors on them."""
import numpy as np
import pytest

import neural_arch as na
import neural_arch.nn.functional as F
from gradutil import assert_param_grads_close, param_grads


class Block(na.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = na.nn.Linear(d, d)
        self.gain = na.nn.Parameter(na.ones(d))
        self.register_buffer("calls", na.zeros(1))

    def forward(self, x):
        return F.gelu(self.fc(x)) * self.gain


class Net(na.nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = na.nn.Linear(8, 16)
        self.blocks = na.nn.Sequential(Block(16), Block(16), na.nn.ReLU(), Block(16))
        self.heads = na.nn.ModuleList([na.nn.Linear(16, 4), na.nn.Linear(16, 4)])
        self.scale = 2.0  # a plain attribute

    def forward(self, x):
        h = self.blocks(self.inp(x))
        return (self.heads[0](h) + self.heads[1](h)) * self.scale


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names[:2] == ["inp.weight", "inp.bias"]
    assert "blocks.0.gain" in names and "blocks.3.fc.weight" in names and "heads.1.bias" in names
    assert "blocks.0.calls" in net.state_dict() and "blocks.0.calls" not in names
    assert len(net.parameters()) == len(names) == 2 + 3 * 3 + 4
    assert net.num_parameters() == sum(p.numel() for p in net.parameters())
    assert isinstance(net.blocks[0], Block) and net.blocks[0] is net.blocks[0]
    assert [type(m).__name__ for m in net.children()] == ["Linear", "Sequential", "ModuleList"]
    assert net.scale == 2.0
    assert "Block(" in repr(net)


def test_train_eval_zero_grad_and_to():
    net = Net()
    assert net.training and net.eval() is net and not net.blocks[0].training
    net.train()
    net(na.randn(3, 8)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    w = net.inp.weight
    net.to(na.float64)
    assert net.inp.weight.dtype == na.float64 and w.dtype == na.float64  # same handle, converted
    assert net(na.randn(2, 8, dtype=na.float64)).dtype == na.float64


def test_state_dict_roundtrip_between_instances():
    a, b = Net(), Net()
    x = na.randn(5, 8)
    assert not na.allclose(a(x), b(x))
    missing, unexpected = b.load_state_dict(a.state_dict())
    assert missing == [] and unexpected == []
    assert na.allclose(a(x), b(x))
    sd = {k: v.numpy() for k, v in a.state_dict().items()}  # NumPy arrays are accepted too
    b.load_state_dict(sd)


def test_parameter_reassignment_and_register_parameter():
    blk = Block(4)
    blk.gain = na.nn.Parameter(na.full((4,), 3.0))
    assert dict(blk.named_parameters())["gain"].tolist() == [3.0] * 4
    blk.register_parameter("extra", na.nn.Parameter(na.zeros(2)))
    assert "extra" in dict(blk.named_parameters())


@pytest.mark.parametrize("opt_cls,kwargs", [
    (na.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (na.optim.Adam, {"lr": 1e-2}),
    (na.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.01}),
    (na.optim.Lion, {"lr": 1e-3}),
    (na.optim.RMSprop, {"lr": 1e-2}),
    (na.optim.Adagrad, {"lr": 0.1}),
])
def test_cpp_optimizers_train_a_python_model(opt_cls, kwargs):
    net = Net()
    x = na.randn(64, 8)
    y = na.randint(0, 4, (64,))
    opt = opt_cls(net.parameters(), **kwargs)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first


def test_param_groups_and_scheduler():
    net = Net()
    opt = na.optim.SGD([{"params": net.inp.parameters(), "lr": 0.5}, {"params": net.heads.parameters()}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    sched = na.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(4):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.125, 0.025])
    opt.param_groups[1]["lr"] = 0.3
    assert opt.param_groups[1]["lr"] == 0.3
    lam = na.optim.lr_scheduler.LambdaLR(na.optim.SGD(net.parameters(), lr=1.0), lambda e: 1.0 / (e + 1))
    lam.step()
    assert lam.get_last_lr() == pytest.approx([0.5])


def test_optimizer_state_dict_roundtrip():
    net = Net()
    opt = na.optim.Adam(net.parameters(), lr=1e-3)
    net(na.randn(2, 8)).sum().backward()
    opt.step()
    sd = opt.state_dict()
    opt2 = na.optim.Adam(net.parameters(), lr=1e-3)
    opt2.load_state_dict(sd)
    assert set(opt2.state_dict()) == set(sd)


def test_checkpoint_with_python_callable_matches_plain():
    blk = Block(8)
    x = na.randn(4, 8, requires_grad=True)
    y = na.utils.checkpoint.checkpoint(lambda t: blk(t) * 2, x)
    y.sum().backward()
    g_ckpt = [x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in blk.parameters()]
    x.grad = None
    blk.zero_grad()
    (blk(x) * 2).sum().backward()
    g_plain = [x.grad.numpy()] + [p.grad.numpy() for p in blk.parameters()]
    for a, b in zip(g_ckpt, g_plain):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_enable_gradient_checkpointing_on_python_model():
    net = Net()
    x = na.randn(4, 8)
    net(x).sum().backward()
    plain = param_grads(net)
    net.zero_grad()
    na.optimization.enable_gradient_checkpointing(net)
    net(x).sum().backward()
    assert_param_grads_close(plain, net)


def test_autocast_and_grad_scaler():
    net = Net()
    x = na.randn(4, 8)
    with na.optimization.autocast(na.bfloat16):
        assert na._C.is_autocast_enabled()
        out = net.inp(x)
        assert out.dtype == na.bfloat16
    assert not na._C.is_autocast_enabled()
    opt = na.optim.SGD(net.parameters(), lr=0.01)
    scaler = na.optimization.GradScaler(init_scale=1024.0)
    loss = net(x).sum()
    scaler.scale(loss).backward()
    assert scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 1024.0


def test_safetensors_roundtrip(tmp_path):
    net, other = Net(), Net()
    path = str(tmp_path / "net.safetensors")
    na._C.save_safetensors(net.state_dict(), path, {"step": "3"})
    other.load_state_dict(na._C.load_safetensors(path))
    x = na.randn(2, 8)
    assert na.allclose(net(x), other(x))


def test_python_module_keeps_alive_inside_cpp_container():
    seq = na.nn.Sequential(Block(4))
    import gc

    gc.collect()
    assert isinstance(seq[0], Block)
    assert seq(na.ones(1, 4)).shape == (1, 4)


def test_memory_pool_context_and_stats():
    pool = na.backends.get_memory_pool()
    before = pool.caching
    with pool.context(False):
        assert not pool.caching
    assert pool.caching == before
    stats = na.optimization.get_memory_stats()
    assert {"pool_hit_rate", "allocated_bytes", "hits", "misses"} <= set(stats)
