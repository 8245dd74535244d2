#!/usr/bin/env python3
"""Regenerates docs/BENCHMARKS.md from benchmarks/results/*.json and benchmarks/notes/*.md.

Each JSON file is the list of rows one benchmark program wrote with --json (format in
benchmarks/bench_util.hpp). One section per program: the command that made it, the machine
facts recorded on its rows, the baseline configurations, the rows as a table (ours, baseline,
limit and their ratios, plus the row's most telling extra fields), the issue's targets that
its rows can check, and the notes from benchmarks/notes/<program>.md.

  python3 scripts/gen_benchmarks_md.py [--results DIR] [--notes DIR] [--out FILE] [--check]

--check exits 1 when the file on disk differs from what would be generated (for CI).
Plain python3, no third-party modules.
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Extra fields worth a column when a row has them: (key, header, formatter).
def _mib(v):
    return f"{v / 2**20:.1f} MiB"


def _ratio(v):
    return f"{v:.3f}"


def _ms(v):
    return f"{v:.3f} ms"


EXTRAS = [
    ("ours_over_matmul", "ours/matmul", _ratio),
    ("ours_over_two_gemms", "ours/2 GEMMs", _ratio),
    ("onednn_direct_ms", "oneDNN direct", _ms),
    ("ours_unfused_ms", "unfused", _ms),
    ("peak_bytes", "peak", _mib),
    ("baseline_peak_bytes", "baseline peak", _mib),
    ("baseline_out_ms", "baseline (out=)", _ms),
    ("ours_us_per_call", "µs/call", lambda v: f"{v:.3f}"),
    ("speedup_vs_f32", "f32/ours", lambda v: f"{v:.2f}"),
    ("seed_numpy_ms", "seed NumPy (here)", _ms),
    ("seed_quoted_standard_ms", "seed's quoted NumPy", _ms),
    ("seed_quoted_jit_ms", "seed's quoted JIT", _ms),
]

MACHINE_KEYS = ["cpu", "isa", "host_isa", "threads", "stream_gbs", "stream_median_gbs", "fma_gflops"]

# The "done when" checks (issue 5, on performance_comparison's rows):
# (description, function rows_by_name -> (value, passed) or None when the rows are missing).
def _get(rows, name):
    return rows.get(name)


def _check_gelu(form, base_factor):
    def f(rows):
        r = _get(rows, f"{form}/4096x1024")
        if not r or not r.get("limit_ms") or not r.get("baseline_ms"):
            return None
        of_limit = r["ours_ms"] / r["limit_ms"]
        speedup = r["baseline_ms"] / r["ours_ms"]
        return (f"{of_limit:.2f}× the bandwidth limit (target ≤ 1.3), {speedup:.2f}× faster than libtorch "
                f"(target ≥ {base_factor})", of_limit <= 1.3 and speedup >= base_factor)
    return f


def _check_fused(rows):
    r = _get(rows, "linear_gelu/4096x1024x1024/fused")
    if not r or "ours_over_matmul" not in r:
        return None
    sp = r["baseline_ms"] / r["ours_ms"] if r.get("baseline_ms") else float("nan")
    return (f"{r['ours_over_matmul']:.3f}× our plain matmul (target ≤ 1.05), {sp:.2f}× faster than libtorch "
            f"linear+gelu (target ≥ 1.5)", r["ours_over_matmul"] <= 1.05 and sp >= 1.5)


def _check_bwd(rows):
    r = _get(rows, "optimized_linear_bwd/4096x1024x1024")
    if not r or not r.get("limit_ms"):
        return None
    v = r["ours_ms"] / r["limit_ms"]
    return (f"{v:.3f}× its two GEMMs (target ≤ 1.1)", v <= 1.1)


def _check_attention(rows):
    r = _get(rows, "attention/b8h8t512d64_causal")
    if not r or not r.get("baseline_ms") or r.get("baseline_peak_bytes") is None:
        return None
    sp = r["baseline_ms"] / r["ours_ms"]
    return (f"{sp:.2f}× faster than libtorch's composition, peak {_mib(r['peak_bytes'])} vs "
            f"{_mib(r['baseline_peak_bytes'])} (targets: faster, lower peak)",
            sp > 1 and r["peak_bytes"] < r["baseline_peak_bytes"])


CHECKS = [
    ("GELU tanh at 4096×1024", _check_gelu("gelu_tanh", 4)),
    ("GELU erf at 4096×1024", _check_gelu("gelu_erf", 1.5)),
    ("Fused Linear+bias+GELU at 4096×1024→1024", _check_fused),
    ("OptimizedLinear backward", _check_bwd),
    ("Attention fwd+bwd b8h8t512d64 causal", _check_attention),
]


def fmt(v, prec=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6f}" if abs(v) < 0.01 and v != 0 else f"{v:.{prec}f}"
    return str(v)


def section(program, rows, notes_dir):
    out = [f"## {program}", ""]
    first = rows[0] if rows else {}
    command = first.get("command") or f"{program} --threads {first.get('threads', 2)} --json benchmarks/results/{program}.json"
    date = first.get("date")
    out += ["Command (from the repository root, after the build above):", "", "```sh",
            f"./build-bench/benchmarks/{command}", "```", ""]
    run = f"Run: {date}" if date else "Run: date not recorded in the JSON (see the notes below)"
    if first.get("loadavg_1m") is not None:
        run += f", 1-minute load average {first['loadavg_1m']:.2f} at its start"
    out.append(run)
    out.append("")
    m = {k: first.get(k) for k in MACHINE_KEYS}
    out += ["Machine (as recorded on the rows):", "", "```",
            f"cpu: {m['cpu']}  isa: {m['isa']} (host {m['host_isa']})  threads: {m['threads']}",
            f"stream triad: best {fmt(m['stream_gbs'], 2)} GB/s, median {fmt(m['stream_median_gbs'], 2)} GB/s",
            f"fma peak: {fmt(m['fma_gflops'], 1)} GFLOP/s f32"]
    configs = []
    for r in rows:
        c = r.get("baseline_config")
        if c and c not in configs:
            configs.append(c)
    for c in configs:
        out.append(f"baseline: {c}")
    out += ["```", ""]
    extras = [e for e in EXTRAS if any(e[0] in r and r[e[0]] is not None for r in rows)]
    head = ["name", "ours ms", "baseline", "baseline ms", "base/ours", "limit ms", "ours/limit"] + [e[1] for e in extras]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for r in rows:
        ours, base, lim = r.get("ours_ms"), r.get("baseline_ms"), r.get("limit_ms")
        ratio = base / ours if base and ours else None
        of_limit = ours / lim if ours and lim else None
        cells = [f"`{r['name']}`", fmt(ours), r.get("baseline") or "-", fmt(base), fmt(ratio, 2), fmt(lim),
                 fmt(of_limit, 2)]
        for key, _, f in extras:
            v = r.get(key)
            cells.append(f(v) if v is not None else "-")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    by_name = {r["name"]: r for r in rows}
    results = [(d, c(by_name)) for d, c in CHECKS] if program == "performance_comparison" else []
    results = [(d, res) for d, res in results if res is not None]
    if results:
        out += ["Targets of the issue, from these rows:", ""]
        for d, (text, ok) in results:
            out.append(f"- {'met' if ok else '**not met**'}: {d}: {text}")
        out.append("")
    note = notes_dir / f"{program}.md"
    if note.exists():
        out += ["Notes:", "", note.read_text().rstrip(), ""]
    return out


def generate(results_dir, notes_dir):
    out = ["# Benchmarks", ""]
    intro = notes_dir / "_intro.md"
    if intro.exists():
        out += [intro.read_text().rstrip(), ""]
    files = sorted(results_dir.glob("*.json"))
    if not files:
        out += ["No results yet (benchmarks/results/*.json).", ""]
    for f in files:
        rows = json.loads(f.read_text())
        if not isinstance(rows, list):
            raise SystemExit(f"{f}: expected a JSON list of rows")
        out += section(f.stem, rows, notes_dir)
    return "\n".join(out).rstrip() + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--notes", default=str(ROOT / "benchmarks" / "notes"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--check", action="store_true", help="exit 1 if --out is not up to date")
    a = ap.parse_args()
    text = generate(Path(a.results), Path(a.notes))
    out = Path(a.out)
    if a.check:
        if not out.exists() or out.read_text() != text:
            print(f"{out} is out of date: run scripts/gen_benchmarks_md.py", file=sys.stderr)
            return 1
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
