"""SignCLIP score: does a (generated) pose sequence match its prompt, and its reference recording?

For evaluating sign-language production: each prediction (a pose clip: path, bytes, `pose_format.Pose`
or a (T, K, 3) array) is embedded with the pose tower and compared with

- its text reference, a prompt such as `"<en> <ase> house"` (or plain text, tagged with the given
  languages): the *text score* is the model's own score, the raw dot product as released (Jiang et al.,
  EMNLP 2024; times the learned temperature for a cosine model), the number the SignCLIP demo reports;
- its pose reference (a real recording of the same sign): the *pose similarity* is the cosine similarity
  of the two pose embeddings (in [-1, 1], comparable across models).

Only the ranking of text scores is meaningful (they are not calibrated across prompts or models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..data.collate import as_prompt
from ..embedding import embed_poses, embed_texts, score_scale
from ..modeling import SignCLIPProcessor


@dataclass
class SignCLIPScore:
    """Per-item and mean scores; a field is None when that kind of reference was not given."""

    text_scores: np.ndarray | None = None
    pose_similarities: np.ndarray | None = None

    @property
    def text_score(self) -> float | None:
        return None if self.text_scores is None else float(self.text_scores.mean())

    @property
    def pose_similarity(self) -> float | None:
        return None if self.pose_similarities is None else float(self.pose_similarities.mean())

    def to_dict(self) -> dict:
        values = {"text_score": self.text_score, "pose_similarity": self.pose_similarity}
        if self.text_scores is not None:
            values["text_scores"] = self.text_scores.tolist()
        if self.pose_similarities is not None:
            values["pose_similarities"] = self.pose_similarities.tolist()
        values["num_items"] = len(next(v for v in (self.text_scores, self.pose_similarities) if v is not None))
        return {key: value for key, value in values.items() if value is not None}


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, E) matrices, in [-1, 1] (0 for a zero vector, never NaN)."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.clip(np.einsum("ne,ne->n", a, b) / np.maximum(norms, np.finfo(np.float32).tiny), -1.0, 1.0)


def signclip_score(
    model,
    processor: SignCLIPProcessor,
    predictions: Sequence,
    references_text: Sequence[str] | None = None,
    references_pose: Sequence | None = None,
    spoken_language: str = "en",
    sign_language: str = "ase",
    batch_size: int = 32,
) -> SignCLIPScore:
    """Score `predictions` (pose clips) against their prompts and/or reference clips (one per prediction)."""
    predictions = list(predictions)
    if not predictions:
        raise ValueError("no predictions to score")
    if references_text is None and references_pose is None:
        raise ValueError("give references_text (prompts), references_pose (reference clips), or both")
    for name, references in (("references_text", references_text), ("references_pose", references_pose)):
        if references is not None and len(references) != len(predictions):
            raise ValueError(f"{name} has {len(references)} items but there are {len(predictions)} predictions")
    predicted = embed_poses(model, processor, predictions, batch_size)
    result = SignCLIPScore()
    if references_text is not None:
        prompts = [as_prompt(str(text), spoken_language, sign_language) for text in references_text]
        distinct, prompt_ids = np.unique(np.asarray(prompts, dtype=object), return_inverse=True)
        text_embeds = embed_texts(model, processor, list(distinct))[prompt_ids]
        result.text_scores = np.einsum("ne,ne->n", predicted, text_embeds) * np.float32(score_scale(model))
    if references_pose is not None:
        result.pose_similarities = cosine_rows(
            predicted, embed_poses(model, processor, list(references_pose), batch_size)
        )
    return result


__all__ = ["SignCLIPScore", "cosine_rows", "signclip_score"]
