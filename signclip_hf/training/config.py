"""`PretrainConfig`: everything a pretraining run needs, read from one YAML file.

```yaml
model: {pose_layers: 4}               # ModelSpec fields (text_model: null = offline MiniLM), or {from_checkpoint: DIR}
data: {paths: [DATASET_DIR], validation_split: validation}   # build-dataset folders / Hub ids, or pose_root
optim: {lr: 5.0e-5, warmup_steps: 1000}
batch_size: 64                        # per process; global batch = batch_size × processes
mixed_precision: bf16
output_dir: runs/pretrain
```
Every value is checked against its field's type by `typed_config` (the one front end of the training
configs, `finetune`'s too): unknown keys, values of the wrong type (`epochs: abc`) and malformed YAML are
one-line errors naming the file (or the `--set` override) and the key, raised before anything runs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from ..model_factory import ModelSpec
from .typed_config import apply_overrides, build, check_choices, read_yaml_mapping

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
    """Adam + warmup as released (SignCLIP, Jiang et al. 2024; J22Melody/fairseq examples/MMPT
    `projects/retri/signclip_v1_1/baseline_sp_b768.yaml`): lr 5e-5, betas (0.9, 0.98), 1000 linear warmup steps, clip-norm 2.0.

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
        return build(cls, values, source)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: Sequence[str] = ()) -> "PretrainConfig":
        """Read `path`; each override `section.key=value` (value parsed as YAML) replaces one entry."""
        values = apply_overrides(read_yaml_mapping(path), overrides, cls, file=str(path))
        return build(cls, values, str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


__all__ = ["PretrainConfig", "ModelConfig", "DataConfig", "OptimConfig"]
