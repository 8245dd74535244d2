"""The original's ``neural_arch.backends.memory_pool``: the caching CPU allocator."""
from .._C import get_memory_pool, MemoryPool  # noqa: F401
