"""The main job end to end on real clips, in minutes on a CPU: build, pretrain, evaluate (and fine-tune).

Builds a dataset from a `.pose` folder (the bundled sample unless `--data`) with whole signers held out,
pretrains a small SignCLIP (offline MiniLM text tower, 4-layer pose tower), evaluates retrieval and
zero-shot / few-shot / linear-probe ISLR on the held-out signers, optionally fine-tunes an ISLR classifier,
and writes `results.json`, PNGs, GIFs and a model directory (OUTPUT/pretrain/final) that `AutoModel` loads.
"""

from __future__ import annotations

import argparse

from .. import cli

# `demo.DemoConfig`'s defaults (a test keeps them equal)
DEFAULTS = dict(
    output="signclip-demo", data="bundled:gestures", epochs=15, batch_size=16, learning_rate=1e-4, pose_layers=4,
    test_signers=0.5, shots=(1, 5), finetune_epochs=0, seed=0,
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_output(parser, required=False, metavar="DIR", help="directory of everything the demo writes")
    parser.add_argument("--data", metavar="DIR", help="folder of .pose files with metadata.csv (bundled:NAME: a sample shipped with the package)")
    parser.add_argument("--epochs", type=cli.positive_int, metavar="N", help="pretraining epochs")
    cli.add_batch_size(parser, default=DEFAULTS["batch_size"], help="clips per training batch")
    parser.add_argument("--learning-rate", type=float, metavar="LR", help="peak learning rate")
    parser.add_argument("--pose-layers", type=cli.positive_int, metavar="N", help="layers of the pose tower")
    parser.add_argument(
        "--test-signers", type=float, metavar="FRACTION", help="fraction of the clips whose signers are held out"
    )
    parser.add_argument("--shots", type=cli.positive_ints, metavar="N,N,...", help="few-shot support sizes")
    parser.add_argument(
        "--finetune-epochs", type=int, metavar="N", help="ISLR fine-tuning epochs on the training signers (0: none)"
    )
    parser.add_argument("--seed", type=int, metavar="N", help="random seed")
    parser.set_defaults(**DEFAULTS)


def run(args: argparse.Namespace) -> int:
    from ..demo import DemoConfig, run_demo

    print(run_demo(DemoConfig(**{name: getattr(args, name) for name in DEFAULTS})).report)
    return 0
