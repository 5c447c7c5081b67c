"""Pipelines for SignCLIP poses; this file travels to the Hub with the model (custom pipeline code).

- `ZeroShotSignClassificationPipeline` ("zero-shot-sign-classification"): a pose + candidate glosses
  (+ spoken/sign language codes) -> labels ranked by softmax over the raw SignCLIP scores.
- `SignClassificationPipeline` ("sign-classification"): a fine-tuned ISLR model
  (`SignCLIPForVideoClassification`) -> the standard `[{"label", "score"}]` over `config.id2label`.
- `PoseFeatureExtractionPipeline` ("pose-feature-extraction"): a pose -> its embedding.

Poses may be `.pose` paths, `.pose` bytes, `pose_format.Pose` objects or (frames, 203, 3) arrays; a list of
poses gives one result each, the same with any `batch_size`. Batching follows transformers' own pipelines
(`pipelines/pt_utils.PipelineIterator`): `preprocess` returns tensors with a batch dimension of 1, the
DataLoader pads and concatenates them, `_forward` returns one row per pose (its first key is what the
iterator measures the batch by) and each row comes back to `postprocess` as a batch of one.
Outputs are checked to be finite: a NaN/inf score is an error, never an answer.
`save_pretrained` also writes the processor (transformers' `Pipeline.save_pretrained` does not)
and records the pipeline in `config.custom_pipelines`, so that
`pipeline(model=directory_or_repo, trust_remote_code=True)` rebuilds it without this package installed;
`register_pipelines` registers the same tasks locally (each class declares its task, Auto class and type once),
and where they are registered they take precedence over the saved `custom_pipelines`
(`configuration_signclip.LocalFirstPipelines`): `pipeline(task, model=directory)` then needs no trust_remote_code.
Only torch/transformers/numpy and sibling files are imported: this file must run without signclip_hf.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import transformers
from transformers import Pipeline
from transformers.dynamic_module_utils import custom_object_save
from transformers.pipelines import PIPELINE_REGISTRY

from .prompts_signclip import format_prompt


class _PosePipeline(Pipeline):
    """Shared plumbing: pose preprocessing and a save that keeps everything the pipeline needs."""

    task_name: str = ""
    auto_class: str = "AutoModel"  # transformers Auto class that loads the model for this pipeline
    pipeline_type: str = "multimodal"
    _load_processor = None
    _load_feature_extractor = None
    _load_tokenizer = False
    _load_image_processor = False
    _load_video_processor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.feature_extractor is None:
            raise ValueError(
                f"{type(self).__name__} needs a SignCLIP processor or feature extractor: save one next to the model"
            )
        self.feature_extractor.check_model_config(self.model.config)

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, list) and not inputs:  # transformers' `Pipeline.__call__` would index inputs[0]
            return []
        return super().__call__(inputs, **kwargs)

    def _pose_inputs(self, pose: Any) -> dict[str, torch.Tensor]:
        """`pose_values` (1, frames, features) and `pose_attention_mask` (1, frames): one row, padded when batched."""
        return dict(self.feature_extractor([pose], return_tensors="pt"))

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Model + processor (or feature extractor) + this pipeline's code, registered in `config.custom_pipelines`."""
        os.makedirs(save_directory, exist_ok=True)
        module = type(self).__module__.split(".")[-1]
        self.model.config.custom_pipelines = {
            self.task_name: {
                "impl": f"{module}.{type(self).__name__}",
                "pt": [self.auto_class],
                "type": self.pipeline_type,
            }
        }
        custom_object_save(self, save_directory)
        self.model.save_pretrained(save_directory, **kwargs)
        (self.processor if self.processor is not None else self.feature_extractor).save_pretrained(save_directory)


class ZeroShotSignClassificationPipeline(_PosePipeline):
    """Which of the `candidate_labels` is this pose? Scores are a softmax over the raw SignCLIP logits.

    `pipe(pose, candidate_labels=["house", "sun"], spoken_language="en", sign_language="ase")` ->
    `[{"label": "house", "score": 0.97, "logit": 93.8}, ...]`, best first. Each label becomes the
    prompt `"<en> <ase> house"`, the language-tagged prompts of SignCLIP (Jiang et al., EMNLP 2024).
    """

    task_name = "zero-shot-sign-classification"
    _load_processor = True
    _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.processor is None or getattr(self.processor, "tokenizer", None) is None:
            raise ValueError("zero-shot-sign-classification needs a SignCLIPProcessor (tokenizer + feature extractor)")
        self._prompt_embeds = None

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        self._prompt_embeds = None  # (prompts, text embeddings): encoded once per call, on the first batch
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(self, candidate_labels=None, spoken_language=None, sign_language=None, top_k=None):
        languages = dict(spoken_language=spoken_language, sign_language=sign_language)
        for key, value in languages.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{key} must be a language code string such as 'en' or 'ase', got {value!r}")
        if candidate_labels is not None:  # checked once per call; labels given at construction were checked then
            candidate_labels = check_candidate_labels(candidate_labels)
        prompts = {
            key: value
            for key, value in dict(candidate_labels=candidate_labels, **languages).items()
            if value is not None
        }
        postprocess = {"top_k": check_top_k(top_k)} if top_k is not None else {}
        if candidate_labels is not None:
            postprocess["candidate_labels"] = candidate_labels
        return {}, prompts, postprocess

    def preprocess(self, pose):
        return self._pose_inputs(pose)

    def _forward(self, model_inputs, candidate_labels=None, spoken_language: str = "en", sign_language: str = "ase"):
        text_embeds = self._encode_prompts(candidate_labels, spoken_language, sign_language)
        pose_embeds = self.model.get_pose_features(**model_inputs).pooler_output
        return {"logits": self.model.score(pose_embeds, text_embeds)}  # (poses, labels)

    def _encode_prompts(self, candidate_labels, spoken_language: str, sign_language: str) -> torch.Tensor:
        """Text embeddings of the prompts `"<en> <ase> house"`, computed once per call (every batch shares them)."""
        labels = check_candidate_labels(candidate_labels)
        prompts = [format_prompt(label, spoken_language, sign_language) for label in labels]
        if self._prompt_embeds is None or self._prompt_embeds[0] != prompts:
            text_inputs = self._ensure_tensor_on_device(
                dict(self.processor(text=prompts, return_tensors="pt")), self.device
            )
            self._prompt_embeds = (prompts, self.model.get_text_features(**text_inputs).pooler_output)
        return self._prompt_embeds[1]

    def postprocess(self, model_outputs, candidate_labels=None, top_k: int | None = None):
        logits = check_finite(model_outputs["logits"][0].float(), "logits")
        scores = logits.softmax(dim=-1)
        order = torch.argsort(logits, descending=True, stable=True)[:top_k]
        return [
            {"label": candidate_labels[i], "score": scores[i].item(), "logit": logits[i].item()} for i in order.tolist()
        ]


class SignClassificationPipeline(_PosePipeline):
    """A fine-tuned ISLR model: `pipe(pose, top_k=5)` -> `[{"label", "score"}]` (softmax over its classes)."""

    task_name = "sign-classification"
    auto_class = "AutoModelForVideoClassification"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_trained_head(self.model.config)

    def _sanitize_parameters(self, top_k=None):
        return {}, {}, ({"top_k": check_top_k(top_k)} if top_k is not None else {})

    def preprocess(self, pose):
        return self._pose_inputs(pose)

    def _forward(self, model_inputs):
        return {"logits": self.model(**model_inputs).logits}  # (poses, classes)

    def postprocess(self, model_outputs, top_k: int = 5):
        scores = check_finite(model_outputs["logits"][0].float(), "logits").softmax(dim=-1)
        values, indices = scores.topk(min(top_k, scores.shape[-1]))
        id2label = self.model.config.id2label
        return [{"label": id2label[i], "score": v} for v, i in zip(values.tolist(), indices.tolist())]


class PoseFeatureExtractionPipeline(_PosePipeline):
    """A pose -> its SignCLIP embedding (a list of floats; `return_tensors=True` for a tensor)."""

    task_name = "pose-feature-extraction"

    def _sanitize_parameters(self, return_tensors=None):
        return {}, {}, ({"return_tensors": return_tensors} if return_tensors is not None else {})

    def preprocess(self, pose):
        return self._pose_inputs(pose)

    def _forward(self, model_inputs):
        return {"pose_embeds": self.model.get_pose_features(**model_inputs).pooler_output}  # (poses, embedding)

    def postprocess(self, model_outputs, return_tensors: bool = False):
        embeds = check_finite(model_outputs["pose_embeds"][0], "pose embedding")
        return embeds if return_tensors else embeds.tolist()


def check_finite(values: torch.Tensor, what: str) -> torch.Tensor:
    """`values` unchanged; a ValueError instead of answering NaN/inf (not even valid JSON)."""
    if not torch.isfinite(values).all():
        raise ValueError(
            f"the model produced non-finite {what} (NaN or inf) for this pose: the model weights or the pose "
            "are out of range; refusing to answer"
        )
    return values


def check_trained_head(config) -> None:
    """Refuse a model whose saved weights have no classifier (a contrastive SignCLIPModel folder): its head would
    be randomly initialized and its labels LABEL_0, LABEL_1, ... meaningless."""
    architectures = getattr(config, "architectures", None) or []
    if architectures and "SignCLIPForVideoClassification" not in architectures:
        where = getattr(config, "_name_or_path", "") or "this model"
        raise ValueError(
            f"{where} has no trained classification head (it is a contrastive {architectures[0]}): use the "
            "zero-shot-sign-classification pipeline with candidate_labels, or fine-tune it "
            "(SignCLIPForVideoClassification)"
        )


def check_top_k(top_k: Any, name: str = "top_k") -> int:
    """A positive integer (`top_k=0` or a float would silently give an empty or wrong ranking); `name` is how
    the error names the parameter (the endpoint handler says `"parameters.top_k"`)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"{name} must be a positive integer, got {top_k!r}")
    return top_k


def check_candidate_labels(candidate_labels: Any) -> list[str]:
    """A non-empty list of non-empty strings (a single string is one label)."""
    if isinstance(candidate_labels, str):
        candidate_labels = [candidate_labels]
    if not isinstance(candidate_labels, (list, tuple)) or len(candidate_labels) == 0:
        raise ValueError("candidate_labels must be a non-empty list of gloss strings, e.g. ['house', 'sun']")
    bad = [label for label in candidate_labels if not isinstance(label, str) or not label.strip()]
    if bad:
        raise ValueError(f"candidate_labels must be non-empty strings, got {bad!r}")
    return list(candidate_labels)


PIPELINES = (ZeroShotSignClassificationPipeline, SignClassificationPipeline, PoseFeatureExtractionPipeline)


def register_pipelines() -> None:
    """Make `pipeline(task, model=...)` find these pipelines locally (saved models name them in `custom_pipelines`)."""
    for pipeline_class in PIPELINES:
        PIPELINE_REGISTRY.register_pipeline(
            pipeline_class.task_name,
            pipeline_class,
            pt_model=getattr(transformers, pipeline_class.auto_class),
            type=pipeline_class.pipeline_type,
        )


__all__ = [
    "PIPELINES",
    "register_pipelines",
    "ZeroShotSignClassificationPipeline",
    "SignClassificationPipeline",
    "PoseFeatureExtractionPipeline",
    "check_candidate_labels",
    "check_finite",
    "check_top_k",
    "check_trained_head",
]
