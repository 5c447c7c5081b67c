"""SignCLIP model family: pose tower, text tower, contrastive scores, and an ISLR classification head.

Architecture as released (Jiang et al., EMNLP 2024; fairseq `examples/MMPT`, `MMFusionSeparate`): frames go through an MLP tokenizer, get wrapped in [CLS]/[SEP]
taken from the pose tower's own BERT word embeddings, and run through a BERT encoder whose [SEP] sits at
position `max_frames + 1` whatever the clip length; embeddings are masked means over frames + [SEP].
Unlike the original we pad to the longest clip in the batch, not to 256: with the fixed [SEP] position
and masked padding the results are identical, one clip at a time or batched.
Clips longer than `max_frames` are refused: fitting them is preprocessing, the feature extractor's
`long_clip_policy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, BertModel, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.utils import ModelOutput

from .configuration_signclip import SignCLIPConfig, SignCLIPPoseConfig


def signclip_loss(logits_per_pose: torch.Tensor) -> torch.Tensor:
    """Symmetric in-batch contrastive loss, summed over both directions as released (MMPT `mmpt/losses/nce.py` `MMContraLoss`)."""
    labels = torch.arange(logits_per_pose.shape[0], device=logits_per_pose.device)
    return F.cross_entropy(logits_per_pose, labels) + F.cross_entropy(logits_per_pose.t(), labels)


def masked_mean(hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `hidden_states` (B, L, H) over positions where `mask` (B, L) is 1."""
    mask = mask.to(hidden_states.dtype).unsqueeze(-1)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


def without_cls(attention_mask: torch.Tensor) -> torch.Tensor:
    """Pooling mask: the attention mask with the leading [CLS] position excluded (as MMPT's mean pooling)."""
    pooling_mask = attention_mask.clone()
    pooling_mask[:, 0] = 0
    return pooling_mask


def finish_embeds(pooled: torch.Tensor, projection: nn.Linear | None, score_type: str) -> torch.Tensor:
    """Pooled tower output -> embedding: optional projection, L2-normalized for `score_type="cosine"`."""
    embeds = projection(pooled) if projection is not None else pooled
    return F.normalize(embeds, dim=-1) if score_type == "cosine" else embeds


def embedding_projection(hidden_size: int, config: SignCLIPConfig) -> nn.Linear | None:
    """The bias-free projection of a tower's pooled output to `projection_dim` (None without one)."""
    return nn.Linear(hidden_size, config.projection_dim, bias=False) if config.projection_dim is not None else None


@dataclass
class SignCLIPOutput(ModelOutput):
    r"""
    loss: symmetric contrastive loss (when `return_loss=True`).
    logits_per_pose: (pose batch, text batch) scores; `logits_per_text` is its transpose.
    pose_embeds, text_embeds: the vectors whose (scaled) dot products are the scores.
    """

    loss: torch.Tensor | None = None
    logits_per_pose: torch.Tensor | None = None
    logits_per_text: torch.Tensor | None = None
    pose_embeds: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None


class SignCLIPFrameTokenizer(nn.Module):
    """Per-frame MLP: Linear -> GELU -> LayerNorm -> Linear (fairseq `VideoTokenMLP`)."""

    def __init__(self, config: SignCLIPPoseConfig):
        super().__init__()
        self.linear1 = nn.Linear(config.input_dim, config.hidden_size)
        self.activation = ACT2FN["gelu"]
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.tokenizer_layer_norm_eps)
        self.linear2 = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, pose_values: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.layer_norm(self.activation(self.linear1(pose_values))))


class SignCLIPPoseTransformer(nn.Module):
    """Pose tower: frame tokens wrapped in [CLS]/[SEP] through a BERT encoder, mean-pooled."""

    def __init__(self, config: SignCLIPPoseConfig):
        super().__init__()
        self.config = config
        self.frame_tokenizer = SignCLIPFrameTokenizer(config)
        self.bert = BertModel(config, add_pooling_layer=False)

    def forward(
        self, pose_values: torch.Tensor, pose_attention_mask: torch.Tensor | None = None
    ) -> BaseModelOutputWithPooling:
        """`last_hidden_state` (B, frames + 2, H) of [CLS] frames [SEP]; `pooler_output` (B, H) their masked mean."""
        batch_size, num_frames, _ = pose_values.shape
        if num_frames > self.config.max_frames:
            raise ValueError(
                f"pose_values has {num_frames} frames but this model has positions for max_frames="
                f"{self.config.max_frames}: fit long clips with the feature extractor (its `max_frames` and "
                "`long_clip_policy`, e.g. `processor(poses=...)`) instead of passing them to the model directly"
            )
        if pose_attention_mask is None:
            pose_attention_mask = torch.ones(batch_size, num_frames, dtype=torch.long, device=pose_values.device)
        tokens = self.frame_tokenizer(pose_values.to(self.frame_tokenizer.linear1.weight.dtype))
        word_embeddings = self.bert.embeddings.word_embeddings.weight
        cls = word_embeddings[self.config.cls_token_id].expand(batch_size, 1, -1)
        sep = word_embeddings[self.config.sep_token_id].expand(batch_size, 1, -1)
        inputs_embeds = torch.cat([cls, tokens, sep], dim=1)
        device = pose_values.device
        position_ids = torch.cat(
            [torch.arange(num_frames + 1, device=device), torch.tensor([self.config.sep_position], device=device)]
        ).expand(batch_size, -1)
        ones = pose_attention_mask.new_ones(batch_size, 1)
        attention_mask = torch.cat([ones, pose_attention_mask, ones], dim=1)
        hidden_states = self.bert(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            token_type_ids=torch.zeros_like(attention_mask),
        ).last_hidden_state
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden_states, pooler_output=masked_mean(hidden_states, without_cls(attention_mask))
        )


class SignCLIPPreTrainedModel(PreTrainedModel):
    """Weight initialization; pose embeddings from the `pose_model` and `pose_projection` of every SignCLIP model."""

    config: SignCLIPConfig
    config_class = SignCLIPConfig
    base_model_prefix = "signclip"
    main_input_name = "pose_values"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["BertLayer"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module):
        super()._init_weights(module)
        # Non-persistent buffers come back empty from the meta device (transformers 5 `from_pretrained`): rebuild them.
        if isinstance(getattr(module, "position_ids", None), torch.Tensor):
            init.copy_(module.position_ids, torch.arange(module.position_ids.shape[-1]).expand_as(module.position_ids))
        if isinstance(getattr(module, "token_type_ids", None), torch.Tensor):
            init.zeros_(module.token_type_ids)
        if isinstance(module, SignCLIPModel) and module.logit_scale is not None:
            init.constant_(module.logit_scale, self.config.logit_scale_init_value)

    def get_pose_features(
        self, pose_values: torch.Tensor, pose_attention_mask: torch.Tensor | None = None
    ) -> BaseModelOutputWithPooling:
        """(B, frames, features) -> the pose tower's output, as transformers 5's `CLIPModel.get_image_features`:
        `pooler_output` is the (B, embed_dim) pose embedding (projected, L2-normalized for `score_type="cosine"`),
        `last_hidden_state` the tower's hidden states."""
        outputs = self.pose_model(pose_values, pose_attention_mask)
        outputs.pooler_output = finish_embeds(outputs.pooler_output, self.pose_projection, self.config.score_type)
        return outputs


class SignCLIPModel(SignCLIPPreTrainedModel):
    """Pose and text towers in one embedding space; `forward` scores every pose against every text."""

    def __init__(self, config: SignCLIPConfig):
        super().__init__(config)
        self.pose_model = SignCLIPPoseTransformer(config.pose_config)
        self.text_model = AutoModel.from_config(config.text_config, add_pooling_layer=False)
        self.pose_projection = embedding_projection(config.pose_config.hidden_size, config)
        self.text_projection = embedding_projection(config.text_config.hidden_size, config)
        self.logit_scale = (
            nn.Parameter(torch.tensor(config.logit_scale_init_value)) if config.score_type == "cosine" else None
        )
        self.post_init()

    def get_text_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> BaseModelOutputWithPooling:
        """Token ids -> the text tower's output, as transformers 5's `CLIPModel.get_text_features`: `pooler_output`
        is the (B, embed_dim) text embedding (masked mean over tokens + [SEP], [CLS] excluded; projected,
        L2-normalized for `score_type="cosine"`), `last_hidden_state` the tower's hidden states."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden_states = self.text_model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        pooled = masked_mean(hidden_states, without_cls(attention_mask))
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden_states,
            pooler_output=finish_embeds(pooled, self.text_projection, self.config.score_type),
        )

    def score(self, pose_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        """(P, E) x (T, E) -> (P, T) scores: raw dot products, times exp(logit_scale) for cosine."""
        logits = pose_embeds @ text_embeds.t()
        return logits * self.logit_scale.exp() if self.logit_scale is not None else logits

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        pose_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pose_attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        return_loss: bool | None = None,
    ) -> SignCLIPOutput:
        if input_ids is None or pose_values is None:
            raise ValueError("SignCLIPModel.forward needs both `pose_values` and `input_ids`")
        pose_embeds = self.get_pose_features(pose_values, pose_attention_mask).pooler_output
        text_embeds = self.get_text_features(input_ids, attention_mask, token_type_ids).pooler_output
        logits_per_pose = self.score(pose_embeds, text_embeds)
        loss = signclip_loss(logits_per_pose) if return_loss else None
        return SignCLIPOutput(
            loss=loss,
            logits_per_pose=logits_per_pose,
            logits_per_text=logits_per_pose.t(),
            pose_embeds=pose_embeds,
            text_embeds=text_embeds,
        )


class SignCLIPForVideoClassification(SignCLIPPreTrainedModel):
    """Isolated sign recognition: the pose tower plus a linear classifier over `config.num_labels` glosses.

    `init_classifier_from_text_embeds` makes it start as the zero-shot classifier (weights = gloss prompt
    embeddings). The loss divides by `num_items_in_batch` when Trainer passes it, so gradient
    accumulation gives the same gradients as one large batch (transformers Trainer's loss-kwargs contract).
    """

    accepts_loss_kwargs = True

    def __init__(self, config: SignCLIPConfig):
        super().__init__(config)
        self.pose_model = SignCLIPPoseTransformer(config.pose_config)
        self.pose_projection = embedding_projection(config.pose_config.hidden_size, config)
        self.classifier = nn.Linear(config.embed_dim, config.num_labels)
        self.post_init()

    @torch.no_grad()
    def init_classifier_from_text_embeds(self, text_embeds: torch.Tensor, logit_scale: float = 1.0) -> None:
        """Set class weights to the gloss prompts' text embeddings (× scale) and biases to 0 (zero-shot start)."""
        if text_embeds.shape != self.classifier.weight.shape:
            raise ValueError(f"expected text embeddings of shape {tuple(self.classifier.weight.shape)}")
        self.classifier.weight.copy_(text_embeds * logit_scale)
        self.classifier.bias.zero_()

    def forward(
        self,
        pose_values: torch.Tensor,
        pose_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> ImageClassifierOutput:
        logits = self.classifier(self.get_pose_features(pose_values, pose_attention_mask).pooler_output)
        loss = None
        if labels is not None:
            reduction = "sum" if num_items_in_batch is not None else "mean"
            loss = F.cross_entropy(logits.float(), labels, ignore_index=-100, reduction=reduction)
            if num_items_in_batch is not None:
                loss = loss / num_items_in_batch
        return ImageClassifierOutput(loss=loss, logits=logits)


__all__ = [
    "SignCLIPModel",
    "SignCLIPForVideoClassification",
    "SignCLIPPreTrainedModel",
    "SignCLIPOutput",
    "signclip_loss",
]
