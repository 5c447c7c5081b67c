"""Run every performance benchmark in turn and print each figure next to its target and baseline.

Each script runs in its own process (one at a time, so they do not share the CPU) and prints one JSON
line; this collects them into `benchmarks/results.json` and a summary table.

    python benchmarks/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, extra arguments, quick arguments)
SCRIPTS = [
    ("preprocess_bench.py", [], ["--limit", "300"]),
    ("pose_tower_bench.py", [], ["--size", "demo", "--clips", "64"]),
    ("train_step_bench.py", ["--steps", "2"], ["--size", "tiny", "--batch-size", "4", "--steps", "2"]),
    ("gpu_bench.py", [], ["--device", "cpu", "--quick"]),
    ("retrieval_bench.py", ["--gallery", "500000", "--chunk-sizes", "16384", "65536"], ["--gallery", "100000"]),
    ("compile_bench.py", [], []),
    ("dataset_bench.py", [], []),
    ("pretrain_bench.py", [], ["--loss-clips", "128", "--steps", "3", "--rounds", "2"]),
    ("index_bench.py", ["--repeats", "1"], ["--quick"]),
]


def run(script: str, arguments: list[str]) -> list[dict]:
    done = subprocess.run([sys.executable, str(HERE / script), *arguments], capture_output=True, text=True, cwd=HERE)
    print(done.stdout[-6000:])
    if done.returncode != 0:
        print(done.stderr[-3000:])
        return [{"benchmark": script, "error": done.returncode}]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def summary(results: dict[str, list[dict]]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, baseline) rows, one per headline figure."""
    rows = []
    pre = results["preprocess_bench.py"][0]
    rows.append(("1. preprocessing speedup", f"{pre['speedup']:.1f}x", ">= 5x",
                 f"pose-format pipeline {pre['rows'][1]['clips/s']:.0f} clips/s (Pose.read alone {pre['rows'][0]['clips/s']:.0f})"))
    tower, mfu = results["pose_tower_bench.py"]
    for row in tower["rows"]:
        rows.append((f"2. pose tower, {row['lengths']}", f"{row['speedup']:.1f}x", f">= {row['target']:.0f}x",
                     f"pad-to-256 eager {row['original clips/s']:.1f} clips/s"))
    for row in mfu["rows"]:
        rows.append((f"3. MFU batch-32 forward, {row['dtype']}", f"{row['MFU']:.2f}", f">= {row['target']}",
                     f"matmul {row['matmul GFLOP/s']:.0f} GFLOP/s"))
    retrieval = results["retrieval_bench.py"][0]["rows"]
    matmul = retrieval[-1]["seconds"]
    best = min(retrieval[:-1], key=lambda r: r["seconds"])
    rows.append(("4. retrieval top-10 vs matmul-bound", f"{best['seconds'] / matmul:.2f}x ({best['seconds']:.2f} s)",
                 "<= 2x", f"one matmul {matmul:.2f} s, {retrieval[-1]['peak_extra_mib']:.0f} MiB"))
    compiled = results["compile_bench.py"][0]["rows"]
    rows.append(("5. training step, torch.compile", f"{compiled[1]['clips/s']:.1f} clips/s ({compiled[1]['speedup']:.2f}x)",
                 "report", f"eager {compiled[0]['clips/s']:.1f} clips/s"))
    for step in results["train_step_bench.py"]:
        if step["benchmark"].startswith("training step"):
            ours, original = step["rows"]
            rows.append((f"7. {step['benchmark']}", f"{ours['clips/s']:.2f} clips/s, MFU {ours['MFU']:.2f} ({ours['speedup']:.1f}x)",
                         "report", f"{original['scheme']} {original['clips/s']:.2f} clips/s"))
    index = next((r for r in results.get("index_bench.py", []) if "verdicts" in r), None)
    for verdict in index["verdicts"] if index else []:
        rows.append((f"6. {verdict['data']} {verdict['dim']}-d N={verdict['N']:,}: ANN at recall@10 >= 0.95",
                     f"{verdict['speedup']:.1f}x ({verdict['best approximate at target recall']})", ">= 10x",
                     "FAISS exact (BLAS) in the same run"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller inputs (minutes instead of ~15)")
    args = parser.parse_args()
    results = {script: run(script, quick if args.quick else full) for script, full, quick in SCRIPTS}
    (HERE / "results.json").write_text(json.dumps(results, indent=2))
    print("\n## summary")
    table = [("figure", "measured", "target", "baseline (same run)"), *summary(results)]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for figure in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(figure, widths)))


if __name__ == "__main__":
    main()
