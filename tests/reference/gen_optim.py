#!/usr/bin/python3
"""PyTorch reference values for the optimizers, schedulers and gradient clipping
(tests/test_optim.cpp, tests/test_lr_scheduler.cpp).

Run with Debian's python3-torch:

    /usr/bin/python3 tests/reference/gen_optim.py

Writes tests/reference/data/optim/<case>.bin in the format of tests/reference/generate.py
(whose writer is imported). Each case seeds torch from a hash of its own name, so the files are
byte-identical across runs. The C++ tests hold a table of the same case names with the same
options; a file without a table entry fails the tests, so nothing here goes untested.

traj_<name> (an optimizer's trajectory over STEPS steps, parameters k = 0, 1, ...):
  * `p0.<k>`: the initial parameter;
  * `grads.<k>`: shape (STEPS, *param.shape), the gradient fed at each step (a fixed sequence,
    independent of the parameters, so the C++ side can feed the same one);
  * `has_grad.<k>`: bool (STEPS,), false where the parameter has no grad at that step (skipped);
  * `traj.<k>`: shape (STEPS, *param.shape), the parameter after each step.
sched_<name> (a scheduler's learning rates):
  * `lr`: float64 (STEPS + 1, groups): get_last_lr() after construction and after each step;
  * `momentum`: the same for momentum / beta1 (OneCycleLR only);
  * `metrics`: float64 (STEPS,), the values passed to ReduceLROnPlateau.step.
clip_<name>: `grads.<k>` before, `clipped.<k>` after clip_grad_norm_, `norm` (0-d) its result.
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcommon import write_cases  # noqa: E402  (the shared case loop and writer)

F64 = torch.float64
F32 = torch.float32
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "optim")
STEPS = 20
# Two parameters whose sizes are not multiples of any vector width, so every kernel's ragged
# tail is exercised, plus a 0-d one.
SHAPES = [(7, 13), (37,), ()]
CASES = []


def case(name):
    def register(builder):
        CASES.append((name, builder))
        return builder
    return register


class Lion(torch.optim.Optimizer):
    """lion-pytorch's Lion (lucidrains/lion-pytorch, the reference implementation of the paper)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad, lr, wd = p.grad, group["lr"], group["weight_decay"]
                beta1, beta2 = group["betas"]
                state = self.state[p]
                if len(state) == 0:
                    state["exp_avg"] = torch.zeros_like(p)
                exp_avg = state["exp_avg"]
                p.data.mul_(1 - lr * wd)
                update = exp_avg.clone().mul_(beta1).add(grad, alpha=1 - beta1).sign_()
                p.add_(update, alpha=-lr)
                exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)


def trajectory(make_opt, dtype=F64, groups=None, skip=None):
    """Runs STEPS steps of make_opt(params or groups) on fixed random gradients.

    groups: list of (param indices, options dict) for param groups; skip: {k: [steps]} where
    parameter k has no grad.
    """
    skip = skip or {}
    p0 = [torch.randn(s, dtype=F64).to(dtype) for s in SHAPES]
    grads = [torch.randn((STEPS,) + s, dtype=F64).to(dtype) for s in SHAPES]
    params = [p.clone().requires_grad_() for p in p0]
    if groups is None:
        opt = make_opt(params)
    else:
        opt = make_opt([dict(params=[params[k] for k in ks], **o) for ks, o in groups])
    traj = [torch.empty_like(g) for g in grads]
    has_grad = [torch.ones(STEPS, dtype=torch.bool) for _ in SHAPES]
    for s in range(STEPS):
        for k, p in enumerate(params):
            if s in skip.get(k, []):
                p.grad = None
                has_grad[k][s] = False
            else:
                p.grad = grads[k][s].clone()
        opt.step()
        for k, p in enumerate(params):
            traj[k][s] = p.detach()
    out = []
    for k in range(len(SHAPES)):
        out += [("p0.%d" % k, p0[k]), ("grads.%d" % k, grads[k]), ("has_grad.%d" % k, has_grad[k]),
                ("traj.%d" % k, traj[k])]
    return out


O = torch.optim

# ------------------------------------------------------------------ SGD
case("traj_sgd")(lambda: trajectory(lambda p: O.SGD(p, lr=0.1)))
case("traj_sgd_wd")(lambda: trajectory(lambda p: O.SGD(p, lr=0.1, weight_decay=0.01)))
case("traj_sgd_momentum")(lambda: trajectory(lambda p: O.SGD(p, lr=0.05, momentum=0.9)))
case("traj_sgd_momentum_dampening_wd")(
    lambda: trajectory(lambda p: O.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)))
case("traj_sgd_nesterov")(lambda: trajectory(lambda p: O.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                                             weight_decay=1e-3)))
case("traj_sgd_maximize")(lambda: trajectory(lambda p: O.SGD(p, lr=0.05, momentum=0.5, maximize=True)))
case("traj_sgd_nesterov_f32")(lambda: trajectory(lambda p: O.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                                                 weight_decay=1e-3), dtype=F32))

# ------------------------------------------------------------------ Adam / AdamW
case("traj_adam")(lambda: trajectory(lambda p: O.Adam(p, lr=1e-2)))
case("traj_adam_wd")(lambda: trajectory(lambda p: O.Adam(p, lr=1e-2, weight_decay=0.1)))
case("traj_adam_amsgrad_wd")(lambda: trajectory(lambda p: O.Adam(p, lr=1e-2, betas=(0.8, 0.99), eps=1e-6,
                                                                  weight_decay=0.05, amsgrad=True)))
case("traj_adam_maximize")(lambda: trajectory(lambda p: O.Adam(p, lr=1e-2, maximize=True)))
case("traj_adam_f32")(lambda: trajectory(lambda p: O.Adam(p, lr=1e-2, weight_decay=0.01), dtype=F32))
case("traj_adam_groups")(lambda: trajectory(
    lambda g: O.Adam(g, lr=1e-2), groups=[([0], dict(lr=3e-2, weight_decay=0.1)), ([1, 2], dict())]))
case("traj_adam_skip")(lambda: trajectory(lambda p: O.Adam(p, lr=1e-2), skip={1: [3, 4, 5], 2: [0, 1]}))
case("traj_adamw")(lambda: trajectory(lambda p: O.AdamW(p, lr=1e-2)))
case("traj_adamw_wd")(lambda: trajectory(lambda p: O.AdamW(p, lr=1e-2, weight_decay=0.1)))
case("traj_adamw_amsgrad")(lambda: trajectory(lambda p: O.AdamW(p, lr=1e-2, amsgrad=True)))
case("traj_adamw_amsgrad_f32")(lambda: trajectory(lambda p: O.AdamW(p, lr=1e-2, amsgrad=True), dtype=F32))

# ------------------------------------------------------------------ Lion
case("traj_lion")(lambda: trajectory(lambda p: Lion(p, lr=1e-3)))
case("traj_lion_wd")(lambda: trajectory(lambda p: Lion(p, lr=1e-3, betas=(0.95, 0.98), weight_decay=0.1)))
case("traj_lion_f32")(lambda: trajectory(lambda p: Lion(p, lr=1e-3, weight_decay=0.1), dtype=F32))

# ------------------------------------------------------------------ RMSprop
case("traj_rmsprop")(lambda: trajectory(lambda p: O.RMSprop(p)))
case("traj_rmsprop_momentum_wd")(lambda: trajectory(lambda p: O.RMSprop(p, lr=1e-3, momentum=0.9,
                                                                        weight_decay=0.01)))
case("traj_rmsprop_centered")(lambda: trajectory(lambda p: O.RMSprop(p, lr=1e-3, alpha=0.9, centered=True)))
case("traj_rmsprop_centered_momentum")(
    lambda: trajectory(lambda p: O.RMSprop(p, lr=1e-3, momentum=0.5, centered=True, eps=1e-6)))
case("traj_rmsprop_centered_momentum_f32")(
    lambda: trajectory(lambda p: O.RMSprop(p, lr=1e-3, momentum=0.5, centered=True, eps=1e-6), dtype=F32))

# ------------------------------------------------------------------ Adagrad
case("traj_adagrad")(lambda: trajectory(lambda p: O.Adagrad(p)))
case("traj_adagrad_decay_wd")(lambda: trajectory(lambda p: O.Adagrad(p, lr=0.05, lr_decay=0.01, weight_decay=0.01,
                                                                     initial_accumulator_value=0.1)))
case("traj_adagrad_f32")(lambda: trajectory(lambda p: O.Adagrad(p, lr=0.05), dtype=F32))


# ------------------------------------------------------------------ schedulers
def sgd_groups(lrs, momentum=0.0):
    return O.SGD([dict(params=[torch.zeros(1, requires_grad=True)], lr=lr) for lr in lrs], lr=lrs[0],
                 momentum=momentum)


def momentum_of(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


def lr_sequence(opt, schedulers, steps, with_momentum=False):
    lrs = [schedulers[-1].get_last_lr()]
    moms = [[momentum_of(g) for g in opt.param_groups]]
    for _ in range(steps):
        opt.step()
        for s in schedulers:
            s.step()
        lrs.append(schedulers[-1].get_last_lr())
        moms.append([momentum_of(g) for g in opt.param_groups])
    out = [("lr", torch.tensor(lrs, dtype=F64))]
    if with_momentum:
        out.append(("momentum", torch.tensor(moms, dtype=F64)))
    return out


S = torch.optim.lr_scheduler


@case("sched_steplr")
def _():
    opt = sgd_groups([0.1, 0.02])
    return lr_sequence(opt, [S.StepLR(opt, step_size=3, gamma=0.5)], 12)


@case("sched_multisteplr")
def _():
    opt = sgd_groups([0.1])
    return lr_sequence(opt, [S.MultiStepLR(opt, milestones=[2, 5, 5, 9], gamma=0.3)], 12)


@case("sched_exponentiallr")
def _():
    opt = sgd_groups([0.1, 0.3])
    return lr_sequence(opt, [S.ExponentialLR(opt, gamma=0.9)], 15)


@case("sched_cosine")
def _():
    opt = sgd_groups([0.1, 0.05])
    return lr_sequence(opt, [S.CosineAnnealingLR(opt, T_max=10, eta_min=1e-3)], 35)


@case("sched_linearlr")
def _():
    opt = sgd_groups([0.1])
    return lr_sequence(opt, [S.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=6)], 10)


@case("sched_linearlr_decay")
def _():
    opt = sgd_groups([0.1])
    return lr_sequence(opt, [S.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=8)], 12)


@case("sched_chained_step_exp")
def _():
    opt = sgd_groups([0.1])
    return lr_sequence(opt, [S.StepLR(opt, step_size=4, gamma=0.5), S.ExponentialLR(opt, gamma=0.95)], 12)


@case("sched_onecycle_cos_adam")
def _():
    opt = O.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
    return lr_sequence(opt, [S.OneCycleLR(opt, max_lr=0.1, total_steps=20)], 19, with_momentum=True)


@case("sched_onecycle_linear_three_phase_sgd")
def _():
    opt = sgd_groups([0.01, 0.01], momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=[0.1, 0.2], epochs=4, steps_per_epoch=5, anneal_strategy="linear",
                         three_phase=True, div_factor=10.0, final_div_factor=100.0)
    return lr_sequence(opt, [sched], 19, with_momentum=True)


def warmup_cosine_factor(warmup, total, base, eta_min=0.0, start=0.0):
    def f(e):
        if e < warmup:
            return start + (1 - start) * e / warmup
        p = min(1.0, (e - warmup) / max(1, total - warmup))
        return (eta_min + (base - eta_min) * 0.5 * (1 + math.cos(math.pi * p))) / base
    return f


@case("sched_warmup_cosine")
def _():
    opt = sgd_groups([0.1])
    return lr_sequence(opt, [S.LambdaLR(opt, warmup_cosine_factor(5, 20, 0.1))], 25)


@case("sched_warmup_cosine_eta_start")
def _():
    opt = sgd_groups([0.1])
    return lr_sequence(opt, [S.LambdaLR(opt, warmup_cosine_factor(4, 16, 0.1, eta_min=1e-3, start=0.1))], 20)


def plateau(opt, metrics, **kw):
    sched = S.ReduceLROnPlateau(opt, **kw)
    lrs = [[g["lr"] for g in opt.param_groups]]
    for m in metrics:
        opt.step()
        sched.step(m)
        lrs.append([g["lr"] for g in opt.param_groups])
    return [("metrics", torch.tensor(metrics, dtype=F64)), ("lr", torch.tensor(lrs, dtype=F64))]


@case("sched_plateau_min_rel")
def _():
    metrics = [1.0, 0.9, 0.95, 0.91, 0.899, 0.92, 0.93, 0.94, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4]
    return plateau(sgd_groups([0.1, 0.05]), metrics, mode="min", factor=0.5, patience=2, threshold=0.01,
                   cooldown=1, min_lr=0.01)


@case("sched_plateau_max_abs")
def _():
    metrics = [0.1, 0.2, 0.25, 0.26, 0.24, 0.3, 0.3, 0.3, 0.3, 0.31, 0.2, 0.2, 0.2, 0.2]
    return plateau(sgd_groups([0.1]), metrics, mode="max", factor=0.2, patience=1, threshold=0.02,
                   threshold_mode="abs", min_lr=[0.001])


# ------------------------------------------------------------------ clip_grad_norm_
def clip(max_norm, norm_type, scale=1.0):
    grads = [torch.randn(s, dtype=F64) * scale for s in [(5, 6), (11,)]]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    out = [("norm", norm.detach().to(F64))]
    for k, (p, g) in enumerate(zip(params, grads)):
        out += [("grads.%d" % k, g), ("clipped.%d" % k, p.grad)]
    return out


case("clip_norm2")(lambda: clip(1.0, 2.0))
case("clip_norm2_no_clip")(lambda: clip(100.0, 2.0))
case("clip_norm1")(lambda: clip(2.0, 1.0))
case("clip_norm_inf")(lambda: clip(0.5, math.inf))
case("clip_norm3")(lambda: clip(0.7, 3.0, scale=2.0))


def main():
    # This script owns data/optim/: write_cases also removes files of cases deleted here.
    write_cases(CASES, OUT_DIR)


if __name__ == "__main__":
    main()
