#!/usr/bin/env python3
"""bench_python: what the Python layer costs, against PyTorch (Debian's python3-torch) in the
same process with the same thread count. Writes JSON rows like the C++ benchmark programs
(name, ours_ms, baseline, baseline_ms, limit_ms, extra fields).

    PYTHONPATH=build/python python3 benchmarks/python/bench_python.py [--json FILE] [--threads N]
                                                                       [--steps N] [--quick]

Rows
  py/overhead/add8            a + b on two 8-element float32 tensors, per call from Python
                              (median of repeated timed loops): the binding's fixed cost.
  py/train/mlp32x1024_b256    one training step of bench_train's model (32 x (Linear(1024, 1024)
                              + GELU), batch 256, MSE, AdamW) written as a Python nn.Module whose
                              forward loops in Python; extra field cpp_sequential_ms: the same
                              model as the C++ nn.Sequential (forward entirely in C++).
  py/numpy_roundtrip/64MiB    na.from_numpy(t.numpy()) on a 64 MiB tensor: no copy either way,
                              so the time is independent of the size.
"""
import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import neural_arch as na


def per_call_ms(fn, calls, repeats=7):
    """Median over `repeats` loops of `calls` calls, in ms per call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls * 1e3)
    return statistics.median(times)


def bench_overhead(torch, quick):
    a, b = na.ones(8), na.ones(8)
    ta, tb = torch.ones(8), torch.ones(8)
    calls = 2000 if quick else 20000
    return {"name": "py/overhead/add8", "ours_ms": per_call_ms(lambda: a + b, calls), "baseline": "torch (python)",
            "baseline_ms": per_call_ms(lambda: ta + tb, calls), "limit_ms": None}


class PyMLP(na.nn.Module):
    def __init__(self, layers, width):
        super().__init__()
        self.layers = na.nn.ModuleList([na.nn.Linear(width, width) for _ in range(layers)])
        self.act = na.nn.GELU()

    def forward(self, x):
        for lin in self.layers:
            x = self.act(lin(x))
        return x


def train_step_ms(net, opt, x, y, mse, steps):
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = mse(net(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if i:  # the first step allocates optimizer state
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench_train(torch, steps, layers=32, width=1024, batch=256):
    x, y = na.randn(batch, width), na.randn(batch, width)
    net = PyMLP(layers, width)
    ours = train_step_ms(net, na.optim.AdamW(net.parameters()), x, y, na.nn.functional.mse_loss, steps)
    seq = na.nn.Sequential(*[m for l in range(layers) for m in (na.nn.Linear(width, width), na.nn.GELU())])
    cpp = train_step_ms(seq, na.optim.AdamW(seq.parameters()), x, y, na.nn.functional.mse_loss, steps)

    class TorchMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(width, width) for _ in range(layers)])
            self.act = torch.nn.GELU()

        def forward(self, v):
            for lin in self.layers:
                v = self.act(lin(v))
            return v

    tnet = TorchMLP()
    tx, ty = torch.from_dlpack(x), torch.from_dlpack(y)
    theirs = train_step_ms(tnet, torch.optim.AdamW(tnet.parameters()), tx, ty, torch.nn.functional.mse_loss, steps)
    return {"name": f"py/train/mlp{layers}x{width}_b{batch}", "ours_ms": ours, "baseline": "torch (python)",
            "baseline_ms": theirs, "limit_ms": None, "cpp_sequential_ms": cpp, "steps": steps}


def bench_roundtrip(torch, quick):
    n = 16 << 20  # 64 MiB of float32
    t = na.empty(n)
    tt = torch.empty(n)
    calls = 200 if quick else 2000
    return {"name": "py/numpy_roundtrip/64MiB", "ours_ms": per_call_ms(lambda: na.from_numpy(t.numpy()), calls),
            "baseline": "torch (python)", "baseline_ms": per_call_ms(lambda: torch.from_numpy(tt.numpy()), calls),
            "limit_ms": 0.020}


def main():
    ap = argparse.ArgumentParser(description="neural_arch's Python layer against PyTorch, in process")
    ap.add_argument("--json", help="write the rows (a JSON list) to this file")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0") or 0))
    ap.add_argument("--steps", type=int, default=5, help="timed training steps per model")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = ap.parse_args()
    import torch

    if args.threads:
        na.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    na.manual_seed(0)
    torch.manual_seed(0)
    rows = [bench_overhead(torch, args.quick), bench_roundtrip(torch, args.quick),
            bench_train(torch, 1 if args.quick else args.steps)]
    common = {"program": "bench_python", "threads": na.get_num_threads(), "cpu": platform.processor() or platform.machine(),
              "isa": na.backends.get_backend("cpu").isa, "torch_version": torch.__version__}
    print(f"{'name':32} {'ours ms':>12} {'torch ms':>12} {'torch/ours':>10}")
    for r in rows:
        r.update({k: v for k, v in common.items() if k not in r})
        print(f"{r['name']:32} {r['ours_ms']:12.6f} {r['baseline_ms']:12.6f} {r['baseline_ms'] / r['ours_ms']:10.2f}")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
