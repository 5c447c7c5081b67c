"""The main job, end to end on real clips in minutes on a CPU (`signclip-hf demo`).

Builds a dataset from a `.pose` folder (default: the bundled sample) with whole signers held out, pretrains
a small SignCLIP (offline MiniLM text tower, 4-layer pose tower), evaluates retrieval and zero-shot /
few-shot / linear-probe ISLR on the held-out signers, optionally fine-tunes an ISLR classifier, and writes
`results.json`, PNGs and a model directory that `AutoModel.from_pretrained` loads.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .data.labels import known_labels_only
from .data.splits import signer_independent_split
from .evaluation.run import TASKS, EvaluationConfig, format_table, run_evaluation
from .loading import load_dataset, load_model
from .training.config import DataConfig, ModelConfig, OptimConfig, PretrainConfig
from .training.finetune import FinetuneArguments, finetune, training_arguments
from .training.pretrain import pretrain


@dataclass
class DemoConfig:
    """What the demo runs on and how long it trains.

    Args:
        data: a folder of `.pose` files with `metadata.csv` (`bundled:gestures` = the shipped sample).
        test_signers: fraction of clips whose signers are held out for evaluation.
        finetune_epochs: 0 = no ISLR fine-tuning; otherwise fine-tune on the training signers (early
            stopping on held-out training signers when there are enough signers).
    """

    output: str = "signclip-demo"
    data: str = "bundled:gestures"
    epochs: int = 15
    batch_size: int = 16
    learning_rate: float = 1e-4
    pose_layers: int = 4
    test_signers: float = 0.5
    shots: tuple[int, ...] = (1, 5)
    finetune_epochs: int = 0
    seed: int = 0


def pretrain_config(config: DemoConfig) -> PretrainConfig:
    return PretrainConfig(
        model=ModelConfig(pose_layers=config.pose_layers),
        data=DataConfig(pose_root=config.data, signer_split=config.test_signers, validation_split="test"),
        optim=OptimConfig(lr=config.learning_rate, warmup_steps=10),
        output_dir=str(Path(config.output, "pretrain")),
        batch_size=config.batch_size,
        epochs=config.epochs,
        checkpoint_every=50,
        keep_checkpoints=1,
        log_every=5,
        seed=config.seed,
    )


def finetune_islr(config: DemoConfig, model_dir: Path, train, test) -> dict:
    """Fine-tune the ISLR head on the training signers and test it on the held-out signers.

    Checkpoint selection / early stopping use some of the training signers when there are at least 3.
    """
    validation = None
    if len(set(train["signer"])) >= 3:
        parts = signer_independent_split(train, test_size=0.2, seed=config.seed)
        train, validation = parts["train"], parts["test"]
    result = finetune(
        str(model_dir),
        train,
        validation,
        FinetuneArguments(resume=False),
        training_arguments(
            str(Path(config.output, "islr")),
            num_train_epochs=config.finetune_epochs,
            learning_rate=config.learning_rate,
            per_device_train_batch_size=config.batch_size,
            seed=config.seed,
        ),
    )
    classes = list(result.model.config.label2id)
    test, unseen = known_labels_only(test, classes, "label", unknown_labels="skip")  # glosses never trained on
    tested = result.trainer.evaluate(test.with_format("numpy"), metric_key_prefix="test")
    return {"model": str(result.output_dir), "validation": result.metrics, "test": tested, "skipped_labels": unseen}


@dataclass
class DemoResult:
    """What `run_demo` wrote (`summary` is `results.json`) and its human-readable report."""

    summary: dict
    report: str


def run_demo(config: DemoConfig) -> DemoResult:
    started = time.perf_counter()
    output = Path(config.output)
    pretraining = pretrain_config(config)
    final = pretrain(pretraining)
    model, processor = load_model(final)
    dataset = load_dataset(output / "pretrain" / "dataset")
    evaluation = EvaluationConfig(tasks=TASKS, shots=config.shots, plots_dir=output / "plots")
    results = run_evaluation(model, processor, dataset, evaluation)
    summary = {
        "config": asdict(config),
        "model": str(final),
        "dataset": str(output / "pretrain" / "dataset"),
        "split": "test",  # with "results": the evaluation JSON shape that `signclip-hf push --eval-results` reads
        "splits": {name: {"clips": len(part), "signers": sorted(set(part["signer"]))} for name, part in dataset.items()},
        "results": {task: result.to_dict() for task, result in results.items()},
    }
    if config.finetune_epochs:
        summary["results"]["fine-tuned"] = finetune_islr(config, final, dataset["train"], dataset["test"])
    data_root = pretraining.data.resolved_pose_root()
    summary["gifs"] = render_examples(results["zero-shot"], dataset["test"], data_root, output / "plots")
    summary["seconds"] = time.perf_counter() - started
    (output / "results.json").write_text(json.dumps(summary, indent=2))
    return DemoResult(summary, report(summary, format_table(results), output))


def render_examples(result, test, data_root: str, directory: Path) -> dict[str, str]:
    """Skeleton GIFs of the first correctly and the first wrongly recognized test clip (zero-shot)."""
    from .render import render_pose

    predicted, names = result.predictions, result.class_names
    gifs = {}
    for kind, hit in (("correct", True), ("wrong", False)):
        rows = [i for i in range(len(test)) if (predicted[i] == result.references[i]) == hit]
        if rows:
            i = rows[0]
            stem = f"{kind}_{names[result.references[i]]}_as_{names[predicted[i]]}".replace(" ", "-")
            gifs[kind] = str(render_pose(Path(data_root, test[i]["file"]), directory / f"{stem}.gif"))
    return gifs


def report(summary: dict, table: str, output: Path) -> str:
    results = summary["results"]
    lines = [
        "",
        f"SignCLIP demo finished in {summary['seconds']:.0f} s",
        *(f"  {name}: {part['clips']} clips, signers {', '.join(part['signers'])}" for name, part in summary["splits"].items()),
        "",
        table,
    ]
    if "fine-tuned" in results:
        lines.append(f"fine-tuned ISLR top-1 on held-out signers: {results['fine-tuned']['test']['test_top1_accuracy']:.4f}")
    lines += [
        "",
        f"model (AutoModel.from_pretrained): {summary['model']}",
        f"results:                           {output / 'results.json'}",
        f"plots:                             {', '.join(str(p) for p in sorted((output / 'plots').glob('*.png')))}",
        f"recognized / misrecognized clips:  {', '.join(summary.get('gifs', {}).values())}",
    ]
    return "\n".join(lines)
