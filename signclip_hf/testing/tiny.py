"""Tiny SignCLIP models for tests and examples: real classes, real tokenizer, seconds to build."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer

from ..build import default_text_model
from ..modeling import SignCLIPConfig, SignCLIPFeatureExtractor, SignCLIPModel, SignCLIPProcessor


def tiny_config(hidden_size: int = 32, layers: int = 1, **overrides) -> SignCLIPConfig:
    """A SignCLIPConfig with small towers; the text vocabulary matches the offline MiniLM tokenizer."""
    tower = dict(hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=2 * hidden_size)
    fields = dict(pose_config=dict(tower, vocab_size=128), text_config=dict(tower, model_type="bert", vocab_size=30522))
    fields.update(overrides)
    return SignCLIPConfig(**fields)


def tiny_processor(**feature_extractor_kwargs) -> SignCLIPProcessor:
    return SignCLIPProcessor(
        SignCLIPFeatureExtractor(**feature_extractor_kwargs), AutoTokenizer.from_pretrained(default_text_model())
    )


def tiny_model(seed: int = 0, **config_overrides) -> SignCLIPModel:
    torch.manual_seed(seed)
    return SignCLIPModel(tiny_config(**config_overrides)).eval()


def save_tiny(directory: str | Path, seed: int = 0, **config_overrides) -> Path:
    """Save a tiny model + processor (with remote code) to `directory`."""
    directory = Path(directory)
    tiny_model(seed, **config_overrides).save_pretrained(directory)
    tiny_processor().save_pretrained(directory)
    return directory
