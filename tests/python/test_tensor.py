"""Tensor from Python: construction, dtype inference, NumPy/DLPack exchange without copies,
operators, indexing, autograd hooks and conversions."""
import gc
import threading

import numpy as np
import pytest

import neural_arch as na


def test_constructor_makes_float32_copies():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    t = na.Tensor(a)
    assert t.dtype == na.float32 and t.shape == (2, 3)
    a[0, 0] = 100
    assert t[0, 0].item() == 0.0  # a copy
    assert na.Tensor([[1, 2], [3, 4]]).dtype == na.float32
    assert na.Tensor(3.5).shape == () and na.Tensor(3.5).item() == 3.5
    assert na.Tensor().shape == (0,)
    assert na.Tensor(na.ones(2)).dtype == na.float32


def test_tensor_infers_dtype_like_torch():
    assert na.tensor([1.0, 2.0]).dtype == na.float32
    assert na.tensor([1, 2]).dtype == na.int64
    assert na.tensor([True, False]).dtype == na.bool
    assert na.tensor(np.zeros(2, dtype=np.float64)).dtype == na.float64  # an ndarray keeps its dtype
    assert na.tensor(np.zeros(2, dtype=np.int32)).dtype == na.int32
    assert na.tensor([1, 2], dtype=na.float64).dtype == na.float64
    assert na.tensor([1.5], dtype="bfloat16").dtype == na.bfloat16
    t = na.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf


def test_numpy_shares_memory_both_ways():
    t = na.zeros(3, 4)
    a = t.numpy()
    a[1, 2] = 5.0
    assert t[1, 2].item() == 5.0
    t.fill_(2.0)
    assert a[0, 0] == 2.0
    b = np.ones((2, 3), dtype=np.float32)
    u = na.from_numpy(b)
    u += 1
    assert b[0, 0] == 2.0
    assert u.data_ptr() == b.ctypes.data


def test_numpy_view_keeps_storage_alive_after_tensor_is_gone():
    t = na.arange(0, 1 << 16, dtype=na.float32)
    a = t.numpy()
    v = t[10:20].numpy()
    del t
    gc.collect()
    junk = [na.ones(1 << 16) for _ in range(8)]  # would reuse the freed block if it were freed
    assert a[12345] == 12345.0
    np.testing.assert_array_equal(v, np.arange(10, 20, dtype=np.float32))
    del junk


def test_from_numpy_keeps_array_alive_after_array_is_gone():
    b = np.arange(1000, dtype=np.float64)
    t = na.from_numpy(b)
    del b
    gc.collect()
    assert t[999].item() == 999.0 and t.dtype == na.float64


def test_from_numpy_strided_view_without_copy():
    b = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    t = na.from_numpy(b)
    assert t.shape == (4, 3) and t.stride() == (6, 2)
    np.testing.assert_array_equal(t.numpy(), b)


def test_dlpack_roundtrip_with_torch(torch):
    x = na.randn(3, 4)
    tt = torch.from_dlpack(x)
    assert tt.data_ptr() == x.data_ptr()
    tt.mul_(2)
    np.testing.assert_array_equal(x.numpy(), tt.numpy())
    src = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    y = na.from_dlpack(src)
    assert y.dtype == na.float64 and y.data_ptr() == src.data_ptr()
    del src
    gc.collect()
    assert y[1, 2].item() == 5.0
    assert x.__dlpack_device__() == (1, 0)
    z = na.from_dlpack(np.arange(4, dtype=np.int32))
    assert z.dtype == na.int32 and z.tolist() == [0, 1, 2, 3]


def test_operators_reflected_inplace_and_comparisons():
    a = na.tensor([1.0, 2.0, 3.0])
    assert (a + 1).tolist() == [2.0, 3.0, 4.0]
    assert (1 + a).tolist() == [2.0, 3.0, 4.0]
    assert (10 - a).tolist() == [9.0, 8.0, 7.0]
    assert (2 * a).tolist() == [2.0, 4.0, 6.0]
    assert (6 / a).tolist() == [6.0, 3.0, 2.0]
    assert (a ** 2).tolist() == [1.0, 4.0, 9.0]
    assert (2 ** a).tolist() == [2.0, 4.0, 8.0]
    assert (-a).tolist() == [-1.0, -2.0, -3.0]
    assert abs(-a).tolist() == [1.0, 2.0, 3.0]
    assert (a > 1.5).tolist() == [False, True, True]
    assert (a == na.tensor([1.0, 0.0, 3.0])).tolist() == [True, False, True]
    assert ((a > 1) & (a < 3)).tolist() == [False, True, False]
    assert (~(a > 1)).tolist() == [True, False, False]
    m = na.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert (m @ m).tolist() == [[7.0, 10.0], [15.0, 22.0]]
    assert (np.eye(2, dtype=np.float32) @ m).tolist() == m.tolist()
    b = a.clone()
    ident = id(b)
    b += 1
    b *= 2
    b -= a
    b /= 2
    assert id(b) == ident and b.tolist() == [1.5, 2.0, 2.5]
    i = na.tensor([1, 2])
    assert (i + 1).dtype == na.int64 and (i + 0.5).dtype == na.float32
    assert (a + np.float32(1)).tolist() == [2.0, 3.0, 4.0]


def test_indexing_matches_numpy():
    a = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
    t = na.tensor(a)
    keys = [
        1, -1, (1, 2), (slice(None), 2), (slice(1, None, 2),), (..., 3), (None, 1), (slice(None), None, 2),
        (1, ..., slice(0, 6, 3)), (slice(None, None, 3), slice(4, 0, 1)), (Ellipsis,),
    ]
    for k in keys:
        np.testing.assert_array_equal(t[k].numpy(), a[k], err_msg=str(k))
    mask = a[:, 0, 0] > 30
    np.testing.assert_array_equal(t[na.tensor(mask)].numpy(), a[mask])
    m2 = a > 100
    np.testing.assert_array_equal(t[na.tensor(m2)].numpy(), a[m2])
    idx = np.array([[0, 3], [2, -1]])
    np.testing.assert_array_equal(t[na.tensor(idx)].numpy(), a[idx])
    np.testing.assert_array_equal(t[:, [4, 0]].numpy(), a[:, [4, 0]])
    assert t[1, 2].numpy().base is not None  # basic indexing is a view


def test_setitem_matches_numpy():
    a = np.zeros((4, 5), dtype=np.float32)
    t = na.tensor(a)
    for key, value in [((1,), 3.0), ((slice(None), 2), 7.0), ((slice(0, 4, 2), slice(1, 3)), np.ones((2, 2)) * 4),
                       ((..., -1), np.arange(4, dtype=np.float32))]:
        a[key] = value
        t[key] = value if np.isscalar(value) else na.tensor(value, dtype=na.float32)
        np.testing.assert_array_equal(t.numpy(), a)
    mask = a > 3
    a[mask] = -1
    t[na.tensor(mask)] = -1
    np.testing.assert_array_equal(t.numpy(), a)
    a[[0, 2]] = 9
    t[na.tensor([0, 2])] = 9
    np.testing.assert_array_equal(t.numpy(), a)
    a[np.array([True, False, True, False])] = np.arange(5, dtype=np.float32)
    t[na.tensor([True, False, True, False])] = na.arange(5, dtype=na.float32)
    np.testing.assert_array_equal(t.numpy(), a)


def test_autograd_grad_hooks_and_assignment():
    x = na.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    y = (x * x).sum()
    assert y.grad_fn is not None and not y.is_leaf
    y.backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0] and seen == [[2.0, 4.0, 6.0]]
    z = na.tensor([1.0, 1.0], requires_grad=True)
    z.register_hook(lambda g: g * 10)
    (z * 3).sum().backward()
    assert z.grad.tolist() == [30.0, 30.0]
    z.grad = None
    assert z.grad is None
    z.grad = na.Tensor([1.0, 2.0])
    assert z.grad.tolist() == [1.0, 2.0]
    w = na.ones(2)
    assert not w.requires_grad
    assert w.requires_grad_() is w and w.requires_grad
    with na.no_grad():
        assert not (w * 2).requires_grad
    assert (w * 2).requires_grad


def test_hook_exception_propagates():
    x = na.ones(2, requires_grad=True)

    def bad(g):
        raise KeyError("from hook")

    x.register_hook(bad)
    with pytest.raises(KeyError, match="from hook"):
        (x * 2).sum().backward()


def test_item_tolist_repr_metadata():
    t = na.tensor([[1.5, 2.0]])
    assert t.item if True else None
    assert na.tensor([[7]]).item() == 7 and isinstance(na.tensor([[7]]).item(), int)
    assert t.tolist() == [[1.5, 2.0]]
    assert repr(t).startswith("tensor(")
    assert t.shape == (1, 2) and t.ndim == 2 and t.numel() == 2 and len(t) == 1
    assert str(t.device) == "cpu" and t.device == "cpu"
    assert t.size() == (1, 2) and t.size(1) == 2
    assert float(na.tensor(2.5)) == 2.5 and int(na.tensor(3)) == 3
    assert [r.tolist() for r in na.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]
    assert repr(na.float32) == "neural_arch.float32"
    assert t.T.shape == (2, 1) and t.view(2).shape == (2,) and t.reshape((2, 1)).shape == (2, 1)


def test_to_dtype_and_device():
    t = na.tensor([1.5, 2.5])
    assert t.to(na.float64).dtype == na.float64
    assert t.to("int64").tolist() == [1, 2]
    assert t.to(np.float16).dtype == na.float16
    assert t.to("cpu").data_ptr() == t.data_ptr()
    assert t.to(na.device("cpu")).dtype == na.float32
    with pytest.raises(na.Error):
        t.to("cuda")  # this build has only the CPU backend


def test_gil_is_released_for_kernels():
    """Two threads run large matmuls; each must make progress while the other computes."""
    a = na.randn(512, 512)
    results = []

    def work():
        r = a
        for _ in range(5):
            r = na.tanh(r @ a)
        results.append(r.sum().item())

    threads = [threading.Thread(target=work) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 2 and results[0] == results[1]
