"""`signclip-hf serve` under load: N concurrent clients, dynamic batching on vs off, on loopback.

A model of the demo size (MiniLM text tower + 4-layer pose tower, `ModelSpec()`) or of the released size
(`--size released`: 12-layer, 768-wide towers; untrained weights cost the same) is saved and served by a real
`signclip-hf serve` subprocess on 127.0.0.1. For each N in `--clients`, N client threads (`requests`, one
session each) send one real clip per request (`/api/embed/pose`, the bundled gesture clips of 30 frames and
the 73- and 123-frame signs) for `--seconds`; throughput, p50/p95/p99 latency, errors (must be 0) and the
server's RSS are recorded, against the same server started with `--no-batching`. The lone-request latency
is compared with the model's own forward time on one clip, measured in this process. `--soak-seconds`
adds a long run at 16 clients with the server's RSS sampled every few seconds (it must stay flat).
Clients and server share the machine's cores: on 2 cores the clients' own CPU time is part of the figures.

    python benchmarks/serve_bench.py --quick          # < 1 min: demo size, 1 and 16 clients, 3 s each
    python benchmarks/serve_bench.py [--size released] [--clients 1,4,16,64] [--seconds 10] [--soak-seconds 300]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
import torch
from common import proc_status_mb, report

from signclip_hf.model_factory import ModelSpec, build_model, build_processor
from signclip_hf.sample_data import GESTURES_DIR, HOUSE_POSE, SAMPLE_DIR

from fixtures.app_server import serve
from fixtures.launch import free_port

HEADERS = {"Content-Type": "application/json"}


def save_model(size: str, directory: Path) -> Path:
    spec = ModelSpec()
    model, processor = build_model(spec), build_processor(spec)
    if size == "released":
        from signclip_hf.modeling import SignCLIPConfig, SignCLIPModel

        base = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
        config = SignCLIPConfig(
            pose_config=dict(base, vocab_size=103), text_config=dict(base, model_type="bert", vocab_size=30522)
        )
        model = SignCLIPModel(config).eval()
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def request_bodies() -> list[str]:
    clips = sorted(GESTURES_DIR.rglob("*.pose"))[:6] + [HOUSE_POSE, SAMPLE_DIR / "signs" / "dgs-HOUSE1A.pose"]
    return [json.dumps({"pose": [base64.b64encode(path.read_bytes()).decode()]}) for path in clips]


def forward_seconds(model_dir: Path, threads: int | None, repeats: int = 20) -> float:
    """The model's own time for one 30-frame clip (`get_pose_features` on ready features), median."""
    from signclip_hf.loading import load_model

    if threads is not None:
        torch.set_num_threads(threads)
    model, processor = load_model(model_dir)
    inputs = processor(poses=[str(sorted(GESTURES_DIR.rglob("*.pose"))[0])], return_tensors="pt")
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 3):
            started = time.perf_counter()
            model.get_pose_features(inputs["pose_values"], inputs["pose_attention_mask"])
            times.append(time.perf_counter() - started)
    return float(np.median(times[3:]))


@contextlib.contextmanager
def server(model_dir: Path, batching: bool, threads: int | None = None):
    """`signclip-hf serve` in a subprocess until the block ends (the tests' launcher): (url, process)."""
    port = free_port()
    command = [sys.executable, "-m", "signclip_hf.cli", "serve", str(model_dir), "--port", str(port)]
    command += ([] if batching else ["--no-batching"]) + ([] if threads is None else ["--threads", str(threads)])
    url = f"http://127.0.0.1:{port}"
    with serve(command, f"{url}/health", env=dict(os.environ, SIGNCLIP_API_KEY=""), timeout=300) as served:
        yield url, served.process


def load(url: str, bodies: list[str], clients: int, seconds: float) -> dict:
    """`clients` threads sending requests for `seconds`: latencies and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        with requests.Session() as session:
            start.wait()
            count = 0
            while time.monotonic() < stop_at[0]:
                body = bodies[(index + count) % len(bodies)]
                began = time.perf_counter()
                try:
                    response = session.post(f"{url}/api/embed/pose", data=body, headers=HEADERS, timeout=120)
                    failed = None if response.status_code == 200 else f"{response.status_code} {response.text[:100]}"
                except requests.RequestException as error:
                    failed = f"{type(error).__name__}: {error}"
                elapsed = time.perf_counter() - began
                with lock:
                    (errors.append(failed) if failed else latencies.append(elapsed))
                count += 1

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    values = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "requests/s": len(latencies) / wall,
        "p50 ms": float(np.percentile(values, 50)),
        "p95 ms": float(np.percentile(values, 95)),
        "p99 ms": float(np.percentile(values, 99)),
        "errors": len(errors),
        "first error": errors[0] if errors else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("demo", "released"), default="demo")
    parser.add_argument("--clients", default="1,4,16,64", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each load level")
    parser.add_argument("--soak-seconds", type=float, default=0.0, help="a long run at 16 clients (RSS sampled)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the server (serve --threads)")
    parser.add_argument("--quick", action="store_true", help="demo size, 1 and 16 clients, 3 s each")
    args = parser.parse_args()
    if args.quick:
        args.size, args.clients, args.seconds, args.soak_seconds = "demo", "1,16", 3.0, 0.0
    levels = [int(part) for part in args.clients.split(",")]
    bodies = request_bodies()
    rows: list[dict] = []
    extra = {"size": args.size, "seconds_per_level": args.seconds, "cpu_cores": os.cpu_count(), "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as folder:
        model_dir = save_model(args.size, Path(folder, "model"))
        extra["forward_ms_one_clip"] = forward_seconds(model_dir, args.threads) * 1000
        for batching in (True, False):
            with server(model_dir, batching, args.threads) as (url, process):
                load(url, bodies, 2, 1.0)  # warm-up
                for clients in levels:
                    row = {"batching": "on" if batching else "off", "clients": clients}
                    row.update(load(url, bodies, clients, args.seconds))
                    row["server RSS MB"] = proc_status_mb("VmRSS", process.pid)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                if batching and args.soak_seconds > 0:
                    samples = []
                    for _ in range(max(1, int(args.soak_seconds // 10))):
                        soak = load(url, bodies, 16, 10.0)
                        samples.append(round(proc_status_mb("VmRSS", process.pid), 1))
                        assert soak["errors"] == 0, soak
                    extra["soak_rss_mb_every_10s"] = samples
                mode = "on" if batching else "off"
                extra[f"server_peak_rss_mb_batching_{mode}"] = proc_status_mb("VmHWM", process.pid)
                stats = requests.get(f"{url}/health", timeout=30).json()["batching"]["default/pose"]
                extra[f"pose_batches_{'on' if batching else 'off'}"] = stats
    on = {row["clients"]: row for row in rows if row["batching"] == "on"}
    off = {row["clients"]: row for row in rows if row["batching"] == "off"}
    for clients in levels:
        extra[f"speedup_at_{clients}"] = on[clients]["requests/s"] / max(off[clients]["requests/s"], 1e-9)
    if 1 in on:
        extra["lone_request_overhead_ms"] = on[1]["p50 ms"] - extra["forward_ms_one_clip"]
        if 16 in on:
            extra["p99_at_16_over_lone_p50"] = on[16]["p99 ms"] / on[1]["p50 ms"]
    report(f"serve_bench ({args.size} size, loopback; machine shared)", rows, extra)


if __name__ == "__main__":
    main()
