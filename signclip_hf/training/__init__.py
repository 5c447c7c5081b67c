"""Training: contrastive pretraining with Accelerate (config, the cross-process loss, the training loop) and
ISLR fine-tuning with `Trainer`."""

from .config import DataConfig, ModelConfig, OptimConfig, PretrainConfig
from .finetune import (
    FinetuneArguments,
    FinetuneResult,
    classifier_from_signclip,
    finetune,
    finetune_arguments,
    training_arguments,
)
from .loss import distributed_contrastive_loss, gather_with_grad
from .pretrain import pretrain  # the function (the module stays importable as signclip_hf.training.pretrain)

__all__ = [
    "DataConfig",
    "FinetuneArguments",
    "FinetuneResult",
    "ModelConfig",
    "OptimConfig",
    "PretrainConfig",
    "classifier_from_signclip",
    "distributed_contrastive_loss",
    "finetune",
    "finetune_arguments",
    "gather_with_grad",
    "pretrain",
    "training_arguments",
]
