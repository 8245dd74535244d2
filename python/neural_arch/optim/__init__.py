"""torch.optim's counterpart: the C++ optimizers (fused update kernels) and LR schedulers."""
from .._C import Optimizer, SGD, Adam, AdamW, Lion, RMSprop, Adagrad  # noqa: F401
from . import lr_scheduler  # noqa: F401
