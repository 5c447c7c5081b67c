"""What a `build-dataset` run did: the types shared by the build, its command line and the dataset card."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class SkippedFile:
    """One file that was not stored: its path (as in the CSV), a short reason, and the full problem."""

    file: str
    reason: str
    problem: str


@dataclass
class BuildReport:
    """What a build did: clips stored (per split), files skipped and why, where it was written."""

    stored: int
    skipped: list[SkippedFile] = field(default_factory=list)
    split_sizes: dict[str, int] = field(default_factory=dict)
    output: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # CSV rows stored despite a problem (duplicates)
    resumed_shards: int = 0  # shards kept from an interrupted build of the same plan
    files: list[str] = field(default_factory=list)  # what the build wrote, relative to `output`

    @property
    def clips_per_second(self) -> float:
        return (self.stored + len(self.skipped)) / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        lines = [f"stored {self.stored} clips" + (f" to {self.output}" if self.output else "")
                 + f" in {self.seconds:.1f}s ({self.clips_per_second:.0f} files/s)"]
        if self.resumed_shards:
            lines.append(f"resumed an interrupted build: {self.resumed_shards} shard(s) kept")
        lines.extend(f"warning: {warning}" for warning in self.warnings)
        if self.split_sizes:
            lines.append("splits: " + ", ".join(f"{name} {size}" for name, size in self.split_sizes.items()))
        lines.append(f"skipped {len(self.skipped)} file(s)" + (":" if self.skipped else ""))
        lines.extend(f"  {s.file}: {s.reason}: {s.problem}" for s in self.skipped)
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"status": "done", **asdict(self), "clips_per_second": self.clips_per_second}, indent=2)
