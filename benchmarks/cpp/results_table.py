"""Markdown tables from the JSON output of the memory-bound C++ micro-benchmarks: per row the time,
GB/s, and the fraction of the memcpy row of the same size from the same binary and run (paired by
the tensor_MB counter that bench_common.h sets). One table per JSON file. With
--benchmark_repetitions the median rows are shown.

    EMBER_THREADS=2 build/bench/benchmarks/cpp/bench_pool --benchmark_repetitions=5 \
        --benchmark_report_aggregates_only=true --benchmark_format=json > pool.json
    python benchmarks/cpp/results_table.py pool.json [more.json ...]
"""
from __future__ import annotations

import json
import os
import sys


def _row_name(b):
    return b["name"].removesuffix("_median").removesuffix("/real_time")


def table(path):
    with open(path) as f:
        report = json.load(f)
    ctx, rows = report["context"], report["benchmarks"]
    if any(b.get("run_type") == "aggregate" for b in rows):
        rows = [b for b in rows if b.get("aggregate_name") == "median" or b.get("error_occurred")]
    copies = {round(b["tensor_MB"], 1): b["GB/s"] for b in rows
              if b["name"].startswith("memcpy/") and not b.get("error_occurred")}
    load = ", ".join(f"{x:.2f}" for x in ctx.get("load_avg", []))
    binary = os.path.basename(ctx.get("executable", path))
    clock = "wall" if any(_row_name(b) != b["name"].removesuffix("_median") for b in rows) else "CPU"
    stat = "median of %d" % rows[0]["repetitions"] if rows and rows[0].get("run_type") == "aggregate" else "one run"
    out = [f"#### {binary} ({ctx.get('date', '')}; load average {load} at start; {clock} time, {stat})", "",
           "| benchmark | threads | ms | GB/s | memcpy GB/s (same size) | of memcpy |", "|---|---:|---:|---:|---:|---:|"]
    for b in rows:
        if b.get("error_occurred"):
            out.append(f"| {_row_name(b)} | | error: {b.get('error_message', '')} | | | |")
            continue
        gbs = b["GB/s"]
        copy = copies.get(round(b["tensor_MB"], 1))
        threads = b.get("label", "").split(" ")[0]
        ms = b["real_time" if clock == "wall" else "cpu_time"]
        ms = ms / {"ns": 1e6, "us": 1e3, "ms": 1.0, "s": 1e-3}[b["time_unit"]]
        frac = f"{gbs / copy:.0%}" if copy else "–"
        out.append(f"| {_row_name(b)} | {threads} | {ms:.3f} | {gbs:.1f} | "
                   f"{f'{copy:.1f}' if copy else '–'} | {frac} |")
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("\n\n".join(table(p) for p in sys.argv[1:]))


if __name__ == "__main__":
    main()
