"""Share a built pose dataset on the Hub (Parquet shards + a dataset card) and load it back.

The card is rendered from `hub_cards/dataset_card.md.j2` (YAML metadata: licence, spoken languages,
sign-language tags, size category, task categories, configs); the `dataset_info` block that
`datasets` writes on push (the Array3D/Array2D features) is kept in the final card.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict, IterableDataset

from ..hub_cards import TEMPLATES_DIR
from ..modeling import KEYPOINT_LAYOUTS, SIGN_LANGUAGES
from .report import BuildReport
from .rows import column_values

DATASET_CARD_TEMPLATE = TEMPLATES_DIR / "dataset_card.md.j2"
FIELD_MEANINGS = {
    "pose": "raw keypoints (frames, points, x/y/z) in layout order, as in the file (not normalized)",
    "confidence": "per-point confidence (frames, points); 0 marks a missing point",
    "fps": "frames per second of the recording",
    "num_frames": "number of frames",
    "text": "text of the prompt (gloss or label text)",
    "label": "class label",
    "sign_language": "ISO 639-3 sign language code",
    "spoken_language": "ISO 639-1 code of the text's language",
    "signer": "signer id (for signer-independent splits)",
    "file": "source `.pose` file, relative to the build root",
    "split": "split named in the source metadata",
}
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


def _split_stats(name: str, dataset: Dataset) -> dict[str, Any]:
    frames = column_values(dataset, "num_frames")
    return {
        "name": name,
        "num_rows": len(dataset),
        "num_signers": len(np.unique(column_values(dataset, "signer"))),
        "num_labels": len(np.unique(column_values(dataset, "label"))),
        "min_frames": int(frames.min()) if len(frames) else 0,
        "median_frames": int(np.median(frames)) if len(frames) else 0,
        "max_frames": int(frames.max()) if len(frames) else 0,
    }


def _size_category(num_rows: int) -> str:
    return next((category for limit, category in SIZE_CATEGORIES if num_rows < limit), "1M<n<10M")


def _feature_type(feature: Any) -> str:
    if hasattr(feature, "shape"):
        return f"{type(feature).__name__}{tuple(feature.shape)} {feature.dtype}".replace("None", "frames")
    return getattr(feature, "dtype", type(feature).__name__)


@dataclass
class DatasetCardConfig:
    """What the dataset card says beyond what is computed from the data (languages, sizes, fields).

    Args:
        license: a Hub licence id ("mit", "cc-by-4.0", "other"...).
        license_notes: free text for the License section (sources, credits).
        build_notes: free text for "How it was built" (corpus, recording, conversion).
    """

    pretty_name: str | None = None
    description: str = ""
    license: str = "other"
    license_notes: str = ""
    build_notes: str = ""
    keypoint_layout: str = "holistic"


def render_dataset_card(
    dataset: Dataset | DatasetDict,
    repo_id: str,
    card: DatasetCardConfig | None = None,
    report: BuildReport | None = None,
    template: str | os.PathLike = DATASET_CARD_TEMPLATE,
) -> str:
    """The dataset card (README.md) text: YAML metadata + description, splits, fields, usage, provenance."""
    import jinja2

    card = card or DatasetCardConfig()

    splits = dataset if isinstance(dataset, DatasetDict) else DatasetDict({"train": dataset})
    first = next(iter(splits.values()))
    sign_languages, spoken_languages = (
        sorted({str(code) for part in splits.values() for code in np.unique(column_values(part, column))})
        for column in ("sign_language", "spoken_language")
    )
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return environment.from_string(Path(template).read_text(encoding="utf-8")).render(
        **{**asdict(card), "pretty_name": card.pretty_name or repo_id.split("/")[-1]},
        repo_id=repo_id,
        report=report,
        num_points=KEYPOINT_LAYOUTS[card.keypoint_layout].num_points,
        sign_languages=sign_languages,
        sign_language_names={code: SIGN_LANGUAGES.get(code, "") for code in sign_languages},
        spoken_languages=spoken_languages,
        size_category=_size_category(sum(len(part) for part in splits.values())),
        splits=[_split_stats(name, part) for name, part in splits.items()],
        fields=[(name, _feature_type(f), FIELD_MEANINGS.get(name, "")) for name, f in first.features.items()],
    )


def push_pose_dataset(
    dataset: Dataset | DatasetDict,
    repo_id: str,
    card: DatasetCardConfig | None = None,
    report: BuildReport | None = None,
    token: str | None = None,
    private: bool = False,
    max_shard_size: str | int = "500MB",
) -> str:
    """Push the dataset (Parquet shards) and its rendered card; returns the commit id of the card."""
    from huggingface_hub import DatasetCard, DatasetCardData, HfApi

    dataset.push_to_hub(repo_id, private=private, token=token, max_shard_size=max_shard_size)
    pushed = DatasetCard.load(repo_id, repo_type="dataset", token=token)  # holds datasets' `dataset_info`
    readme = DatasetCard(render_dataset_card(dataset, repo_id, card, report))
    metadata = readme.data.to_dict()
    metadata["dataset_info"] = pushed.data.to_dict().get("dataset_info")
    readme.data = DatasetCardData(**metadata)
    commit = HfApi(token=token).upload_file(  # a fresh HfApi: the endpoint as configured now
        path_or_fileobj=str(readme).encode("utf-8"),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Dataset card",
    )
    return commit.oid


def load_pose_dataset(
    repo_or_path: str | os.PathLike,
    split: str | None = None,
    streaming: bool = False,
    revision: str | None = None,
    token: str | None = None,
) -> Dataset | DatasetDict | IterableDataset:
    """`signclip_hf.loading.load_dataset` in numpy format: the rows feed `SignCLIPCollator` directly."""
    from ..loading import load_dataset

    return load_dataset(repo_or_path, split, streaming, revision, token).with_format("numpy")
