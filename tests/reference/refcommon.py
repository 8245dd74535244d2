"""What every reference generator shares: the file writer, the case registry and the loop that
seeds, writes and prunes the case files. The file format and the tensor naming convention are
described in generate.py. Importing this module has no side effects.
"""
import os
import zlib

import numpy as np
import torch

F64 = torch.float64
F32 = torch.float32

DTYPE_NAMES = {
    torch.float32: ("float32", "<f4"),
    torch.float64: ("float64", "<f8"),
    torch.int32: ("int32", "<i4"),
    torch.int64: ("int64", "<i8"),
    torch.uint8: ("uint8", "u1"),
    torch.bool: ("bool", "u1"),
}

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def randn(*shape, dtype=F64, scale=1.0):
    """Drawn in float64 and cast afterwards, so float32 cases see the same values rounded
    rather than a different random stream."""
    return (torch.randn(shape, dtype=F64) * scale).to(dtype)


def case_registry(prefixes=None, add_prefix=""):
    """Returns (cases, case): the list of (name, builder) pairs in registration order, and the
    decorator `@case(name)` that appends to it. add_prefix is prepended to every name; when
    prefixes is given, every (prefixed) name must start with one of them, so that write_cases
    prunes exactly this generator's files."""
    cases = []

    def case(name):
        name = add_prefix + name
        assert prefixes is None or name.startswith(prefixes), name

        def register(builder):
            cases.append((name, builder))
            return builder
        return register
    return cases, case


def serialize(tensors):
    names = [n for n, _ in tensors]
    if len(set(names)) != len(names):
        raise ValueError("duplicate tensor names: %s" % names)
    header = ["NAREF 1"]
    blobs = []
    for name, t in tensors:
        t = t.detach().contiguous()
        dname, npdt = DTYPE_NAMES[t.dtype]
        header.append(" ".join(["tensor", name, dname, str(t.dim())] + [str(s) for s in t.shape]))
        blobs.append(np.ascontiguousarray(t.numpy()).astype(npdt, copy=False).tobytes())
    header.append("data")
    return ("\n".join(header) + "\n").encode("ascii") + b"".join(blobs)


def write_cases(cases, out_dir, prefixes=None):
    """Writes out_dir/<name>.bin for every case, each run with torch seeded from a hash of its own
    name (so adding or removing a case leaves the others' files unchanged, and two runs write
    byte-identical files). Then removes the .bin files in out_dir that no case wrote: all of
    them, or with prefixes only those whose names start with one (other generators write into
    the same directory), so cases removed from a script do not linger as untested files."""
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)  # deterministic reduction order
    os.makedirs(out_dir, exist_ok=True)
    written = set()
    total = 0
    for name, builder in cases:
        if name in written:
            raise ValueError("duplicate case " + name)
        torch.manual_seed(zlib.crc32(name.encode("ascii")))
        blob = serialize(builder())
        with open(os.path.join(out_dir, name + ".bin"), "wb") as f:
            f.write(blob)
        written.add(name)
        total += len(blob)
    for fname in sorted(os.listdir(out_dir)):
        ours = prefixes is None or fname.startswith(prefixes)
        if ours and fname.endswith(".bin") and fname[:-4] not in written:
            os.remove(os.path.join(out_dir, fname))
    print("wrote %d cases, %d bytes, to %s" % (len(written), total, out_dir))
