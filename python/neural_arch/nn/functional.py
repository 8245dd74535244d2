"""torch.nn.functional's counterpart (the same functions as neural_arch.functional)."""
from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401
