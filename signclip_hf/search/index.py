"""A saved FAISS index over a pose dataset's SignCLIP embeddings: dictionary lookup by text or by clip.

`SignIndex.build` embeds the dataset once (`embed_dataset`: cached next to the saved dataset, keyed by the
weights) and attaches a FAISS index to the gallery through `datasets` (`add_faiss_index`). The SignCLIP
score is a raw dot product (Jiang et al., EMNLP 2024), so every index is inner-product (never L2); for a
cosine model the embeddings are unit vectors and scores are scaled by its temperature, so a result's
score is always `model.score(pose, query)`. The index folder holds `index.faiss`, the gallery's
non-pose columns (`gallery/`, Arrow) and `signclip_index.json` (model and weights fingerprint,
feature-extractor settings, kind and parameters, dataset fingerprint, the SHA-256 of `index.faiss`): loading
it with other weights or settings is refused, since its vectors would not be comparable with the queries, and
so is a folder whose parts do not match (every metadata field is validated; the FAISS file must have the
recorded hash, size, dimension and kind; the gallery's files must lie inside its folder).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
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
from ..modeling.prompts_signclip import check_texts, strip_tags

KINDS = ("exact", "ivf", "hnsw")
METADATA_FILE = "signclip_index.json"
INDEX_FILE = "index.faiss"
GALLERY_DIR = "gallery"
FORMAT_VERSION = 2  # 2: the metadata records the SHA-256 of index.faiss
MAX_METADATA_BYTES = 1 << 20
MAX_INDEX_SIZE = 1 << 40  # a sanity bound on sizes read from the metadata (the FAISS file's own size is checked)
POSE_COLUMNS = ("pose", "confidence", EMBEDDING_COLUMN)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        for name in ("nprobe", "hnsw_m", "ef_construction", "ef_search", "nlist", "train_size"):
            value = getattr(self, name)
            if value is None and name in ("nlist", "train_size"):
                continue
            if not _is_int(value) or not 1 <= value <= MAX_INDEX_SIZE:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        if not _is_int(self.seed):
            raise ValueError(f"seed must be a whole number, got {self.seed!r}")

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
    """What an index was built from, saved as `signclip_index.json`; `index_sha256` binds it to `index.faiss`."""

    model: str
    model_fingerprint: str
    processor_fingerprint: str
    embed_dim: int
    score_type: str
    score_scale: float
    config: dict
    num_items: int
    index_sha256: str = ""
    dataset: str | None = None
    dataset_fingerprint: str | None = None
    label_column: str = "label"
    text_column: str = "text"
    format_version: int = FORMAT_VERSION

    @property
    def index_config(self) -> IndexConfig:
        return IndexConfig(**self.config)

    @classmethod
    def from_dict(cls, data, source: str = METADATA_FILE) -> "IndexMetadata":
        """Validated metadata: every field present with its type and range (a hand-edited file is not trusted)."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{source}: index format {version!r}, this version reads format {FORMAT_VERSION} (format 1 "
                "indexes record no hash of index.faiss): rebuild the index with the `index` command"
            )
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {', '.join(map(repr, unknown))}")
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"{source}: missing field(s) {', '.join(map(repr, missing))}")

        def bad(name: str, expected: str):
            return ValueError(f"{source}: {name} must be {expected}, got {data[name]!r:.80}")

        for name in ("model", "model_fingerprint", "processor_fingerprint", "label_column", "text_column"):
            if not isinstance(data[name], str) or not data[name]:
                raise bad(name, "a non-empty string")
        for name in ("dataset", "dataset_fingerprint"):
            if data[name] is not None and not isinstance(data[name], str):
                raise bad(name, "a string or null")
        for name in ("embed_dim", "num_items"):
            if not _is_int(data[name]) or not 1 <= data[name] <= MAX_INDEX_SIZE:
                raise bad(name, f"a whole number in [1, {MAX_INDEX_SIZE}]")
        if data["score_type"] not in ("dot", "cosine"):
            raise bad("score_type", "'dot' or 'cosine'")
        scale = data["score_scale"]
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not (math.isfinite(scale) and scale > 0):
            raise bad("score_scale", "a finite positive number")
        digest = data["index_sha256"]
        if not isinstance(digest, str) or len(digest) != 64 or set(digest) - set("0123456789abcdef"):
            raise bad("index_sha256", "the SHA-256 of index.faiss (64 hex digits)")
        if not isinstance(data["config"], dict):
            raise bad("config", "an object of index parameters")
        try:
            IndexConfig(**data["config"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: invalid config: {error}") from None
        return cls(**dict(data, score_scale=float(scale)))


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


def read_metadata(directory: str | os.PathLike) -> IndexMetadata:
    """The validated `signclip_index.json` of an index folder; errors name the file and the field."""
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory}: not a SignCLIP index (no {METADATA_FILE}; build one with the `index` command "
            "or SignIndex.build(...).save(directory))"
        )
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than an index's metadata ({MAX_METADATA_BYTES})")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    return IndexMetadata.from_dict(data, str(path))


def resolve_model_path(metadata: IndexMetadata, directory: str | os.PathLike) -> str:
    """The model an index records: as written, or a relative path taken from the index folder when that exists."""
    name = metadata.model
    if not os.path.isabs(name) and not os.path.isdir(name) and (Path(directory) / name).is_dir():
        return os.fspath(Path(directory) / name)
    return name


def check_gallery_files(gallery: Path) -> None:
    """Refuse a saved gallery whose `state.json` names data files outside its folder (`../../etc/passwd`)."""
    state_path = gallery / "state.json"
    if not state_path.is_file():
        raise FileNotFoundError(f"{gallery}: the index's gallery is missing (no state.json)")
    try:
        state = json.loads(state_path.read_bytes()[:MAX_METADATA_BYTES + 1].decode("utf-8"))
        names = [entry["filename"] for entry in state["_data_files"]]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{state_path}: not a saved dataset's state ({type(error).__name__}: {error})") from None
    root = gallery.resolve()
    for name in names:
        if not isinstance(name, str) or not name or os.path.isabs(name) or (root / name).resolve().parent != root:
            raise ValueError(f"{state_path}: data file {name!r} is not a file of the gallery folder")
        if not (root / name).is_file():
            raise FileNotFoundError(f"{state_path}: data file {name!r} is missing")


def text_queries(texts: str | Sequence[str]) -> list[str]:
    """Text queries as a list; not a string, not valid Unicode, or blank (also a bare `"<en> <ase>"`): an error."""
    texts = check_texts(texts)
    if not texts:
        raise ValueError("no text queries given")
    for position, text in enumerate(texts):
        if not strip_tags(text):
            raise ValueError(f"text query {position} {text!r} is blank: give some text to look for")
    return texts


def check_faiss_index(index, metadata: IndexMetadata, path: Path) -> None:
    """The FAISS object must be what the metadata says: size, dimension, inner product, kind."""
    faiss = require("faiss", "index", "faiss-cpu")
    classes = {"exact": faiss.IndexFlat, "ivf": faiss.IndexIVFFlat, "hnsw": faiss.IndexHNSWFlat}
    kind = metadata.index_config.kind
    problems = []
    if not isinstance(index, classes[kind]):
        problems.append(f"it is a {type(index).__name__}, the metadata says kind {kind!r}")
    if index.d != metadata.embed_dim:
        problems.append(f"it holds {index.d}-d vectors, the metadata says {metadata.embed_dim}")
    if index.ntotal != metadata.num_items:
        problems.append(f"it holds {index.ntotal} vectors, the metadata says {metadata.num_items} clips")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        problems.append("it is not an inner-product index")
    if problems:
        raise ValueError(f"{path}: does not match {METADATA_FILE}: " + "; ".join(problems))


class SignIndex:
    """A gallery of pose clips with an inner-product FAISS index over their SignCLIP embeddings.

    `build` / `load` bind it to a model and processor; `search_text`, `search_pose` and
    `search_embeddings` return `IndexSearchResult`s (a batch of queries gives the same answer as one at
    a time).
    """

    def __init__(self, rows: Dataset, faiss_index, metadata: IndexMetadata, model=None, processor=None):
        self.rows = rows  # the gallery's clip metadata (label, text, file, ...), row i = FAISS id i
        self.faiss_index = faiss_index
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
        embedded: Sequence[Dataset] | None = None,
    ) -> "SignIndex":
        """Embed `dataset` (all splits unless `split`; cache reused) and index its embeddings.

        `embedded`: the gallery's parts (its splits, in order) with their `pose_embedding` column already
        computed (`signclip-hf embed`, read by `cluster.embed.embedded_parts`): no pose tower is run.

        A local model directory is recorded as an absolute path (a search from another folder finds it)."""
        parts = gallery_dataset(dataset, split)
        parts = parts if isinstance(parts, list) else [parts]
        if not sum(len(part) for part in parts):
            raise ValueError(f"{dataset_name or 'the dataset'}: no clips to index")
        if embedded is None:
            embedded = [embed_dataset(model, processor, part, batch_size) for part in parts]
        elif len(embedded) != len(parts) or any(len(e) != len(p) for e, p in zip(embedded, parts)):
            raise ValueError(f"{dataset_name or 'the dataset'}: the precomputed embeddings do not match its splits")
        gallery = embedded[0] if len(embedded) == 1 else concatenate_datasets(embedded)
        rows = gallery.select_columns([c for c in gallery.column_names if c not in POSE_COLUMNS])
        gallery = gallery.select_columns([c for c in gallery.column_names if c not in POSE_COLUMNS[:2]])
        config = (config or IndexConfig()).resolved(len(gallery))
        index = new_faiss_index(config, model.config.embed_dim)
        if config.kind == "ivf":
            index.train(embeddings_of(gallery.select(training_sample(len(gallery), config))))
        gallery.add_faiss_index(column=EMBEDDING_COLUMN, custom_index=index)  # adds the vectors in batches
        name = model_name or getattr(model.config, "_name_or_path", "") or "<in-memory model>"
        metadata = IndexMetadata(
            model=os.path.abspath(name) if os.path.isdir(name) else name,
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
        return cls(rows, gallery.get_index(EMBEDDING_COLUMN).faiss_index, metadata, model, processor)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write `index.faiss`, `gallery/` and, last, `signclip_index.json` with the SHA-256 of `index.faiss`."""
        faiss = require("faiss", "index", "faiss-cpu")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / METADATA_FILE).unlink(missing_ok=True)  # until rewritten, the folder is an incomplete index
        data = faiss.serialize_index(self.faiss_index).tobytes()
        scratch = directory / f"{INDEX_FILE}.tmp"
        scratch.write_bytes(data)
        os.replace(scratch, directory / INDEX_FILE)
        self.rows.save_to_disk(os.fspath(directory / GALLERY_DIR))
        self.metadata.index_sha256 = hashlib.sha256(data).hexdigest()
        (directory / METADATA_FILE).write_text(json.dumps(asdict(self.metadata), indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, model, processor, model_name: str | None = None) -> "SignIndex":
        """Load a saved index for querying with `model`; other weights or pose settings are refused, and so is
        an `index.faiss` or gallery that does not match the metadata (hash, size, dimension, kind)."""
        faiss = require("faiss", "index", "faiss-cpu")
        directory = Path(directory)
        metadata = read_metadata(directory)
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
        expected = (model.config.embed_dim, model.config.score_type, score_scale(model))
        found = (metadata.embed_dim, metadata.score_type, metadata.score_scale)
        if expected[:2] != found[:2] or not math.isclose(expected[2], found[2], rel_tol=1e-6):
            raise ValueError(
                f"{directory / METADATA_FILE}: embed_dim, score_type, score_scale {found} do not match {name}'s "
                f"{expected}: {rebuild}"
            )
        path = directory / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the index's FAISS file is missing")
        data = np.fromfile(path, dtype=np.uint8)  # read once: hashed, then deserialized (no swap in between)
        if hashlib.sha256(data).hexdigest() != metadata.index_sha256:
            raise ValueError(
                f"{path}: its SHA-256 does not match the one recorded in {METADATA_FILE}: the file was replaced, "
                f"truncated or edited after the index was built: {rebuild}"
            )
        try:
            index = faiss.deserialize_index(data)
        except RuntimeError as error:
            raise ValueError(f"{path}: not a readable FAISS index: {str(error).splitlines()[-1]}") from None
        check_faiss_index(index, metadata, path)
        set_search_parameters(index, metadata.index_config)
        gallery = directory / GALLERY_DIR
        check_gallery_files(gallery)
        try:
            rows = load_from_disk(os.fspath(gallery))
        except Exception as error:  # datasets / pyarrow raise many types on a damaged folder
            raise ValueError(f"{gallery}: not a readable saved dataset ({type(error).__name__}: {error})") from None
        if not isinstance(rows, Dataset) or len(rows) != metadata.num_items:
            size = len(rows) if isinstance(rows, Dataset) else "a DatasetDict"
            raise ValueError(f"{gallery}: {size} rows, the metadata says {metadata.num_items} clips")
        return cls(rows, index, metadata, model, processor)

    def search_embeddings(
        self, embeddings: np.ndarray, k: int | None = 10, queries: Sequence[str] | None = None
    ) -> IndexSearchResult:
        """Top-k clips for (Q, E) query embeddings (text or pose), scored as `model.score`; k None: every clip."""
        embeddings = np.ascontiguousarray(np.atleast_2d(embeddings), dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.metadata.embed_dim:
            raise ValueError(
                f"query embeddings have shape {embeddings.shape}, the index holds {self.metadata.embed_dim}-d vectors"
            )
        if not np.isfinite(embeddings).all():
            raise ValueError("query embeddings hold NaN or infinite values")
        size = int(self.faiss_index.ntotal)  # the real size, not a claim of the metadata
        if k is None:
            k = size
        if not _is_int(k) and not isinstance(k, np.integer) or k < 1:
            raise ValueError(f"k must be a whole number >= 1 (or None for every clip), got {k!r}")
        k = min(int(k), size)
        scores, indices = self.faiss_index.search(embeddings, k)
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
        self, texts: str | Sequence[str], k: int | None = 10, spoken_language: str = "en", sign_language: str = "ase"
    ) -> IndexSearchResult:
        """Clips that best match each text (`"house"` is tagged `<en> <ase> house`; full prompts kept)."""
        self._require_model()
        texts = text_queries(texts)
        prompts = [as_prompt(text, spoken_language, sign_language) for text in texts]
        return self.search_embeddings(embed_texts(self.model, self.processor, prompts), k, prompts)

    def search_pose(self, poses, k: int | None = 10, names: Sequence[str] | None = None) -> IndexSearchResult:
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
    "read_metadata",
    "text_queries",
    "METADATA_FILE",
    "IndexConfig",
    "IndexMetadata",
    "IndexSearchResult",
    "SignIndex",
    "StaleIndexError",
    "new_faiss_index",
    "set_search_parameters",
]
