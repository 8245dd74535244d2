"""torch.utils.checkpoint's counterpart over the C++ checkpointing."""
from .._C import checkpoint, checkpoint_sequential  # noqa: F401
