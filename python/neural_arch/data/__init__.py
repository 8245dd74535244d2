"""torch.utils.data's counterpart: Dataset (subclass it in Python), TensorDataset, DataLoader."""
from .._C import Dataset, TensorDataset, DataLoader, load_fashion_mnist, read_idx  # noqa: F401
