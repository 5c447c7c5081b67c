"""Training checkpoints that load no code and are checked before they are loaded.

`OUTPUT_DIR/checkpoints/step_N` holds:

- what `Accelerator.save_state` writes for the model (`model.safetensors`) and the optimizer
  (`optimizer.bin`, read back by Accelerate with `torch.load(weights_only=True)`: tensors, no code);
- `training_state.json`: the position in the data (step, epoch, batches of the epoch done), the LR
  scheduler's state and Accelerate's batch counter (gradient accumulation);
- `rng_state_P.json`: process P's Python, NumPy, torch and CUDA generator states;
- `manifest.json`, written last: the size and SHA-256 of every other file. Without it the save was
  interrupted; with a file that differs from it, the checkpoint is damaged.

Nothing goes through `register_for_checkpointing` (Accelerate unpickles those files with
`weights_only=False`, so a crafted `custom_checkpoint_0.pkl` would run code) and Accelerate's pickled RNG
file is replaced by the JSON one. A file in the folder that the manifest does not list (such as a planted
pickle) makes the checkpoint unusable: it is never read.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import pickle
import random
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list
from huggingface_hub.utils.sha import sha_fileobj
from safetensors import SafetensorError

CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
TRAINING_STATE = "training_state.json"
RNG_STATE = "rng_state_{}.json"
ACCELERATE_RNG_PICKLE = "random_states_{}.pkl"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is incomplete, damaged, or holds files it should not; the message names the problem."""


class CheckpointWarning(UserWarning):
    """A checkpoint was passed over (damaged or interrupted) or a resume will not be exactly reproducible."""


@dataclass
class TrainingProgress:
    """Where the run stands: saved in every checkpoint's `training_state.json`."""

    step: int = 0  # optimizer steps done
    epoch: int = 0
    batches_in_epoch: int = 0  # batches of `epoch` already consumed by this process

    def state_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        for key, value in state.items():
            setattr(self, key, int(value))


def _encode(tensor: torch.Tensor) -> str:
    return base64.b64encode(tensor.cpu().numpy().tobytes()).decode("ascii")


def _decode(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text, validate=True)), dtype=torch.uint8)


def rng_state() -> dict[str, Any]:
    """This process's generator states (those `Accelerator.save_state` keeps), as JSON-ready values."""
    version, internal, gauss = random.getstate()
    _, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": {
            "keys": keys.tolist(),
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": _encode(torch.get_rng_state()),
    }
    if torch.cuda.is_available():
        state["cuda"] = [_encode(s) for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), None if gauss is None else float(gauss)))
    numpy = state["numpy"]
    keys = np.asarray(numpy["keys"], dtype=np.uint32)
    np.random.set_state(("MT19937", keys, int(numpy["pos"]), int(numpy["has_gauss"]), float(numpy["cached_gaussian"])))
    torch.set_rng_state(_decode(state["torch"]))
    if torch.cuda.is_available() and "cuda" in state:
        torch.cuda.set_rng_state_all([_decode(s) for s in state["cuda"]])


def _sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (huggingface_hub's LFS hashing)."""
    with open(path, "rb") as handle:
        return sha_fileobj(handle).hex()


def _files(directory: Path) -> list[str]:
    return sorted(
        p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST
    )


def write_manifest(directory: Path, step: int) -> None:
    """Record every file's size and hash; written last, through a temporary file, so it marks a complete save."""
    files = {
        name: {"size": (directory / name).stat().st_size, "sha256": _sha256(directory / name)}
        for name in _files(directory)
    }
    temporary = directory / (MANIFEST + ".tmp")
    temporary.write_text(
        json.dumps({"format": FORMAT_VERSION, "step": step, "files": files}, indent=1), encoding="utf-8"
    )
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, directory / MANIFEST)


def verify_checkpoint(directory: str | os.PathLike) -> None:
    """Raise `CheckpointError` unless `directory` holds exactly the files its manifest lists, intact."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a checkpoint directory")
    if not (directory / MANIFEST).is_file():
        raise CheckpointError(f"{directory}: incomplete checkpoint (no {MANIFEST}: its save did not finish)")
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        listed = {name: (int(entry["size"]), str(entry["sha256"])) for name, entry in manifest["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CheckpointError(
            f"{directory / MANIFEST}: unreadable manifest ({type(error).__name__}: {error})"
        ) from None
    if manifest.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{directory / MANIFEST}: unknown checkpoint format {manifest.get('format')!r}")
    present = _files(directory)
    extra = [name for name in present if name not in listed]
    if extra:
        raise CheckpointError(f"{directory}: file(s) the manifest does not list, not loaded: {', '.join(extra)}")
    for required in (TRAINING_STATE, RNG_STATE.format(0)):
        if required not in listed:
            raise CheckpointError(f"{directory}: the manifest lists no {required}")
    for name, (size, digest) in listed.items():
        path = directory / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise CheckpointError(f"{directory / MANIFEST}: lists {name!r}, outside the checkpoint")
        if not path.is_file():
            raise CheckpointError(f"{directory}: {name} is missing")
        if path.stat().st_size != size:
            raise CheckpointError(f"{directory}: {name} has {path.stat().st_size} bytes, the manifest says {size}")
        if _sha256(path) != digest:
            raise CheckpointError(f"{directory}: {name} does not match its SHA-256 in the manifest (damaged)")


def checkpoint_dirs(output_dir: str | os.PathLike) -> list[Path]:
    """Checkpoints under OUTPUT_DIR/checkpoints whose save finished (they have a manifest), oldest first."""
    return [p for p in _step_dirs(output_dir) if (p / MANIFEST).is_file()]


def _step_dirs(output_dir: str | os.PathLike) -> list[Path]:
    root = Path(output_dir, CHECKPOINTS)
    found = [p for p in root.glob("step_*") if p.is_dir() and p.name[5:].isdigit()] if root.is_dir() else []
    return sorted(found, key=lambda p: int(p.name[5:]))


def resolve_resume(resume: str | None, output_dir: str | os.PathLike) -> Path | None:
    """The checkpoint to resume from, verified: `None`, a path, or `"latest"`.

    `"latest"` takes the newest checkpoint that passes `verify_checkpoint`, warning about each newer one
    passed over; None when no save ever finished (a fresh start). A path must pass itself.
    Raises `CheckpointError` when there are finished checkpoints but every one is damaged.
    """
    if resume is None:
        return None
    if resume != "latest":
        try:
            verify_checkpoint(resume)
        except CheckpointError as error:
            raise CheckpointError(f"cannot resume from {resume}: {error}") from None
        return Path(resume)
    problems = []
    for directory in reversed(_step_dirs(output_dir)):
        try:
            verify_checkpoint(directory)
        except CheckpointError as error:
            problems.append(str(error))
            continue
        for problem in problems:
            warnings.warn(f"skipping {problem}; resuming from {directory.name}", CheckpointWarning, stacklevel=2)
        return directory
    if checkpoint_dirs(output_dir):  # finished saves exist, none usable: do not silently start over
        raise CheckpointError(
            f"cannot resume from the latest checkpoint: no usable checkpoint in {Path(output_dir, CHECKPOINTS)}: "
            + "; ".join(problems)
        )
    for problem in problems:
        warnings.warn(f"skipping {problem}; starting from scratch", CheckpointWarning, stacklevel=2)
    return None


def resolve_resume_on_main_process(
    accelerator: Accelerator, resume: str | None, output_dir: str | os.PathLike
) -> Path | None:
    """`resolve_resume` on the main process only (it hashes every file of the checkpoint), its choice (or its
    `CheckpointError`) sent to every process, so all resume from the same checkpoint or all fail."""
    choice: Path | CheckpointError | None = None
    if accelerator.is_main_process:
        try:
            choice = resolve_resume(resume, output_dir)
        except CheckpointError as error:
            choice = error
    [choice] = broadcast_object_list([choice])
    if isinstance(choice, CheckpointError):
        raise choice
    return choice


def save_checkpoint(
    accelerator: Accelerator,
    output_dir: str | os.PathLike,
    progress: TrainingProgress,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    keep: int | None,
) -> Path:
    """Save the whole training state to OUTPUT_DIR/checkpoints/step_N (manifest last), keeping the newest `keep`."""
    path = Path(output_dir, CHECKPOINTS, f"step_{progress.step}")
    if accelerator.is_main_process and path.exists():  # left by an interrupted save, or a finished run redone
        shutil.rmtree(path)
    accelerator.wait_for_everyone()
    accelerator.save_state(os.fspath(path))
    index = accelerator.process_index
    (path / ACCELERATE_RNG_PICKLE.format(index)).unlink(missing_ok=True)  # pickled: replaced by the JSON below
    (path / RNG_STATE.format(index)).write_text(json.dumps(rng_state()), encoding="utf-8")
    if accelerator.is_main_process:
        state = {
            "progress": progress.state_dict(),
            "scheduler": scheduler.state_dict(),
            "accelerator_step": accelerator.step,
            "num_processes": accelerator.num_processes,
        }
        (path / TRAINING_STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_manifest(path, progress.step)
        if keep is not None:
            for old in checkpoint_dirs(output_dir)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def load_checkpoint(
    accelerator: Accelerator,
    path: str | os.PathLike,
    progress: TrainingProgress,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> None:
    """Restore what `save_checkpoint` wrote to a checkpoint `resolve_resume` verified.

    Raises `CheckpointError` (naming the checkpoint) for a state that does not fit this run's model or
    optimizer, and warns when the process count differs (the run goes on, not exactly reproducibly).
    """
    path = Path(path)
    try:
        accelerator.load_state(os.fspath(path))
        state = json.loads((path / TRAINING_STATE).read_text(encoding="utf-8"))
        progress.load_state_dict(state["progress"])
        scheduler.load_state_dict(state["scheduler"])
        accelerator.step = int(state["accelerator_step"])
        rng_file = path / RNG_STATE.format(accelerator.process_index)
        if rng_file.is_file():
            set_rng_state(json.loads(rng_file.read_text(encoding="utf-8")))
    except (
        OSError,
        RuntimeError,
        ValueError,
        KeyError,
        TypeError,
        IndexError,
        pickle.UnpicklingError,
        SafetensorError,
    ) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{path}: cannot restore the training state ({type(error).__name__}: {message})"
        ) from None
    saved_processes = int(state.get("num_processes", 1))
    if saved_processes != accelerator.num_processes:
        warnings.warn(
            f"{path} was written by {saved_processes} process(es), this run has {accelerator.num_processes}: "
            "the batch order and random streams will differ from an uninterrupted run",
            CheckpointWarning,
            stacklevel=2,
        )


__all__ = [
    "CheckpointError",
    "CheckpointWarning",
    "TrainingProgress",
    "checkpoint_dirs",
    "load_checkpoint",
    "resolve_resume",
    "resolve_resume_on_main_process",
    "save_checkpoint",
    "verify_checkpoint",
]
