"""Dynamic batching: concurrent requests to one tower of one model share a forward pass.

Each request hands its decoded rows (a clip's features, a text's token ids) to the tower's `TowerBatcher`
and awaits its own embeddings. The batcher's loop (a task on the server's event loop) takes the first
waiting request, adds whatever else is waiting up to `max_rows` rows, waits at most `max_wait` seconds for
more while other requests are still being decoded (`expecting`; a lone request never waits), and runs the
forward pass on its own worker thread, so the event loop keeps accepting and decoding requests meanwhile.
While a pass runs, new requests queue up and form the next batch.

Rows are padded with their attention mask, so a row's embedding does not depend on its batch mates (equal
to one at a time up to float rounding). If a whole pass fails, each request is retried alone, so a failure
is reported to the request that caused it only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

logger = logging.getLogger("signclip_hf.serve")

# rows -> (len(rows), E) float32 embeddings; runs on the batcher's worker thread
Forward = Callable[[Sequence[Any]], np.ndarray]
# rows -> groups of row indices, each group one forward pass (e.g. by clip length); None: one group
Split = Callable[[Sequence[Any]], list[list[int]]]


class BatchFailedError(RuntimeError):
    """The forward pass of a request failed (an internal error, not the request's fault)."""


@dataclass
class BatcherStats:
    """Counters of one batcher (shown by `/health`)."""

    requests: int = 0
    rows: int = 0
    forward_passes: int = 0
    largest_batch: int = 0
    busy_seconds: float = 0.0


@dataclass
class _Job:
    rows: list
    future: asyncio.Future
    queued_at: float = field(default_factory=time.perf_counter)


class TowerBatcher:
    """Gathers the rows of concurrent requests into bounded forward passes of one tower.

    Args:
        name: for logs and errors, e.g. `"default/pose"`.
        forward: rows -> embeddings (called on this batcher's worker thread).
        max_rows: rows per forward pass; a request with more rows is split into several jobs.
        max_wait: seconds the first request of a batch may wait for others (0: never wait).
        batching: False: one request per forward pass (its rows together), as without a batcher.
        split: how a gathered batch is cut into forward passes (e.g. by length, to bound padding).
    """

    def __init__(
        self,
        name: str,
        forward: Forward,
        max_rows: int,
        max_wait: float,
        batching: bool = True,
        split: Split | None = None,
    ):
        self.name, self.forward, self.split = name, forward, split
        self.max_rows, self.max_wait, self.batching = max_rows, max_wait, batching
        self.stats = BatcherStats()
        self._jobs: deque[_Job] = deque()
        self._expected = 0  # requests being decoded that will submit here
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    # --- lifecycle (on the server's event loop) --------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._changed = asyncio.Event()
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"signclip-{self.name}")
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher {self.name}")

    async def close(self) -> None:
        """Stop after the pass in progress; requests still queued are told the server is stopping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._jobs:
            job = self._jobs.popleft()
            if not job.future.done():
                job.future.set_exception(BatchFailedError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # --- requests ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def expecting(self):
        """Around a request's decoding: a batch being gathered waits (up to `max_wait`) for its rows."""
        self._expected += 1
        try:
            yield
        finally:
            self._expected -= 1
            self._notify()

    async def submit(self, rows: Sequence[Any]) -> np.ndarray:
        """The (len(rows), E) embeddings of `rows`, computed in a shared forward pass."""
        if self._task is None:
            raise RuntimeError(f"batcher {self.name} is not running (the app's lifespan starts it)")
        if not rows:
            raise ValueError("no rows to embed")
        loop = asyncio.get_running_loop()
        chunks = [list(rows[start : start + self.max_rows]) for start in range(0, len(rows), self.max_rows)]
        jobs = [_Job(chunk, loop.create_future()) for chunk in chunks]
        self._jobs.extend(jobs)
        self.stats.requests += 1
        self._notify()
        try:
            parts = await asyncio.gather(*(job.future for job in jobs))
        except BaseException:
            for job in jobs:  # a cancelled request (client gone): its queued jobs are skipped
                job.future.cancel()
            raise
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    # --- the loop ----------------------------------------------------------------------------------------------

    async def _next_batch(self) -> list[_Job]:
        while not self._jobs:
            self._changed.clear()
            await self._changed.wait()
        loop = asyncio.get_running_loop()
        batch = [self._jobs.popleft()]
        rows = len(batch[0].rows)
        if not self.batching:
            return batch
        deadline = loop.time() + self.max_wait
        while rows < self.max_rows:
            while self._jobs and rows + len(self._jobs[0].rows) <= self.max_rows:
                job = self._jobs.popleft()
                batch.append(job)
                rows += len(job.rows)
            if self._jobs or rows >= self.max_rows or self._expected == 0:
                break  # full, or nobody else is on the way
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [job for job in await self._next_batch() if not job.future.done()]
            if not batch:
                continue
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self._run, [job.rows for job in batch])
            except asyncio.CancelledError:
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(BatchFailedError("the server is shutting down"))
                raise
            rows = sum(len(job.rows) for job in batch)
            self.stats.forward_passes += 1
            self.stats.rows += rows
            self.stats.largest_batch = max(self.stats.largest_batch, rows)
            self.stats.busy_seconds += time.perf_counter() - started
            for job, result in zip(batch, results):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _run(self, jobs: list[list]) -> list[np.ndarray | BaseException]:
        """On the worker thread: one pass over every job's rows; if it fails, each job alone."""
        rows = [row for job in jobs for row in job]
        try:
            embeddings = self._forward_rows(rows)
        except Exception as error:  # noqa: BLE001  isolate the job that fails
            if len(jobs) == 1:
                return [self._failure(error)]
            logger.warning("%s: a batch of %d requests failed (%s); retrying each alone", self.name, len(jobs), error)
            return [self._run([job])[0] for job in jobs]
        results, start = [], 0
        for job in jobs:
            results.append(embeddings[start : start + len(job)])
            start += len(job)
        return results

    def _forward_rows(self, rows: list) -> np.ndarray:
        groups = self.split(rows) if self.split is not None else [list(range(len(rows)))]
        if len(groups) == 1:
            return np.asarray(self.forward(rows), dtype=np.float32)
        output = None
        for group in groups:
            part = np.asarray(self.forward([rows[index] for index in group]), dtype=np.float32)
            if output is None:
                output = np.empty((len(rows), part.shape[1]), dtype=np.float32)
            output[group] = part
        return output

    def _failure(self, error: Exception) -> BaseException:
        if isinstance(error, ValueError):
            return error  # the request's own problem (reported as a bad request)
        logger.error("%s: forward pass failed", self.name, exc_info=error)
        return BatchFailedError(f"{self.name}: the forward pass failed ({type(error).__name__}: {error})")


def split_by_length(lengths: Sequence[int], max_padded: int, max_waste: float = 0.25) -> list[list[int]]:
    """Indices grouped by length, shortest first, one forward pass per group: each group's rows × longest row
    stays <= `max_padded` (bounding its memory; a row alone may exceed it) and its padding <= `max_waste` of
    its real frames, so short clips are not padded to a long clip's length (padding costs compute and memory,
    not accuracy: padded frames are masked)."""
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    groups: list[list[int]] = []
    current: list[int] = []
    frames = 0
    for index in order:
        padded = (len(current) + 1) * lengths[index]
        if current and (padded > max_padded or padded > (1 + max_waste) * (frames + lengths[index])):
            groups.append(current)
            current, frames = [], 0
        current.append(index)
        frames += lengths[index]
    if current:
        groups.append(current)
    return groups


__all__ = ["BatchFailedError", "BatcherStats", "TowerBatcher", "split_by_length"]
