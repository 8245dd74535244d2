"""torch.nn.init's counterpart for the common initialisers (in place, without recording grad)."""
import math

from .. import _C
from .._grad_mode import no_grad


def _fill(t, values):
    with no_grad():
        t.copy_(values)
    return t


def zeros_(t):
    return _fill(t, _C.zeros_like(t))


def ones_(t):
    return _fill(t, _C.ones_like(t))


def constant_(t, val):
    return _fill(t, _C.full_like(t, val))


def normal_(t, mean=0.0, std=1.0):
    return _fill(t, _C.randn(t.shape, dtype=t.dtype) * std + mean)


def uniform_(t, a=0.0, b=1.0):
    return _fill(t, _C.rand(t.shape, dtype=t.dtype) * (b - a) + a)


def _fans(t):
    fan_in = t.shape[1] if t.ndim > 1 else t.shape[0]
    fan_out = t.shape[0]
    receptive = 1
    for s in t.shape[2:]:
        receptive *= s
    return fan_in * receptive, fan_out * receptive


def xavier_uniform_(t, gain=1.0):
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a)


def kaiming_uniform_(t, a=0.0, nonlinearity="leaky_relu"):
    fan_in, _ = _fans(t)
    gain = math.sqrt(2.0 / (1 + a * a)) if nonlinearity == "leaky_relu" else math.sqrt(2.0)
    bound = gain * math.sqrt(3.0 / fan_in)
    return uniform_(t, -bound, bound)
