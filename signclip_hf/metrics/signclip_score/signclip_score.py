"""SignCLIP score for sign-language production as an `evaluate` module, loadable offline by path.

Each prediction is a generated pose clip (a `.pose` file path or a (frames, keypoints, 3) array in the
model's keypoint layout). Config `"text"` (default): each reference is its prompt (`"<en> <ase> house"`,
or plain text tagged with `spoken_language` / `sign_language`); config `"pose"`: each reference is a
recorded clip of the same sign. Returns the mean text score (the model's raw dot-product score, as
released) and / or the mean cosine similarity of the pose embeddings, with the per-item values.
The model (a SignCLIP directory or Hub id, or a loaded model with `processor=`) is given at load time
(`evaluate.load(path, model=...)`) or to `compute(model=...)`. See `signclip_hf.evaluation.score`.
"""

from __future__ import annotations

from functools import lru_cache

import datasets
import evaluate

from signclip_hf.cards import CITATION as _CITATION  # one home for the paper's BibTeX

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated pose clips, `.pose` paths or (frames, keypoints, 3) arrays.
    references: config "text": prompts (or plain text); config "pose": reference clips like predictions.
    model: SignCLIP model directory / Hub id, or a loaded `SignCLIPModel` (then also `processor`);
        optional if given to `evaluate.load`.
    reference_poses: config "text" only: optional reference clips too (adds the pose similarity).
    spoken_language / sign_language: tags for plain-text references (default "en" / "ase").
    batch_size: clips embedded at a time.
Returns:
    text_score (mean), text_scores (per item) and / or pose_similarity (mean), pose_similarities, num_items.
Examples:
    >>> metric = evaluate.load("signclip_hf/metrics/signclip_score", model="path/to/signclip")
    >>> metric.compute(predictions=["generated.pose"], references=["house"])["text_score"]
"""

_POSE_ARRAY = datasets.Sequence(datasets.Sequence(datasets.Sequence(datasets.Value("float32"))))


def _clips(items) -> list:
    """Paths stay paths; nested lists (how `evaluate` stores arrays) become float32 arrays."""
    import numpy as np

    return [item if isinstance(item, str) else np.asarray(item, dtype=np.float32) for item in items]


@lru_cache(maxsize=2)
def _load(model_name: str):
    from signclip_hf.loading import load_model

    return load_model(model_name)


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS_DESCRIPTION)
class SignclipScore(evaluate.Metric):
    def __init__(self, *args, model=None, processor=None, **kwargs):
        self.default_model, self.default_processor = model, processor
        super().__init__(*args, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name not in ("default", "text", "pose"):
            raise ValueError(f"unknown config {self.config_name!r}: use 'text' (prompts) or 'pose' (reference clips)")
        clip_types = (datasets.Value("string"), _POSE_ARRAY)  # a path or an array
        reference_types = clip_types if self.config_name == "pose" else (datasets.Value("string"),)
        features = [
            datasets.Features({"predictions": prediction, "references": reference})
            for prediction in clip_types
            for reference in reference_types
        ]
        return evaluate.MetricInfo(
            description=__doc__, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION, features=features
        )

    def _compute(
        self,
        predictions,
        references,
        model=None,
        processor=None,
        reference_poses=None,
        spoken_language="en",
        sign_language="ase",
        batch_size=32,
    ):
        from signclip_hf.evaluation.score import signclip_score

        model = model if model is not None else self.default_model
        processor = processor if processor is not None else self.default_processor
        if model is None:
            raise ValueError("signclip_score needs a model: evaluate.load(..., model=PATH) or compute(model=PATH)")
        if isinstance(model, str):
            model, loaded_processor = _load(model)
            processor = processor if processor is not None else loaded_processor
        elif processor is None:
            raise ValueError("a loaded model needs its processor: compute(model=model, processor=processor)")
        texts, poses = (None, references) if self.config_name == "pose" else (references, reference_poses)
        result = signclip_score(
            model,
            processor,
            _clips(predictions),
            texts,
            None if poses is None else _clips(poses),
            spoken_language,
            sign_language,
            batch_size,
        )
        return result.to_dict()
