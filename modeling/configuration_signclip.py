"""Configuration of SignCLIP: a pose tower and a BERT-family text tower sharing one embedding space.

Reference: the released "baseline_temporal" model of Jiang et al., "SignCLIP: Connecting Text and Sign Language
by Contrastive Learning", EMNLP 2024 (fairseq `examples/MMPT`, `mmpt/models/mmfusion.py` `MMFusionSeparate`).
"""

from __future__ import annotations

import sys
from typing import Literal

from transformers import AutoConfig, BertConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

SCORE_TYPES = ("dot", "cosine")


class LocalFirstPipelines(dict):
    """`config.custom_pipelines` whose tasks give way to pipelines registered in this process.

    transformers' `pipeline(task, model=...)` insists on `trust_remote_code=True` for any task a config lists in
    `custom_pipelines`, even when the same task is registered locally. Saved models list the SignCLIP tasks so
    that the Hub copy of the pipeline code runs where signclip_hf is absent; where `import signclip_hf` has
    registered them, membership (`task in ...`) answers False, so the in-library pipeline is used without
    `trust_remote_code`. The mapping itself, and what is saved, is unchanged (task inference still sees it).
    """

    def __contains__(self, task) -> bool:
        if not super().__contains__(task):
            return False
        pipelines = sys.modules.get("transformers.pipelines")  # imported by whoever registered local pipelines
        return pipelines is None or task not in pipelines.PIPELINE_REGISTRY.supported_tasks


class SignCLIPPoseConfig(BertConfig):
    r"""Pose tower: an MLP frame tokenizer (MMPT `mmpt/models/transformermodel.py` `VideoTokenMLP`) in front of a BERT encoder.

    The BERT fields (`hidden_size`, `num_hidden_layers`, ...) are independent of the text tower.

    Args:
        input_dim: features per frame (3 × keypoints; 609 for the 203-point holistic layout).
        max_frames: frames the pose tower has positions for; position of [SEP] is `max_frames + 1`
            (257 in the released model, whatever the clip length). The model refuses longer inputs: fitting
            clips to it is preprocessing, the feature extractor's (`max_frames`, `long_clip_policy`); configs
            saved with a `long_clip_policy` still load (transformers keeps unknown keys as attributes, unused here).
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
        if getattr(self, "custom_pipelines", None):
            self.custom_pipelines = LocalFirstPipelines(self.custom_pipelines)

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


__all__ = ["SignCLIPConfig", "SignCLIPPoseConfig"]
