"""Bad calls from Python raise an exception (never crash the interpreter).

Each entry is (description, callable, accepted exception types). neural_arch.Error subclasses
both RuntimeError and ValueError (PyTorch raises either, depending on the call).
"""
import numpy as np
import pytest

import neural_arch as na


class WrongForward(na.nn.Module):
    def forward(self, x):
        return "not a tensor"


class NoForward(na.nn.Module):
    pass


def _bad_checkpoint():
    x = na.ones(2, requires_grad=True)
    na.utils.checkpoint.checkpoint(lambda t: 42, x)


def _bad_hook():
    x = na.ones(2, requires_grad=True)
    x.register_hook(lambda g: "nope")
    (x * 2).sum().backward()


def _readonly_from_numpy():
    a = np.ones(3, dtype=np.float32)
    a.flags.writeable = False
    na.from_numpy(a)


def _backward_twice():
    x = na.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _inplace_on_leaf():
    x = na.ones(2, requires_grad=True)
    x.add_(1)


def _sequential_with_wrong_forward():
    na.nn.Sequential(WrongForward())(na.ones(2))


E = (RuntimeError, ValueError)
T = (TypeError,)
ET = E + T

BAD_CALLS = [
    ("matmul inner dims", lambda: na.ones(2, 3) @ na.ones(2, 3), E),
    ("add shapes that do not broadcast", lambda: na.ones(2, 3) + na.ones(4), E),
    ("view to a wrong numel", lambda: na.ones(2, 3).view(4), E),
    ("reshape with two -1", lambda: na.ones(2, 3).reshape(-1, -1), E),
    ("index out of range", lambda: na.ones(3)[5], E + (IndexError,)),
    ("negative index out of range", lambda: na.ones(3)[-4], E + (IndexError,)),
    ("too many indices", lambda: na.ones(3)[0, 0], E + (IndexError,)),
    ("two ellipses", lambda: na.ones(3, 3)[..., ...], E + (IndexError,)),
    ("negative slice step", lambda: na.ones(5)[::-1], E),
    ("zero slice step", lambda: na.ones(5)[::0], E),
    ("float index", lambda: na.ones(3)[1.5], E + (IndexError, TypeError)),
    ("string index", lambda: na.ones(3)["a"], E + (IndexError, TypeError)),
    ("bool Python index", lambda: na.ones(3)[True], E + (IndexError,)),
    ("int index tensor out of range", lambda: na.ones(3)[na.tensor([0, 7])], E + (IndexError,)),
    ("float index tensor", lambda: na.ones(3)[na.tensor([0.0])], E + (IndexError,)),
    ("mask of wrong shape", lambda: na.ones(3)[na.tensor([True, False])], E + (IndexError,)),
    ("assign wrong shape", lambda: na.ones(2, 3).__setitem__(0, na.ones(4)), E),
    ("item of many elements", lambda: na.ones(3).item(), E),
    ("bool of many elements", lambda: bool(na.ones(3)), E),
    ("len of 0-d", lambda: len(na.tensor(1.0)), E + T),
    ("backward of a non-scalar", lambda: na.ones(3, requires_grad=True).mul(2).backward(), E),
    ("backward without grad", lambda: na.ones(3).sum().backward(), E),
    ("backward twice", _backward_twice, E),
    ("requires_grad on int", lambda: na.tensor([1, 2]).requires_grad_(), E),
    ("in-place on a leaf that requires grad", _inplace_on_leaf, E),
    ("grad of wrong shape", lambda: setattr(na.ones(3, requires_grad=True), "grad", na.ones(4)), E),
    ("grad of wrong dtype", lambda: setattr(na.ones(3), "grad", na.ones(3, dtype=na.float64)), E),
    ("grad of wrong type", lambda: setattr(na.ones(3), "grad", "x"), T),
    ("string data", lambda: na.tensor(["a", "b"]), E + T),
    ("ragged list", lambda: na.tensor([[1, 2], [3]]), E + T),
    ("complex array", lambda: na.tensor(np.ones(2, dtype=np.complex64)), E + T),
    ("unsupported ndarray dtype for from_numpy", lambda: na.from_numpy(np.ones(2, dtype=np.int16)), E + T),
    ("read-only array for from_numpy", _readonly_from_numpy, E),
    ("negative strides for from_numpy", lambda: na.from_numpy(np.arange(4.0)[::-1]), E + T),
    ("from_numpy of a list", lambda: na.from_numpy([1, 2]), E),
    ("from_dlpack of an int", lambda: na.from_dlpack(3), E),
    ("unknown dtype name", lambda: na.zeros(2, dtype="float8"), E),
    ("to() an unknown dtype or device", lambda: na.ones(2).to("tpu"), E),
    ("numpy() of a tensor requiring grad", lambda: na.ones(2, requires_grad=True).numpy(), E),
    ("numpy() of bfloat16", lambda: na.ones(2, dtype=na.bfloat16).numpy(), E),
    ("operator with a string", lambda: na.ones(2) + "a", T),
    ("operator with a list", lambda: na.ones(2) * [1, 2], T),
    ("cat of mismatched shapes", lambda: na.cat([na.ones(2, 3), na.ones(2, 4)]), E),
    ("softmax dim out of range", lambda: na.softmax(na.ones(2, 3), 5), E),
    ("sum dim out of range", lambda: na.ones(2).sum(3), E),
    ("Linear with a wrong input width", lambda: na.nn.Linear(4, 2)(na.ones(3, 5)), E),
    ("Linear with a non-tensor input", lambda: na.nn.Linear(4, 2)("x"), T),
    ("Conv2d kernel of three ints", lambda: na.nn.Conv2d(1, 1, (1, 2, 3)), E),
    ("conv2d on a 2-d input", lambda: na.functional.conv2d(na.ones(3, 3), na.ones(1, 1, 2, 2)), E),
    ("cross_entropy with float targets", lambda: na.functional.cross_entropy(na.ones(2, 3), na.ones(2)), E),
    ("cross_entropy class out of range", lambda: na.functional.cross_entropy(na.ones(2, 3), na.tensor([0, 9])), E),
    ("Sequential given a non-module", lambda: na.nn.Sequential(na.ones(2)), T),
    ("forward returning a string inside Sequential", _sequential_with_wrong_forward, E + T),
    ("module without forward", lambda: NoForward()(na.ones(2)), (NotImplementedError,)),
    ("load_state_dict with a missing key", lambda: na.nn.Linear(2, 2).load_state_dict({"weight": na.ones(2, 2)}), E),
    ("load_state_dict with a wrong shape",
     lambda: na.nn.Linear(2, 2).load_state_dict({"weight": na.ones(3, 2), "bias": na.ones(2)}), E),
    ("optimizer with an unknown hyper-parameter", lambda: na.optim.AdamW([na.ones(2)], lrr=0.1), E),
    ("optimizer with a negative lr", lambda: na.optim.SGD([na.ones(2)], lr=-1.0), E),
    ("optimizer with no parameters", lambda: na.optim.Adam([]), E),
    ("optimizer with a non-tensor parameter", lambda: na.optim.Adam([1.0]), E),
    ("param group without params", lambda: na.optim.SGD([{"lr": 0.1}]), E),
    ("unknown backend", lambda: na.backends.get_backend("tpu"), E),
    ("checkpoint function returning an int", _bad_checkpoint, E),
    ("hook returning a string", _bad_hook, E),
    ("randint with high <= low", lambda: na.randint(5, 5, (2,)), E),
    ("arange with zero step", lambda: na.arange(0, 5, 0), E),
    ("safetensors file that does not exist", lambda: na._C.load_safetensors("/nonexistent/x.safetensors"), E),
    ("fuse_linear_activation with an unknown activation",
     lambda: na.optimization.fuse_linear_activation(na.ones(2, 2), na.ones(2, 2), None, "swish9"), E),
]


@pytest.mark.parametrize("name,call,errors", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises(name, call, errors):
    with pytest.raises(errors):
        call()


def test_table_is_large_enough():
    assert len(BAD_CALLS) >= 40


def test_error_type_and_message():
    with pytest.raises(na.Error, match=r"\[matmul\] shapes \(2,3\) and \(2,3\)"):
        na.ones(2, 3) @ na.ones(2, 3)
    assert issubclass(na.Error, RuntimeError) and issubclass(na.Error, ValueError)
