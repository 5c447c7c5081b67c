"""ISLR fine-tuning with `Trainer` (`signclip-hf finetune MODEL DATASET`).

The classifier is a `SignCLIPForVideoClassification` built from a SignCLIP checkpoint: the pose tower
(and projection) are copied, and the class weights are the gloss prompts' text embeddings (× the
temperature of a cosine model), so before the first step it predicts exactly what zero-shot does.
Training uses the shipped classification metric, keeps the best checkpoint (top-1 on the evaluation
split), stops early, augments the training clips only, and saves the model with `id2label` /
`label2id`, the processor and the pipeline code, so `AutoModelForVideoClassification.from_pretrained(out)`
and `pipeline(model=out, trust_remote_code=True)` give glosses.

For training on few signers (defaults chosen with benchmarks/unseen_signers.py, grouped k-fold over whole
signers): label smoothing 0.1 (`TrainingArguments.label_smoothing_factor`, Trainer's `LabelSmoother` on the
classifier's logits, normalized by `num_items_in_batch` as the model's own loss) and layer-wise lr decay 0.8
(`FinetuneArguments.layer_lr_decay`: smaller steps for lower pose layers, `layerwise_learning_rates`).
`FinetuneArguments.wise_ft_alpha` interpolates the saved weights back toward the zero-shot classifier (WiSE-FT;
off by default: it lowered top-1 on unseen signers there). `FinetuneArguments.keep_zero_shot` (on by default)
makes the zero-shot classifier a candidate checkpoint: `Trainer` picks the best of the fine-tuned checkpoints,
and the starting point competes with it on the same evaluation split (after a strongly pretrained model,
fine-tuning on a few signers can lose on new people).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import torch
from datasets import Dataset
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging

from ..data.collate import Augmentation, SignCLIPCollator
from ..data.labels import class_prompts, known_labels_only
from ..embedding import embed_texts, score_scale
from ..loading import load_model
from ..metric_functions import classification_metrics
from ..modeling import SignCLIPForVideoClassification, SignCLIPModel, SignCLIPProcessor
from ..pipeline import save_for_pipeline
from .typed_config import flat_values, split_fields

logger = logging.get_logger(__name__)


@dataclass
class FinetuneArguments:
    """What fine-tuning needs beyond `TrainingArguments` (read together with them by `finetune_arguments`, as
    `HfArgumentParser` does in transformers' `examples/pytorch/image-classification/run_image_classification.py`).

    `unknown_labels`: evaluation clips whose gloss is not in the training set are left out ("skip",
    with a warning and listed in `finetune_results.json`) or fail ("error").
    """

    label_column: str = field(default="label", metadata={"help": "column of gloss names (the classes)"})
    text_column: str = field(default="text", metadata={"help": "column of the prompts the classifier starts from"})
    augment: bool = field(default=True, metadata={"help": "augment the training clips (PoseAugmentation)"})
    early_stopping_patience: int = field(default=3, metadata={"help": "evaluations without improvement"})
    unknown_labels: Literal["skip", "error"] = field(
        default="skip", metadata={"help": "evaluation clips of glosses unseen in training"}
    )
    resume: bool = field(default=True, metadata={"help": "continue from the last checkpoint in output_dir"})
    layer_lr_decay: float = field(
        default=0.8, metadata={"help": "layer-wise learning-rate decay (1.0: off): pose layer i of L trains at "
                               "learning_rate * layer_lr_decay ** (L - i)"}
    )
    wise_ft_alpha: float = field(
        default=1.0, metadata={"help": "weight-space ensemble with the zero-shot classifier (WiSE-FT): the saved "
                               "weights are zero_shot + alpha * (fine_tuned - zero_shot); 1.0: the fine-tuned model"}
    )

    keep_zero_shot: bool = field(
        default=True, metadata={"help": "the zero-shot classifier (the starting weights) competes with the best "
                                "fine-tuned checkpoint on the evaluation split; the better one is saved (a tie "
                                "keeps the zero-shot classifier). Needs an evaluation split"}
    )

    def __post_init__(self):
        if not 0.0 <= self.wise_ft_alpha <= 1.0:
            raise ValueError(f"wise_ft_alpha must be in [0, 1], got {self.wise_ft_alpha}")


def training_defaults() -> dict[str, Any]:
    """This package's `TrainingArguments` defaults for ISLR (the CLI's defaults too; flags override them):
    evaluate and save every epoch, keep the best top-1 checkpoint, batch clips of similar length, smooth the
    labels (0.1: better on signers absent from training, benchmarks/unseen_signers.py)."""
    return dict(
        num_train_epochs=10.0,
        learning_rate=5e-5,
        label_smoothing_factor=0.1,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        eval_strategy="epoch",
        save_strategy="epoch",
        eval_on_start=True,
        load_best_model_at_end=True,
        metric_for_best_model="top1_accuracy",
        greater_is_better=True,
        save_total_limit=2,
        train_sampling_strategy="group_by_length",
        length_column_name="num_frames",
        remove_unused_columns=False,
        logging_steps=10,
        seed=0,
        report_to="none",
        dataloader_pin_memory=torch.cuda.is_available(),
    )


def training_arguments(output_dir: str = "signclip-islr", **overrides: Any) -> TrainingArguments:
    """`TrainingArguments` with `training_defaults()`, each overridable (`num_train_epochs=2`, ...)."""
    return TrainingArguments(output_dir=output_dir, **{**training_defaults(), **overrides})


def without_evaluation(args: TrainingArguments) -> TrainingArguments:
    """`args` for a run with no evaluation split: no evaluation and no best-checkpoint selection, saves every
    `save_steps` (a copy; `args` itself is unchanged)."""
    if args.eval_strategy == "no" and not (args.eval_on_start or args.load_best_model_at_end):
        return args
    return dataclasses.replace(
        args, eval_strategy="no", eval_on_start=False, load_best_model_at_end=False, save_strategy="steps"
    )


@dataclass
class FinetuneResult:
    """The fine-tuned model (best checkpoint), where it was saved, its final evaluation and the log."""

    model: SignCLIPForVideoClassification
    output_dir: Path
    metrics: dict[str, float]
    log_history: list[dict]
    trainer: Trainer = field(repr=False)
    selection: dict | None = None  # `zero_shot_candidate`'s comparison, when `keep_zero_shot` ran


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


def weight_space_ensemble(
    zero_shot: dict[str, torch.Tensor], fine_tuned: dict[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """WiSE-FT (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022): the state dict
    `zero_shot + alpha * (fine_tuned - zero_shot)` of two state dicts of one architecture. Fine-tuning
    on a few signers moves the weights toward those people; interpolating back toward the zero-shot
    classifier (which fine-tuning starts from, `classifier_from_signclip`) can keep more of the pretrained
    model's robustness on new people."""
    return {
        name: torch.lerp(zero_shot[name].to(value.dtype), value, alpha) if value.is_floating_point() else value
        for name, value in fine_tuned.items()
    }


def layerwise_learning_rates(
    model: SignCLIPForVideoClassification, learning_rate: float, decay: float
) -> dict[str, float]:
    """Each trainable parameter's learning rate with layer-wise decay (as BEiT and ELECTRA fine-tune): the
    classifier and projection at `learning_rate`, pose layer i of L at `learning_rate * decay ** (L - i)`, the
    frame tokenizer and embeddings at `learning_rate * decay ** (L + 1)`; the lower a layer, the less
    fine-tuning on a few signers moves its pretrained features."""
    num_layers = model.config.pose_config.num_hidden_layers
    rates = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if not name.startswith("pose_model."):
            depth = 0  # classifier, projection
        elif ".encoder.layer." in name:
            depth = num_layers - int(name.split(".encoder.layer.")[1].split(".")[0])
        else:
            depth = num_layers + 1  # frame tokenizer, embeddings
        rates[name] = learning_rate * decay**depth
    return rates


class ISLRTrainer(Trainer):
    """`Trainer` whose evaluation batches use `eval_data_collator` (no augmentation) and whose optimizer
    trains the layers at `layerwise_learning_rates` when `layer_lr_decay` is not 1."""

    def __init__(self, *args, eval_data_collator=None, layer_lr_decay: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_data_collator = eval_data_collator
        self.layer_lr_decay = layer_lr_decay

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        """`args.optim` over parameter groups of one learning rate each (highest first, the one Trainer logs),
        split as Trainer does into weight-decayed parameters and the rest (biases, LayerNorms)."""
        if self.layer_lr_decay == 1.0 or self.optimizer is not None:
            return super().create_optimizer(model)
        model = self.model if model is None else model
        rates = layerwise_learning_rates(model, self.args.learning_rate, self.layer_lr_decay)
        decayed = set(self.get_decay_parameter_names(model))
        groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
        for name, parameter in model.named_parameters():
            if name in rates:
                weight_decay = self.args.weight_decay if name in decayed else 0.0
                groups.setdefault((rates[name], weight_decay), []).append(parameter)
        optimizer_cls, optimizer_kwargs = self.optimizer_cls_and_kwargs or self.get_optimizer_cls_and_kwargs(
            self.args, model
        )
        if {"params", "model", "optimizer_dict"} & optimizer_kwargs.keys():
            raise ValueError(f"layer_lr_decay needs an optimizer over parameter groups; optim={self.args.optim} "
                             "builds its own")
        parameter_groups = [
            {"params": params, "lr": lr, "weight_decay": weight_decay}
            for (lr, weight_decay), params in sorted(groups.items(), key=lambda item: -item[0][0])
        ]
        self.optimizer = optimizer_cls(parameter_groups, **optimizer_kwargs)
        return self.optimizer

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

    def compute_metrics(prediction) -> dict:
        return classification_metrics(prediction.predictions, prediction.label_ids)

    return compute_metrics


def default_augmentation(processor: SignCLIPProcessor, seed: int) -> Augmentation:
    """The dataset module's full augmentation (stretch, affine, mirror, noise), seeded."""
    from ..data.augment import AugmentationConfig, PoseAugmentation

    return PoseAugmentation(AugmentationConfig(seed=seed), processor.feature_extractor)


def finetune(
    model: str | os.PathLike | SignCLIPModel,
    train_dataset: Dataset,
    eval_dataset: Dataset | None = None,
    args: FinetuneArguments | None = None,
    training_args: TrainingArguments | None = None,
    processor: SignCLIPProcessor | None = None,
    augmentation: Augmentation | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> FinetuneResult:
    """Fine-tune an ISLR classifier over the training set's glosses; save it (+ processor) to `output_dir`.

    Args:
        model: a SignCLIP model (a local directory or a Hub repo id, read with `loading.load_model`) or a
            `SignCLIPModel`.
        eval_dataset: held-out clips (e.g. other signers) for best-checkpoint selection and early stopping;
            without it, `training_args` run `without_evaluation`.
        training_args: default `training_arguments()` (this package's defaults).
        processor: defaults to the model directory's processor.
        augmentation: training-only augmentation; default `PoseAugmentation` when `args.augment`.
    """
    args = args or FinetuneArguments()
    training_args = training_args or training_arguments()
    if eval_dataset is None:
        training_args = without_evaluation(training_args)
    if not isinstance(model, SignCLIPModel):
        model, saved_processor = load_model(model)
        processor = processor or saved_processor
    if processor is None:
        raise ValueError("give the processor when passing a model object")
    class_names, prompts = class_prompts(train_dataset, args.label_column, args.text_column)
    skipped: list[str] = []
    if eval_dataset is not None:
        eval_dataset, skipped = known_labels_only(eval_dataset, class_names, args.label_column, args.unknown_labels)
        if skipped:
            logger.warning(f"evaluation clips of glosses absent from the training set are left out: {skipped}")
    classifier = classifier_from_signclip(model, processor, class_names, prompts)
    # the starting weights, kept only for WiSE-FT and the zero-shot candidate
    keep_candidate = args.keep_zero_shot and eval_dataset is not None
    zero_shot_state = (
        {name: value.detach().clone() for name, value in classifier.state_dict().items()}
        if args.wise_ft_alpha != 1.0 or keep_candidate else None
    )
    label2id = classifier.config.label2id
    if augmentation is None and args.augment:
        augmentation = default_augmentation(processor, training_args.seed)
    trainer = ISLRTrainer(
        model=classifier,
        args=training_args,
        train_dataset=train_dataset.with_format("numpy"),
        eval_dataset=eval_dataset.with_format("numpy") if eval_dataset is not None else None,
        data_collator=SignCLIPCollator(processor, augmentation, text_column=None, label_column=args.label_column,
                                       label2id=label2id),
        eval_data_collator=SignCLIPCollator(processor, text_column=None, label_column=args.label_column,
                                            label2id=label2id),
        compute_metrics=compute_metrics_fn(),
        layer_lr_decay=args.layer_lr_decay,
        callbacks=[
            *([EarlyStoppingCallback(args.early_stopping_patience)] if eval_dataset is not None else []),
            *callbacks,
        ],
    )
    output_dir = training_args.output_dir
    last = get_last_checkpoint(output_dir) if args.resume and os.path.isdir(output_dir) else None
    trainer.train(resume_from_checkpoint=last)
    if args.wise_ft_alpha != 1.0:
        fine_tuned = trainer.model.state_dict()
        trainer.model.load_state_dict(weight_space_ensemble(zero_shot_state, fine_tuned, args.wise_ft_alpha))
    metrics = trainer.evaluate() if eval_dataset is not None else {}
    selection = None
    if keep_candidate:
        selection = zero_shot_candidate(trainer, zero_shot_state, metrics)
        if selection["selected"] == "zero-shot":
            metrics = selection["zero_shot_metrics"]
    saved = save_for_pipeline(trainer.model, processor, output_dir)
    (saved / "finetune_results.json").write_text(
        json.dumps({"metrics": metrics, "finetune_arguments": asdict(args),
                    "training_arguments": training_args.to_dict(), "class_names": class_names,
                    "skipped_eval_labels": skipped,
                    "checkpoint_selection": {k: v for k, v in selection.items() if k != "zero_shot_metrics"}
                    if selection else None}, indent=2)
    )
    return FinetuneResult(trainer.model, saved, metrics, trainer.state.log_history, trainer, selection)


def zero_shot_candidate(trainer: Trainer, zero_shot_state: dict[str, torch.Tensor], metrics: dict) -> dict:
    """Compare the fine-tuned model in `trainer` (its evaluation `metrics`) with the zero-shot classifier it
    started from (`zero_shot_state`) on the same evaluation split and `metric_for_best_model`; load the winner
    into `trainer.model` (a tie keeps the zero-shot classifier: the same score with no fitting to the training
    signers). The zero-shot score is the `eval_on_start` evaluation (step 0) of the log when there is one,
    else the classifier is evaluated here. Returns {"selected": "zero-shot" | "fine-tuned", "metric",
    "zero_shot", "fine_tuned", "zero_shot_metrics"}."""
    args = trainer.args
    name = args.metric_for_best_model or "loss"
    key = name if name.startswith("eval_") else f"eval_{name}"
    at_start = [h for h in trainer.state.log_history if h.get("step") == 0 and key in h]
    if at_start:
        zero_shot_metrics = {k: v for k, v in at_start[0].items() if k.startswith("eval_")}
    else:
        fine_tuned_state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        trainer.model.load_state_dict(zero_shot_state)
        zero_shot_metrics = trainer.evaluate(metric_key_prefix="eval")
        trainer.model.load_state_dict(fine_tuned_state)
    zero, tuned = zero_shot_metrics[key], metrics[key]
    greater = args.greater_is_better if args.greater_is_better is not None else not name.endswith("loss")
    selected = "zero-shot" if (zero >= tuned if greater else zero <= tuned) else "fine-tuned"
    if selected == "zero-shot":
        trainer.model.load_state_dict(zero_shot_state)
    logger.info(f"checkpoint selection on {key}: zero-shot {zero:.4f}, fine-tuned {tuned:.4f} -> {selected}")
    return {"selected": selected, "metric": key, "zero_shot": zero, "fine_tuned": tuned,
            "zero_shot_metrics": zero_shot_metrics}


def finetune_arguments(
    output_dir: str | os.PathLike,
    config: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    **values: Any,
) -> tuple[FinetuneArguments, TrainingArguments]:
    """`FinetuneArguments` and `TrainingArguments` (with `training_defaults()`) from a flat YAML file of their
    fields (`config`), then `key=value` overrides (values parsed as YAML), then `values`; every key and value is
    checked by name and type before anything is built (`typed_config`)."""
    classes = (FinetuneArguments, TrainingArguments)
    own, training = split_fields({**flat_values(config, overrides, classes), **values}, classes, "finetune arguments")
    training.pop("output_dir", None)  # the directory given
    return FinetuneArguments(**own), training_arguments(str(output_dir), **training)


__all__ = [
    "FinetuneArguments",
    "FinetuneResult",
    "classifier_from_signclip",
    "compute_metrics_fn",
    "finetune",
    "finetune_arguments",
    "layerwise_learning_rates",
    "training_arguments",
    "training_defaults",
    "weight_space_ensemble",
    "without_evaluation",
    "zero_shot_candidate",
]
