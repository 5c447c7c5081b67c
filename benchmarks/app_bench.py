"""The SignCLIP app (`signclip-hf app`) on the demo-sized model: start-up time and per-request latency.

The model has the demo's size (MiniLM text tower + 4-layer pose tower, `signclip_hf.model_factory.ModelSpec`;
untrained weights cost the same) and the gallery is the bundled gesture sample (120 real clips) built by
build-dataset. Start-up is timed from the process start until the page answers, next to the bare
`import gradio, transformers, torch` of the same interpreter (its floor). Requests go through
`gradio_client` like a visitor's; each is compared with the work it wraps, measured in this process:
the model's pipeline alone and the skeleton rendering alone.

    python benchmarks/app_bench.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import best_time, proc_status_mb, report, timed
from signclip_hf.modeling import KEYPOINT_LAYOUTS

from signclip_hf.data.build import build_dataset
from signclip_hf.model_factory import ModelSpec, build_model, build_processor
from signclip_hf.pipeline import save_for_pipeline
from signclip_hf.render import render_pose
from signclip_hf.sample_data import GESTURES_DIR, HOUSE_POSE, SAMPLE_DIR
from signclip_hf.space.app import layout_pose

from fixtures.app_server import serve
from fixtures.launch import free_port

CANDIDATES = "house, sun, car, tree, book, water, hello, thank you"


def measure_requests(client, repeats: int) -> dict:
    """Latencies (s) of the two tabs through gradio_client, first (renders) and repeated (renders cached)."""
    from gradio_client import handle_file

    def recognize(pose: Path):
        return client.predict(handle_file(str(pose)), None, CANDIDATES, "en", "ase", api_name="/recognize")

    def search():
        return client.predict("hello", "en", "ase", 6, api_name="/search")

    return {
        "first": timed(lambda: recognize(HOUSE_POSE))[0],
        "again": [timed(lambda: recognize(HOUSE_POSE))[0] for _ in range(repeats)],
        "search_first": timed(search)[0],
        "search_again": [timed(search)[0] for _ in range(repeats)],
        "dgs_first": timed(lambda: recognize(SAMPLE_DIR / "signs" / "dgs-HOUSE1A.pose"))[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from gradio_client import Client
    from transformers import pipeline

    with tempfile.TemporaryDirectory(prefix="signclip-app-bench-") as folder:
        spec = ModelSpec(pose_layers=4)
        model_dir = save_for_pipeline(build_model(spec).eval(), build_processor(spec), Path(folder, "model"))
        gallery = Path(folder, "gallery")
        build_dataset(GESTURES_DIR, output=gallery)

        import_start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import gradio, transformers, torch"], check=True)
        import_seconds = time.perf_counter() - import_start

        rows, requests = [], {}
        for name, extra in (("without gallery", []), ("with 120-clip gallery", ["--gallery", str(gallery)])):
            port = free_port()
            command = [sys.executable, "-m", "signclip_hf.cli", "app", str(model_dir), "--port", str(port), *extra]
            with serve(command, f"http://127.0.0.1:{port}/") as app:
                rows.append({"measure": f"start-up, {name}", "seconds": app.startup_seconds,
                             "baseline": "import gradio+transformers+torch", "baseline s": import_seconds})  # fmt: skip
                if extra:
                    requests = measure_requests(Client(app.url, verbose=False), args.repeats)
                    requests["server_rss"] = proc_status_mb("VmHWM", app.process.pid)
        first, again, dgs_first = requests["first"], requests["again"], requests["dgs_first"]
        search_first, search_again, server_rss = (
            requests["search_first"],
            requests["search_again"],
            requests["server_rss"],
        )

        pipe = pipeline(model=str(model_dir), trust_remote_code=True)
        labels = [label.strip() for label in CANDIDATES.split(",")]
        pipeline_alone = best_time(lambda: pipe(str(HOUSE_POSE), candidate_labels=labels), repeats=args.repeats)
        shown = layout_pose(HOUSE_POSE, KEYPOINT_LAYOUTS["holistic"].components)  # what the app draws
        render_alone = best_time(lambda: render_pose(shown, Path(folder, "house.gif")), repeats=2, warmup=0)
        rows += [
            {"measure": "recognize house.pose (73 frames), first", "seconds": first,
             "baseline": "pipeline + render_pose in-process", "baseline s": pipeline_alone + render_alone},
            {"measure": "recognize house.pose, repeated (animation cached)", "seconds": statistics.median(again),
             "baseline": "pipeline in-process", "baseline s": pipeline_alone},
            {"measure": "recognize dgs-HOUSE1A.pose (123 frames), first", "seconds": dgs_first},
            {"measure": "search 120 clips, top 6, first (6 animations)", "seconds": search_first},
            {"measure": "search, repeated (animations cached)", "seconds": statistics.median(search_again)},
        ]  # fmt: skip
        report("signclip-hf app, demo-sized model", rows, {"server_peak_rss_mb": server_rss})
        print(f"server peak RSS: {server_rss:.0f} MB")


if __name__ == "__main__":
    main()
