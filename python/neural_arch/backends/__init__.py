"""Backends: which devices this build and machine can compute on.

``get_backend(name)`` returns a Backend with ``is_available()``, ``reason`` and the original's
backend-level ops (``backend.gelu(x)``...). Only the CPU backend exists in this build; the ops of
an unavailable backend ("cuda", "mps") warn with the reason and compute on the CPU, the
fallback the original describes ("Falls back to CPU operations").
"""
import warnings

from .. import _C
from .memory_pool import get_memory_pool  # noqa: F401

_OPS = ("gelu", "relu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "matmul", "exp", "log", "sqrt")


class Backend:
    """A backend's description (name, is_available(), reason, isa) and its ops."""

    def __init__(self, native):
        self._native = native

    name = property(lambda self: self._native.name)
    reason = property(lambda self: self._native.reason)
    isa = property(lambda self: self._native.isa)

    def is_available(self):
        return self._native.is_available()

    def __getattr__(self, op):
        if op not in _OPS:
            raise AttributeError(f"backend '{self.name}' has no op '{op}'")
        fn = getattr(_C, op)
        if self.is_available():
            return fn

        def fallback(*args, **kwargs):
            warnings.warn(f"{self.name} backend unavailable ({self.reason}); computing {op} on the CPU",
                          RuntimeWarning, stacklevel=2)
            args = [a if isinstance(a, _C.Tensor) or not hasattr(a, "__array__") else _C.tensor(a) for a in args]
            return fn(*args, **kwargs)

        return fallback

    def __repr__(self):
        return repr(self._native)


def get_backend(name="cpu"):
    """The backend called name: "cpu", "cuda" or "mps" (an Error for other names)."""
    return Backend(_C.get_backend(name))


def list_backends():
    return _C.list_backends()


def is_available(name):
    return _C.get_backend(name).is_available()
