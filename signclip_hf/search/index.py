"""A saved FAISS index over a pose dataset's SignCLIP embeddings: dictionary lookup by text or by clip.

`SignIndex.build` embeds the dataset once (`embed_dataset`: cached next to the saved dataset, keyed by the
weights) and attaches a FAISS index to the gallery through `datasets` (`add_faiss_index`). The SignCLIP
score is a raw dot product (Jiang et al., EMNLP 2024), so every index is inner-product (never L2); for a
cosine model the embeddings are unit vectors and scores are scaled by its temperature, so a result's
score is always `model.score(pose, query)`. The index folder holds `index.faiss`, the gallery's
non-pose columns (`gallery/`, Arrow) and `signclip_index.json` (model and weights fingerprint,
feature-extractor settings, kind and parameters, dataset fingerprint): loading it with other weights or
settings is refused, since its vectors would not be comparable with the queries.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk

from ..data.collate import as_prompt
from ..embedding import (
    EMBEDDING_COLUMN,
    embed_dataset,
    embed_poses,
    embed_texts,
    embeddings_of,
    model_fingerprint,
    score_scale,
)
from ..extras import require

KINDS = ("exact", "ivf", "hnsw")
METADATA_FILE = "signclip_index.json"
INDEX_FILE = "index.faiss"
GALLERY_DIR = "gallery"
FORMAT_VERSION = 1
POSE_COLUMNS = ("pose", "confidence", EMBEDDING_COLUMN)


class StaleIndexError(ValueError):
    """The index was built with other weights or pose settings than the model it is queried with."""


@dataclass
class IndexConfig:
    """Which FAISS index, and its parameters (all inner-product).

    Args:
        kind: "exact" (`IndexFlatIP`, brute force), "ivf" (`IndexIVFFlat`: k-means lists, `nprobe` of
            them searched) or "hnsw" (`IndexHNSWFlat`: a proximity graph, `ef_search` candidates).
        nlist: IVF lists; default about 4·sqrt(N), at most N/39 (FAISS wants 39 training points a list).
        nprobe: IVF lists searched per query (recall vs speed).
        train_size: IVF k-means training sample (random rows); default min(N, 64·nlist).
        hnsw_m / ef_construction / ef_search: HNSW graph degree and build / search beam widths.
    """

    kind: str = "exact"
    nlist: int | None = None
    nprobe: int = 16
    train_size: int | None = None
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown index kind {self.kind!r}; choose from {', '.join(KINDS)}")
        for name in ("nprobe", "hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def resolved(self, num_items: int) -> "IndexConfig":
        """The config with `nlist` / `train_size` filled in for a gallery of `num_items` vectors."""
        if self.kind != "ivf":
            return self
        nlist = self.nlist or int(round(4 * np.sqrt(num_items)))
        nlist = max(1, min(nlist, num_items // 39 if self.nlist is None else num_items))
        train_size = min(num_items, self.train_size or 64 * nlist)
        return IndexConfig(**dict(asdict(self), nlist=nlist, nprobe=min(self.nprobe, nlist), train_size=train_size))


def new_faiss_index(config: IndexConfig, dim: int):
    """An empty inner-product FAISS index of `config.kind` (IVF still needs `train`)."""
    faiss = require("faiss", "index", "faiss-cpu")

    if config.kind == "exact":
        return faiss.IndexFlatIP(dim)
    if config.kind == "ivf":
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, config.nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = config.seed
        index.nprobe = config.nprobe
        return index
    index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = config.ef_construction
    index.hnsw.efSearch = config.ef_search
    return index


def set_search_parameters(index, config: IndexConfig) -> None:
    """Apply the query-time knobs (`nprobe`, `ef_search`) to a loaded index."""
    faiss = require("faiss", "index", "faiss-cpu")

    if config.kind == "ivf":
        faiss.extract_index_ivf(index).nprobe = config.nprobe
    elif config.kind == "hnsw":
        index.hnsw.efSearch = config.ef_search


def training_sample(num_items: int, config: IndexConfig) -> np.ndarray:
    """Sorted random row ids for IVF k-means training (all rows when the gallery is small)."""
    if config.train_size >= num_items:
        return np.arange(num_items)
    return np.sort(np.random.default_rng(config.seed).choice(num_items, config.train_size, replace=False))


def processor_fingerprint(processor) -> str:
    """Hash of the feature-extractor settings (layout, frames, policy): they change the pose embeddings."""
    return hashlib.sha256(processor.feature_extractor.to_json_string().encode()).hexdigest()[:16]


@dataclass
class IndexMetadata:
    """What an index was built from, saved as `signclip_index.json`."""

    model: str
    model_fingerprint: str
    processor_fingerprint: str
    embed_dim: int
    score_type: str
    score_scale: float
    config: dict
    num_items: int
    dataset: str | None = None
    dataset_fingerprint: str | None = None
    label_column: str = "label"
    text_column: str = "text"
    format_version: int = FORMAT_VERSION

    @property
    def index_config(self) -> IndexConfig:
        return IndexConfig(**self.config)


@dataclass
class IndexSearchResult:
    """Top-k gallery clips per query, best first: `scores` / `indices` (Q, k), `matches` their gallery rows."""

    queries: list[str]
    scores: np.ndarray
    indices: np.ndarray
    matches: list[list[dict]] = field(repr=False)

    def to_dict(self) -> dict:
        return {"results": [{"query": query, "matches": matches} for query, matches in zip(self.queries, self.matches)]}

    def format_table(self, columns: Sequence[str] = ("label", "text", "file")) -> str:
        lines = []
        for query, matches in zip(self.queries, self.matches):
            shown = [c for c in columns if matches and c in matches[0]]
            lines.append(f"query: {query}")
            lines.append(f"{'rank':>4} {'score':>10} {'index':>8}  " + "  ".join(f"{c:<24}" for c in shown))
            for match in matches:
                values = "  ".join(f"{str(match[c]):<24}" for c in shown)
                lines.append(f"{match['rank']:>4} {match['score']:>10.4f} {match['index']:>8}  {values}")
            lines.append("")
        return "\n".join(lines).rstrip()


def gallery_dataset(dataset: Dataset | DatasetDict, split: str | None = None) -> Dataset | list[Dataset]:
    """The clips to index: a Dataset, one split of a DatasetDict, or (split None) all its splits."""
    if isinstance(dataset, Dataset):
        return dataset
    if split is not None:
        if split not in dataset:
            raise ValueError(f"no split {split!r} in the dataset; splits: {list(dataset)}")
        return dataset[split]
    return list(dataset.values())


class SignIndex:
    """A gallery of pose clips with an inner-product FAISS index over their SignCLIP embeddings.

    `build` / `load` bind it to a model and processor; `search_text`, `search_pose` and
    `search_embeddings` return `IndexSearchResult`s (a batch of queries gives the same answer as one at
    a time).
    """

    def __init__(self, rows: Dataset, indexed: Dataset, metadata: IndexMetadata, model=None, processor=None):
        self.rows = rows  # the gallery's clip metadata (label, text, file, ...)
        self.indexed = indexed  # the same clips with the FAISS index attached (`datasets` forbids `select` on it)
        self.metadata = metadata
        self.model = model
        self.processor = processor

    @classmethod
    def build(
        cls,
        model,
        processor,
        dataset: Dataset | DatasetDict,
        config: IndexConfig | None = None,
        model_name: str | None = None,
        split: str | None = None,
        label_column: str = "label",
        text_column: str = "text",
        batch_size: int = 32,
        dataset_name: str | None = None,
    ) -> "SignIndex":
        """Embed `dataset` (all splits unless `split`; cache reused) and index its embeddings."""
        parts = gallery_dataset(dataset, split)
        parts = parts if isinstance(parts, list) else [parts]
        if not sum(len(part) for part in parts):
            raise ValueError(f"{dataset_name or 'the dataset'}: no clips to index")
        embedded = [embed_dataset(model, processor, part, batch_size) for part in parts]
        gallery = embedded[0] if len(embedded) == 1 else concatenate_datasets(embedded)
        rows = gallery.select_columns([c for c in gallery.column_names if c not in POSE_COLUMNS])
        gallery = gallery.select_columns([c for c in gallery.column_names if c not in POSE_COLUMNS[:2]])
        config = (config or IndexConfig()).resolved(len(gallery))
        index = new_faiss_index(config, model.config.embed_dim)
        if config.kind == "ivf":
            index.train(embeddings_of(gallery.select(training_sample(len(gallery), config))))
        gallery.add_faiss_index(column=EMBEDDING_COLUMN, custom_index=index)
        metadata = IndexMetadata(
            model=model_name or getattr(model.config, "_name_or_path", "") or "<in-memory model>",
            model_fingerprint=model_fingerprint(model),
            processor_fingerprint=processor_fingerprint(processor),
            embed_dim=model.config.embed_dim,
            score_type=model.config.score_type,
            score_scale=score_scale(model),
            config=asdict(config),
            num_items=len(gallery),
            dataset=dataset_name,
            dataset_fingerprint="-".join(part._fingerprint for part in parts),
            label_column=label_column,
            text_column=text_column,
        )
        return cls(rows, gallery, metadata, model, processor)

    def save(self, directory: str | os.PathLike) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.indexed.save_faiss_index(EMBEDDING_COLUMN, directory / INDEX_FILE)
        self.rows.save_to_disk(os.fspath(directory / GALLERY_DIR))
        # written last: a folder without it is an incomplete index
        (directory / METADATA_FILE).write_text(json.dumps(asdict(self.metadata), indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, model, processor, model_name: str | None = None) -> "SignIndex":
        """Load a saved index for querying with `model`; other weights or pose settings are refused."""
        require("faiss", "index", "faiss-cpu")
        directory = Path(directory)
        if not (directory / METADATA_FILE).is_file():
            raise FileNotFoundError(
                f"{directory}: not a SignCLIP index (no {METADATA_FILE}; build one with the `index` command "
                "or SignIndex.build(...).save(directory))"
            )
        metadata = IndexMetadata(**json.loads((directory / METADATA_FILE).read_text()))
        if metadata.format_version != FORMAT_VERSION:
            raise ValueError(
                f"{directory}: index format {metadata.format_version}, this version reads {FORMAT_VERSION}"
            )
        name = model_name or getattr(model.config, "_name_or_path", "") or "the given model"
        rebuild = f"rebuild it with {name} (the `index` command, or SignIndex.build)"
        fingerprint = model_fingerprint(model)
        if fingerprint != metadata.model_fingerprint:
            raise StaleIndexError(
                f"{directory}: stale index: built with model {metadata.model} (weights fingerprint "
                f"{metadata.model_fingerprint}), but {name} has weights fingerprint {fingerprint}; its "
                f"embeddings are not comparable with this model's queries: {rebuild}"
            )
        if processor_fingerprint(processor) != metadata.processor_fingerprint:
            raise StaleIndexError(
                f"{directory}: stale index: built with other feature-extractor settings than {name}'s processor "
                f"({processor.feature_extractor.to_json_string().strip()}): {rebuild}"
            )
        rows = load_from_disk(os.fspath(directory / GALLERY_DIR))
        indexed = rows.select_columns(rows.column_names)  # another Dataset object on the same Arrow table
        indexed.load_faiss_index(EMBEDDING_COLUMN, directory / INDEX_FILE)
        set_search_parameters(indexed.get_index(EMBEDDING_COLUMN).faiss_index, metadata.index_config)
        return cls(rows, indexed, metadata, model, processor)

    @property
    def faiss_index(self):
        return self.indexed.get_index(EMBEDDING_COLUMN).faiss_index

    def search_embeddings(
        self, embeddings: np.ndarray, k: int = 10, queries: Sequence[str] | None = None
    ) -> IndexSearchResult:
        """Top-k clips for (Q, E) query embeddings (text or pose), scored as `model.score`."""
        embeddings = np.ascontiguousarray(np.atleast_2d(embeddings), dtype=np.float32)
        if embeddings.shape[1] != self.metadata.embed_dim:
            raise ValueError(
                f"query embeddings have dimension {embeddings.shape[1]}, the index {self.metadata.embed_dim}"
            )
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        k = min(k, self.metadata.num_items)
        scores, indices = self.indexed.search_batch(EMBEDDING_COLUMN, embeddings, k)
        scores = np.asarray(scores, dtype=np.float32) * np.float32(self.metadata.score_scale)
        indices = np.asarray(indices, dtype=np.int64)
        found = np.unique(indices[indices >= 0])
        row_of = dict(zip(found.tolist(), self.rows.select(found).to_list() if len(found) else []))
        matches = [
            [
                dict(rank=rank + 1, index=int(i), score=float(s), **row_of[int(i)])
                for rank, (s, i) in enumerate((s, i) for s, i in zip(score_row, index_row) if i >= 0)
            ]
            for score_row, index_row in zip(scores, indices)
        ]
        queries = list(queries) if queries is not None else [f"<embedding {i}>" for i in range(len(embeddings))]
        return IndexSearchResult(queries, scores, indices, matches)

    def _require_model(self):
        if self.model is None or self.processor is None:
            raise ValueError("this index has no model: use SignIndex.load(directory, model, processor)")

    def search_text(
        self, texts: str | Sequence[str], k: int = 10, spoken_language: str = "en", sign_language: str = "ase"
    ) -> IndexSearchResult:
        """Clips that best match each text (`"house"` is tagged `<en> <ase> house`; full prompts kept)."""
        self._require_model()
        texts = [texts] if isinstance(texts, str) else list(texts)
        prompts = [as_prompt(text, spoken_language, sign_language) for text in texts]
        return self.search_embeddings(embed_texts(self.model, self.processor, prompts), k, prompts)

    def search_pose(self, poses, k: int = 10, names: Sequence[str] | None = None) -> IndexSearchResult:
        """Clips most similar to each query clip (paths, bytes, `Pose`s or arrays)."""
        self._require_model()
        poses = list(poses) if isinstance(poses, (list, tuple)) else [poses]
        names = names or [
            os.fspath(p) if isinstance(p, (str, os.PathLike)) else f"<pose {i}>" for i, p in enumerate(poses)
        ]
        return self.search_embeddings(embed_poses(self.model, self.processor, poses), k, names)


__all__ = [
    "INDEX_FILE",
    "KINDS",
    "METADATA_FILE",
    "IndexConfig",
    "IndexMetadata",
    "IndexSearchResult",
    "SignIndex",
    "StaleIndexError",
    "new_faiss_index",
    "set_search_parameters",
]
