"""`signclip-hf serve` under load: N concurrent clients, dynamic batching on vs off, on loopback.

A model of the demo size (MiniLM text tower + 4-layer pose tower, `ModelSpec()`) or of the released size
(`--size released`: 12-layer, 768-wide towers; untrained weights cost the same) is saved and served by a real
`signclip-hf serve` subprocess on 127.0.0.1. For each N in `--clients`, N client threads (`requests`, one
session each) send one real clip per request (`/api/embed/pose`, the bundled gesture clips of 30 frames and
the 73- and 123-frame signs) for `--seconds`; throughput, p50/p95/p99 latency, errors (must be 0) and the
server's RSS are recorded, against the same server started with `--no-batching`. The lone-request latency
is compared with the model's own forward time on one clip, measured in this process. `--soak-seconds`
adds a long run at 16 clients with the server's RSS sampled every few seconds (it must stay flat).
Clients and server share the machine's cores: on 2 cores the clients' own CPU time is part of the figures,
so the default load generator (`--client raw`) is the cheapest honest one, as `wrk` would be: asyncio
keep-alive connections writing pre-built HTTP requests and reading each answer by its Content-Length;
`--client requests` uses one `requests.Session` thread per client, the way a user of the original calls it.

Two ceilings are measured in the same run, in this process: the model's own batching gain (per-clip forward
time of one 30-frame clip alone over the best per-clip time in a batch of 2-16), which bounds what any
dynamic batching can add when the forward is the bottleneck; and, by Little's law, the p99 a closed loop of
N clients can reach at the measured throughput (latency >= N / throughput).

    python benchmarks/serve_bench.py --quick          # < 1 min: demo size, 1 and 16 clients, 3 s each
    python benchmarks/serve_bench.py [--size released] [--clients 1,4,16,64] [--seconds 10] [--soak-seconds 300]
"""

from __future__ import annotations

import argparse
import asyncio
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

from urllib.parse import urlsplit

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


def forward_seconds(model_dir: Path, threads: int | None, batch_sizes=(1, 2, 4, 8, 16), repeats: int = 10) -> dict:
    """The model's own time per clip for batches of one 30-frame clip (`get_pose_features` on ready
    features), median of `repeats`: {batch size: seconds per clip}."""
    from signclip_hf.loading import load_model

    if threads is not None:
        torch.set_num_threads(threads)
    model, processor = load_model(model_dir)
    inputs = processor(poses=[str(sorted(GESTURES_DIR.rglob("*.pose"))[0])], return_tensors="pt")
    per_clip = {}
    with torch.inference_mode():
        for size in batch_sizes:
            values = inputs["pose_values"].expand(size, -1, -1).contiguous()
            mask = inputs["pose_attention_mask"].expand(size, -1).contiguous()
            times = []
            for _ in range(repeats + 2):
                started = time.perf_counter()
                model.get_pose_features(values, mask)
                times.append(time.perf_counter() - started)
            per_clip[size] = float(np.median(times[2:])) / size
    return per_clip


@contextlib.contextmanager
def server(model_dir: Path, batching: bool, threads: int | None = None, options: tuple[str, ...] = ()):
    """`signclip-hf serve` in a subprocess until the block ends (the tests' launcher): (url, process)."""
    port = free_port()
    command = [sys.executable, "-m", "signclip_hf.cli", "serve", str(model_dir), "--port", str(port)]
    command += ([] if batching else ["--no-batching"]) + ([] if threads is None else ["--threads", str(threads)])
    command += list(options)
    url = f"http://127.0.0.1:{port}"
    with serve(command, f"{url}/health", env=dict(os.environ, SIGNCLIP_API_KEY=""), timeout=300) as served:
        yield url, served.process


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, its threads included (Linux `/proc/PID/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(latencies: list[float], errors: list[str], wall: float) -> dict:
    values = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "requests/s": len(latencies) / wall,
        "p50 ms": float(np.percentile(values, 50)),
        "p95 ms": float(np.percentile(values, 95)),
        "p99 ms": float(np.percentile(values, 99)),
        "errors": len(errors),
        "first error": errors[0] if errors else "",
    }


def load_raw(url: str, bodies: list[str], clients: int, seconds: float) -> dict:
    """`clients` keep-alive connections (asyncio, one event loop) for `seconds`, each writing pre-built HTTP
    requests and reading the answer by its Content-Length: latencies and errors."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    head = "POST /api/embed/pose HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    prepared = [head.format(f"{host}:{port}", len(body.encode())).encode() + body.encode() for body in bodies]
    latencies: list[float] = []
    errors: list[str] = []

    async def client(index: int, stop_at: float) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        count = 0
        try:
            while time.monotonic() < stop_at:
                began = time.perf_counter()
                writer.write(prepared[(index + count) % len(prepared)])
                await writer.drain()
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                answer = await reader.readexactly(length)
                elapsed = time.perf_counter() - began
                if status == 200 and answer.startswith(b'{"embeddings":[['):
                    latencies.append(elapsed)
                else:
                    errors.append(f"{status} {answer[:100]!r}")
                count += 1
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            writer.close()

    async def run() -> float:
        began = time.perf_counter()
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(client(index, stop_at) for index in range(clients)))
        return time.perf_counter() - began

    wall = asyncio.run(run())
    return summary(latencies, errors, wall)


def load(url: str, bodies: list[str], clients: int, seconds: float) -> dict:
    """`clients` threads (one `requests.Session` each) sending requests for `seconds`: latencies and errors."""
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
    return summary(latencies, errors, time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("demo", "released"), default="demo")
    parser.add_argument("--clients", default="1,4,16,64", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each load level")
    parser.add_argument("--soak-seconds", type=float, default=0.0, help="a long run at 16 clients (RSS sampled)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the server (serve --threads)")
    parser.add_argument("--quick", action="store_true", help="demo size, 1 and 16 clients, 3 s each")
    parser.add_argument("--serve-args", default="", help='more `serve` options, e.g. "--max-wait-ms 10"')
    parser.add_argument("--client", choices=("raw", "requests"), default="raw", help="the load generator")
    args = parser.parse_args()
    if args.quick:
        args.size, args.clients, args.seconds, args.soak_seconds = "demo", "1,16", 3.0, 0.0
    levels = [int(part) for part in args.clients.split(",")]
    generate = load_raw if args.client == "raw" else load
    bodies = request_bodies()
    rows: list[dict] = []
    extra = {"size": args.size, "seconds_per_level": args.seconds, "cpu_cores": os.cpu_count(), "threads": args.threads}
    extra["client"], extra["serve_args"] = args.client, args.serve_args
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as folder:
        model_dir = save_model(args.size, Path(folder, "model"))
        per_clip = forward_seconds(model_dir, args.threads)
        extra["forward_ms_per_clip_by_batch"] = {size: round(value * 1000, 2) for size, value in per_clip.items()}
        extra["forward_ms_one_clip"] = per_clip[1] * 1000
        # the most any batching can add where the forward is the bottleneck
        extra["forward_batching_gain"] = per_clip[1] / min(per_clip.values())
        for batching in (True, False):
            with server(model_dir, batching, args.threads, tuple(args.serve_args.split())) as (url, process):
                generate(url, bodies, 2, 1.0)  # warm-up
                for clients in levels:
                    row = {"batching": "on" if batching else "off", "clients": clients}
                    cpu_before, began = process_cpu_seconds(process.pid), time.perf_counter()
                    row.update(generate(url, bodies, clients, args.seconds))
                    cpu = process_cpu_seconds(process.pid) - cpu_before
                    row["server CPU %"] = 100 * cpu / (time.perf_counter() - began)
                    row["server CPU ms/req"] = 1000 * cpu / max(1, row["requests/s"] * args.seconds)
                    row["server RSS MB"] = proc_status_mb("VmRSS", process.pid)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                if batching and args.soak_seconds > 0:
                    samples = []
                    for _ in range(max(1, int(args.soak_seconds // 10))):
                        soak = generate(url, bodies, 16, 10.0)
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
            # Little's law: 16 clients in a closed loop wait >= 16 / throughput on average
            extra["p99_at_16_over_lone_p50_floor"] = 16 / on[16]["requests/s"] * 1000 / on[1]["p50 ms"]
    report(f"serve_bench ({args.size} size, loopback; machine shared)", rows, extra)


if __name__ == "__main__":
    main()
