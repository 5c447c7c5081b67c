"""Top-10 retrieval over a 100k-clip gallery of cached 768-d embeddings, 1,000 queries (CPU).

Measures `signclip_hf.evaluation.search` (chunked matmul + running top-k + the rank of each query's own
item) for two chunk sizes, and the matmul-bound minimum (one big (1000, 100k) matmul, no top-k) in the
same run. Peak memory is the extra memory allocated during the search, measured with tracemalloc
(numpy reports its buffers to it); the gallery itself (100k × 768 float32 = 307 MB) is not counted.

    python benchmarks/retrieval_bench.py [--gallery 100000] [--queries 1000] [--dim 768]
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np
from common import report

from signclip_hf.embedding import search


def measure(function, repeats: int) -> tuple[float, float, object]:
    """(best seconds, peak extra MiB, last result) over `repeats` runs."""
    best, peak, result = float("inf"), 0.0, None
    for _ in range(repeats):
        tracemalloc.start()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
        peak = max(peak, tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[2048, 16384])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    gallery = rng.standard_normal((args.gallery, args.dim), dtype=np.float32)
    positives = rng.choice(args.gallery, size=args.queries, replace=False)
    # queries near their own gallery item, so the ranks are meaningful (as for real paired embeddings)
    queries = gallery[positives] + 6.0 * rng.standard_normal((args.queries, args.dim), dtype=np.float32)

    rows = []
    for chunk_size in args.chunk_sizes:
        seconds, peak, result = measure(
            lambda: search(queries, gallery, k=args.k, chunk_size=chunk_size, positives=positives), args.repeats
        )
        ranks = result.positive_ranks
        rows.append({
            "method": f"search chunk={chunk_size}", "seconds": seconds, "peak_extra_mib": peak,
            "score_block_mib": args.queries * chunk_size * 4 / 2**20,
            "R@1": float((ranks <= 1).mean()), "R@10": float((ranks <= 10).mean()),
            "MedianR": float(np.median(ranks)),
            "top1_is_own_item": float((result.indices[:, 0] == positives).mean()),
        })
    seconds, peak, _ = measure(lambda: queries @ gallery.T, args.repeats)
    rows.append({"method": "one matmul (no top-k)", "seconds": seconds, "peak_extra_mib": peak,
                 "score_block_mib": args.queries * args.gallery * 4 / 2**20})

    report(
        f"retrieval: top-{args.k} of {args.queries:,} queries over a {args.gallery:,} x {args.dim} float32 gallery "
        f"({gallery.nbytes / 2**20:.0f} MiB, not counted in peak_extra_mib), best of {args.repeats}",
        rows,
        {"gallery": args.gallery, "queries": args.queries, "dim": args.dim, "k": args.k,
         "load_average": [round(x, 2) for x in os.getloadavg()]},
    )

if __name__ == "__main__":
    main()
