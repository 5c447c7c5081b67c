"""`signclip-hf pretrain`: contrastive pretraining with Accelerate (one or many processes, resumable).

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

import argparse
import json
import math
import time
import warnings
import zlib
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from accelerate import Accelerator, DataLoaderConfiguration, PartialState
from accelerate.utils import set_seed
from datasets import Dataset, IterableDataset, concatenate_datasets
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from ..model_factory import load_or_build
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
from ..evaluation.protocols import class_ids
from ..metrics import load_metric
from ..modeling import SignCLIPProcessor, signclip_loss
from ..pipeline import save_for_pipeline
from .checkpoint import TrainingProgress, load_checkpoint, resolve_resume, save_checkpoint
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


def load_splits(config: PretrainConfig, accelerator: Accelerator) -> tuple[Dataset | IterableDataset, Dataset | None]:
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
        augmentation = PoseAugmentation(recipe(max_frames=processor.feature_extractor.max_frames))
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
    """Validation loss and SPEC §4 retrieval metrics over the whole validation split.

    The loss is the SPEC §3 loss in chunks of the global batch size (the same for any process count);
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
    retrieval = load_metric("retrieval").compute(predictions=scores, references=references, ks=(1, 5, 10))
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


def pretrain(config: PretrainConfig, resume: str | None = None) -> Path:
    """Train as configured (resuming from a checkpoint path or `"latest"`); returns OUTPUT_DIR/final."""
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
    train, validation = load_splits(config, accelerator)
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
    with warnings.catch_warnings():  # every process checks the checkpoints; the main one says what it skipped
        if not accelerator.is_main_process:
            warnings.simplefilter("ignore")
        checkpoint = resolve_resume(resume, config.output_dir)
        if checkpoint is not None:
            load_checkpoint(accelerator, checkpoint, progress, scheduler)
    if checkpoint is not None:
        accelerator.print(f"resumed from {checkpoint} at step {progress.step} (epoch {progress.epoch})")
    if accelerator.is_main_process:
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        Path(config.output_dir, "pretrain_config.json").write_text(json.dumps(config.to_dict(), indent=2))
    if config.log_with:
        accelerator.init_trackers("signclip_pretrain", config=_tracker_config(config))

    score = accelerator.unwrap_model(model).score
    global_batch = config.batch_size * accelerator.num_processes
    bar = tqdm(total=total_steps, initial=progress.step, desc="pretrain", disable=not accelerator.is_local_main_process)
    log_path = Path(config.output_dir, LOG_FILE)
    running_loss, running_batches, window_start = torch.zeros((), device=accelerator.device), 0, time.perf_counter()
    model.train()
    while progress.step < total_steps and (config.max_steps is not None or progress.epoch < config.epochs):
        train_loader.set_epoch(progress.epoch)
        collate.epoch = progress.epoch
        loader: Iterable = train_loader
        if progress.batches_in_epoch:
            loader = accelerator.skip_first_batches(train_loader, progress.batches_in_epoch)
        for batch in loader:
            with accelerator.accumulate(model):
                outputs = model(**batch)
                loss = distributed_contrastive_loss(outputs.pose_embeds.float(), outputs.text_embeds.float(), score)
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.optim.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.optim.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            progress.batches_in_epoch += 1
            running_loss += loss.detach()
            running_batches += 1
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            progress.step += 1
            bar.update(1)
            record: dict[str, float] = {}
            if config.log_every and progress.step % config.log_every == 0:
                elapsed = time.perf_counter() - window_start
                mean_loss = float(accelerator.reduce(running_loss, "mean")) / running_batches
                clips_per_s = running_batches * global_batch / elapsed
                record.update(loss=mean_loss, lr=scheduler.get_last_lr()[0], clips_per_s=clips_per_s)
                bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{record['lr']:.2e}")
                running_loss.zero_()
                running_batches, window_start = 0, time.perf_counter()
            paused = time.perf_counter()  # validation and checkpoints do not count as training time
            if validation_loader is not None and config.eval_every and progress.step % config.eval_every == 0:
                record.update(validate(accelerator, model, validation_loader, global_batch, validation_prompts))
            if record:
                record.update(step=progress.step, epoch=progress.epoch)
                accelerator.log(record, step=progress.step)
                if accelerator.is_main_process:
                    with log_path.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
            if config.checkpoint_every and progress.step % config.checkpoint_every == 0:
                save_checkpoint(accelerator, config.output_dir, progress, scheduler, config.keep_checkpoints)
            window_start += time.perf_counter() - paused
            if progress.step >= total_steps:
                break
        else:  # the epoch ran out
            progress.epoch += 1
            progress.batches_in_epoch = 0
            if isinstance(train, IterableDataset) and progress.step == 0:
                raise ValueError("the streaming dataset yielded no full batch")
    bar.close()

    if not (config.checkpoint_every and progress.step % config.checkpoint_every == 0):  # else just saved
        save_checkpoint(accelerator, config.output_dir, progress, scheduler, config.keep_checkpoints)
    if validation_loader is not None:
        metrics = validate(accelerator, model, validation_loader, global_batch, validation_prompts)
        accelerator.log(metrics, step=progress.step)
        accelerator.print(
            f"validation after {progress.step} steps: loss {metrics['validation_loss']:.4f}, "
            f"pose->text R@1 {metrics['validation_v2t_R@1']:.3f}, text->pose P@1 {metrics['validation_t2v_P@1']:.3f}"
        )
    final = Path(config.output_dir, "final")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:  # weights + processor + remote and pipeline code: usable without this package
        record_training_signers(accelerator.unwrap_model(model).config, train)
        save_for_pipeline(accelerator.unwrap_model(model), processor, final)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML file (see signclip_hf.training.config)")
    parser.add_argument(
        "--resume", default=None, metavar="CHECKPOINT|latest",
        help="continue from a checkpoint directory, or from the newest one in OUTPUT_DIR/checkpoints",
    )  # fmt: skip
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one config entry (value parsed as YAML), e.g. --set optim.lr=1e-4; repeatable",
    )  # fmt: skip
    parser.add_argument("--output-dir", default=None, help="shortcut for --set output_dir=...")


def run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides) + ([f"output_dir={args.output_dir}"] if args.output_dir else [])
    final = pretrain(PretrainConfig.from_yaml(args.config, overrides), resume=args.resume)
    if PartialState().is_main_process:
        print(f"final model: {final}")
    return 0


__all__ = ["PretrainConfig", "TrainingProgress", "pretrain", "add_arguments", "run"]
