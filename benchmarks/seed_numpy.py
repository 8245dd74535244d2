#!/usr/bin/env python3
"""The seed's "Standard" NumPy formulas, timed here, for performance_comparison.

The seed (../shared/seed/PERFORMANCE_GUIDE.md) compared its JIT GELU and fused Linear+GELU with
plain NumPy ("Standard", "Separate"). performance_comparison runs this script (Debian's
python3-numpy; optional) so its rows can show that baseline measured on this machine:

  seed_numpy.py [--quick] TASK...     TASK: gelu_tanh/RxC or linear_gelu/MxKxN

Prints one line per task: "<task> <median_ms> <repeats>". float32 arrays, like ours.
GELU is the tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (the seed's source is
not in ../shared/seed, only its guide, so this is our reading of "Standard"), with the cube as
x * x * x: x**3 goes through NumPy's float32 pow and made the whole formula 7-17x slower here,
which would have been a straw man. Linear is x @ W.T + b (NumPy's BLAS, threads from OMP/OPENBLAS_NUM_THREADS), then
that GELU as a second pass. NumPy's elementwise ops run on one thread.
"""
import sys
import time

import numpy as np


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.float32(np.sqrt(2.0 / np.pi)) * (x + np.float32(0.044715) * x * x * x)))


def median_ms(fn, quick):
    fn()  # warm-up: first-touch page faults and lazy initialisation
    times = []
    budget = 0.05 if quick else 1.0
    start = time.perf_counter()
    while len(times) < (2 if quick else 7) or (time.perf_counter() - start < budget and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2], len(times)


def main(argv):
    quick = "--quick" in argv
    rng = np.random.default_rng(0)
    for task in (a for a in argv if a != "--quick"):
        kind, _, dims = task.partition("/")
        shape = [int(d) for d in dims.split("x")]
        if kind == "gelu_tanh" and len(shape) == 2:
            x = rng.standard_normal(shape, dtype=np.float32)
            fn = lambda: gelu(x)
        elif kind == "linear_gelu" and len(shape) == 3:
            m, k, n = shape
            x = rng.standard_normal((m, k), dtype=np.float32)
            w = (rng.standard_normal((n, k), dtype=np.float32) / np.float32(np.sqrt(k))).astype(np.float32)
            b = rng.standard_normal(n, dtype=np.float32)
            fn = lambda: gelu(x @ w.T + b)
        else:
            sys.exit(f"seed_numpy.py: unknown task '{task}'")
        ms, n = median_ms(fn, quick)
        print(f"{task} {ms:.6f} {n}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
