"""Shared benchmark helpers: data discovery, timing, matmul peak, and the table + JSON report.

Importing it also puts ``tests/`` on ``sys.path``, as pytest does, so benchmarks share the test fixtures
(``from fixtures.tiny import tiny_processor``) that the wheel does not ship.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


def gesture_files(limit: int | None = None) -> list[Path]:
    """The 1,690 real gesture clips of ../shared/data, or the bundled 120 when it is absent."""
    from signclip_hf.sample_data import GESTURES_DIR

    root = SHARED_DATA / "gestures" if (SHARED_DATA / "gestures").is_dir() else GESTURES_DIR
    return sorted(root.rglob("*.pose"))[:limit]


def stsl_like_lengths(count: int, seed: int = 0) -> np.ndarray:
    """Gamma-distributed clip lengths with mean ~98 frames (Spread the Sign's mean), clipped to [8, 256]."""
    return np.clip(np.random.default_rng(seed).gamma(4.0, 98 / 4.0, count).round(), 8, 256).astype(int)


def best_time(function: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Fastest wall time of `repeats` runs (seconds), after `warmup` runs."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_flops_per_second(dtype: torch.dtype = torch.float32, size: int = 2048) -> float:
    """FLOP/s of a large square matmul at `dtype`: the machine's practical peak for MFU ratios."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    seconds = best_time(lambda: a @ b, repeats=5)
    return 2 * size**3 / seconds


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_status_mb(field: str, pid: int | str = "self") -> float:
    """`VmRSS` / `VmHWM` of a process in MiB (Linux). VmHWM is the process's own peak: `ru_maxrss` of a
    child started by exec also carries its parent's earlier peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def report(title: str, rows: list[dict], extra: dict | None = None) -> None:
    """Print rows as an aligned table, then one JSON line with everything."""
    print(f"\n## {title}  ({machine()})")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    print(json.dumps({"benchmark": title, "rows": rows, **(extra or {})}))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)
