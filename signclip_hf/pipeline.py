"""Register the SignCLIP pipelines with transformers and save model directories ready for them.

Importing this module makes `pipeline("zero-shot-sign-classification" | "sign-classification" |
"pose-feature-extraction", model=...)` work locally, without `trust_remote_code`, also on saved models
that name these tasks in `config.custom_pipelines` for the Hub. The implementations live in
`modeling/pipeline_signclip.py` because that file travels to the Hub with the model (custom pipeline code).
"""

from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedModel

from .modeling import SignCLIPForVideoClassification, SignCLIPProcessor
from .modeling.pipeline_signclip import (
    PoseFeatureExtractionPipeline,
    SignClassificationPipeline,
    ZeroShotSignClassificationPipeline,
    check_candidate_labels,
    register_pipelines,
)

register_pipelines()


def pipeline_class_for(model: PreTrainedModel) -> type:
    """The pipeline a model directory advertises: ISLR models classify, contrastive models do zero-shot."""
    if isinstance(model, SignCLIPForVideoClassification):
        return SignClassificationPipeline
    return ZeroShotSignClassificationPipeline


def save_for_pipeline(model: PreTrainedModel, processor: SignCLIPProcessor, output_dir: str | Path) -> Path:
    """Save model, processor, remote code and pipeline code, ready for `pipeline(model=..., trust_remote_code=True)`."""
    pipeline_class_for(model)(model=model, processor=processor, device=model.device).save_pretrained(output_dir)
    return Path(output_dir)


__all__ = [
    "ZeroShotSignClassificationPipeline",
    "SignClassificationPipeline",
    "PoseFeatureExtractionPipeline",
    "check_candidate_labels",
    "pipeline_class_for",
    "save_for_pipeline",
]
