"""`signclip-hf spot`: find where text queries are signed in a long `.pose` recording."""

from __future__ import annotations

import argparse
import time

from ..model_factory import load_or_build


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--windows must be comma-separated frame counts, got {text!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("--windows needs at least one size")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", help="a long .pose file")
    parser.add_argument("--model", required=True, help="a saved SignCLIP model directory (AutoModel / AutoProcessor)")
    parser.add_argument("--query", action="append", default=[], help="text to spot (repeat for several)")
    parser.add_argument("--spoken-language", default="en", help="ISO 639-1 tag of the queries (default en)")
    parser.add_argument("--sign-language", default="ase", help="ISO 639-3 sign language tag (default ase)")
    parser.add_argument("--windows", type=_sizes, default=(16, 32, 48), help="window lengths in frames (16,32,48)")
    parser.add_argument("--stride", type=int, default=4, help="frames between window starts (4)")
    parser.add_argument("--top-k", type=int, default=5, help="detections per query (5; 0 = all peaks)")
    parser.add_argument("--threshold", type=float, default=None, help="minimum score of a detection")
    parser.add_argument(
        "--nms-iou", type=float, default=0.3, help="suppress peaks overlapping a better one by IoU >= this"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="windows per pose-tower forward (bounds memory)")
    parser.add_argument(
        "--segments", default=None, help="score these spans instead of sliding windows (.srt/.vtt/.eaf)"
    )
    parser.add_argument("--segments-tier", default=None, help="with an .eaf: only this tier's annotations")
    parser.add_argument("--output", required=True, help="results JSON")
    parser.add_argument("--eaf", default=None, help="also write an ELAN file (one tier per query)")
    parser.add_argument("--vtt", default=None, help="also write WebVTT subtitles")
    parser.add_argument("--srt", default=None, help="also write SRT subtitles")
    parser.add_argument("--plot", default=None, help="also write a PNG of the score curves")


def run(args: argparse.Namespace) -> int:
    from .outputs import plot_scores, read_segments, write_eaf, write_json, write_srt, write_vtt
    from .spot import SpottingConfig, make_prompts, spot

    config = SpottingConfig(
        windows=args.windows,
        stride=args.stride,
        top_k=args.top_k or None,
        threshold=args.threshold,
        nms_iou=args.nms_iou,
        batch_size=args.batch_size,
        spoken_language=args.spoken_language,
        sign_language=args.sign_language,
    )
    make_prompts(args.query, args.spoken_language, args.sign_language)  # bad queries fail before loading anything
    segments = read_segments(args.segments, args.segments_tier) if args.segments else None
    model, processor = load_or_build(args.model)
    started = time.perf_counter()
    result = spot(model, processor, args.recording, args.query, config, segments=segments)
    seconds = time.perf_counter() - started
    written = [write_json(result, args.output)]
    if args.eaf:
        written.append(write_eaf(result, args.eaf))
    if args.vtt:
        written.append(write_vtt(result, args.vtt))
    if args.srt:
        written.append(write_srt(result, args.srt))
    if args.plot:
        written.append(plot_scores(result, args.plot))
    scored = sum(len(c.starts) for c in result.curves)
    print(
        f"{args.recording}: {result.duration:.1f} s, {scored} {'segments' if segments else 'windows'} scored in {seconds:.1f} s"
    )
    for detection in result.detections:
        print(f"  {detection.query!r:>16}  {detection.start:8.2f}-{detection.end:8.2f} s  score {detection.score:.3f}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
