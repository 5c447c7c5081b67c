"""Export a SignCLIP model to ONNX (pose and text graphs), verified by onnxruntime against PyTorch.

Writes a new folder: `onnx/pose_model.onnx` and `onnx/text_model.onnx` (dynamic batch and length), the
config, tokenizer and feature extractor settings, and `signclip_onnx.json` (graphs, score rule, long-clip
policy, what the verification measured). Nothing is written unless onnxruntime reproduces PyTorch on the
bundled clips (fp32: 1e-4 max abs on the embeddings; int8: cosine 0.99 and the same zero-shot top-1 on 99%
of the clips). `load_model(DIR)` and every command taking MODEL then run on onnxruntime.
"""

from __future__ import annotations

import argparse

from .. import cli

QUANTIZATIONS = ("int8",)  # `export.exporter.QUANTIZATIONS`; a test keeps them equal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_model(parser)
    cli.add_output(parser, metavar="DIR", help="new (or empty) folder to write the exported model into")
    parser.add_argument(
        "--quantize", choices=QUANTIZATIONS, default=None,
        help="also write int8 graphs (onnxruntime dynamic quantization), verified against PyTorch",
    )  # fmt: skip
    parser.add_argument(
        "--vocabulary", default=None, metavar="FILE",
        help="gloss list (one per line, optionally '<de> <gsg> Haus') whose text embeddings go to vocabulary.json",
    )  # fmt: skip
    cli.add_languages(parser)
    parser.add_argument(
        "--verify-clips", type=cli.positive_int, default=None, metavar="N",
        help="verify on the first N bundled clips; all of them when not given",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=cli.positive_int, default=None, metavar="N", help="onnxruntime threads while verifying"
    )


def run(args: argparse.Namespace) -> int:
    import sys

    from ..export.exporter import ExportConfig, export_model

    config = ExportConfig(
        quantize=args.quantize,
        vocabulary=args.vocabulary,
        spoken_language=args.spoken_language,
        sign_language=args.sign_language,
        verify_clips=args.verify_clips,
        intra_op_num_threads=args.threads,
    )
    report = export_model(args.model, args.output, config, log=lambda message: print(message, file=sys.stderr))
    print(report.format())
    return 0
