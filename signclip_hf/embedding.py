"""Embedding poses and prompts in batches, the embedding cache, gallery search and the score scale.

A dataset is embedded once (`Dataset.map(batched=True)` with the model's `get_pose_features`) into a
`pose_embedding` column that is cached by `datasets` under a fingerprint of the model's weights and can be
saved with the dataset, so repeated evaluations never re-run the pose tower. Retrieval over a large
gallery is a chunked matrix product: memory is bounded by `chunk_size` gallery rows per step, whatever
the gallery's size.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from datasets import Dataset, Value
from datasets import Sequence as SequenceFeature
from tqdm.auto import tqdm

from .data.collate import SignCLIPCollator
from .modeling import SignCLIPProcessor

EMBEDDING_COLUMN = "pose_embedding"


def model_fingerprint(model: torch.nn.Module) -> str:
    """Hash of the model's config and weights: the cache key of its embeddings."""
    digest = hashlib.sha256(model.config.to_json_string().encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())  # 0-d too
    return digest.hexdigest()[:32]


def score_scale(model) -> float:
    """Factor from the dot product of the embeddings to `model.score` (the temperature of a cosine model)."""
    logit_scale = getattr(model, "logit_scale", None)
    return float(logit_scale.detach().exp()) if logit_scale is not None else 1.0


@torch.no_grad()
def embed_dataset(
    model,
    processor: SignCLIPProcessor,
    dataset: Dataset,
    batch_size: int = 32,
    output: str | os.PathLike | None = None,
    column: str = EMBEDDING_COLUMN,
) -> Dataset:
    """Add a `pose_embedding` column (float32, one vector per clip) computed with `model.get_pose_features`.

    `model` is a `SignCLIPModel` or `SignCLIPForVideoClassification`. A dataset loaded from disk gets its
    embeddings cached next to its Arrow files (keyed by the dataset, the weights and the feature extractor
    settings), so a second call is a cache hit; with `output` the embedded dataset is also saved there.
    """
    model.eval()
    collator = SignCLIPCollator(processor, text_column=None)
    device = next(model.parameters()).device
    embed_dim = model.config.embed_dim

    def embed_batch(batch: dict) -> dict:
        rows = [{"pose": pose, "confidence": conf} for pose, conf in zip(batch["pose"], batch["confidence"])]
        inputs = collator(rows)
        features = model.get_pose_features(
            inputs["pose_values"].to(device), inputs["pose_attention_mask"].to(device)
        ).pooler_output
        return {column: features.float().cpu().numpy()}

    settings = processor.feature_extractor.to_json_string()
    fingerprint = hashlib.sha256(f"{dataset._fingerprint}-{model_fingerprint(model)}-{settings}-{column}".encode())
    features = dataset.features.copy()
    features[column] = SequenceFeature(Value("float32"), length=embed_dim)
    source = dataset.remove_columns(column) if column in dataset.column_names else dataset
    embedded = source.with_format("numpy", columns=["pose", "confidence"], output_all_columns=True).map(
        embed_batch,
        batched=True,
        batch_size=batch_size,
        features=features,
        new_fingerprint=fingerprint.hexdigest()[:32],
        desc="embedding poses",
    )
    embedded = embedded.with_format(None)
    if output is not None:
        embedded.save_to_disk(os.fspath(output))
    return embedded


def embeddings_of(dataset: Dataset, column: str = EMBEDDING_COLUMN) -> np.ndarray:
    """The (N, E) float32 matrix of an embedded dataset's `pose_embedding` column."""
    if column not in dataset.column_names:
        raise ValueError(f"the dataset has no {column!r} column; run `embed_dataset` first")
    return np.asarray(dataset.with_format("numpy", columns=[column])[column], dtype=np.float32)


@torch.no_grad()
def embed_in_batches(model, items: Sequence, batch_size: int, features: Callable[[list], torch.Tensor]) -> np.ndarray:
    """(len(items), E) float32 embeddings, `features(batch of items)` giving a batch's (B, E) tensor."""
    model.eval()
    chunks = [
        features(list(items[start : start + batch_size])).float().cpu().numpy()
        for start in range(0, len(items), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, model.config.embed_dim), dtype=np.float32)


def embed_texts(model, processor: SignCLIPProcessor, prompts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """(len(prompts), E) text embeddings of full prompts (e.g. `"<en> <ase> hello"`) via `get_text_features`."""
    device = next(model.parameters()).device

    def features(batch: list[str]) -> torch.Tensor:
        inputs = processor(text=batch, return_tensors="pt")
        return model.get_text_features(**{key: value.to(device) for key, value in inputs.items()}).pooler_output

    return embed_in_batches(model, prompts, batch_size, features)


def embed_poses(model, processor: SignCLIPProcessor, poses: Sequence, batch_size: int = 32) -> np.ndarray:
    """(len(poses), E) pose embeddings of clips (paths, bytes, `pose_format.Pose`s or (T, K, 3) arrays)."""
    device = next(model.parameters()).device

    def features(batch: list) -> torch.Tensor:
        inputs = processor(poses=batch, return_tensors="pt")
        return model.get_pose_features(
            inputs["pose_values"].to(device), inputs["pose_attention_mask"].to(device)
        ).pooler_output

    return embed_in_batches(model, poses, batch_size, features)


@dataclass
class SearchResult:
    """Top-k gallery items per query, best first (`scores`, `indices`: (Q, k)).

    `positive_ranks` (Q,): with `positives`, the 1-based rank of each query's own gallery item, ties
    pessimistic (every other item scoring at least as high is ranked before it).
    """

    scores: np.ndarray
    indices: np.ndarray
    positive_ranks: np.ndarray | None = None


def search(
    queries: np.ndarray,
    gallery: np.ndarray,
    k: int = 10,
    chunk_size: int = 8192,
    positives: np.ndarray | None = None,
    progress: bool = False,
) -> SearchResult:
    """Top-k dot-product search of every query over the gallery, `chunk_size` gallery rows at a time.

    Working memory is O(Q × (chunk_size + k)) on top of the inputs: each chunk's (Q, chunk) score block
    is reduced to its top k (`torch.topk` on the same buffer) and merged with the running top k.
    Results are ordered by score, then by gallery index.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    gallery = np.asarray(gallery, dtype=np.float32)
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries {queries.shape} and gallery {gallery.shape} must be (n, d) with the same d")
    k = min(k, len(gallery))
    num_queries = len(queries)
    best_scores = np.full((num_queries, 0), -np.inf, dtype=np.float32)
    best_indices = np.zeros((num_queries, 0), dtype=np.int64)
    if positives is not None:
        positives = np.asarray(positives, dtype=np.int64)
        threshold = np.einsum("qd,qd->q", queries, gallery[positives])
        ranks = np.ones(num_queries, dtype=np.int64)
    rows = np.arange(num_queries)[:, None]
    for start in tqdm(range(0, len(gallery), chunk_size), desc="searching", disable=not progress):
        block = queries @ gallery[start : start + chunk_size].T  # (Q, C)
        if positives is not None:
            inside = (positives >= start) & (positives < start + block.shape[1])
            block[inside, positives[inside] - start] = -np.inf  # the positive itself is not counted
            ranks += np.count_nonzero(block >= threshold[:, None], axis=1)
            block[inside, positives[inside] - start] = threshold[inside]
        top_scores, top = torch.from_numpy(block).topk(min(k, block.shape[1]), dim=1, sorted=False)  # no copy
        candidate_scores = np.concatenate([best_scores, top_scores.numpy()], axis=1)
        candidate_indices = np.concatenate([best_indices, top.numpy() + start], axis=1)
        order = np.lexsort((candidate_indices, -candidate_scores), axis=1)[:, :k]
        best_scores, best_indices = candidate_scores[rows, order], candidate_indices[rows, order]
        del block
    return SearchResult(best_scores, best_indices, ranks if positives is not None else None)


__all__ = [
    "EMBEDDING_COLUMN",
    "SearchResult",
    "embed_dataset",
    "embed_poses",
    "embed_texts",
    "embeddings_of",
    "model_fingerprint",
    "search",
]
