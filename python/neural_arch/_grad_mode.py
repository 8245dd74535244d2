"""Grad-mode context managers (torch.no_grad, torch.enable_grad, torch.set_grad_enabled).

The mode itself is the C++ core's thread-local flag; these only scope it.
"""
import functools

from . import _C


class _GradMode:
    _enabled = True

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C.set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _C.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        """Use as a decorator: fn runs inside the mode."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Operations inside record no graph (torch.no_grad)."""

    _enabled = False


class enable_grad(_GradMode):
    """Operations inside record the graph again (torch.enable_grad)."""

    _enabled = True


class set_grad_enabled(_GradMode):
    """Sets grad mode to `mode` on construction; as a context manager, restores it after."""

    def __init__(self, mode):
        self._prev = _C.is_grad_enabled()
        self._enabled = mode
        _C.set_grad_enabled(mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        raise TypeError("set_grad_enabled is not a decorator; use no_grad() or enable_grad()")
