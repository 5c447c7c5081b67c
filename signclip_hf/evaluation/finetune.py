"""ISLR fine-tuning with `Trainer` (`signclip-hf finetune MODEL DATASET`).

The classifier is a `SignCLIPForVideoClassification` built from a SignCLIP checkpoint: the pose tower
(and projection) are copied, and the class weights are the gloss prompts' text embeddings (× the
temperature of a cosine model), so before the first step it predicts exactly what zero-shot does.
Training uses the shipped classification metric, keeps the best checkpoint (top-1 on the evaluation
split), stops early, augments the training clips only, and saves the model with `id2label` /
`label2id`, the processor and the pipeline code, so `AutoModelForVideoClassification.from_pretrained(out)`
and `pipeline(model=out, trust_remote_code=True)` give glosses.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from datasets import Dataset, DatasetDict
from transformers import AutoModel, AutoProcessor, EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.utils import logging
from transformers.trainer_utils import get_last_checkpoint

from ..model_factory import check_model_path
from ..data.collate import Augmentation, SignCLIPCollator
from ..metrics import load_metric
from ..modeling import SignCLIPForVideoClassification, SignCLIPModel, SignCLIPProcessor
from ..pipeline import save_for_pipeline
from .embed import embed_texts
from .score import score_scale
from .protocols import class_prompts, known_labels_only

logger = logging.get_logger(__name__)


@dataclass
class FinetuneConfig:
    """Training settings (the `TrainingArguments` that matter here, with ISLR defaults).

    `unknown_labels`: evaluation clips whose gloss is not in the training set are left out ("skip",
    with a warning and listed in `finetune_results.json`) or fail ("error").
    `resume`: continue from the last checkpoint in `output_dir` if there is one.
    """

    output_dir: str = "signclip-islr"
    num_train_epochs: float = 10.0
    max_steps: int = -1
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    warmup_steps: int = 0
    per_device_train_batch_size: int = 16
    per_device_eval_batch_size: int = 32
    gradient_accumulation_steps: int = 1
    early_stopping_patience: int = 3
    group_by_length: bool = True
    eval_on_start: bool = True
    augment: bool = True
    seed: int = 0
    logging_steps: int = 10
    save_total_limit: int = 2
    label_column: str = "label"
    text_column: str = "text"
    resume: bool = True
    unknown_labels: str = "skip"
    extra_training_args: dict = field(default_factory=dict)

    def training_arguments(self, has_eval: bool) -> TrainingArguments:
        strategy = "epoch" if has_eval else "no"
        return TrainingArguments(
            output_dir=self.output_dir,
            num_train_epochs=self.num_train_epochs,
            max_steps=self.max_steps,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps,
            per_device_train_batch_size=self.per_device_train_batch_size,
            per_device_eval_batch_size=self.per_device_eval_batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            eval_strategy=strategy,
            save_strategy="epoch" if has_eval else "steps",
            eval_on_start=self.eval_on_start and has_eval,
            load_best_model_at_end=has_eval,
            metric_for_best_model="top1_accuracy",
            greater_is_better=True,
            save_total_limit=self.save_total_limit,
            train_sampling_strategy="group_by_length" if self.group_by_length else "random",
            length_column_name="num_frames",
            remove_unused_columns=False,
            logging_steps=self.logging_steps,
            seed=self.seed,
            report_to="none",
            dataloader_pin_memory=torch.cuda.is_available(),
            **self.extra_training_args,
        )


@dataclass
class FinetuneResult:
    """The fine-tuned model (best checkpoint), where it was saved, its final evaluation and the log."""

    model: SignCLIPForVideoClassification
    output_dir: Path
    metrics: dict[str, float]
    log_history: list[dict]
    trainer: Trainer = field(repr=False)


def classifier_from_signclip(
    model: SignCLIPModel, processor: SignCLIPProcessor, class_names: Sequence[str], prompts: Sequence[str]
) -> SignCLIPForVideoClassification:
    """A `SignCLIPForVideoClassification` that starts as the zero-shot classifier over `prompts`."""
    config = copy.deepcopy(model.config)
    config.id2label = {i: str(name) for i, name in enumerate(class_names)}
    config.label2id = {str(name): i for i, name in enumerate(class_names)}
    config.architectures = [SignCLIPForVideoClassification.__name__]
    classifier = SignCLIPForVideoClassification(config)
    classifier.pose_model.load_state_dict(model.pose_model.state_dict())
    if model.pose_projection is not None:
        classifier.pose_projection.load_state_dict(model.pose_projection.state_dict())
    scale = score_scale(model)
    text_embeds = torch.from_numpy(embed_texts(model, processor, list(prompts)))
    classifier.init_classifier_from_text_embeds(text_embeds.to(classifier.classifier.weight.dtype), scale)
    return classifier


class ISLRTrainer(Trainer):
    """`Trainer` whose evaluation batches use `eval_data_collator` (no augmentation)."""

    def __init__(self, *args, eval_data_collator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_data_collator = eval_data_collator

    def _get_dataloader(
        self, dataset, description, batch_size, sampler_fn=None, is_training=False, dataloader_key=None
    ):
        if is_training or self.eval_data_collator is None:
            return super()._get_dataloader(dataset, description, batch_size, sampler_fn, is_training, dataloader_key)
        train_collator, self.data_collator = self.data_collator, self.eval_data_collator
        try:
            return super()._get_dataloader(dataset, description, batch_size, sampler_fn, is_training, dataloader_key)
        finally:
            self.data_collator = train_collator


def compute_metrics_fn():
    """`compute_metrics` for Trainer from the shipped classification metric (top-1/top-5/macro accuracy)."""
    metric = load_metric("classification")

    def compute_metrics(prediction) -> dict:
        return metric.compute(predictions=prediction.predictions, references=prediction.label_ids)

    return compute_metrics


def default_augmentation(processor: SignCLIPProcessor, seed: int) -> Augmentation:
    """The dataset module's full augmentation (stretch, affine, mirror, noise), seeded."""
    from ..data.augment import AugmentationConfig, PoseAugmentation

    return PoseAugmentation(AugmentationConfig(max_frames=processor.feature_extractor.max_frames, seed=seed))


def finetune(
    model: str | os.PathLike | SignCLIPModel,
    train_dataset: Dataset,
    eval_dataset: Dataset | None = None,
    config: FinetuneConfig | None = None,
    processor: SignCLIPProcessor | None = None,
    augmentation: Augmentation | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> FinetuneResult:
    """Fine-tune an ISLR classifier over the training set's glosses; save it (+ processor) to `output_dir`.

    Args:
        model: a SignCLIP model directory (loaded with `AutoModel`) or a `SignCLIPModel`.
        eval_dataset: held-out clips (e.g. other signers) for best-checkpoint selection and early stopping.
        processor: defaults to the model directory's processor.
        augmentation: training-only augmentation; default `PoseAugmentation` when `config.augment`.
    """
    config = config or FinetuneConfig()
    if not isinstance(model, SignCLIPModel):
        processor = processor or AutoProcessor.from_pretrained(model)
        model = AutoModel.from_pretrained(model)
    if processor is None:
        raise ValueError("give the processor when passing a model object")
    class_names, prompts = class_prompts(train_dataset, config.label_column, config.text_column)
    skipped: list[str] = []
    if eval_dataset is not None:
        eval_dataset, skipped = known_labels_only(eval_dataset, class_names, config.label_column, config.unknown_labels)
        if skipped:
            logger.warning(f"evaluation clips of glosses absent from the training set are left out: {skipped}")
    classifier = classifier_from_signclip(model, processor, class_names, prompts)
    label2id = classifier.config.label2id
    if augmentation is None and config.augment:
        augmentation = default_augmentation(processor, config.seed)
    trainer = ISLRTrainer(
        model=classifier,
        args=config.training_arguments(has_eval=eval_dataset is not None),
        train_dataset=train_dataset.with_format("numpy"),
        eval_dataset=eval_dataset.with_format("numpy") if eval_dataset is not None else None,
        data_collator=SignCLIPCollator(processor, augmentation, text_column=None, label_column=config.label_column,
                                       label2id=label2id),
        eval_data_collator=SignCLIPCollator(processor, text_column=None, label_column=config.label_column,
                                            label2id=label2id),
        compute_metrics=compute_metrics_fn(),
        callbacks=[
            *([EarlyStoppingCallback(config.early_stopping_patience)] if eval_dataset is not None else []),
            *callbacks,
        ],
    )
    last = get_last_checkpoint(config.output_dir) if config.resume and os.path.isdir(config.output_dir) else None
    trainer.train(resume_from_checkpoint=last)
    metrics = trainer.evaluate() if eval_dataset is not None else {}
    output_dir = save_for_pipeline(trainer.model, processor, config.output_dir)
    (output_dir / "finetune_results.json").write_text(
        json.dumps({"metrics": metrics, "config": asdict(config), "class_names": class_names,
                    "skipped_eval_labels": skipped}, indent=2)
    )
    return FinetuneResult(trainer.model, output_dir, metrics, trainer.state.log_history, trainer)


def load_splits(path: str, train_split: str, eval_split: str | None) -> tuple[Dataset, Dataset | None]:
    """(train, eval) from a saved DatasetDict (`build-dataset` output)."""
    from ..data.build import load_saved

    dataset = load_saved(path)
    if not isinstance(dataset, DatasetDict):
        raise ValueError(f"{path}: expected a dataset with splits (build it with --signer-split or a split column)")
    for name in (train_split, eval_split):
        if name is not None and name not in dataset:
            raise ValueError(f"{path}: no split {name!r}; splits: {list(dataset)}")
    return dataset[train_split], dataset[eval_split] if eval_split else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="SignCLIP model directory")
    parser.add_argument("dataset", help="saved dataset with splits (signclip-hf build-dataset)")
    parser.add_argument("--output", required=True, help="directory for the fine-tuned model")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--eval-split", default="test", help="held-out split for checkpoint selection ('' for none)")
    defaults = FinetuneConfig()
    parser.add_argument("--epochs", type=float, default=defaults.num_train_epochs)
    parser.add_argument("--max-steps", type=int, default=defaults.max_steps)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--batch-size", type=int, default=defaults.per_device_train_batch_size)
    parser.add_argument("--gradient-accumulation-steps", type=int, default=defaults.gradient_accumulation_steps)
    parser.add_argument("--early-stopping-patience", type=int, default=defaults.early_stopping_patience)
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--label-column", default=defaults.label_column)


def run(args: argparse.Namespace) -> int:
    check_model_path(args.model)  # a missing directory fails now, not after a Hub lookup
    train, evaluation = load_splits(args.dataset, args.train_split, args.eval_split or None)
    config = FinetuneConfig(
        output_dir=args.output,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        early_stopping_patience=args.early_stopping_patience,
        augment=not args.no_augment,
        seed=args.seed,
        label_column=args.label_column,
    )
    result = finetune(args.model, train, evaluation, config)
    for key, value in result.metrics.items():
        print(f"{key:>28}  {value:.4f}" if isinstance(value, float) else f"{key:>28}  {value}")
    print(f"saved the fine-tuned model and processor to {result.output_dir}")
    return 0


__all__ = ["FinetuneConfig", "FinetuneResult", "classifier_from_signclip", "finetune", "compute_metrics_fn"]
