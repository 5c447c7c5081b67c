"""Batching dataset rows into exactly what `SignCLIPModel` / `SignCLIPForVideoClassification` take.

Rows hold raw keypoints as stored by `build-dataset` (`pose` (T, K, 3), `confidence` (T, K)); the
collator turns them into features with the processor's feature extractor (its one batched path,
`features_from_keypoints_batch`), applies the optional training augmentation, pads to the longest clip in
the batch and tokenizes the prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from transformers.feature_extraction_utils import BatchFeature

from ..modeling import SignCLIPProcessor, format_prompt

Augmentation = Callable[[np.ndarray], np.ndarray]


def prompt_for_row(row: Mapping[str, Any], text_column: str = "text") -> str:
    """`"<{spoken}> <{sign}> {text}"` from a row's text and language columns (defaults en / ase)."""
    return format_prompt(str(row[text_column]), row.get("spoken_language") or "en", row.get("sign_language") or "ase")


def dataset_prompts(dataset, text_column: str = "text") -> list[str]:
    """The prompt of every row of a dataset, in order (reads only the text and language columns)."""
    columns = [c for c in (text_column, "sign_language", "spoken_language") if c in dataset.column_names]
    return [prompt_for_row(row, text_column) for row in dataset.select_columns(columns).to_list()]


@dataclass
class SignCLIPCollator:
    """Rows -> `pose_values`, `pose_attention_mask` (+ `input_ids`... with text, + `labels` with label2id).

    Args:
        processor: supplies the feature extractor (layout, long-clip policy) and the tokenizer.
        augmentation: callable on one clip's (T, D) features, applied before padding (training only).
        text_column: column with the text of the prompt; None for pose-only batches (classification).
        label2id: if given, `labels` = label2id[row[label_column]].
    """

    processor: SignCLIPProcessor
    augmentation: Augmentation | None = None
    text_column: str | None = "text"
    label_column: str = "label"
    label2id: Mapping[str, int] | None = None

    def clip_features(self, rows: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
        """Rows -> their (T_i, D) features (one batched feature-extractor call), augmented when training."""
        clips = self.processor.feature_extractor.features_from_keypoints_batch(
            [
                (
                    np.asarray(row["pose"], dtype=np.float32),
                    np.asarray(row["confidence"], dtype=np.float32),
                    str(row.get("file", "<dataset row>")),
                )
                for row in rows
            ]
        )
        return clips if self.augmentation is None else [self.augmentation(clip) for clip in clips]

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> BatchFeature:
        batch = dict(self.processor.feature_extractor.pad(self.clip_features(rows)))
        if self.text_column is not None:
            batch.update(
                self.processor(text=[prompt_for_row(row, self.text_column) for row in rows], validate_tags=False)
            )
        if self.label2id is not None:
            batch["labels"] = np.array([self.label2id[row[self.label_column]] for row in rows], dtype=np.int64)
        return BatchFeature(batch, tensor_type="pt")


def as_prompt(text: str, spoken_language: str = "en", sign_language: str = "ase") -> str:
    """A full prompt as is (its tags are checked by the processor); plain text gets `<spoken> <sign>` tags."""
    return text if text.lstrip().startswith("<") else format_prompt(text, spoken_language, sign_language)
