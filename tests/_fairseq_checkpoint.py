"""Test helpers: a tiny random checkpoint in the released fairseq layout, and SPEC §2 written out by hand.

`reference_pose_embedding` / `reference_text_embedding` compute SignCLIP's embeddings straight from the
raw checkpoint tensors with plain torch ops (no transformers modules), so the converter is checked
against an independent reading of SPEC §2 rather than against itself.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

PREFIX = "mmmodel."
HEAD_SIZE = 16  # tiny towers: hidden 32 -> 2 heads


def _bert_tensors(
    prefix: str, hidden: int, intermediate: int, layers: int, vocab: int, positions: int, gen: torch.Generator
) -> dict:
    def rand(*shape, std=0.15):
        return torch.randn(*shape, generator=gen) * std

    def norm(name):
        return {f"{name}.weight": 1 + rand(hidden, std=0.1), f"{name}.bias": rand(hidden, std=0.1)}

    def linear(name, out_features, in_features):
        return {f"{name}.weight": rand(out_features, in_features), f"{name}.bias": rand(out_features, std=0.05)}

    state = {
        f"{prefix}embeddings.word_embeddings.weight": rand(vocab, hidden, std=0.5),
        f"{prefix}embeddings.position_embeddings.weight": rand(positions, hidden, std=0.3),
        f"{prefix}embeddings.token_type_embeddings.weight": rand(2, hidden, std=0.3),
        f"{prefix}embeddings.position_ids": torch.arange(positions).unsqueeze(0),  # transformers 3.x buffer
        **norm(f"{prefix}embeddings.LayerNorm"),
        **linear(f"{prefix}pooler.dense", hidden, hidden),
    }
    for i in range(layers):
        layer = f"{prefix}encoder.layer.{i}."
        for name in ("query", "key", "value"):
            state.update(linear(f"{layer}attention.self.{name}", hidden, hidden))
        state.update(linear(f"{layer}attention.output.dense", hidden, hidden))
        state.update(norm(f"{layer}attention.output.LayerNorm"))
        state.update(linear(f"{layer}intermediate.dense", intermediate, hidden))
        state.update(linear(f"{layer}output.dense", hidden, intermediate))
        state.update(norm(f"{layer}output.LayerNorm"))
    return state


def make_fairseq_checkpoint(
    path: str | Path,
    input_dim: int = 609,
    hidden: int = 32,
    intermediate: int = 64,
    pose_layers: int = 2,
    text_layers: int = 1,
    pose_vocab: int = 128,
    text_vocab: int = 30522,
    projection_dim: int | None = None,
    extra: dict | None = None,
    seed: int = 0,
    cfg: dict | argparse.Namespace | None = None,
) -> dict[str, torch.Tensor]:
    """Write a random fp16 checkpoint shaped like the released one (SPEC §2); return its model tensors.

    `cfg` replaces the stored training config (default: a Namespace stating no head count).
    """
    gen = torch.Generator().manual_seed(seed)
    model = {
        f"{PREFIX}video_encoder.videomlp.linear1.weight": torch.randn(hidden, input_dim, generator=gen) * 0.1,
        f"{PREFIX}video_encoder.videomlp.linear1.bias": torch.randn(hidden, generator=gen) * 0.1,
        f"{PREFIX}video_encoder.videomlp.LayerNorm.weight": 1 + torch.randn(hidden, generator=gen) * 0.1,
        f"{PREFIX}video_encoder.videomlp.LayerNorm.bias": torch.randn(hidden, generator=gen) * 0.1,
        f"{PREFIX}video_encoder.videomlp.linear2.weight": torch.randn(hidden, hidden, generator=gen) * 0.2,
        f"{PREFIX}video_encoder.videomlp.linear2.bias": torch.randn(hidden, generator=gen) * 0.1,
    }
    model.update(_bert_tensors(f"{PREFIX}video_encoder.bert.", hidden, intermediate, pose_layers, pose_vocab, 512, gen))
    model.update(_bert_tensors(f"{PREFIX}text_encoder.", hidden, intermediate, text_layers, text_vocab, 512, gen))
    if projection_dim is not None:
        for side in ("video", "text"):
            model[f"{PREFIX}{side}_projection.linear.weight"] = torch.randn(projection_dim, hidden, generator=gen) * 0.2
    model.update(extra or {})
    model = {k: v.half() if v.is_floating_point() else v for k, v in model.items()}
    checkpoint = {
        "cfg": cfg if cfg is not None else argparse.Namespace(
            task="mmtask", arch="mmarch", lr=[5e-05], fp16=True, max_epoch=25
        ),
        "model": model,
        "optimizer_history": [{"criterion_name": "MMCriterion", "optimizer_name": "FairseqAdam", "num_updates": 7}],
        "last_optimizer_state": {"state": {0: {"step": 7, "exp_avg": torch.zeros(3)}}, "param_groups": [{"lr": 5e-5}]},
        "extra_state": {"epoch": 1, "train_iterator": {"epoch": 1, "iterations_in_epoch": 7}, "val_loss": 1.5},
    }
    torch.save(checkpoint, path)
    return {k.removeprefix(PREFIX): v.float() for k, v in model.items()}


# ----- SPEC §2 by hand -----


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def _dense(x: torch.Tensor, sd: dict, name: str) -> torch.Tensor:
    return x @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]


def _bert_encoder(
    sd: dict, prefix: str, embeds: torch.Tensor, position_ids: torch.Tensor, head_size: int = HEAD_SIZE
) -> torch.Tensor:
    """One unpadded sequence (L, H) of input embeddings -> last hidden states (L, H); BERT eps 1e-12."""
    eps = 1e-12
    x = embeds + sd[f"{prefix}embeddings.position_embeddings.weight"][position_ids]
    x = x + sd[f"{prefix}embeddings.token_type_embeddings.weight"][0]
    x = _layer_norm(x, sd[f"{prefix}embeddings.LayerNorm.weight"], sd[f"{prefix}embeddings.LayerNorm.bias"], eps)
    length, hidden = x.shape
    heads = hidden // head_size
    i = 0
    while f"{prefix}encoder.layer.{i}.attention.self.query.weight" in sd:
        layer = f"{prefix}encoder.layer.{i}."
        q, k, v = (
            _dense(x, sd, f"{layer}attention.self.{n}").reshape(length, heads, head_size).transpose(0, 1)
            for n in ("query", "key", "value")
        )
        probs = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(head_size), dim=-1)
        context = (probs @ v).transpose(0, 1).reshape(length, hidden)
        attended = _layer_norm(
            _dense(context, sd, f"{layer}attention.output.dense") + x,
            sd[f"{layer}attention.output.LayerNorm.weight"], sd[f"{layer}attention.output.LayerNorm.bias"], eps,
        )
        inner = _gelu(_dense(attended, sd, f"{layer}intermediate.dense"))
        x = _layer_norm(
            _dense(inner, sd, f"{layer}output.dense") + attended,
            sd[f"{layer}output.LayerNorm.weight"], sd[f"{layer}output.LayerNorm.bias"], eps,
        )
        i += 1
    return x


def reference_pose_embedding(
    sd: dict, features: torch.Tensor, max_frames: int = 256, head_size: int = HEAD_SIZE
) -> torch.Tensor:
    """(T, input_dim) features -> embedding: MLP tokens in [CLS]/[SEP], SEP at max_frames+1, mean over frames+SEP."""
    m = "video_encoder.videomlp."
    activated = _gelu(_dense(features, sd, f"{m}linear1"))
    hidden = _layer_norm(activated, sd[f"{m}LayerNorm.weight"], sd[f"{m}LayerNorm.bias"], 1e-5)
    tokens = _dense(hidden, sd, f"{m}linear2")
    words = sd["video_encoder.bert.embeddings.word_embeddings.weight"]
    embeds = torch.cat([words[101:102], tokens, words[102:103]])
    frames = features.shape[0]
    position_ids = torch.cat([torch.arange(frames + 1), torch.tensor([max_frames + 1])])
    pooled = _bert_encoder(sd, "video_encoder.bert.", embeds, position_ids, head_size)[1:].mean(0)
    projection = sd.get("video_projection.linear.weight")
    return pooled if projection is None else pooled @ projection.T


def reference_text_embedding(sd: dict, input_ids: list[int], head_size: int = HEAD_SIZE) -> torch.Tensor:
    """[CLS] tokens [SEP] ids -> embedding: mean over tokens + SEP (CLS excluded)."""
    ids = torch.tensor(input_ids)
    embeds = sd["text_encoder.embeddings.word_embeddings.weight"][ids]
    pooled = _bert_encoder(sd, "text_encoder.", embeds, torch.arange(len(ids)), head_size)[1:].mean(0)
    projection = sd.get("text_projection.linear.weight")
    return pooled if projection is None else pooled @ projection.T
