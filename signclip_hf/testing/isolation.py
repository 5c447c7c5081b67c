"""Run Python code in a fresh interpreter where `signclip_hf` cannot be imported.

That is a user's machine with only torch, transformers, numpy and pose-format: whatever the code loads
(remote code from a saved model or the Hub) must work without this package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

_HIDE_SIGNCLIP_HF = textwrap.dedent(
    """
    import sys
    class _HideSignclipHf:
        def find_spec(self, name, path=None, target=None):
            if name == "signclip_hf" or name.startswith("signclip_hf."):
                raise ImportError("signclip_hf is hidden in this process")
    sys.meta_path.insert(0, _HideSignclipHf())
    """
)


def python_without_signclip_hf(code: str) -> list[str]:
    """The command line that runs `code` (dedented) in a Python where signclip_hf cannot be imported."""
    return [sys.executable, "-c", _HIDE_SIGNCLIP_HF + textwrap.dedent(code)]


def run_without_signclip_hf(code: str, workdir: Path, **env: str) -> dict:
    """Run `code` (dedented) in a subprocess without signclip_hf; return the JSON its last stdout line holds."""
    environment = dict(os.environ, HF_MODULES_CACHE=str(Path(workdir) / "modules"), **env)
    done = subprocess.run(
        python_without_signclip_hf(code),
        capture_output=True, text=True, cwd=workdir, env=environment, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"subprocess failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
