"""nn.Module for Python subclasses, and nn.Parameter.

A Python module is a C++ ``nn::Module`` (through a trampoline): parameters and submodules
assigned as attributes are registered in the C++ module tree, so parameters(), state_dict(),
train()/eval(), to(dtype), the optimizers and gradient checkpointing see Python and C++ layers
alike. Only attribute registration lives here.
"""
from .. import _C


class Parameter(_C.Tensor):
    """A tensor registered as a module parameter when assigned to a module attribute.

    Parameter(t) shares t's memory (as torch.nn.Parameter does) and requires grad.
    """

    def __init__(self, data=None, requires_grad=True):
        super().__init__(_C.empty(0) if data is None else data)
        self.requires_grad_(requires_grad)


class Module(_C.Module):
    """Base class of modules written in Python (torch.nn.Module's counterpart).

        class Net(na.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = na.nn.Linear(4, 3)
                self.scale = na.nn.Parameter(na.ones(3))

            def forward(self, x):
                return self.fc(x) * self.scale
    """

    def __init__(self):
        super().__init__(type(self).__name__)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _own_names(self, kind):
        pairs = self.named_parameters(False) if kind == "param" else self.named_buffers(False)
        return {n for n, _ in pairs}

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            if name in self._own_names("param"):
                self._replace_tensor(name, value)
            else:
                self._register_parameter(name, value, value.requires_grad)
        elif isinstance(value, _C.Module):
            self._register_module(name, value)
        elif name in self._own_names("param") or name in self._own_names("buffer"):
            if value is not None and not isinstance(value, _C.Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to parameter or buffer '{name}'")
            self._replace_tensor(name, value)
        object.__setattr__(self, name, value)

    def register_parameter(self, name, param):
        if param is None or name in self._own_names("param"):
            self._replace_tensor(name, param)
        else:
            self._register_parameter(name, param, param.requires_grad)
        object.__setattr__(self, name, param)

    def register_buffer(self, name, tensor, persistent=True):
        if not persistent:
            object.__setattr__(self, name, tensor)  # a plain attribute: not in state_dict
            return
        if name in self._own_names("buffer"):
            self._replace_tensor(name, tensor)
        else:
            self._register_buffer(name, tensor)
        object.__setattr__(self, name, tensor)

    def add_module(self, name, module):
        setattr(self, name, module)

    register_module = add_module

    def apply(self, fn):
        for m in self.modules():
            fn(m)
        return self

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self
