"""Sign spotting with known answers: pretrain a small SignCLIP on some signers, spot on recordings of others.

1. Builds the gestures dataset with whole signers held out (`split` column: held-out signers = `test`).
2. Pretrains a small SignCLIP (MiniLM text tower, `--pose-layers` pose tower) on the other signers for
   `--steps` steps.
3. For each held-out signer, concatenates `--signs` of their real clips (different glosses, pauses of
   missing frames; `signclip_hf.spotting.synthetic`) into one recording with known sign boundaries, spots
   every gloss of that signer in it, and reports precision / recall at IoU >= 0.5 (each query keeping as
   many detections as it has true occurrences), mAP@0.5 over all peaks, and the hits' time errors;
   the same for the model before pretraining (its towers initialized from MiniLM) as a reference.
4. Smoke runs on the real untrimmed / continuous files of ../shared/data.

    python benchmarks/spotting_eval.py --output runs/spotting_eval [--steps 150]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from common import SHARED_DATA, SHARED_GESTURES, gestures_root
from signclip_hf.modeling import InvalidPoseError

from signclip_hf.data.build import build_dataset
from signclip_hf.model_factory import build_model, build_processor
from signclip_hf.spotting import SpottingConfig, evaluate_spotting, spot
from signclip_hf.spotting.outputs import plot_scores, write_eaf
from signclip_hf.spotting.synthetic import make_recording
from signclip_hf.training import PretrainConfig, pretrain
from signclip_hf.training.config import DataConfig, ModelConfig, OptimConfig

SHARED_HELD_OUT = ("signer06", "signer18")  # every gloss they sign is also signed by some training signer
BUNDLED_HELD_OUT = ("signer12",)


def held_out_dataset(root: Path, held_out: tuple[str, ...], output: Path) -> Path:
    """The gestures CSV with a `split` column (held-out signers -> test), built into `output/dataset`."""
    with open(root / "metadata.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    output.mkdir(parents=True, exist_ok=True)
    metadata = output / "metadata_split.csv"
    with open(metadata, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "label", "signer", "split"])
        writer.writeheader()
        for row in rows:
            split = "test" if row["signer"] in held_out else "train"
            writer.writerow({"file": row["file"], "label": row["label"], "signer": row["signer"], "split": split})
    build_dataset(root, metadata=metadata.resolve(), output=output / "dataset")
    return output / "dataset"


def spotting_scores(model, processor, truth: dict, config: SpottingConfig) -> tuple[dict, object]:
    queries = truth["glosses"]
    result = spot(model, processor, truth["recording"], queries, config, progress=False)
    ranked = result.redetect(top_k=None, threshold=None, nms_iou=config.nms_iou)
    counts = {q: sum(s["gloss"] == q for s in truth["signs"]) for q in queries}
    kept = [d for q in queries for d in [d for d in ranked if d.query == q][: counts[q]]]
    at_count = evaluate_spotting(kept, truth["signs"], queries).to_dict()
    at_count["mean_average_precision"] = evaluate_spotting(ranked, truth["signs"], queries).mean_average_precision
    return at_count, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="runs/spotting_eval")
    parser.add_argument("--steps", type=int, default=150, help="pretraining steps")
    parser.add_argument("--pose-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--signs", type=int, default=24, help="clips per held-out recording")
    parser.add_argument("--windows", default="16,24,32")
    parser.add_argument("--stride", type=int, default=2)
    args = parser.parse_args()
    output = Path(args.output)
    root, _ = gestures_root()
    shared = root == SHARED_GESTURES
    held_out = SHARED_HELD_OUT if shared else BUNDLED_HELD_OUT
    started = time.perf_counter()
    dataset = held_out_dataset(root, held_out, output)
    spec = ModelConfig(pose_layers=args.pose_layers)
    final = pretrain(
        PretrainConfig(
            model=spec,
            data=DataConfig(paths=[str(dataset)], validation_split=None),
            optim=OptimConfig(lr=1e-4, warmup_steps=10),
            output_dir=str(output / "pretrain"),
            batch_size=args.batch_size,
            epochs=1000,
            max_steps=args.steps,
            checkpoint_every=50,
            keep_checkpoints=1,
            log_every=25,
        )
    )
    train_seconds = time.perf_counter() - started
    from transformers import AutoModel, AutoProcessor

    models = {
        "pretrained": (AutoModel.from_pretrained(final).eval(), AutoProcessor.from_pretrained(final)),
        "not pretrained": (build_model(spec.spec()).eval(), build_processor(spec.spec())),
    }
    config = SpottingConfig(windows=tuple(int(w) for w in args.windows.split(",")), stride=args.stride)
    rows = []
    for signer in held_out:
        truth = make_recording(root, signer, output / "recordings" / f"{signer}.pose", signs=args.signs, seed=0)
        for name, (model, processor) in models.items():
            started_spot = time.perf_counter()
            scores, result = spotting_scores(model, processor, truth, config)
            rows.append({"signer": signer, "model": name, "seconds": truth["frames"] / truth["fps"],
                         "spot_seconds": time.perf_counter() - started_spot, **scores})  # fmt: skip
            if name == "pretrained":
                plot_scores(result, output / f"{signer}.png", truth=truth["signs"])
                write_eaf(result, output / f"{signer}.eaf")
    print(f"\n## spotting on held-out signers ({', '.join(held_out)}), model pretrained {args.steps} steps "
          f"in {train_seconds:.0f} s on the other signers of {root}")  # fmt: skip
    columns = ["signer", "model", "seconds", "true_signs", "hits", "precision", "recall", "mean_average_precision",
               "boundary_error", "centre_error"]  # fmt: skip
    print("  ".join(columns))
    for row in rows:
        print("  ".join(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in columns))

    smoke = {}
    model, processor = models["pretrained"]
    for path, queries in (
        (SHARED_DATA / "signs" / "colin-HOUSE-untrimmed-refined.pose", ["house", "sad", "hello"]),
        (SHARED_DATA / "formats" / "reduced-holistic-178-sentence.pose", ["house"]),
    ):
        if not path.is_file():
            continue
        try:
            result = spot(
                model, processor, path, queries, SpottingConfig(windows=(16, 32, 48), stride=4, top_k=1), progress=False
            )
            smoke[path.name] = [d.to_dict() for d in result.detections]
            print(f"{path.name}: {result.num_frames} frames at {result.fps:.2f} fps; best per query: "
                  + "; ".join(f"{d.query} {d.start:.2f}-{d.end:.2f} s ({d.score:.2f})" for d in result.detections))  # fmt: skip
        except InvalidPoseError as error:
            smoke[path.name] = f"refused: {error}"
            print(f"{path.name}: refused ({type(error).__name__}): {error}")
    summary = {"held_out": held_out, "steps": args.steps, "train_seconds": train_seconds, "rows": rows, "smoke": smoke}
    (output / "results.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({"benchmark": "spotting_eval", **summary}))


if __name__ == "__main__":
    main()
