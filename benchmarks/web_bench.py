"""The SignCLIP web page (`signclip-hf web`) in headless Chromium: milliseconds per 100-frame clip and page load
to the first answer, with onnxruntime-web (wasm) on this machine.

A demo-size model (`ModelSpec()`: MiniLM text tower, 4-layer 384-wide pose tower; `--size released`: a 12-layer
768-wide pose tower as released) is exported with `export_model` (a 100-gloss vocabulary), the site is written by
`build_site` (vocabulary only) and served from 127.0.0.1 with the cross-origin isolation headers (so onnxruntime-web
may use threads). In the page: features in JavaScript + the pose graph on a real clip cut to 100 frames (median of
`--repeats`, wall time from the page's `performance.now`, and the browser renderer's CPU time per clip from /proc,
which a shared machine disturbs less), the graph alone, and the time from navigation start to the model being
ready and to the first ranked answer. For reference, the same graph in Python onnxruntime (CPU, same thread
count) on the same features. `--precision int8`: the exporter's `quantize_graphs` on the same export, for speed
only (the untrained weights' zero-shot top-1 is noise, so `export --quantize int8` would refuse them).
Target: demo size <= 300 ms per clip.

    python benchmarks/web_bench.py [--quick] [--size demo|released] [--precision fp32|int8] [--threads N]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import report

from signclip_hf.sample_data import GESTURES_DIR, SAMPLE_DIR

from fixtures.web_page import call, chromium, serve_site

TARGET_MS = {"demo": 300.0, "released": None}
CLIP = SAMPLE_DIR / "signs" / "dgs-HOUSE1A.pose"  # 123 real frames, cut to the first 100
CUT = {"max_frames": 100, "long_clip_policy": "truncate"}


def build_model(size: str):
    from signclip_hf.modeling import SignCLIPConfig, SignCLIPModel

    from signclip_hf.model_factory import ModelSpec, build_model, build_processor, default_text_model

    spec = ModelSpec()
    processor = build_processor(spec)
    if size == "demo":
        return build_model(spec), processor
    from transformers import AutoConfig

    text = AutoConfig.from_pretrained(default_text_model()).to_dict()
    pose = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
    config = SignCLIPConfig(
        pose_config={**pose, "vocab_size": 103, "input_dim": 609}, text_config=text, projection_dim=768
    )
    return SignCLIPModel(config).eval(), processor


def vocabulary(count: int) -> str:
    import csv

    with open(GESTURES_DIR / "metadata.csv", newline="") as handle:
        glosses = sorted({row["label"] for row in csv.DictReader(handle)})
    return "\n".join(glosses + [f"sign {i}" for i in range(count - len(glosses))]) + "\n"


def python_onnxruntime_ms(graph: Path, threads: int, repeats: int) -> float:
    import numpy as np
    import onnxruntime
    from signclip_hf.modeling import SignCLIPFeatureExtractor

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    values = SignCLIPFeatureExtractor(**CUT)(str(CLIP))["pose_values"]
    inputs = {"pose_values": values, "pose_attention_mask": np.ones(values.shape[:2], dtype=np.int64)}
    session.run(None, inputs)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run(None, inputs)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def renderer_cpu_seconds(driver) -> float:
    """User + system CPU seconds of this browser's renderer processes (Linux /proc; descendants of this
    chromedriver): what the page itself computed, less disturbed than wall time by other work on a shared machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                renderer = b"--type=renderer" in (entry / "cmdline").read_bytes()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks, renderer)

    def descends(pid: int, ancestor: int) -> bool:
        while pid in stats and pid > 1:
            pid = stats[pid][0]
            if pid == ancestor:
                return True
        return False

    root = driver.service.process.pid
    return sum(cpu for pid, (_, cpu, renderer) in stats.items() if renderer and descends(pid, root))


def add_int8_graphs(export: Path) -> None:
    """int8 pose/text graphs made by the exporter's own `quantize_graphs`, recorded in the manifest: for their
    speed only (`export --quantize int8` refuses these untrained weights, whose zero-shot top-1 is noise)."""
    from signclip_hf.export.exporter import GRAPHS, file_record, quantize_graphs

    quantize_graphs(export)
    manifest = json.loads((export / "signclip_onnx.json").read_text())
    manifest["graphs"]["int8"] = GRAPHS["int8"]
    manifest["files"].update({path: file_record(export / path) for path in GRAPHS["int8"].values()})
    (export / "signclip_onnx.json").write_text(json.dumps(manifest, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("demo", "released"), default="demo")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="the pose graph the page runs")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--glosses", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="wasm threads (default: the page's choice)")
    parser.add_argument("--quick", action="store_true", help="5 repeats, a 20-gloss vocabulary")
    args = parser.parse_args()
    repeats, glosses = (5, 20) if args.quick else (args.repeats, args.glosses)

    from signclip_hf.export import ExportConfig, export_model
    from signclip_hf.pipeline import save_for_pipeline
    from signclip_hf.web.site import SiteConfig, build_site

    with tempfile.TemporaryDirectory(prefix="signclip-web-bench-") as folder:
        folder = Path(folder)
        started = time.perf_counter()
        model, processor = build_model(args.size)
        save_for_pipeline(model, processor, folder / "model")
        (folder / "glosses.txt").write_text(vocabulary(glosses))
        config = ExportConfig(vocabulary=str(folder / "glosses.txt"), verify_clips=2)
        export_model(folder / "model", folder / "export", config)
        if args.precision == "int8":
            add_int8_graphs(folder / "export")
        site_config = SiteConfig(precision=args.precision, threads=args.threads, free_text=False)
        built = build_site(folder / "export", folder / "site", site_config)
        prepare_s = time.perf_counter() - started
        graph = (
            folder
            / "export"
            / json.loads((folder / "export" / "signclip_onnx.json").read_text())["graphs"][args.precision]["pose"]
        )
        clip = base64.b64encode(CLIP.read_bytes()).decode()
        with serve_site(folder / "site") as url, chromium(script_timeout=600) as driver:
            navigation = time.perf_counter()
            driver.get(url)
            info = call(driver, "window.signclip.ready")
            first = call(
                driver, "window.signclip.rank(arguments[0]).then((r) => ({ ms: r.ms, at: performance.now() }))", clip
            )
            first_wall_ms = 1000 * (time.perf_counter() - navigation)
            keep = "(() => { const t = atob(arguments[0]); const b = new Uint8Array(t.length);"
            keep += (
                " for (let i = 0; i < t.length; i++) b[i] = t.charCodeAt(i); window.__clip = b; return b.length; })()"
            )
            call(driver, keep, clip)  # sent once: the timings below are the page's own (performance.now)
            embed = "window.signclip.embed(window.__clip, arguments[0])"
            call(driver, embed, CUT)  # warm-up
            cpu_before = renderer_cpu_seconds(driver)
            runs = [call(driver, embed, CUT) for _ in range(repeats)]
            cpu_ms = 1000 * (renderer_cpu_seconds(driver) - cpu_before) / repeats
        assert all(run["frames"] == 100 for run in runs)
        per_clip = statistics.median(run["ms"] + run["featuresMs"] for run in runs)
        graph_ms = statistics.median(run["ms"] for run in runs)
        features_ms = statistics.median(run["featuresMs"] for run in runs)
        python_ms = python_onnxruntime_ms(graph, info["threads"], repeats)
        graph_mb = graph.stat().st_size / 1e6
    target = TARGET_MS[args.size] or "-"
    rows = [
        {"what": "ms per 100-frame clip (features + pose graph), wall", "value": per_clip, "target": target},
        {"what": "ms per 100-frame clip, renderer CPU time", "value": cpu_ms, "target": target},
        {"what": "  pose graph alone (onnxruntime-web wasm), wall", "value": graph_ms, "target": "-"},
        {"what": "  features in JavaScript, wall", "value": features_ms, "target": "-"},
        {"what": "  same graph, Python onnxruntime CPU, wall", "value": python_ms, "target": "-"},
        {"what": "page load to model ready (ms)", "value": info["loadedMs"], "target": "-"},
        {"what": "page load to first answer (ms, in page)", "value": first["at"], "target": "-"},
        {"what": "page load to first answer (ms, wall incl. driver)", "value": first_wall_ms, "target": "-"},
    ]  # fmt: skip
    extra = {
        "size": args.size,
        "precision": args.precision,
        "glosses": glosses,
        "repeats": repeats,
        "wasm_threads": info["threads"],
        "onnxruntime_web": info["ort"],
        "pose_graph_mb": graph_mb,
        "site_mb": sum(built.files.values()) / 1e6,
        "prepare_s": prepare_s,
        "load_average": os.getloadavg(),
    }
    report(f"SignCLIP web page in headless Chromium ({args.size} size, {args.precision})", rows, extra)


if __name__ == "__main__":
    main()
