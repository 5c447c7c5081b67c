"""Shared benchmark helpers: data discovery, timing, matmul peak, and the table + JSON report.

Importing it also puts ``tests/`` on ``sys.path``, as pytest does, so benchmarks share the test fixtures
(``from fixtures.tiny import tiny_processor``) that the wheel does not ship.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import torch

T = TypeVar("T")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARED_GESTURES = SHARED_DATA / "gestures"
# the test fixtures (tiny models, the loopback Hub) that some benchmarks reuse
TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


def gestures_root() -> tuple[Path, str]:
    """(folder, description) of the 1,690 real gesture clips of ../shared/data, or of the bundled 120."""
    from signclip_hf.sample_data import GESTURES_DIR

    if SHARED_GESTURES.is_dir():
        return SHARED_GESTURES, "shared gestures"
    return GESTURES_DIR, "bundled sample"


def gesture_files(limit: int | None = None) -> list[Path]:
    """The gesture clips of `gestures_root()`, sorted; the first `limit` when given."""
    return sorted(gestures_root()[0].rglob("*.pose"))[:limit]


def stsl_like_lengths(count: int, seed: int = 0) -> np.ndarray:
    """Gamma-distributed clip lengths with mean ~98 frames (Spread the Sign's mean), clipped to [8, 256]."""
    return np.clip(np.random.default_rng(seed).gamma(4.0, 98 / 4.0, count).round(), 8, 256).astype(int)


def timed(function: Callable[[], T], repeats: int = 1) -> tuple[float, T]:
    """(fastest wall seconds of `repeats` calls, the last call's result)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def best_time(function: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Fastest wall time of `repeats` runs (seconds), after `warmup` runs."""
    for _ in range(warmup):
        function()
    return timed(function, repeats)[0]


def matmul_flops_per_second(dtype: torch.dtype = torch.float32, size: int = 2048) -> float:
    """FLOP/s of a large square matmul at `dtype`: the machine's practical peak for MFU ratios."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    seconds = best_time(lambda: a @ b, repeats=5)
    return 2 * size**3 / seconds


def peak_rss_mb(children: bool = False) -> float:
    """Lifetime peak RSS (MiB) of this process, or the larger of it and its finished children's (`ru_maxrss`)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if children else 0) / 1024


def reset_peak_rss() -> None:
    """Start a new VmHWM period for this process (Linux: writing 5 to clear_refs), so `proc_status_mb("VmHWM")`
    reports the peak of the phase that follows rather than of the process's lifetime."""
    Path("/proc/self/clear_refs").write_text("5")


def proc_status_mb(field: str, pid: int | str = "self") -> float:
    """`VmRSS` / `VmHWM` of a process in MiB (Linux). VmHWM is the process's own peak: `ru_maxrss` of a
    child started by exec also carries its parent's earlier peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


class MemorySampler:
    """Samples a `/proc/self/status` field (VmRSS: all resident memory; RssAnon: heap only, no mapped files)
    every 10 ms on a daemon thread, from construction (or `with` entry) on; `start`, `peak`, `end` in MiB."""

    def __init__(self, field: str = "VmRSS"):
        self.field, self.running = field, True
        self.start = self.peak = self.end = proc_status_mb(field)
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, proc_status_mb(self.field))
            time.sleep(0.01)

    def __enter__(self) -> "MemorySampler":
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()
        self.end = proc_status_mb(self.field)
        self.peak = max(self.peak, self.end)

    @property
    def peak_growth(self) -> float:
        return self.peak - self.start

    @property
    def kept(self) -> float:
        return self.end - self.start


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (less sensitive to a busy machine)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


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
