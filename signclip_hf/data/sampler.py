"""Length-grouped batching: shuffled batches of clips of similar length, so padding waste stays small.

The order is a pure function of (seed, epoch): every process of a distributed run computes the same
batches, and the sharding then gives each process different ones. With accelerate, pass the batch
sampler to the DataLoader unsharded (`num_replicas=1`): `accelerator.prepare` wraps it in its
`BatchSamplerShard` (process i takes batches i, i + n, ...) and calls `.sampler.set_epoch(epoch)`
each epoch. With plain torch DDP, give `num_replicas` / `rank` to shard here instead. With `Trainer`,
return `LengthGroupedSampler(lengths, per_device_train_batch_size, seed=args.seed)` from
`_get_train_sampler` (or use its own `group_by_length=True, length_column_name="num_frames"`).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, Sampler
from transformers.trainer_pt_utils import get_length_grouped_indices


class LengthGroupedSampler(Sampler[int]):
    """Indices in an order whose consecutive `batch_size` chunks hold clips of similar length.

    Each epoch: transformers' `get_length_grouped_indices` (shuffle, megabatches of `megabatch_size`
    batches sorted by length, the longest clip first), then the order of the full batches is shuffled
    (transformers' `LengthGroupedSampler` is not used as is: it has no `set_epoch`, so its order depends on
    how often it was iterated rather than on (seed, epoch), and its batches run longest to shortest).
    A partial last batch stays last, so that batch boundaries fall on chunk boundaries.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, megabatch_size: int = 50, seed: int = 0):
        if batch_size < 1 or megabatch_size < 1:
            raise ValueError(f"batch_size and megabatch_size must be >= 1, got {batch_size}, {megabatch_size}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.megabatch_size, self.seed = batch_size, megabatch_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
        indices = np.asarray(
            get_length_grouped_indices(self.lengths.tolist(), self.batch_size, self.megabatch_size, generator),
            dtype=np.int64,
        )
        full = len(indices) // self.batch_size * self.batch_size
        chunks = indices[:full].reshape(-1, self.batch_size)[rng.permutation(full // self.batch_size)]
        return np.concatenate([chunks.reshape(-1), indices[full:]])

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return len(self.lengths)


class LengthGroupedBatchSampler(BatchSampler):
    """A `batch_sampler` for torch's DataLoader: length-grouped, shuffled, seeded, epoch-aware.

    Args:
        lengths: frames per clip (the dataset's `num_frames` column; see `from_dataset`).
        num_replicas / rank: shard the batches over processes here (plain DDP); leave 1 / 0 with
            accelerate, which shards the batch sampler itself. Every rank gets the same number of
            batches (wrapping around to the first batches if needed).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        drop_last: bool = False,
        megabatch_size: int = 50,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        super().__init__(LengthGroupedSampler(lengths, batch_size, megabatch_size, seed), batch_size, drop_last)
        self.num_replicas, self.rank = num_replicas, rank

    @classmethod
    def from_dataset(cls, dataset, batch_size: int, length_column: str = "num_frames", **kwargs):
        """Reads the lengths from a dataset column (only that column is read)."""
        from .rows import column_values

        return cls(column_values(dataset, length_column), batch_size, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def batches(self) -> list[np.ndarray]:
        """This rank's batches for the current epoch."""
        order = self.sampler.order()
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()
        total = -(-len(batches) // self.num_replicas) * self.num_replicas
        return [batches[i % len(batches)] for i in range(self.rank, total, self.num_replicas)]

    def __iter__(self) -> Iterator[list[int]]:
        return (batch.tolist() for batch in self.batches())

    def __len__(self) -> int:
        total = len(self.sampler) // self.batch_size if self.drop_last else -(-len(self.sampler) // self.batch_size)
        return -(-total // self.num_replicas)


def padding_waste(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Fraction of padded frames when each batch is padded to its longest clip."""
    lengths = np.asarray(lengths)
    padded = sum(int(lengths[b].max()) * len(b) for b in batches)
    return 1.0 - sum(int(lengths[b].sum()) for b in batches) / padded
