"""Start a web app (`signclip-hf app`, a Space's `app.py`) in a subprocess and wait until it answers HTTP."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServedApp:
    """A running app: its URL, how long it took to answer, and its process."""

    url: str
    startup_seconds: float
    process: subprocess.Popen


def wait_until_served(url: str, process: subprocess.Popen, log: Path, timeout: float) -> float:
    """Seconds until `url` answers 200; fails with the log if the process exits or time runs out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def serve(
    command: list[str], url: str, cwd: str | Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> Iterator[ServedApp]:
    """Run `command` until the block ends, once it answers `url`. Its output goes to a log file."""
    environment = dict(os.environ if env is None else env, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    with tempfile.TemporaryDirectory(prefix="signclip-serve-") as folder:
        log = Path(folder, "app.log")
        with open(log, "wb") as output:
            process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT)
            try:
                yield ServedApp(url, wait_until_served(url, process, log, timeout), process)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
