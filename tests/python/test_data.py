"""Datasets written in Python feeding the C++ DataLoader (with and without its prefetch thread)."""
import pytest

import neural_arch as na


class Squares(na.data.Dataset):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return na.tensor([float(i), float(i * i)]), na.tensor(i % 3)


@pytest.mark.parametrize("prefetch", [False, True])
def test_python_dataset_through_dataloader(prefetch):
    loader = na.data.DataLoader(Squares(10), batch_size=4, shuffle=True, seed=3, prefetch=prefetch)
    assert len(loader) == 3
    for _ in range(2):  # two epochs
        seen = []
        for x, y in loader:
            assert x.shape[1] == 2 and x.shape[0] == y.shape[0]
            seen += [int(v) for v in x[:, 0].tolist()]
            assert (x[:, 1] == x[:, 0] * x[:, 0]).logical_not().sum().item() == 0
        assert sorted(seen) == list(range(10))


def test_tensor_dataset_and_drop_last():
    ds = na.data.TensorDataset(na.arange(10, dtype=na.float32).reshape(5, 2), na.arange(5))
    batches = list(na.data.DataLoader(ds, batch_size=2, drop_last=True))
    assert len(batches) == 2 and batches[0][0].tolist() == [[0.0, 1.0], [2.0, 3.0]]


def test_dataset_returning_wrong_type_raises():
    class Bad(na.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return "x"

    with pytest.raises(na.Error, match="__getitem__"):
        list(na.data.DataLoader(Bad(), batch_size=2))
