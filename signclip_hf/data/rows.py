"""Fast random access to the rows of a built pose dataset: numpy views straight into the Arrow data.

`Dataset.with_format("numpy")` decodes each Array3D cell through Python objects (~1 ms per clip);
`PoseRows` instead takes, once per record batch, zero-copy numpy views of the flattened keypoints and
slices a clip out by its frame offsets, so a shuffled batch of 64 costs microseconds per clip and no
memory beyond the memory-mapped files. It is a torch map-style dataset (`__getitems__` included),
so it goes straight into a DataLoader with `LengthGroupedBatchSampler` and `SignCLIPCollator`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyarrow as pa
from datasets import Dataset


def column_values(dataset: Dataset, name: str) -> np.ndarray:
    """One column as a numpy array, in the dataset's row order (an indices mapping from select() included)."""
    return dataset.select_columns([name]).with_format("numpy")[:][name]


def _storage(array: pa.Array) -> pa.Array:
    return array.storage if isinstance(array, pa.ExtensionArray) else array


class PoseRows:
    """Rows of a built pose dataset as dicts of numpy arrays / Python scalars (same values as numpy format).

    `pose` and `confidence` are read-only views into the dataset's Arrow memory.
    """

    def __init__(self, dataset: Dataset):
        self.features = dataset.features
        self.column_names = dataset.column_names
        self._indices = None if dataset._indices is None else dataset._indices.column(0).to_numpy()
        num_points = self.features["pose"].shape[1]
        self._frames, self._pose, self._confidence, self._columns = [], [], [], []
        batches = [b for b in dataset.data.table.to_batches() if b.num_rows]
        for batch in batches:
            pose = _storage(batch.column("pose"))
            offsets = pose.offsets.to_numpy()
            values = pose.flatten().flatten().flatten().to_numpy(zero_copy_only=False)
            confidence = _storage(batch.column("confidence")).flatten().flatten().to_numpy(zero_copy_only=False)
            frames = offsets[-1] - offsets[0]
            if values.size != frames * num_points * 3 or confidence.size != frames * num_points:
                raise ValueError(f"pose/confidence columns are not regular ({num_points} points per frame)")
            self._frames.append(offsets - offsets[0])
            self._pose.append(values.reshape(frames, num_points, 3))
            self._confidence.append(confidence.reshape(frames, num_points))
            self._columns.append(
                {name: batch.column(name) for name in self.column_names if name not in ("pose", "confidence")}
            )
        self._starts = np.cumsum([0] + [b.num_rows for b in batches])

    def __len__(self) -> int:
        return len(self._indices) if self._indices is not None else int(self._starts[-1])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"row {index} out of range for {len(self)} rows")
        row = int(self._indices[index] if self._indices is not None else index % len(self))
        chunk = int(np.searchsorted(self._starts, row, side="right") - 1)
        local = row - int(self._starts[chunk])
        start, end = self._frames[chunk][local], self._frames[chunk][local + 1]
        item = {name: column[local].as_py() for name, column in self._columns[chunk].items()}
        item["pose"] = self._pose[chunk][start:end]
        item["confidence"] = self._confidence[chunk][start:end]
        return item

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        return [self[int(i)] for i in indices]
