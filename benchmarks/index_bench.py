"""Dictionary-scale search: FAISS exact / IVF / HNSW inner-product indexes vs the package's chunked matmul.

For each gallery size and dimension (1,000 queries, top-10), in one run: the package's chunked matmul
search (`signclip_hf.evaluation.search`), the matmul-bound minimum (the same (Q, N) products without
top-k, in 65,536-row chunks so that the 1M gallery fits), FAISS `IndexFlatIP` (exact), and the approximate
indexes the package builds (`signclip_hf.search.index.new_faiss_index`): IVF over an nprobe sweep and HNSW
over an efSearch sweep, each with recall@10 against exact, query throughput, speedup over FAISS exact,
build time and memory (RSS growth while building, sampled every 10 ms, and what the index keeps).

Data: `random` = i.i.d. Gaussian vectors (the worst case for approximate search:
no structure to exploit); `clustered` = a labelled synthetic variant closer to real embeddings (N/100
Gaussian centres, points = centre + Gaussian noise of the same scale; queries drawn the same way).

FAISS 1.15's `IndexFlatIP` only uses BLAS from `distance_compute_blas_threshold` = 128,000 queries on;
below that it scans one query at a time. Both are measured: the default (galleries up to
`--faiss-default-max`) and BLAS from 20 queries on (`faiss.cvar.distance_compute_blas_threshold = 20`).

    python benchmarks/index_bench.py [--sizes 10000 100000 1000000] [--dims 768 384] [--data random clustered]
    python benchmarks/index_bench.py --quick
"""

from __future__ import annotations

import argparse
import gc
import time

import faiss
import numpy as np
from common import MemorySampler, report, timed

from signclip_hf.embedding import search
from signclip_hf.search.index import IndexConfig, new_faiss_index, training_sample

NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
EF_SEARCH = (16, 32, 64, 128, 256, 512)
DEFAULT_BLAS_THRESHOLD = faiss.cvar.distance_compute_blas_threshold


def vectors(kind: str, count: int, dim: int, seed: int, num_clusters: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.standard_normal((count, dim), dtype=np.float32)
    centres = np.random.default_rng(12345).standard_normal((num_clusters, dim), dtype=np.float32)
    points = rng.standard_normal((count, dim), dtype=np.float32)
    points *= np.float32(1.0)
    points += centres[rng.integers(num_clusters, size=count)]
    return points


def matmul_bound(queries: np.ndarray, gallery: np.ndarray, chunk: int = 65536) -> float:
    """Seconds for all (Q, N) dot products, no top-k: the floor for any exact search."""
    start = time.perf_counter()
    for begin in range(0, len(gallery), chunk):
        block = queries @ gallery[begin : begin + chunk].T
        del block
    return time.perf_counter() - start


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth))
    return hits / truth.size


def build(config: IndexConfig, gallery: np.ndarray):
    """(index, build seconds, peak MiB, kept MiB) for the package's index of `config.kind`."""
    config = config.resolved(len(gallery))
    with MemorySampler() as memory:
        start = time.perf_counter()
        index = new_faiss_index(config, gallery.shape[1])
        if config.kind == "ivf":
            index.train(gallery[training_sample(len(gallery), config)])
        index.add(gallery)
        seconds = time.perf_counter() - start
    return index, seconds, memory.peak_growth, memory.kept


def bench_one(data: str, size: int, dim: int, args) -> tuple[list[dict], dict]:
    gallery = vectors(data, size, dim, seed=0, num_clusters=max(10, size // 100))
    queries = vectors(data, args.queries, dim, seed=1, num_clusters=max(10, size // 100))
    k = args.k
    base = {"data": data, "N": size, "dim": dim}
    rows = []
    bound = min(matmul_bound(queries, gallery) for _ in range(args.repeats))
    rows.append({**base, "method": "matmul-bound (no top-k)", "seconds": bound, "QPS": args.queries / bound})
    package_seconds, reference = timed(lambda: search(queries, gallery, k, chunk_size=65536), args.repeats)
    rows.append(
        {
            **base,
            "method": "package chunked matmul",
            "seconds": package_seconds,
            "QPS": args.queries / package_seconds,
            "x matmul-bound": package_seconds / bound,
        }
    )
    index, build_s, peak, kept = build(IndexConfig(kind="exact"), gallery)
    if size <= args.faiss_default_max:
        faiss.cvar.distance_compute_blas_threshold = DEFAULT_BLAS_THRESHOLD
        seconds, _ = timed(lambda index=index: index.search(queries, k), args.repeats)
        rows.append(
            {
                **base,
                "method": "FAISS exact (FlatIP), default",
                "seconds": seconds,
                "QPS": args.queries / seconds,
                "x matmul-bound": seconds / bound,
            }
        )
    faiss.cvar.distance_compute_blas_threshold = 20
    exact_s, (_, truth) = timed(lambda index=index: index.search(queries, k), args.repeats)
    rows.append(
        {
            **base,
            "method": "FAISS exact (FlatIP), BLAS",
            "seconds": exact_s,
            "QPS": args.queries / exact_s,
            "x matmul-bound": exact_s / bound,
            "recall@10": recall_at_k(truth, reference.indices),
            "build s": build_s,
            "build peak MiB": peak,
            "index MiB": kept,
        }
    )
    del index
    gc.collect()
    approximate = [("ivf", IndexConfig(kind="ivf", nlist=args.nlist or max(1, int(np.sqrt(size))), seed=0), NPROBES)]
    if size <= args.hnsw_max:
        approximate.append(
            ("hnsw", IndexConfig(kind="hnsw", hnsw_m=args.hnsw_m, ef_construction=args.ef_construction), EF_SEARCH)
        )
    best = {}
    for kind, config, sweep in approximate:
        index, build_s, peak, kept = build(config, gallery)
        for value in sweep:
            if kind == "ivf":
                if value > index.nlist:
                    break
                index.nprobe = value
                label = f"IVF{index.nlist} nprobe={value}"
            else:
                index.hnsw.efSearch = value
                label = f"HNSW{config.hnsw_m} efSearch={value}"
            seconds, (_, found) = timed(lambda index=index: index.search(queries, k), args.repeats)
            recall = recall_at_k(found, truth)
            row = {
                **base,
                "method": label,
                "seconds": seconds,
                "QPS": args.queries / seconds,
                "speedup vs exact": exact_s / seconds,
                "recall@10": recall,
                "build s": build_s,
                "build peak MiB": peak,
                "index MiB": kept,
            }
            rows.append(row)
            if recall >= args.target_recall and row["speedup vs exact"] > best.get("speedup vs exact", 0):
                best = row
            if recall >= 0.999 or row["speedup vs exact"] < 1:  # more probes: no better, or only slower
                break
        del index
        gc.collect()
    verdict = {
        **base,
        "best approximate at target recall": best.get("method", "none"),
        "speedup": best.get("speedup vs exact", 0.0),
        "recall@10": best.get("recall@10", 0.0),
        "pays": bool(best) and best["speedup vs exact"] > 1.0,
    }
    return rows, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[768, 384])
    parser.add_argument("--data", nargs="+", choices=("random", "clustered"), default=["random", "clustered"])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--nlist", type=int, default=None, help="IVF lists (default sqrt(N))")
    parser.add_argument("--hnsw-max", type=int, default=20_000, help="build HNSW only up to this gallery size")
    parser.add_argument(
        "--faiss-default-max",
        type=int,
        default=100_000,
        help="time FAISS exact with its default BLAS threshold only up to this gallery size",
    )
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small galleries (5k, 20k), 200 queries, 384-d")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.dims, args.queries, args.repeats = [5_000, 20_000], [384], 200, 1
    rows, verdicts = [], []
    for data in args.data:
        for dim in args.dims:
            for size in args.sizes:
                found, verdict = bench_one(data, size, dim, args)
                rows += found
                verdicts.append(verdict)
                print(f"done {data} N={size} d={dim}: {verdict}", flush=True)
    crossover = {}
    for verdict in verdicts:
        key = f"{verdict['data']} {verdict['dim']}-d"
        if verdict["pays"] and key not in crossover:
            crossover[key] = verdict["N"]
    report(
        "index search: FAISS exact / IVF / HNSW vs chunked matmul (top-10)",
        rows,
        {
            "verdicts": verdicts,
            "crossover_N": crossover,
            "queries": args.queries,
            "k": args.k,
            "target_recall": args.target_recall,
        },
    )
    report("index search: best approximate index at recall@10 >= target", verdicts)


if __name__ == "__main__":
    main()
