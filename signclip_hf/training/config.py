"""`PretrainConfig`: everything a pretraining run needs, read from one YAML file.

```yaml
model: {pose_layers: 4}               # ModelSpec fields (text_model: null = offline MiniLM), or {from_checkpoint: DIR}
data: {paths: [DATASET_DIR], validation_split: validation}   # build-dataset folders / Hub ids, or pose_root
optim: {lr: 5.0e-5, warmup_steps: 1000}
batch_size: 64                        # per process; global batch = batch_size × processes
mixed_precision: bf16
output_dir: runs/pretrain
```
Unknown keys, values of the wrong type (`epochs: abc`) and malformed YAML are one-line errors naming the
file (or the `--set` override) and the key, raised before anything runs, so a typo never silently trains
with a default or fails deep inside training.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence, Union

import yaml

from ..model_factory import ModelSpec

BUNDLED_PREFIX = "bundled:"


@dataclass
class ModelConfig(ModelSpec):
    """A fresh model (the `ModelSpec` fields) or, with `from_checkpoint`, a saved SignCLIP model + processor."""

    from_checkpoint: str | None = None

    def spec(self) -> ModelSpec:
        return ModelSpec(**{f.name: getattr(self, f.name) for f in dataclasses.fields(ModelSpec)})


@dataclass
class DataConfig:
    """Where the clips come from (`paths` or `pose_root`) and how they are batched.

    Args:
        paths: datasets written by `build-dataset` (`save_to_disk` folders) or Hub dataset repo ids, read
            with `load_pose_dataset`; several are concatenated split by split.
        pose_root: instead, a folder of `.pose` files + `metadata.csv`, built into `OUTPUT_DIR/dataset` on
            first use (`"bundled:gestures"` = the sample shipped with the package); `signer_split` holds out
            signers as the `test` split when the CSV has no `split` column.
        streaming: read the train split lazily (an IterableDataset: no length grouping; an epoch is one
            pass over the stream, shuffled through a `shuffle_buffer`-row buffer; set `max_steps`).
        text_column: the text of the prompt `"<spoken> <sign> {text}"`.
        train_split / validation_split: split names (validation None = no validation).
        augmentation: `"all"` (default: temporal stretch, 2D affine, mirror, noise; better on unseen signers,
            benchmarks/unseen_signers.py), `"released"` (temporal stretch only, as released) or null.
        length_grouped: batch clips of similar length (less padding) in a seeded, epoch-shuffled order.
        num_workers: DataLoader worker processes (0 = collate in the training process; needed for an
            exact resume with augmentation).
    """

    paths: list[str] = field(default_factory=list)
    pose_root: str | None = None
    signer_split: float | None = 0.2
    streaming: bool = False
    shuffle_buffer: int = 1000
    text_column: str = "text"
    train_split: str = "train"
    validation_split: str | None = "validation"
    augmentation: Literal["released", "all"] | None = "all"
    length_grouped: bool = True
    num_workers: int = 0

    def __post_init__(self):
        check_choices(self)

    def resolved_pose_root(self) -> str | None:
        if self.pose_root and self.pose_root.startswith(BUNDLED_PREFIX):
            from .. import sample_data

            return str(sample_data.SAMPLE_DIR / self.pose_root[len(BUNDLED_PREFIX) :])
        return self.pose_root


@dataclass
class OptimConfig:
    """Adam + warmup as released (SPEC §3): lr 5e-5, betas (0.9, 0.98), 1000 linear warmup steps, clip-norm 2.0.

    After the warmup the learning rate follows `scheduler`: `"linear"` decays linearly to 0 at the last
    step (default), `"constant"` stays at `lr`, `"cosine"` follows a half cosine to 0. Steps are optimizer
    steps (one per `gradient_accumulation_steps` batches), the same whatever the number of processes.
    """

    lr: float = 5e-5
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_steps: int = 1000
    scheduler: Literal["linear", "constant", "cosine"] = "linear"
    max_grad_norm: float | None = 2.0
    fused: bool = True  # fused Adam kernel: 0.2 s vs 5.5 s (foreach) per step, 45M params, 2-core CPU

    def __post_init__(self):
        check_choices(self)


@dataclass
class PretrainConfig:
    """One pretraining run. `batch_size` is per process: the contrastive loss sees batch_size × processes
    clips (negatives are gathered from all processes); gradient accumulation adds steps, not negatives.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    output_dir: str = "runs/pretrain"
    batch_size: int = 64
    gradient_accumulation_steps: int = 1
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    # recompute each BERT layer's activations in the backward pass: less memory, about one more forward
    gradient_checkpointing: bool = False
    epochs: int = 25
    max_steps: int | None = None
    checkpoint_every: int | None = 500
    keep_checkpoints: int | None = None
    log_every: int = 10
    eval_every: int | None = None
    log_with: str | None = None
    seed: int = 0

    def __post_init__(self):
        check_choices(self)
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch_size and gradient_accumulation_steps must be >= 1")
        if bool(self.data.paths) == (self.data.pose_root is not None):
            raise ValueError("data needs exactly one of `paths` (datasets) and `pose_root` (a .pose folder)")
        if self.data.streaming and self.max_steps is None:
            raise ValueError("a streaming dataset has no known length: set max_steps")

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "<dict>") -> "PretrainConfig":
        return _build(cls, values, source, prefix="")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: Sequence[str] = ()) -> "PretrainConfig":
        """Read `path`; each override `section.key=value` (value parsed as YAML) replaces one entry."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        values = _load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: the config must be a mapping of keys to values")
        for override in overrides:  # each checked against the field's type here, before anything runs
            source = f"--set {override}"
            key, sep, raw = override.partition("=")
            if not sep:
                raise ValueError(f"{source}: must look like section.key=value")
            *parents, leaf = key.strip().split(".")
            node, owner = values, cls
            for name in parents:
                owner = _section_type(owner, name, source)
                node = node.setdefault(name, {})
                if not isinstance(node, dict):
                    raise ValueError(f"{source}: `{name}` in {path} is not a section")
            node[leaf] = _coerce(_load_yaml(raw, source), owner, leaf, source, prefix="".join(f"{p}." for p in parents))
        return _build(cls, values, str(path), prefix="")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _load_yaml(text: str, source: str) -> Any:
    """YAML text -> Python values; a syntax error is one line naming `source` and the position."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{source}: malformed YAML{where}: {problem}") from None


def _field_types(cls: type) -> dict[str, Any]:
    """{field name: resolved type hint} of config dataclass `cls`."""
    return typing.get_type_hints(cls)


def _section_type(cls: type, name: str, source: str) -> type:
    """The dataclass type of section `name` of `cls` (e.g. OptimConfig for `optim`); else a ValueError."""
    hint = _field_types(cls).get(name)
    if hint is None or not dataclasses.is_dataclass(hint):
        sections = [n for n, h in _field_types(cls).items() if dataclasses.is_dataclass(h)]
        raise ValueError(f"{source}: `{name}` is not a config section; sections: {sections}")
    return hint


def _describe(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false", type(None): "null"}
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        count = f"{len(args)} " if typing.get_origin(hint) is tuple else ""
        return f"a list of {count}{_describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _convert(value: Any, hint: Any) -> Any:
    """`value` as type `hint`, or `_MISMATCH` (YAML has already typed the value: only safe widenings here)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        for arg in args:
            converted = _convert(value, arg)
            if converted is not _MISMATCH:
                return converted
        return _MISMATCH
    if hint is Any or (hint is type(None) and value is None) or (hint is bool and isinstance(value, bool)):
        return value
    if origin is Literal:
        return value if any(value == arg and type(value) is type(arg) for arg in args) else _MISMATCH
    if hint is str:
        return value if isinstance(value, str) else _MISMATCH
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISMATCH
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads `5e-5` (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                return _MISMATCH
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return _MISMATCH
        return float(value)
    if origin is list:
        items = [value] if isinstance(value, str) else value  # `paths: DIR` is a one-item list
        if not isinstance(items, list):
            return _MISMATCH
        converted = [_convert(item, args[0]) for item in items]
        return _MISMATCH if _MISMATCH in converted else converted
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (Ellipsis not in args and len(value) != len(args)):
            return _MISMATCH
        converted = tuple(_convert(item, args[0] if Ellipsis in args else arg) for item, arg in zip(value, args))
        return _MISMATCH if _MISMATCH in converted else converted
    return _MISMATCH


_MISMATCH = object()


def _coerce(value: Any, cls: type, name: str, source: str, prefix: str = "") -> Any:
    """`value` checked against the type of field `name` of `cls` (an unknown name or a section passes as is:
    `_build` reports it with the known keys)."""
    hint = _field_types(cls).get(name)
    if hint is None or dataclasses.is_dataclass(hint):
        return value
    converted = _convert(value, hint)
    if converted is _MISMATCH:
        raise ValueError(f"{source}: `{prefix}{name}` must be {_describe(hint)}, got {value!r}")
    return converted


def check_choices(config: Any) -> None:
    """Raise a ValueError for a field of dataclass `config` holding a value its `Literal` type does not allow
    (also for configs built in Python, which skip the YAML loader's checks)."""
    for name, hint in _field_types(type(config)).items():
        choices = hint if typing.get_origin(hint) is Literal else next(
            (arg for arg in typing.get_args(hint) if typing.get_origin(arg) is Literal), None
        )
        if choices is not None and _convert(getattr(config, name), hint) is _MISMATCH:
            raise ValueError(f"`{name}` must be {_describe(hint)}, got {getattr(config, name)!r}")


def _build(cls: type, values: dict[str, Any], source: str, prefix: str):
    """Dataclass `cls` from a mapping, recursing into sections; unknown keys and wrong types are errors."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: `{prefix.rstrip('.') or 'config'}` must be a mapping, got {values!r}")
    hints = _field_types(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {[prefix + k for k in unknown]}; known: {sorted(hints)}")
    kwargs = {}
    for name, value in values.items():
        if dataclasses.is_dataclass(hints[name]):
            kwargs[name] = _build(hints[name], value or {}, source, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, cls, name, source, prefix)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: {error}") from None


__all__ = ["PretrainConfig", "ModelConfig", "DataConfig", "OptimConfig"]
