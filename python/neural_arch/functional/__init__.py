"""The functional API (torch.nn.functional's counterpart): one C++ op per name."""
from .._C import (  # noqa: F401
    relu, gelu, silu, sigmoid, tanh, softplus, leaky_relu, elu, glu, relu6, hardswish, mish,
    softmax, log_softmax, dropout, linear, embedding,
    cross_entropy, nll_loss, mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy,
    binary_cross_entropy_with_logits, kl_div,
    conv1d, conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d,
    layer_norm, rms_norm, group_norm, batch_norm, scaled_dot_product_attention,
)
from . import activation  # noqa: F401

__all__ = [
    "relu", "gelu", "silu", "sigmoid", "tanh", "softplus", "leaky_relu", "elu", "glu", "relu6", "hardswish",
    "mish", "softmax", "log_softmax", "dropout", "linear", "embedding", "cross_entropy", "nll_loss", "mse_loss",
    "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "kl_div", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "layer_norm", "rms_norm",
    "group_norm", "batch_norm", "scaled_dot_product_attention",
]
