"""torch.nn's counterpart: Module (subclassable in Python), Parameter and the C++ layers."""
from .. import _C
from .module import Module, Parameter  # noqa: F401
from . import functional, init, optimized  # noqa: F401
from .optimized import OptimizedLinear  # noqa: F401

Linear = _C.Linear
Bilinear = _C.Bilinear
Identity = _C.Identity
Flatten = _C.Flatten
ReLU = _C.ReLU
LeakyReLU = _C.LeakyReLU
GELU = _C.GELU
SiLU = _C.SiLU
Tanh = _C.Tanh
Sigmoid = _C.Sigmoid
Softplus = _C.Softplus
Mish = _C.Mish
GLU = _C.GLU
Softmax = _C.Softmax
LogSoftmax = _C.LogSoftmax
Dropout = _C.Dropout
Embedding = _C.Embedding
Conv1d = _C.Conv1d
Conv2d = _C.Conv2d
MaxPool2d = _C.MaxPool2d
AvgPool2d = _C.AvgPool2d
AdaptiveAvgPool2d = _C.AdaptiveAvgPool2d
LayerNorm = _C.LayerNorm
RMSNorm = _C.RMSNorm
GroupNorm = _C.GroupNorm
BatchNorm1d = _C.BatchNorm1d
BatchNorm2d = _C.BatchNorm2d
MLP = _C.MLP
Sequential = _C.Sequential
ModuleList = _C.ModuleList
ModuleDict = _C.ModuleDict
CrossEntropyLoss = _C.CrossEntropyLoss
NLLLoss = _C.NLLLoss
MSELoss = _C.MSELoss
L1Loss = _C.L1Loss
SmoothL1Loss = _C.SmoothL1Loss
HuberLoss = _C.HuberLoss
BCELoss = _C.BCELoss
KLDivLoss = _C.KLDivLoss

from .. import utils  # noqa: E402
from .._C import clip_grad_norm_, clip_grad_value_  # noqa: E402,F401
