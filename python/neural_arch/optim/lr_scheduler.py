"""torch.optim.lr_scheduler's counterpart."""
from .._C import (  # noqa: F401
    LRScheduler, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, LambdaLR, WarmupCosineLR,
    OneCycleLR, ReduceLROnPlateau,
)
