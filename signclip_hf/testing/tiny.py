"""Tiny SignCLIP models for tests and examples: real classes, real tokenizer, seconds to build."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer

from ..model_factory import default_text_model
from ..modeling import SignCLIPConfig, SignCLIPFeatureExtractor, SignCLIPModel, SignCLIPProcessor, format_prompt


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


def train_on_glosses(
    model: SignCLIPModel, processor: SignCLIPProcessor, poses: list, glosses: list[str], steps: int = 80,
    learning_rate: float = 3e-3,
) -> SignCLIPModel:
    """Briefly train `model` (seconds) so that its scores mean something: full-batch steps of the SignCLIP loss's
    pose -> text direction over the distinct gloss prompts (`"<en> <ase> {gloss}"`), each clip's own gloss
    being the target. For tests of metrics and search on real clips."""
    names = sorted(set(glosses))
    inputs = processor(text=[format_prompt(name) for name in names], poses=poses, return_tensors="pt")
    targets = torch.tensor([names.index(gloss) for gloss in glosses])
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add contention on a shared CPU
    model.train()
    try:
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(model(**inputs).logits_per_pose, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()
