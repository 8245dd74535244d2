#!/usr/bin/python3
"""PyTorch reference values for convolutions, pooling, losses and the small CNN
(tests/test_nn_conv.cpp, tests/test_nn_loss.cpp).

    /usr/bin/python3 tests/reference/gen_nn_conv.py

Writes data/nn/conv_<case>.bin and data/nn/loss_<case>.bin in the format and with the naming
convention of generate.py (whose input helpers it imports; the writer is refcommon.py's): inputs,
`out`, the upstream gradient `gout` and `grad_<input>`. Each case seeds torch from a hash of its
own name, so reruns write identical bytes. float32 cases exercise the oneDNN kernels, float64 ones
the direct loops.

The cnn case (the default-size nn::CNN, the issue-3 "done when" case) stores a PyTorch model's
parameters (p_<name>), an input batch, the labels, the cross-entropy loss and every parameter's
gradient (grad_<name>).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate as G  # noqa: E402  (importing it only defines its cases; it writes nothing)
from refcommon import DATA_DIR, F32, F64, case_registry, write_cases  # noqa: E402

OUT_DIR = os.path.join(DATA_DIR, "nn")
PREFIXES = ("conv_", "loss_")
CASES, case = case_registry(PREFIXES)


randn, uniform, randint, record = G.randn, G.uniform, G.randint, G.record
XWB = ["x", "w", "b"]


# ------------------------------------------------------------------ conv2d
@case("conv_conv2d_basic")
def _():
    return record(lambda x, w, b: F.conv2d(x, w, b, padding=1), grad=XWB,
                  x=randn(2, 3, 7, 6, dtype=F32), w=randn(4, 3, 3, 3, dtype=F32), b=randn(4, dtype=F32))


@case("conv_conv2d_stride_pad_pair")
def _():
    return record(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2)), grad=XWB,
                  x=randn(2, 3, 9, 8, dtype=F32), w=randn(5, 3, 3, 2, dtype=F32), b=randn(5, dtype=F32))


@case("conv_conv2d_dilation")
def _():
    return record(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=2, dilation=(2, 3)), grad=XWB,
                  x=randn(3, 2, 11, 12, dtype=F32), w=randn(4, 2, 3, 3, dtype=F32), b=randn(4, dtype=F32))


@case("conv_conv2d_groups")
def _():
    return record(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2), grad=XWB,
                  x=randn(2, 4, 6, 6, dtype=F32), w=randn(6, 2, 3, 3, dtype=F32), b=randn(6, dtype=F32))


@case("conv_conv2d_depthwise")
def _():
    return record(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=8), grad=XWB,
                  x=randn(2, 8, 10, 10, dtype=F32), w=randn(16, 1, 3, 3, dtype=F32), b=randn(16, dtype=F32))


@case("conv_conv2d_same_even")
def _():
    # An even kernel with dilation: "same" pads one more element at the end than at the start.
    return record(lambda x, w, b: F.conv2d(x, w, b, padding="same", dilation=(1, 2)), grad=XWB,
                  x=randn(2, 3, 7, 9, dtype=F32), w=randn(4, 3, 4, 2, dtype=F32), b=randn(4, dtype=F32))


@case("conv_conv2d_valid_nobias")
def _():
    return record(lambda x, w: F.conv2d(x, w, padding="valid"), grad=["x", "w"],
                  x=randn(2, 3, 6, 5, dtype=F32), w=randn(2, 3, 2, 3, dtype=F32))


@case("conv_conv2d_f64")
def _():
    return record(lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=3),
                  x=randn(2, 6, 7, 8), w=randn(3, 2, 3, 2), b=randn(3))


@case("conv_conv2d_wide")
def _():
    # Enough channels that oneDNN picks a blocked layout (reorders in and out of NCHW).
    return record(lambda x, w, b: F.conv2d(x, w, b, padding=1), grad=XWB,
                  x=randn(1, 16, 6, 6, dtype=F32), w=randn(32, 16, 3, 3, dtype=F32, scale=0.1),
                  b=randn(32, dtype=F32))


# ------------------------------------------------------------------ conv1d
@case("conv_conv1d_basic")
def _():
    return record(lambda x, w, b: F.conv1d(x, w, b, padding=2), grad=XWB,
                  x=randn(2, 3, 10, dtype=F32), w=randn(4, 3, 5, dtype=F32), b=randn(4, dtype=F32))


@case("conv_conv1d_same")
def _():
    return record(lambda x, w, b: F.conv1d(x, w, b, padding="same", dilation=3), grad=XWB,
                  x=randn(2, 2, 12, dtype=F32), w=randn(3, 2, 4, dtype=F32), b=randn(3, dtype=F32))


@case("conv_conv1d_stride_groups_f64")
def _():
    return record(lambda x, w, b: F.conv1d(x, w, b, stride=3, padding=1, dilation=2, groups=2),
                  x=randn(3, 4, 17), w=randn(6, 2, 3), b=randn(6))


# ------------------------------------------------------------------ pooling
@case("conv_max_pool2d_basic")
def _():
    return record(lambda x: F.max_pool2d(x, 2), grad=["x"], x=randn(2, 3, 8, 6, dtype=F32))


@case("conv_max_pool2d_options")
def _():
    return record(lambda x: F.max_pool2d(x, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True),
                  x=randn(2, 2, 9, 8))


@case("conv_max_pool2d_unbatched")
def _():
    return record(lambda x: F.max_pool2d(x, 3, stride=2, padding=1), x=randn(3, 7, 7))


@case("conv_avg_pool2d_basic")
def _():
    return record(lambda x: F.avg_pool2d(x, 2), grad=["x"], x=randn(2, 3, 8, 6, dtype=F32))


@case("conv_avg_pool2d_pad_include")
def _():
    return record(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), x=randn(2, 2, 7, 8))


@case("conv_avg_pool2d_pad_exclude_ceil")
def _():
    return record(lambda x: F.avg_pool2d(x, (3, 2), stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                  x=randn(2, 2, 8, 7))


@case("conv_avg_pool2d_divisor")
def _():
    return record(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, divisor_override=5),
                  x=randn(1, 2, 8, 8))


@case("conv_adaptive_avg_pool2d")
def _():
    return record(lambda x: F.adaptive_avg_pool2d(x, (3, 4)), x=randn(2, 3, 7, 9))


@case("conv_adaptive_avg_pool2d_global")
def _():
    return record(lambda x: F.adaptive_avg_pool2d(x, 1), grad=["x"], x=randn(2, 5, 6, 6, dtype=F32))


@case("conv_adaptive_avg_pool2d_upsample")
def _():
    # Output larger than the input: windows overlap.
    return record(lambda x: F.adaptive_avg_pool2d(x, (5, 3)), x=randn(1, 2, 3, 2))


# ------------------------------------------------------------------ the small CNN
class CNN(nn.Module):
    """The architecture of neural_arch::nn::CNN (same parameter names)."""

    def __init__(self, in_channels=1, image_size=28, channels=(32, 64), hidden=128, num_classes=10, dropout=0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        side = image_size // 4
        self.fc1 = nn.Linear(channels[1] * side * side, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


@case("conv_cnn")
def _():
    # The default nn::CNN (1x28x28, channels 32/64, hidden 128, 10 classes) with torch's default
    # initialisation; its weights and gradients are stored in float32 (about 3.4 MB).
    model = CNN()
    model.eval()  # dropout off: the comparison needs the same function on both sides
    x = torch.randn(8, 1, 28, 28, dtype=F32)
    y = torch.randint(0, 10, (8,), dtype=torch.int64)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    tensors = [("x", x), ("y", y), ("loss", loss.detach())]
    tensors += [("p_" + n, p.detach().clone()) for n, p in model.named_parameters()]
    tensors += [("grad_" + n, p.grad) for n, p in model.named_parameters()]
    return tensors


# ------------------------------------------------------------------ losses
def logits(*shape, scale=2.0):
    return randn(*shape, scale=scale)


def ce(x, y, **kw):
    return F.cross_entropy(x, y, **kw)


@case("loss_ce_mean")
def _():
    return record(lambda x, y: ce(x, y), x=logits(5, 4), y=randint(0, 4, 5))


@case("loss_ce_sum")
def _():
    return record(lambda x, y: ce(x, y, reduction="sum"), x=logits(5, 4), y=randint(0, 4, 5))


@case("loss_ce_none")
def _():
    return record(lambda x, y: ce(x, y, reduction="none"), x=logits(5, 4), y=randint(0, 4, 5))


def ignored_targets(n, classes, ignore=-100, count=2):
    y = randint(0, classes, n)
    y[torch.randperm(n)[:count]] = ignore
    return y


@case("loss_ce_weight_ignore_mean")
def _():
    return record(lambda x, y, w: ce(x, y, weight=w), grad=["x"],
                  x=logits(7, 5), y=ignored_targets(7, 5), w=uniform(0.2, 2.0, 5))


@case("loss_ce_weight_ignore_none")
def _():
    return record(lambda x, y, w: ce(x, y, weight=w, reduction="none"), grad=["x"],
                  x=logits(7, 5), y=ignored_targets(7, 5), w=uniform(0.2, 2.0, 5))


@case("loss_ce_ignore_index_in_range")
def _():
    # An ignore_index that is also a valid class: those entries are ignored, not scored.
    y = torch.tensor([1, 0, 2, 1, 3, 1], dtype=torch.int64)
    return record(lambda x, y: ce(x, y, ignore_index=1), x=logits(6, 4), y=y)


@case("loss_ce_smoothing_mean")
def _():
    return record(lambda x, y: ce(x, y, label_smoothing=0.1), x=logits(6, 5), y=ignored_targets(6, 5))


@case("loss_ce_smoothing_weight_mean")
def _():
    return record(lambda x, y, w: ce(x, y, weight=w, label_smoothing=0.2), grad=["x"],
                  x=logits(6, 5), y=ignored_targets(6, 5), w=uniform(0.2, 2.0, 5))


@case("loss_ce_smoothing_weight_sum")
def _():
    return record(lambda x, y, w: ce(x, y, weight=w, label_smoothing=0.3, reduction="sum"), grad=["x"],
                  x=logits(6, 5), y=ignored_targets(6, 5), w=uniform(0.2, 2.0, 5))


@case("loss_ce_smoothing_none")
def _():
    return record(lambda x, y: ce(x, y, label_smoothing=0.25, reduction="none"), x=logits(6, 5),
                  y=ignored_targets(6, 5))


@case("loss_ce_probs")
def _():
    return record(lambda x, t: ce(x, t), x=logits(4, 5), t=torch.softmax(randn(4, 5), 1))


@case("loss_ce_probs_weight_smoothing")
def _():
    return record(lambda x, t, w: ce(x, t, weight=w, label_smoothing=0.15), grad=["x", "t"],
                  x=logits(4, 5), t=torch.softmax(randn(4, 5), 1), w=uniform(0.2, 2.0, 5))


@case("loss_ce_probs_sum_nd")
def _():
    return record(lambda x, t: ce(x, t, reduction="sum"), x=logits(2, 3, 4), t=torch.softmax(randn(2, 3, 4), 1))


@case("loss_ce_nd")
def _():
    y = randint(0, 4, 2, 3, 5)
    y[0, 1, 2] = -100
    return record(lambda x, y: ce(x, y), x=logits(2, 4, 3, 5), y=y)


@case("loss_ce_unbatched")
def _():
    return record(lambda x, y: ce(x, y), x=logits(6), y=torch.tensor(4, dtype=torch.int64))


@case("loss_ce_large_logits")
def _():
    # exp(1000) overflows: only a log-softmax formulation stays finite.
    return record(lambda x, y: ce(x, y), grad=["x"], x=randn(4, 6, dtype=F32, scale=1000.0), y=randint(0, 6, 4))


@case("loss_nll_mean")
def _():
    return record(lambda x, y: F.nll_loss(x, y), x=torch.log_softmax(randn(6, 4), 1), y=randint(0, 4, 6))


@case("loss_nll_weight_ignore_none")
def _():
    return record(lambda x, y, w: F.nll_loss(x, y, weight=w, ignore_index=2, reduction="none"), grad=["x"],
                  x=torch.log_softmax(randn(6, 4), 1), y=randint(0, 4, 6), w=uniform(0.5, 1.5, 4))


@case("loss_nll_weight_mean_nd")
def _():
    return record(lambda x, y, w: F.nll_loss(x, y, weight=w), grad=["x"],
                  x=torch.log_softmax(randn(2, 3, 4), 1), y=ignored_targets(8, 3, count=1).view(2, 4),
                  w=uniform(0.5, 1.5, 3))


for _red in ("mean", "sum", "none"):
    def _make(red):
        @case("loss_mse_" + red)
        def _():
            return record(lambda x, t: F.mse_loss(x, t, reduction=red), x=randn(3, 4), t=randn(3, 4))

        @case("loss_l1_" + red)
        def _():
            return record(lambda x, t: F.l1_loss(x, t, reduction=red), x=randn(3, 4), t=randn(3, 4))
    _make(_red)


@case("loss_mse_f32")
def _():
    return record(lambda x, t: F.mse_loss(x, t), grad=["x", "t"], x=randn(4, 5, dtype=F32), t=randn(4, 5, dtype=F32))


@case("loss_smooth_l1_beta")
def _():
    return record(lambda x, t: F.smooth_l1_loss(x, t, beta=0.5), x=randn(4, 5), t=randn(4, 5))


@case("loss_smooth_l1_beta0_sum")
def _():
    return record(lambda x, t: F.smooth_l1_loss(x, t, beta=0.0, reduction="sum"), x=randn(4, 5), t=randn(4, 5))


@case("loss_smooth_l1_none")
def _():
    return record(lambda x, t: F.smooth_l1_loss(x, t, reduction="none"), x=randn(4, 5), t=randn(4, 5))


@case("loss_huber_delta")
def _():
    return record(lambda x, t: F.huber_loss(x, t, delta=0.7), x=randn(4, 5), t=randn(4, 5))


@case("loss_huber_none")
def _():
    return record(lambda x, t: F.huber_loss(x, t, reduction="none", delta=1.5), x=randn(4, 5, scale=2.0),
                  t=randn(4, 5))


@case("loss_bce_mean")
def _():
    return record(lambda x, t: F.binary_cross_entropy(x, t), grad=["x"], x=uniform(0.05, 0.95, 4, 3),
                  t=uniform(0.0, 1.0, 4, 3))


@case("loss_bce_weight_none")
def _():
    return record(lambda x, t, w: F.binary_cross_entropy(x, t, weight=w, reduction="none"), grad=["x"],
                  x=uniform(0.05, 0.95, 4, 3), t=randint(0, 2, 4, 3, dtype=F64), w=uniform(0.5, 2.0, 3))


@case("loss_bce_logits_mean")
def _():
    return record(lambda x, t: F.binary_cross_entropy_with_logits(x, t), x=randn(4, 3, scale=3.0),
                  t=uniform(0.0, 1.0, 4, 3))


@case("loss_bce_logits_pos_weight_sum")
def _():
    return record(lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw,
                                                                         reduction="sum"),
                  grad=["x", "t"], x=randn(4, 3, scale=3.0), t=randint(0, 2, 4, 3, dtype=F64),
                  w=uniform(0.5, 2.0, 4, 1), pw=uniform(0.5, 3.0, 3))


@case("loss_bce_logits_extreme")
def _():
    # |logits| of 200: log(sigmoid(x)) computed naively would be log(0).
    x = torch.tensor([[200.0, -200.0, 0.0], [-150.0, 150.0, 30.0]], dtype=F32)
    t = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]], dtype=F32)
    return record(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"), grad=["x"], x=x, t=t)


def log_probs(*shape):
    return torch.log_softmax(randn(*shape), -1)


@case("loss_kl_div_batchmean")
def _():
    return record(lambda x, t: F.kl_div(x, t, reduction="batchmean"), x=log_probs(4, 5),
                  t=torch.softmax(randn(4, 5), -1))


@case("loss_kl_div_mean")
def _():
    return record(lambda x, t: F.kl_div(x, t, reduction="mean"), x=log_probs(4, 5), t=torch.softmax(randn(4, 5), -1))


@case("loss_kl_div_sum_zero_target")
def _():
    t = torch.softmax(randn(3, 4), -1)
    t[0, 1] = 0.0  # 0 * log 0 counts as 0
    return record(lambda x, t: F.kl_div(x, t, reduction="sum"), grad=["x"], x=log_probs(3, 4), t=t)


@case("loss_kl_div_log_target_none")
def _():
    return record(lambda x, t: F.kl_div(x, t, reduction="none", log_target=True), x=log_probs(3, 4),
                  t=log_probs(3, 4))


def main():
    write_cases(CASES, OUT_DIR, PREFIXES)


if __name__ == "__main__":
    main()
