#!/usr/bin/python3
"""PyTorch reference runs of GradScaler with injected infs/NaNs (tests/test_grad_scaler.cpp).

Run with Debian's python3-torch:

    /usr/bin/python3 tests/reference/gen_amp.py

Torch 1.13's GradScaler is CUDA-only: on a machine without CUDA it disables itself, its scale()
asserts a CUDA tensor, and its two kernels (_amp_foreach_non_finite_check_and_unscale_,
_amp_update_scale_) have no CPU implementation. So this script runs the library's own
grad_scaler.py logic (the per-optimizer state machine, step skipping, update) on the CPU with
  * the disabling check and the CUDA assertions bypassed, and
  * the two kernels replaced by line-for-line Python ports of ATen's AmpKernels.cu (1.13):
    non-finite check + multiply by inv_scale in f32; scale update in double rounded to f32.

Each case: parameter p (f32), plain SGD, loss = sum(p * c[t]) at step t. After backward, an
injected value (inject[t]: 0 none, 1 +inf, 2 NaN, 3 -inf) replaces grad[t % numel].
Tensors: `p0`, `c` (T, n), `inject` int64 (T,), `lr` 0-d, `options` float64
(init_scale, growth_factor, backoff_factor, growth_interval), and the results: `scale` (T,)
float64 after each update(), `skipped` bool (T,), `traj` (T, n) p after each step, `state`
float64 (5,) the final state_dict values (scale, growth_factor, backoff_factor,
growth_interval, _growth_tracker).
"""
import os
import sys

import torch
import torch.cuda.amp.grad_scaler as gs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcommon import write_cases, case_registry  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "amp")
F64 = torch.float64


def non_finite_check_and_unscale_(grads, found_inf, inv_scale):
    # AmpKernels.cu: found_inf = 1 if any element is not finite; every grad *= inv_scale (f32).
    for g in grads:
        if not torch.isfinite(g).all():
            found_inf.fill_(1.0)
        g.mul_(inv_scale)


def update_scale_(current_scale, growth_tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    # AmpKernels.cu _amp_update_scale_cuda_kernel: float * double, stored as float.
    s = float(current_scale.item())
    if found_inf.item():
        current_scale.fill_(float(torch.tensor(s * backoff_factor, dtype=torch.float32)))
        growth_tracker.fill_(0)
    else:
        successful = int(growth_tracker.item()) + 1
        if successful == growth_interval:
            new_scale = torch.tensor(s * growth_factor, dtype=torch.float32)
            if torch.isfinite(new_scale):
                current_scale.fill_(float(new_scale))
            growth_tracker.fill_(0)
        else:
            growth_tracker.fill_(successful)
    return current_scale


def _replicator_init(self, master):  # _MultiDeviceReplicator without its CUDA assertion
    self.master = master
    self._per_device_tensors = {}


gs.amp_definitely_not_available = lambda: False
gs._MultiDeviceReplicator.__init__ = _replicator_init
torch._amp_foreach_non_finite_check_and_unscale_ = non_finite_check_and_unscale_
torch._amp_update_scale_ = update_scale_


class CpuGradScaler(gs.GradScaler):
    def scale(self, outputs):  # grad_scaler.py's single-tensor path minus its CUDA assertion
        if self._scale is None:
            self._lazy_init_scale_growth_tracker(outputs.device)
        return outputs * self._scale.to(device=outputs.device)


def run(steps, n, inject, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
        lr=0.5, c_scale=0.01):
    p0 = torch.randn(n, dtype=F64).float()
    c = (torch.randn(steps, n, dtype=F64) * c_scale).float()
    p = p0.clone().requires_grad_(True)
    opt = torch.optim.SGD([p], lr=lr)
    scaler = CpuGradScaler(init_scale=init_scale, growth_factor=growth_factor, backoff_factor=backoff_factor,
                           growth_interval=growth_interval)
    scales, skipped, traj = [], [], []
    for t in range(steps):
        opt.zero_grad()
        loss = (p * c[t]).sum()
        scaler.scale(loss).backward()
        k = t % n
        if inject[t] == 1:
            p.grad[k] = float("inf")
        elif inject[t] == 2:
            p.grad[k] = float("nan")
        elif inject[t] == 3:
            p.grad[k] = float("-inf")
        before = p.detach().clone()
        scaler.step(opt)
        found = sum(v.item() for v in scaler._found_inf_per_device(opt).values())
        skipped.append(bool(found))
        assert bool(found) == bool(torch.equal(before, p.detach())) or not found
        scaler.update()
        scales.append(scaler.get_scale())
        traj.append(p.detach().clone())
    sd = scaler.state_dict()
    state = torch.tensor([sd["scale"], sd["growth_factor"], sd["backoff_factor"], sd["growth_interval"],
                          sd["_growth_tracker"]], dtype=F64)
    return [
        ("p0", p0), ("c", c), ("inject", torch.tensor(inject, dtype=torch.int64)),
        ("lr", torch.tensor(lr, dtype=F64)),
        ("options", torch.tensor([init_scale, growth_factor, backoff_factor, growth_interval], dtype=F64)),
        ("scale", torch.tensor(scales, dtype=F64)), ("skipped", torch.tensor(skipped)),
        ("traj", torch.stack(traj)), ("state", state),
    ]


cases, case = case_registry(prefixes=("scaler_",))


@case("scaler_defaults")
def _defaults():
    # Infs at 3 and 10 (each halves the scale and restarts the count), then 2000 clean steps:
    # the scale doubles at step 2010.
    steps = 2015
    inject = [0] * steps
    inject[3], inject[10] = 1, 2
    return run(steps, 5, inject)


@case("scaler_custom")
def _custom():
    steps = 40
    inject = [0] * steps
    for t, v in ((0, 1), (1, 2), (5, 3), (6, 1), (13, 2), (20, 1), (21, 1), (22, 1), (30, 2)):
        inject[t] = v
    return run(steps, 7, inject, init_scale=8.0, growth_factor=4.0, backoff_factor=0.25, growth_interval=3, lr=0.1)


@case("scaler_growth_overflow")
def _overflow():
    # Growth that would overflow f32 is not kept: 2^126 -> 2^127 -> stays 2^127.
    steps = 6
    return run(steps, 3, [0] * steps, init_scale=2.0 ** 126, growth_factor=2.0, growth_interval=1, c_scale=1e-10)


if __name__ == "__main__":
    write_cases(cases, OUT_DIR, prefixes=("scaler_",))
