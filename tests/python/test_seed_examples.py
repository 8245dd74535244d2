"""Every Python block of the original PERFORMANCE_GUIDE.md, run as written.

The blocks are copied verbatim (one test each, in the guide's order). The only additions are
the ones the guide itself implies: block 2 uses a `model` and an `input` it never defines (a
model with a Sequential body, as enable_gradient_checkpointing needs, and a batch for it).
Blocks 4 (CUDA) and 5/6 (MPS) take their "unavailable" paths on this CPU-only build: block 4's
`import cupy` raises ImportError (CuPy is not a dependency) and prints why; the MPS blocks print
`MPS backend active: False` and backend.gelu warns with the backend's reason and computes on the
CPU — the tests check that each path is taken and that the reason is said.
"""
import contextlib
import io
import sys
import warnings

import numpy as np
import pytest

import neural_arch as na
from gradutil import assert_param_grads_close, param_grads


def run_block(source, env=None):
    """Executes a guide block in a fresh namespace and returns (namespace, printed text)."""
    out = io.StringIO()
    ns = dict(env or {})
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<guide block>", "exec"), ns)
    return ns, out.getvalue()


BLOCK1 = """
from neural_arch.nn.optimized import OptimizedLinear

# Drop-in replacement with automatic optimization
layer = OptimizedLinear(512, 768, activation='gelu', enable_fusion=True)
"""

BLOCK2 = """
from neural_arch.optimization.memory import enable_gradient_checkpointing
from neural_arch.backends.memory_pool import get_memory_pool

# Enable gradient checkpointing - 98%+ memory savings
enable_gradient_checkpointing(model)

# Use memory pooling - 30% allocation improvement
pool = get_memory_pool()
with pool.context():
    output = model(input)  # Automatic memory reuse
"""

BLOCK3 = """
from neural_arch.optimization.fusion import fuse_linear_activation

# Fused linear + GELU operation
output = fuse_linear_activation(input, weight, bias, 'gelu')
"""

BLOCK4 = """
# IMPORTANT: Requires 'pip install cupy' first
try:
    import cupy as cp
    from neural_arch.backends import get_backend
    
    # Only works if CuPy is properly installed
    cuda_backend = get_backend("cuda")
    
    # GPU operations (CuPy dependency)
    x_gpu = cp.random.randn(4096, 1024).astype(cp.float32)
    result = cuda_backend.gelu(x_gpu)
    
except ImportError:
    print("CuPy not installed - GPU acceleration unavailable")
    # Falls back to CPU operations
"""

BLOCK5 = """
from neural_arch.backends import get_backend
from neural_arch.core import Tensor
import numpy as np

# Automatic MPS backend on Apple Silicon
# Near-zero timing overhead
backend = get_backend("mps")  # Auto-detected on Mac

# Fast operations on Apple Silicon
x = Tensor(np.random.randn(1000, 512))
y = backend.gelu(x)  # Hardware-accelerated

print(f"MPS backend active: {backend.is_available()}")
# Output: MPS backend active: True (on Apple Silicon)
"""

BLOCK6 = """
from neural_arch.optimization.memory import get_memory_stats
from neural_arch.backends import get_backend

# Check memory optimization stats
stats = get_memory_stats()
print(f"Memory pool efficiency: {stats['pool_hit_rate']:.2%}")

# Check backend availability
mps_backend = get_backend("mps")
print(f"MPS available: {mps_backend.is_available()}")
"""

BLOCK7 = """
from neural_arch.optim.adamw import AdamW
from neural_arch.optim.lion import Lion
from neural_arch.core import Tensor
import numpy as np

# High-performance AdamW - 7K-10K steps/sec
model_params = [Tensor(np.random.randn(1000, 512)) for _ in range(10)]
optimizer = AdamW(model_params, lr=1e-4, weight_decay=0.01)

# Training loop with verified performance
for step in range(1000):
    # Simulate gradients
    for param in model_params:
        param.grad = Tensor(np.random.randn(*param.shape))
    
    optimizer.step()  # Fast parameter update
    optimizer.zero_grad()

print(f"Completed 1000 steps with high-performance optimizer")
# Achieves 7K-10K steps/sec on modern hardware
"""

BLOCK8 = """
from neural_arch.functional.activation import gelu
from neural_arch.core import Tensor
import numpy as np
import time

# Large tensor for demonstrating 6.7x speedup
x = Tensor(np.random.randn(4096, 1024))

# First call compiles (slower)
start = time.time()
y = gelu(x)  # JIT compilation happens here
compile_time = time.time() - start

# Subsequent calls are 6.7x faster
start = time.time()
y = gelu(x)  # Fast JIT execution
fast_time = time.time() - start

print(f"JIT GELU active, speedup achieved")
# Verified 6.7x speedup vs standard implementation
"""


def test_block1_optimized_linear():
    ns, _ = run_block(BLOCK1)
    layer = ns["layer"]
    assert (layer.in_features, layer.out_features, layer.activation) == (512, 768, "gelu")
    assert layer.enable_fusion
    x = na.randn(4, 512)
    ref = na.functional.gelu(x @ layer.weight.t() + layer.bias)
    assert na.allclose(layer(x), ref, rtol=1e-4, atol=1e-5)


class _Model(na.nn.Module):
    """The `model` block 2 assumes: a Sequential body that checkpointing can split."""

    def __init__(self):
        super().__init__()
        self.body = na.nn.Sequential(*[na.nn.Sequential(na.nn.Linear(64, 64), na.nn.GELU()) for _ in range(4)])
        self.head = na.nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.body(x))


def test_block2_checkpointing_and_pool():
    model = _Model()
    x = na.randn(8, 64)
    expected = model(x)
    ns, _ = run_block(BLOCK2, {"model": model, "input": x})
    assert na.allclose(ns["output"], expected, rtol=1e-6, atol=1e-6)
    # Checkpointed backward gives the same gradients as the plain one.
    ns["output"].sum().backward()
    g_ckpt = param_grads(model)
    model.zero_grad()
    na.optimization.disable_gradient_checkpointing(model)
    model(x).sum().backward()
    assert_param_grads_close(g_ckpt, model)


def test_block3_fused_linear_gelu():
    x, w, b = na.randn(16, 32), na.randn(48, 32), na.randn(48)
    ns, _ = run_block(BLOCK3, {"input": x, "weight": w, "bias": b})
    assert na.allclose(ns["output"], na.functional.gelu(na.functional.linear(x, w, b)), rtol=1e-4, atol=1e-5)


def test_block4_cuda_takes_unavailable_path():
    assert "cupy" not in sys.modules
    _, printed = run_block(BLOCK4)
    # The ImportError branch ran: CuPy is not installed, and the CUDA backend says why it is off.
    assert printed == "CuPy not installed - GPU acceleration unavailable\n"
    cuda = na.backends.get_backend("cuda")
    assert not cuda.is_available() and cuda.reason


def test_block5_mps_takes_unavailable_path():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ns, printed = run_block(BLOCK5)
    assert printed == "MPS backend active: False\n"
    reason = na.backends.get_backend("mps").reason
    assert reason
    assert any(reason in str(w.message) for w in caught), "the fallback must say why MPS is unavailable"
    assert na.allclose(ns["y"], na.functional.gelu(ns["x"]))


def test_block6_memory_stats_and_mps():
    na.randn(100, 100)
    ns, printed = run_block(BLOCK6)
    lines = printed.splitlines()
    assert lines[0].startswith("Memory pool efficiency: ") and lines[0].endswith("%")
    assert 0.0 <= ns["stats"]["pool_hit_rate"] <= 1.0
    assert lines[1] == "MPS available: False"


def test_block7_adamw_1000_steps():
    ns, printed = run_block(BLOCK7)
    assert printed == "Completed 1000 steps with high-performance optimizer\n"
    params = ns["model_params"]
    assert len(params) == 10 and all(p.shape == (1000, 512) and p.grad is None for p in params)
    assert ns["optimizer"].param_groups[0]["weight_decay"] == pytest.approx(0.01)


def test_block8_gelu():
    ns, printed = run_block(BLOCK8)
    assert printed == "JIT GELU active, speedup achieved\n"
    x = ns["x"].numpy().astype(np.float64)
    from math import erf, sqrt

    ref = 0.5 * x[:2, :8] * (1 + np.vectorize(erf)(x[:2, :8] / sqrt(2)))
    np.testing.assert_allclose(ns["y"].numpy()[:2, :8], ref, rtol=1e-5, atol=1e-6)
