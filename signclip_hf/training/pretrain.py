"""Contrastive pretraining with Accelerate (one or many processes, resumable; `signclip-hf pretrain`).

Launch it through Accelerate so the same code runs on one device, DDP, FSDP or DeepSpeed::

    accelerate launch -m signclip_hf.cli pretrain --config examples/configs/pretrain_gestures.yaml
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 -m signclip_hf.cli pretrain --config C.yaml

The loss uses the negatives of every process (`loss.distributed_contrastive_loss`). Every
`checkpoint_every` optimizer steps (and at the end) the whole state goes to
`OUTPUT_DIR/checkpoints/step_N` (`checkpoint.save_checkpoint`): weights, Adam, scheduler, RNG states and
the position in the data (step, epoch, batches of the epoch done), in formats that load no code, with a
manifest of sizes and hashes written last. `--resume latest` continues from the newest intact
checkpoint (a damaged or half-written newer one is skipped with a warning), skipping the batches already
seen (the batch order is a function of seed and epoch, augmentation is seeded per batch), so a killed and
resumed run ends with the weights of an uninterrupted one (with `num_workers: 0`). The final model +
processor + remote and pipeline code are written to `OUTPUT_DIR/final` (`save_for_pipeline`), loadable
with `AutoModel` / `AutoProcessor` / `pipeline(model=..., trust_remote_code=True)`.
"""

from __future__ import annotations

import json
import math
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import set_seed
from datasets import Dataset, IterableDataset, concatenate_datasets
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from ..data import (
    AugmentationConfig,
    LengthGroupedBatchSampler,
    PoseAugmentation,
    PoseRows,
    SignCLIPCollator,
    build_dataset,
    column_values,
    dataset_prompts,
    is_complete_build,
    load_pose_dataset,
)
from ..data.labels import class_ids
from ..metric_functions import retrieval_metrics
from ..model_factory import load_or_build
from ..modeling import SignCLIPProcessor, signclip_loss
from ..modeling.prompts_signclip import prompt_tag
from ..pipeline import save_for_pipeline
from .checkpoint import TrainingProgress, load_checkpoint, resolve_resume_on_main_process, save_checkpoint
from .config import DataConfig, PretrainConfig
from .loss import distributed_contrastive_loss

LOG_FILE = "log.jsonl"
SCHEDULER_NAMES = {"linear": "linear", "constant": "constant_with_warmup", "cosine": "cosine"}


class SeededAugmentationCollator:
    """The collator, with the augmentation re-seeded for each batch from (seed, epoch, the batch's files).

    The DataLoader collates one batch ahead and skips batches without collating them on resume, so a
    single running RNG stream would not survive a resume; a per-batch seed does.
    """

    def __init__(self, collator: SignCLIPCollator, seed: int):
        self.collator, self.seed, self.epoch = collator, seed, 0

    def __call__(self, rows: Sequence[Mapping[str, Any]]):
        augmentation = self.collator.augmentation
        if isinstance(augmentation, PoseAugmentation):
            files = zlib.crc32("\n".join(str(row.get("file", "")) for row in rows).encode())
            augmentation.rng = np.random.default_rng([self.seed, self.epoch, files])
        return self.collator(rows)


def load_training_data(
    config: PretrainConfig, accelerator: Accelerator
) -> tuple[Dataset | IterableDataset, Dataset | None]:
    """(train, validation) from the configured datasets; a pose folder is built once, by the main process."""
    data: DataConfig = config.data
    sources = data.paths
    if data.pose_root is not None:
        built = Path(config.output_dir, "dataset")
        with accelerator.main_process_first():
            if not is_complete_build(built) and accelerator.is_main_process:  # an interrupted build resumes
                build_dataset(data.resolved_pose_root(), output=built, signer_split=data.signer_split, seed=config.seed)
        sources = [str(built)]
    for source in sources:
        if source.startswith((".", "/", "~")) and not Path(source).expanduser().is_dir():
            raise FileNotFoundError(f"data.paths: {source!r} is not a dataset directory")
    trains = [load_pose_dataset(source, split=data.train_split, streaming=data.streaming) for source in sources]
    validations = (
        [load_pose_dataset(source, split=data.validation_split) for source in sources]
        if data.validation_split is not None
        else []
    )
    train = concatenate_datasets(trains).with_format("numpy") if len(trains) > 1 else trains[0]
    validation = None
    if validations:
        validation = concatenate_datasets(validations).with_format("numpy") if len(validations) > 1 else validations[0]
    return train, validation


def make_dataloaders(
    config: PretrainConfig, processor: SignCLIPProcessor, train: Dataset | IterableDataset, validation: Dataset | None
) -> tuple[DataLoader, DataLoader | None, SeededAugmentationCollator]:
    """Training loader: length-grouped, seeded per epoch, full batches only (the gathered loss needs equal
    local batches); validation loader: in order, no augmentation."""
    data = config.data
    augmentation = None
    if data.augmentation is not None:
        recipe = AugmentationConfig.released if data.augmentation == "released" else AugmentationConfig
        augmentation = PoseAugmentation(recipe(), processor.feature_extractor)
    collate = SeededAugmentationCollator(
        SignCLIPCollator(processor, augmentation=augmentation, text_column=data.text_column), config.seed
    )
    # own generator: starting an epoch's iterator must not draw from the global RNG (dropout), or a resumed
    # run, which starts its iterator after restoring the RNG states, would drift from an uninterrupted one
    generator = torch.Generator().manual_seed(config.seed)
    common = dict(collate_fn=collate, num_workers=data.num_workers, generator=generator)
    if isinstance(train, IterableDataset):  # shuffled through a buffer, reshuffled each epoch by set_epoch
        train = train.shuffle(seed=config.seed, buffer_size=data.shuffle_buffer)
        train_loader = DataLoader(train, batch_size=config.batch_size, drop_last=True, **common)
    else:
        sampler = LengthGroupedBatchSampler.from_dataset(
            train,
            config.batch_size,
            drop_last=True,
            seed=config.seed,
            megabatch_size=50 if data.length_grouped else 1,
        )
        if len(sampler) == 0:
            raise ValueError(f"the train split has {len(train)} clips, fewer than one batch of {config.batch_size}")
        train_loader = DataLoader(PoseRows(train), batch_sampler=sampler, **common)  # zero-copy rows: 2.3x faster
    validation_loader = None
    if validation is not None and len(validation) > 0:
        plain = SignCLIPCollator(processor, text_column=data.text_column)
        validation_loader = DataLoader(
            PoseRows(validation), batch_size=config.batch_size, shuffle=False, collate_fn=plain, num_workers=data.num_workers
        )
    return train_loader, validation_loader, collate


@torch.no_grad()
def validate(
    accelerator: Accelerator, model: torch.nn.Module, loader: DataLoader, chunk_size: int, prompts: list[str]
) -> dict[str, float]:
    """Validation loss and the paper's retrieval metrics (SignCLIP, Jiang et al. 2024: text->pose P@k,
    pose->text R@k) over the whole validation split.

    The loss is the contrastive loss (`signclip_loss`) in chunks of the global batch size (the same for any process count);
    retrieval scores every clip against the split's distinct prompts (`prompts`: each row's prompt, in order).
    """
    model.eval()
    poses, texts = [], []
    for batch in loader:
        outputs = model(**batch)
        pose, text = accelerator.gather_for_metrics((outputs.pose_embeds.float(), outputs.text_embeds.float()))
        poses.append(pose)
        texts.append(text)
    model.train()
    score = accelerator.unwrap_model(model).score
    pose, text = torch.cat(poses), torch.cat(texts)
    total, count = 0.0, 0
    for start in range(0, len(pose), chunk_size):
        size = len(pose[start : start + chunk_size])
        if size > 1:
            total += float(signclip_loss(score(pose[start : start + size], text[start : start + size]))) * size
            count += size
    distinct = list(dict.fromkeys(prompts))  # each prompt's text embedding is taken from its first row
    references = class_ids(prompts, distinct)
    first_rows = np.unique(references, return_index=True)[1]
    scores = score(pose, text[torch.from_numpy(first_rows)]).numpy()
    retrieval = retrieval_metrics(scores, references, ks=(1, 5, 10))
    metrics = {"validation_loss": total / max(count, 1)}
    metrics.update({f"validation_{name}": float(v) for name, v in retrieval.items() if name.startswith(("t2v", "v2t"))})
    return metrics


def _tracker_config(config: PretrainConfig) -> dict[str, Any]:
    """Flat scalar config for trackers (tensorboard hparams take no lists / None)."""
    flat: dict[str, Any] = {}
    for key, value in config.to_dict().items():
        for sub, leaf in (value.items() if isinstance(value, dict) else [("", value)]):
            flat[f"{key}.{sub}" if sub else key] = leaf if isinstance(leaf, (int, float, str, bool)) else str(leaf)
    return flat


def record_training_signers(model_config, train: Dataset | IterableDataset) -> None:
    """Store the signers of the training clips in the model config (`pretraining_signers`, together with those of a
    model it continues), so later evaluations can check they hold out unseen signers; unknown (streamed data, no
    `signer` column) removes the entry rather than leave an incomplete list."""
    previous = getattr(model_config, "pretraining_signers", [])
    if isinstance(train, Dataset) and "signer" in train.column_names and previous is not None:
        model_config.pretraining_signers = sorted(set(previous) | {str(s) for s in column_values(train, "signer")})
    else:
        model_config.pretraining_signers = None


def record_prompt_tags(processor: SignCLIPProcessor, train: Dataset | IterableDataset, text_column: str) -> None:
    """Save the language tags of the training prompts with the processor (`prompt_tags`), so that the warning for
    an untagged prompt names the tags this model was trained with; streamed data keeps the processor's."""
    if isinstance(train, Dataset) and text_column in train.column_names:
        tags = sorted({tag for tag in map(prompt_tag, dataset_prompts(train, text_column)) if tag})
        if tags:
            processor.prompt_tags = tags


class LossWindow:
    """The training loss and throughput since the last log record (validation and checkpoints not timed)."""

    def __init__(self, device: torch.device):
        self.total, self.batches, self.start = torch.zeros((), device=device), 0, time.perf_counter()

    def add(self, loss: torch.Tensor) -> None:
        self.total += loss.detach()
        self.batches += 1

    def record(self, accelerator: Accelerator, global_batch: int) -> dict[str, float]:
        """{loss (mean over processes and batches), clips_per_s}, then start a new window."""
        elapsed = time.perf_counter() - self.start
        record = {
            "loss": float(accelerator.reduce(self.total, "mean")) / self.batches,
            "clips_per_s": self.batches * global_batch / elapsed,
        }
        self.total.zero_()
        self.batches, self.start = 0, time.perf_counter()
        return record


@dataclass
class PretrainRun:
    """A pretraining run as `set_up` prepares it, advanced by `train_one_epoch` and closed by `finish`."""

    config: PretrainConfig
    accelerator: Accelerator
    model: torch.nn.Module
    processor: SignCLIPProcessor
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    train: Dataset | IterableDataset
    train_loader: DataLoader
    collate: SeededAugmentationCollator
    validation_loader: DataLoader | None
    validation_prompts: list[str]
    total_steps: int
    progress: TrainingProgress
    window: LossWindow
    bar: tqdm

    @property
    def global_batch(self) -> int:
        """Clips per step seen by the loss (negatives are gathered from every process)."""
        return self.config.batch_size * self.accelerator.num_processes

    @property
    def done(self) -> bool:
        config, progress = self.config, self.progress
        return progress.step >= self.total_steps or (config.max_steps is None and progress.epoch >= config.epochs)


def set_up(config: PretrainConfig, resume: str | None = None) -> PretrainRun:
    """Accelerator, model, data, optimizer and schedule, restored from a checkpoint when resuming."""
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=config.log_with,
        project_dir=config.output_dir,
        # streaming: each process reads its own share instead of the main process dispatching padded batches
        dataloader_config=DataLoaderConfiguration(dispatch_batches=False if config.data.streaming else None),
    )
    if config.log_with and not accelerator.log_with:
        raise ImportError(f"log_with={config.log_with!r}: that tracker's package is not installed (pip install it)")
    set_seed(config.seed)  # identical initial weights on every process
    model, processor = load_or_build(config.model.from_checkpoint, config.model.spec())
    if config.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    train, validation = load_training_data(config, accelerator)
    train_loader, validation_loader, collate = make_dataloaders(config, processor, train, validation)
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=config.optim.lr,
        betas=config.optim.betas,
        eps=config.optim.eps,
        weight_decay=config.optim.weight_decay,
        fused=config.optim.fused,
    )
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    validation_prompts = []
    if validation_loader is not None:
        validation_loader = accelerator.prepare(validation_loader)
        validation_prompts = dataset_prompts(validation, config.data.text_column)
    if config.max_steps is not None:
        total_steps = config.max_steps
    else:
        total_steps = config.epochs * math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    # not prepared: AcceleratedScheduler would step once per process; ours counts optimizer steps
    scheduler = get_scheduler(
        SCHEDULER_NAMES[config.optim.scheduler],
        optimizer,
        num_warmup_steps=config.optim.warmup_steps,
        num_training_steps=total_steps,
    )
    progress = TrainingProgress()  # saved with the scheduler as JSON: never `register_for_checkpointing` (pickle)
    checkpoint = resolve_resume_on_main_process(accelerator, resume, config.output_dir)
    if checkpoint is not None:
        with warnings.catch_warnings():  # every process checks the state fits; the main one says what differs
            if not accelerator.is_main_process:
                warnings.simplefilter("ignore")
            load_checkpoint(accelerator, checkpoint, progress, scheduler)
        accelerator.print(f"resumed from {checkpoint} at step {progress.step} (epoch {progress.epoch})")
    if accelerator.is_main_process:
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        Path(config.output_dir, "pretrain_config.json").write_text(json.dumps(config.to_dict(), indent=2))
    if config.log_with:
        accelerator.init_trackers("signclip_pretrain", config=_tracker_config(config))
    bar = tqdm(total=total_steps, initial=progress.step, desc="pretrain", disable=not accelerator.is_local_main_process)
    model.train()
    return PretrainRun(
        config, accelerator, model, processor, optimizer, scheduler, train, train_loader, collate,
        validation_loader, validation_prompts, total_steps, progress, LossWindow(accelerator.device), bar,
    )  # fmt: skip


def train_one_epoch(run: PretrainRun) -> None:
    """Train on the current epoch's remaining batches (all of them unless resumed mid-epoch), stopping
    early at the last step."""
    accelerator, model, progress = run.accelerator, run.model, run.progress
    run.train_loader.set_epoch(progress.epoch)
    run.collate.epoch = progress.epoch
    loader: Iterable = run.train_loader
    if progress.batches_in_epoch:
        loader = accelerator.skip_first_batches(run.train_loader, progress.batches_in_epoch)
    score = accelerator.unwrap_model(model).score
    max_grad_norm = run.config.optim.max_grad_norm
    for batch in loader:
        with accelerator.accumulate(model):
            outputs = model(**batch)
            loss = distributed_contrastive_loss(outputs.pose_embeds.float(), outputs.text_embeds.float(), score)
            accelerator.backward(loss)
            if accelerator.sync_gradients and max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
            run.optimizer.step()
            run.optimizer.zero_grad()
        progress.batches_in_epoch += 1
        run.window.add(loss)
        if accelerator.sync_gradients:
            end_step(run)
            if progress.step >= run.total_steps:
                return
    progress.epoch += 1
    progress.batches_in_epoch = 0
    if isinstance(run.train, IterableDataset) and progress.step == 0:
        raise ValueError("the streaming dataset yielded no full batch")


def end_step(run: PretrainRun) -> None:
    """After an optimizer step: schedule, then log, validate and checkpoint when their step comes."""
    config, accelerator, progress = run.config, run.accelerator, run.progress
    run.scheduler.step()
    progress.step += 1
    run.bar.update(1)
    record: dict[str, float] = {}
    if config.log_every and progress.step % config.log_every == 0:
        record.update(run.window.record(accelerator, run.global_batch), lr=run.scheduler.get_last_lr()[0])
        run.bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
    paused = time.perf_counter()  # validation and checkpoints do not count as training time
    if run.validation_loader is not None and config.eval_every and progress.step % config.eval_every == 0:
        record.update(validate(accelerator, run.model, run.validation_loader, run.global_batch, run.validation_prompts))
    if record:
        record.update(step=progress.step, epoch=progress.epoch)
        accelerator.log(record, step=progress.step)
        if accelerator.is_main_process:
            with Path(config.output_dir, LOG_FILE).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
    if config.checkpoint_every and progress.step % config.checkpoint_every == 0:
        save_checkpoint(accelerator, config.output_dir, progress, run.scheduler, config.keep_checkpoints)
    run.window.start += time.perf_counter() - paused


def finish(run: PretrainRun) -> Path:
    """Last checkpoint and validation; the model + processor + remote and pipeline code to OUTPUT_DIR/final."""
    config, accelerator, progress = run.config, run.accelerator, run.progress
    run.bar.close()
    if not (config.checkpoint_every and progress.step % config.checkpoint_every == 0):  # else just saved
        save_checkpoint(accelerator, config.output_dir, progress, run.scheduler, config.keep_checkpoints)
    if run.validation_loader is not None:
        metrics = validate(accelerator, run.model, run.validation_loader, run.global_batch, run.validation_prompts)
        accelerator.log(metrics, step=progress.step)
        accelerator.print(
            f"validation after {progress.step} steps: loss {metrics['validation_loss']:.4f}, "
            f"pose->text R@1 {metrics['validation_v2t_R@1']:.3f}, text->pose P@1 {metrics['validation_t2v_P@1']:.3f}"
        )
    final = Path(config.output_dir, "final")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:  # usable without this package
        model = accelerator.unwrap_model(run.model)
        record_training_signers(model.config, run.train)
        record_prompt_tags(run.processor, run.train, config.data.text_column)
        save_for_pipeline(model, run.processor, final)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def pretrain(config: PretrainConfig, resume: str | None = None) -> Path:
    """Train as configured (resuming from a checkpoint path or `"latest"`); returns OUTPUT_DIR/final."""
    run = set_up(config, resume)
    while not run.done:
        train_one_epoch(run)
    return finish(run)


__all__ = [
    "PretrainConfig",
    "PretrainRun",
    "TrainingProgress",
    "finish",
    "pretrain",
    "set_up",
    "train_one_epoch",
]
