"""Configuration of SignCLIP: a pose tower and a BERT-family text tower sharing one embedding space.

Reference: the released "baseline_temporal" model of Jiang et al., "SignCLIP: Connecting Text and Sign Language
by Contrastive Learning", EMNLP 2024 (fairseq `examples/MMPT`, `mmpt/models/mmfusion.py` `MMFusionSeparate`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from transformers import AutoConfig, BertConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

LONG_CLIP_POLICIES = ("subsample", "truncate")
SCORE_TYPES = ("dot", "cosine")


def select_frame_indices(num_frames: int, max_frames: int, policy: str) -> np.ndarray:
    """Frame indices kept from a clip of `num_frames` so that at most `max_frames` remain.

    The released model refuses clips longer than 256 frames; we never refuse. `"subsample"` keeps
    `max_frames` frames spread uniformly over the whole clip (the sign stays complete, it just looks
    faster), `"truncate"` keeps the first `max_frames` frames (original speed, the end is lost).
    """
    if policy not in LONG_CLIP_POLICIES:
        raise ValueError(f"long_clip_policy must be one of {LONG_CLIP_POLICIES}, got {policy!r}")
    if num_frames <= max_frames:
        return np.arange(num_frames)
    if policy == "truncate":
        return np.arange(max_frames)
    return np.round(np.linspace(0, num_frames - 1, max_frames)).astype(np.int64)


class SignCLIPPoseConfig(BertConfig):
    r"""Pose tower: an MLP frame tokenizer (MMPT `mmpt/models/transformermodel.py` `VideoTokenMLP`) in front of a BERT encoder.

    The BERT fields (`hidden_size`, `num_hidden_layers`, ...) are independent of the text tower.

    Args:
        input_dim: features per frame (3 × keypoints; 609 for the 203-point holistic layout).
        max_frames: frames the pose tower has positions for; position of [SEP] is `max_frames + 1`
            (257 in the released model, whatever the clip length). How clips are fitted to it is
            preprocessing, set on the feature extractor (`max_frames`, `long_clip_policy`); configs saved with
            a `long_clip_policy` still load (transformers keeps unknown keys as attributes, unused here).
        cls_token_id, sep_token_id: rows of the pose tower's own word-embedding table used as [CLS]/[SEP].
        tokenizer_layer_norm_eps: LayerNorm eps inside the MLP tokenizer (1e-5, as released).
    """

    model_type = "signclip_pose"
    base_config_key = "pose_config"

    vocab_size: int = 28996
    max_position_embeddings: int = 512
    input_dim: int = 609
    max_frames: int = 256
    cls_token_id: int = 101
    sep_token_id: int = 102
    tokenizer_layer_norm_eps: float = 1e-5

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.validate_architecture()

    @property
    def sep_position(self) -> int:
        return self.max_frames + 1

    def validate_architecture(self):
        super().validate_architecture()
        if self.sep_position >= self.max_position_embeddings:
            raise ValueError(
                f"max_frames={self.max_frames} needs max_position_embeddings > {self.sep_position} "
                f"(got {self.max_position_embeddings})"
            )
        if max(self.cls_token_id, self.sep_token_id) >= self.vocab_size:
            raise ValueError(f"cls/sep token ids must be < vocab_size={self.vocab_size}")


class SignCLIPConfig(PreTrainedConfig):
    r"""SignCLIP: pose tower + text tower + how a pose and a text are scored.

    Args:
        pose_config: `SignCLIPPoseConfig` (or dict).
        text_config: config of any BERT-family encoder (dict with `model_type`, default BERT).
        projection_dim: if set, both embeddings go through a bias-free linear projection to this size
            (optional in released checkpoints as `{video,text}_projection`).
        score_type: `"dot"` = raw dot product of unnormalized embeddings, as released;
            `"cosine"` = CLIP-style L2-normalized embeddings times a learnable temperature.
        logit_scale_init_value: initial log temperature for `"cosine"` (CLIP's 2.6592 = log(1/0.07)).
        text_max_length: tokens per prompt including [CLS]/[SEP] (63 as released).
    """

    model_type = "signclip"
    sub_configs_defaults = {
        "pose_config": SignCLIPPoseConfig,
        "text_config": SubConfigSpec(AutoConfig, model_type="bert"),
    }

    pose_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    projection_dim: int | None = None
    score_type: Literal["dot", "cosine"] = "dot"
    logit_scale_init_value: float = 2.6592
    text_max_length: int = 63
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.validate_architecture()

    def validate_architecture(self):
        if self.score_type not in SCORE_TYPES:
            raise ValueError(f"score_type must be one of {SCORE_TYPES}, got {self.score_type!r}")
        if self.projection_dim is None and self.pose_config.hidden_size != self.text_config.hidden_size:
            raise ValueError(
                "Without projection_dim the pose and text towers must have the same hidden_size "
                f"(pose {self.pose_config.hidden_size}, text {self.text_config.hidden_size})"
            )

    @property
    def embed_dim(self) -> int:
        return self.projection_dim or self.text_config.hidden_size


__all__ = ["SignCLIPConfig", "SignCLIPPoseConfig", "select_frame_indices"]
