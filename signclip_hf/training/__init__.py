"""Contrastive pretraining with Accelerate: config, the cross-process loss, the training loop."""

from .config import DataConfig, ModelConfig, OptimConfig, PretrainConfig
from .loss import distributed_contrastive_loss, gather_with_grad
from .pretrain import pretrain  # the function; the CLI module stays importable as signclip_hf.training.pretrain

__all__ = [
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "PretrainConfig",
    "distributed_contrastive_loss",
    "gather_with_grad",
    "pretrain",
]
