"""Find where text queries are signed in a long recording.

Windows of several lengths slide over the recording; each query gets a score curve, and the peaks that survive
non-maximum suppression are written as JSON (`--output`), and optionally ELAN, SRT, WebVTT and a PNG.
"""

from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_model(parser)
    parser.add_argument(
        "recording", metavar="RECORDING",
        help="a long .pose file, or a folder of them (then --output is a folder: one JSON per recording, resumable)",
    )  # fmt: skip
    cli.add_query(parser)
    cli.add_languages(parser)
    parser.add_argument("--windows", type=cli.positive_ints, default=(16, 32, 48), metavar="N,N,...", help="window lengths in frames")
    parser.add_argument("--stride", type=cli.positive_int, default=4, metavar="N", help="frames between window starts")
    cli.add_top_k(parser, help="detections per query (0: every peak)")
    parser.add_argument("--threshold", type=float, default=None, metavar="SCORE", help="minimum score of a detection")
    parser.add_argument(
        "--nms-iou", type=float, default=0.3, metavar="IOU", help="suppress peaks overlapping a better one by this IoU"
    )
    parser.add_argument(
        "--normalize", choices=("none", "zscore"), default="none",
        help="zscore: standardize each window size's scores per query over the recording (sizes compete fairly; "
        "--threshold and scores in standard deviations); none: raw scores",
    )  # fmt: skip
    parser.add_argument(
        "--merge", choices=("iou", "overlap"), default="iou",
        help="suppression across sizes: iou, or overlap (intersection over the shorter span: nested peaks -> one)",
    )  # fmt: skip
    cli.add_batch_size(parser, default=64, help="windows per pose-tower forward (bounds memory)")
    parser.add_argument(
        "--segments", default=None, metavar="FILE", help="score these spans instead of sliding windows (.srt/.vtt/.eaf)"
    )
    parser.add_argument("--segments-tier", default=None, metavar="TIER", help="with an .eaf: only this tier's spans")
    cli.add_output(parser, help="results JSON")
    parser.add_argument("--eaf", default=None, metavar="PATH", help="also write an ELAN file (one tier per query)")
    parser.add_argument("--vtt", default=None, metavar="PATH", help="also write WebVTT subtitles")
    parser.add_argument("--srt", default=None, metavar="PATH", help="also write SRT subtitles")
    parser.add_argument("--plot", default=None, metavar="PATH", help="also write a PNG of the score curves")
    cli.add_ray(parser)


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    import time
    import warnings

    from ..loading import load_model
    from ..spotting.outputs import (
        check_output_paths, check_writers, plot_scores, read_segments, write_eaf, write_json, write_srt, write_vtt,
    )  # fmt: skip
    from ..spotting.spot import SpottingConfig, make_prompts, spot

    # before any work: no output may overwrite an input or another output (a folder run writes only .json)
    if not os.path.isdir(args.recording):
        check_output_paths(
            {"--output": args.output, "--eaf": args.eaf, "--vtt": args.vtt, "--srt": args.srt, "--plot": args.plot},
            {"the recording": args.recording, "--segments": args.segments,
             "MODEL": args.model if os.path.isdir(args.model) else None},
        )  # fmt: skip
        check_writers(*[name for name in ("eaf", "srt", "vtt") if getattr(args, name)])

    config = SpottingConfig(
        windows=args.windows,
        stride=args.stride,
        top_k=args.top_k or None,
        threshold=args.threshold,
        nms_iou=args.nms_iou,
        normalize=args.normalize,
        merge=args.merge,
        batch_size=args.batch_size,
        spoken_language=args.spoken_language,
        sign_language=args.sign_language,
    )
    make_prompts(args.query, args.spoken_language, args.sign_language)  # bad queries fail before loading anything
    if os.path.isdir(args.recording):  # a folder of recordings: one JSON each, on one machine or on Ray
        return _run_folder(args, config)
    if args.ray is not None:
        raise ValueError(f"{args.recording}: --ray spots a folder of recordings; give a folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        segments = read_segments(args.segments, args.segments_tier) if args.segments else None
    for warning in caught:
        print(f"signclip-hf spot: warning: {warning.message}", file=sys.stderr)
    model, processor = load_model(args.model)
    started = time.perf_counter()
    result = spot(model, processor, args.recording, args.query, config, segments=segments)
    seconds = time.perf_counter() - started
    written = [write_json(result, args.output)]
    for path, write in ((args.eaf, write_eaf), (args.vtt, write_vtt), (args.srt, write_srt), (args.plot, plot_scores)):
        if path:
            written.append(write(result, path))
    scored = sum(len(c.starts) for c in result.curves)
    kind = "segments" if segments else "windows"
    def shown(path) -> str:  # a path with bytes that are not UTF-8 (lone surrogates) prints escaped
        return str(path).encode("utf-8", "backslashreplace").decode("utf-8")

    print(f"{shown(args.recording)}: {result.duration:.1f} s, {scored} {kind} scored in {seconds:.1f} s")
    for detection in result.detections:
        print(f"  {detection.query!r:>16}  {detection.start:8.2f}-{detection.end:8.2f} s  score {detection.score:.3f}")
    print("wrote " + ", ".join(shown(p) for p in written))
    return 0


def _run_folder(args: argparse.Namespace, config) -> int:
    from ..cluster.runtime import ray_config_from_args
    from ..cluster.spot import spot_folder

    extras = [flag for flag in ("segments", "eaf", "vtt", "srt", "plot") if getattr(args, flag)]
    if extras:
        raise ValueError(f"{args.recording}: a folder of recordings writes JSON only; drop --{', --'.join(extras)}")
    report = spot_folder(args.model, args.recording, args.output, args.query, config, ray_config_from_args(args))
    print(report.summary())
    return 1 if report.failed else 0
