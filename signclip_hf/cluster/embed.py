"""`embed`: a pose dataset's SignCLIP embeddings (and optionally its prompts') as Parquet, on one machine or on Ray.

The clips of each split are sorted by length (stable) and cut into batches of `batch_size`, so a batch pads
to about its own length; `rows_per_part` consecutive clips of that order form one work item, whose
embeddings one worker (one loaded model per Ray actor) writes as `part-SPLIT-NNNNN.parquet` under a
scratch name renamed when complete. Each row holds its row id (`split`, `row`: the row's index in its
split), `file` and the float32 `pose_embedding` (+ `prompt` and `text_embedding` with `prompts`). The
manifest `embeddings.json` (model and weights fingerprint, feature-extractor settings, dataset, the
parts) is written last; a run into a folder with the same manifest skips the finished parts (resume).
`read_embeddings` returns the rows in row-id order; `signclip-hf index --embeddings` builds from them
without running the pose tower. The output may be a local folder or any fsspec URL.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from . import paths
from .runtime import RayConfig, map_items

MANIFEST = "embeddings.json"
FORMAT_VERSION = 1


@dataclass
class EmbedConfig:
    """How `embed` batches the clips.

    Attributes:
        batch_size: clips per pose-tower forward (clips of similar length: little padding).
        rows_per_part: clips per Parquet part file (the unit of work and of resuming).
        prompts: also embed each row's prompt (`"<spoken> <sign> text"`) with the text tower.
        text_column: the dataset column of the prompt text.
        split: embed only this split (None: every split).
    """

    batch_size: int = 32
    rows_per_part: int = 1024
    prompts: bool = False
    text_column: str = "text"
    split: str | None = None

    def __post_init__(self):
        if self.batch_size < 1 or self.rows_per_part < 1:
            raise ValueError(f"batch_size and rows_per_part must be >= 1, got {self.batch_size}, {self.rows_per_part}")


def _splits(dataset, split: str | None) -> dict[str | None, object]:
    from datasets import DatasetDict

    if not isinstance(dataset, DatasetDict):
        if split not in (None, "train"):
            raise ValueError(f"the dataset has no splits; asked for split {split!r}")
        return {None: dataset}
    if split is not None:
        if split not in dataset:
            raise ValueError(f"no split {split!r} in the dataset; splits: {list(dataset)}")
        return {split: dataset[split]}
    return dict(dataset)


def _lengths(part) -> np.ndarray:
    if "num_frames" in part.column_names:
        return np.asarray(part.with_format("numpy", columns=["num_frames"])["num_frames"], dtype=np.int64)
    return np.asarray([len(p) for p in part.select_columns(["pose"])["pose"]], dtype=np.int64)


def plan_items(dataset, config: EmbedConfig, output: str) -> list[dict]:
    """The work items: per split, the length-sorted row ids cut into parts of `rows_per_part` clips."""
    items = []
    for name, part in _splits(dataset, config.split).items():
        order = np.argsort(_lengths(part), kind="stable")
        label = name if name is not None else "all"
        for number, start in enumerate(range(0, len(order), config.rows_per_part)):
            key = f"part-{label}-{number:05d}.parquet"
            rows = order[start : start + config.rows_per_part].tolist()
            items.append({"key": key, "split": name, "rows": rows, "path": paths.join(output, key)})
    return items


class EmbedWorker:
    """One worker (a Ray actor, or the one process): the model and the dataset loaded once; an item -> its part."""

    def __init__(self, model: str, dataset: str, config: dict, device: str | None = None):
        import torch

        from ..data.collate import SignCLIPCollator
        from ..loading import load_dataset, load_model

        self.config = EmbedConfig(**config)
        self.model, self.processor = load_model(model)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(device).eval()
        self.device = device
        self.parts = _splits(load_dataset(dataset), self.config.split)
        self.collator = SignCLIPCollator(self.processor, text_column=None)

    def embed_rows(self, part, rows: list[int]) -> dict:
        import torch

        from ..data.collate import dataset_prompts
        from ..embedding import embed_texts

        columns = {"pose_embedding": [], "text_embedding": []}
        prompts: list[str] = []
        for start in range(0, len(rows), self.config.batch_size):
            batch = part.select(rows[start : start + self.config.batch_size])
            clips = batch.with_format("numpy", columns=["pose", "confidence"])[:]  # one Arrow read per batch
            inputs = self.collator([{"pose": p, "confidence": c} for p, c in zip(clips["pose"], clips["confidence"])])
            with torch.no_grad():
                features = self.model.get_pose_features(
                    inputs["pose_values"].to(self.device), inputs["pose_attention_mask"].to(self.device)
                ).pooler_output
            columns["pose_embedding"].append(features.float().cpu().numpy())
            if self.config.prompts:
                texts = dataset_prompts(batch, self.config.text_column)
                prompts.extend(texts)
                columns["text_embedding"].append(embed_texts(self.model, self.processor, texts))
        return {name: np.concatenate(values) for name, values in columns.items() if values}, prompts

    def __call__(self, item: dict) -> dict:
        import pyarrow as pa
        import pyarrow.parquet as pq

        part = self.parts[item["split"]]
        rows = item["rows"]
        vectors, prompts = self.embed_rows(part, rows)
        files = part.select_columns(["file"]).select(rows)["file"] if "file" in part.column_names else [""] * len(rows)
        table = {
            "split": pa.array([item["split"]] * len(rows), pa.string()),
            "row": pa.array(rows, pa.int64()),
            "file": pa.array(files, pa.string()),
        }
        if prompts:
            table["prompt"] = pa.array(prompts, pa.string())
        for name, matrix in vectors.items():
            flat = pa.array(matrix.astype(np.float32).reshape(-1), pa.float32())
            table[name] = pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])
        buffer = io.BytesIO()
        pq.write_table(pa.table(table), buffer)
        paths.write_bytes(item["path"], buffer.getvalue())
        return {"key": item["key"], "rows": len(rows)}


def _manifest(model_name: str, dataset_name: str, model, processor, config: EmbedConfig, items: list[dict]) -> dict:
    from ..embedding import model_fingerprint

    return {
        "format_version": FORMAT_VERSION,
        "model": os.fspath(model_name),
        "model_fingerprint": model_fingerprint(model),
        "feature_extractor": json.loads(processor.feature_extractor.to_json_string()),
        "embed_dim": int(model.config.embed_dim),
        "dataset": os.fspath(dataset_name),
        "config": asdict(config),
        "parts": [item["key"] for item in items],
        "num_rows": sum(len(item["rows"]) for item in items),
    }


def read_manifest(path: str) -> dict | None:
    target = paths.join(os.fspath(path), MANIFEST)
    if not paths.exists(target):
        return None
    fs, remote = paths.filesystem(target)
    with fs.open(remote, "rb") as handle:
        return json.loads(handle.read().decode("utf-8"))


def embed(model_name, dataset_name, output, config: EmbedConfig | None = None, ray_config: RayConfig | None = None):
    """Embed every clip of `dataset_name` with `model_name` into the Parquet folder `output`; returns the manifest.

    On one machine (`ray_config` None) the parts are written by one in-process worker, on Ray by an actor
    pool (one model per actor); the Parquet rows are the same either way.
    """
    from tqdm.auto import tqdm

    from ..loading import load_dataset, load_model

    config = config or EmbedConfig()
    output = os.fspath(output)
    dataset = load_dataset(dataset_name)
    items = plan_items(dataset, config, output)
    if not items:
        raise ValueError(f"{dataset_name}: no clips to embed")
    kwargs = {"model": os.fspath(model_name), "dataset": os.fspath(dataset_name), "config": asdict(config)}
    if ray_config is None:
        worker = EmbedWorker(**kwargs)
        model, processor = worker.model, worker.processor
    else:
        model, processor = load_model(model_name)  # for the manifest's weights fingerprint
    manifest = _manifest(model_name, dataset_name, model, processor, config, items)
    previous = read_manifest(output)
    if previous is not None and previous != manifest:
        raise FileExistsError(f"{output} holds embeddings of another model, dataset or settings; choose a new folder")
    if paths.is_local(output):
        os.makedirs(paths.local_path(output), exist_ok=True)
        foreign = [n for n in os.listdir(paths.local_path(output)) if n != MANIFEST and not n.startswith("part-")]
        if foreign:
            listed = ", ".join(sorted(foreign)[:5])
            raise FileExistsError(f"{output} holds files embed did not write ({listed}); choose a new folder")
    pending = [item for item in items if not paths.exists(item["path"])]  # finished parts are kept (resume)
    if ray_config is None:
        with tqdm(total=sum(len(i["rows"]) for i in pending), unit=" clips", desc="embedding poses") as progress:
            for item in pending:
                worker(item)
                progress.update(len(item["rows"]))
    else:
        if ray_config.num_gpus:
            kwargs["device"] = "cuda"
        clips = lambda item: len(item["rows"])  # noqa: E731
        map_items(pending, EmbedWorker, kwargs, ray_config, "embedding poses (Ray)", " clips", weight=clips)
    paths.write_bytes(paths.join(output, MANIFEST), json.dumps(manifest, indent=2).encode("utf-8"))  # written last
    return manifest


def read_embeddings(path, split: str | None = None):
    """The rows of an `embed` folder (a pyarrow Table), in row-id order (`split`, `row`); one split if given."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = os.fspath(path)
    manifest = read_manifest(path)
    if manifest is None:
        raise FileNotFoundError(f"{path}: not an embeddings folder (no {MANIFEST}; write one with `signclip-hf embed`)")
    tables = []
    for name in manifest["parts"]:
        target = paths.join(path, name)
        if not paths.exists(target):
            raise FileNotFoundError(f"{path}: part {name} is missing (an interrupted `embed`: run it again)")
        fs, remote = paths.filesystem(target)
        with fs.open(remote, "rb") as handle:
            table = pq.read_table(io.BytesIO(handle.read()))
        if split is not None:
            table = table.filter(pc.equal(table["split"], split))
        tables.append(table)
    import pyarrow as pa

    table = pa.concat_tables(tables)
    return table.sort_by([("split", "ascending"), ("row", "ascending")])


def embedding_matrix(table, column: str = "pose_embedding") -> np.ndarray:
    """The (N, E) float32 matrix of a `read_embeddings` table's column."""
    values = table[column].combine_chunks()
    return values.flatten().to_numpy().reshape(len(values), -1).astype(np.float32, copy=False)


def embedded_parts(path, model, processor, parts: list, names: list[str | None]) -> list:
    """The gallery `parts` (one per split `names`) with the `pose_embedding` column read from an `embed` folder.

    Refused when the folder was embedded with other weights or feature-extractor settings, or does not
    cover every row of a part.
    """
    import pyarrow.compute as pc
    from datasets import Sequence, Value

    from ..embedding import EMBEDDING_COLUMN, model_fingerprint

    manifest = read_manifest(os.fspath(path))
    if manifest is None:
        raise FileNotFoundError(f"{path}: not an embeddings folder (no {MANIFEST}; write one with `signclip-hf embed`)")
    if manifest["model_fingerprint"] != model_fingerprint(model):
        raise ValueError(f"{path}: embedded with model {manifest['model']}, whose weights differ from this model's")
    if manifest["feature_extractor"] != json.loads(processor.feature_extractor.to_json_string()):
        raise ValueError(f"{path}: embedded with other feature-extractor settings than this model's processor")
    table = read_embeddings(path)
    result = []
    for part, name in zip(parts, names):
        rows = table.filter(pc.is_null(table["split"]) if name is None else pc.equal(table["split"], name))
        ids = rows["row"].to_numpy()
        if len(ids) != len(part) or not np.array_equal(ids, np.arange(len(part))):
            raise ValueError(
                f"{path}: has {len(ids)} embeddings for split {name or '(none)'}, the dataset {len(part)} rows"
            )
        matrix = embedding_matrix(rows)
        feature = Sequence(Value("float32"), length=matrix.shape[1])
        source = part.remove_columns(EMBEDDING_COLUMN) if EMBEDDING_COLUMN in part.column_names else part
        result.append(source.add_column(EMBEDDING_COLUMN, list(matrix), feature=feature))
    return result


def gallery_parts_with_embeddings(path, model, processor, dataset, split: str | None = None) -> list:
    """The parts `SignIndex.build` indexes (one split, or every split in order) with their embeddings from `path`."""
    from datasets import DatasetDict

    if not isinstance(dataset, DatasetDict):
        return embedded_parts(path, model, processor, [dataset], [None])
    names = [split] if split is not None else list(dataset)
    missing = [name for name in names if name not in dataset]
    if missing:
        raise ValueError(f"no split {missing[0]!r} in the dataset; splits: {list(dataset)}")
    return embedded_parts(path, model, processor, [dataset[name] for name in names], names)


__all__ = [
    "EmbedConfig",
    "EmbedWorker",
    "embed",
    "embedded_parts",
    "embedding_matrix",
    "gallery_parts_with_embeddings",
    "read_embeddings",
]
