"""`accelerate launch` command lines for real multi-process CPU runs (gloo), each on its own free port.

`accelerate launch --cpu --num_processes 2` starts ONE process (SPEC §5); two CPU ranks need
`ACCELERATE_USE_CPU=1` with `--multi_gpu`. A fixed rendezvous port (29500) can collide with a run that
just ended, so every launch asks the OS for a free one.
"""

from __future__ import annotations

import os
import socket
import sys


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_launch_command(num_processes: int = 2, mixed_precision: str = "no") -> list[str]:
    """The `accelerate launch` prefix for `num_processes` CPU ranks; append the script (or `-m module`) and args."""
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
        "--num_machines", "1", "--mixed_precision", mixed_precision, "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
    ]  # fmt: skip


def cpu_launch_env(threads_per_process: int = 1, **extra: str) -> dict[str, str]:
    """Environment for `cpu_launch_command`: CPU ranks, bounded threads, no tokenizer fork warnings."""
    return dict(
        os.environ,
        ACCELERATE_USE_CPU="1",
        OMP_NUM_THREADS=str(threads_per_process),
        TOKENIZERS_PARALLELISM="false",
        **extra,
    )
