"""Signer-independent ISLR on the real webcam gestures (../shared/data/gestures): hello / thank you / i love you.

Baseline: 1-nearest-neighbour (Euclidean) on raw SPEC features (SPEC §1: 609-d normalized keypoints),
mean-pooled over frames, no model. Two protocols, both signer-independent:
- leave-one-signer-out (LOSO): each signer's clips are classified against all other signers' clips;
- a fixed split of whole signers into train / validation / test (`fixed_split`): the 1-NN gallery is
  train + validation; with `--model` a SignCLIP model is also scored on the test signers zero-shot,
  5-shot (support: train), by a linear probe (train) and, with `--finetune-epochs`, fine-tuned on train
  with the best checkpoint chosen on the validation signers (the test signers are never looked at).

    python benchmarks/islr_gestures.py [--root ../shared/data/gestures] [--model DIR [--finetune-epochs 10]]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import SHARED_DATA, report
from datasets import Dataset
from signclip_hf.modeling import keypoints_to_features

from signclip_hf.data.build import build_dataset
from signclip_hf.data.splits import signer_independent_split

GLOSSES = ("hello", "thank you", "i love you")
DEFAULT_ROOT = SHARED_DATA / "gestures"


def gestures_dataset(root: str | Path = DEFAULT_ROOT, glosses: tuple[str, ...] = GLOSSES) -> Dataset:
    """The gestures clips of `glosses` as a pose dataset (built with `build_dataset`)."""
    dataset, _ = build_dataset(root, output=tempfile.mkdtemp(prefix="gestures-"))
    return dataset.filter(lambda label: label in glosses, input_columns="label").flatten_indices()


def fixed_split(dataset: Dataset, seed: int = 0):
    """Whole signers held out: about 30% of the clips for test and 15% for validation."""
    return signer_independent_split(dataset, test_size=0.3, validation_size=0.15, seed=seed)


def mean_pooled_features(dataset: Dataset) -> np.ndarray:
    """(N, 609) SPEC features of every clip, averaged over its frames."""
    rows = dataset.with_format("numpy", columns=["pose", "confidence"])
    return np.stack([keypoints_to_features(row["pose"], row["confidence"]).mean(axis=0) for row in rows])


def nearest_neighbour_predictions(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Label of each test vector's Euclidean nearest training vector."""
    distances = (test**2).sum(1)[:, None] - 2 * test @ train.T + (train**2).sum(1)[None, :]
    return train_labels[distances.argmin(axis=1)]


def one_nn_baseline(root: str | Path = DEFAULT_ROOT, glosses: tuple[str, ...] = GLOSSES, seed: int = 0) -> dict:
    """1-NN top-1 accuracy on mean-pooled SPEC features: LOSO (micro and per signer) and the fixed split."""
    dataset = gestures_dataset(root, glosses)
    features = mean_pooled_features(dataset)
    labels, signers = np.array(dataset["label"]), np.array(dataset["signer"])
    per_signer, correct = {}, 0
    for signer in np.unique(signers):
        held_out = signers == signer
        predicted = nearest_neighbour_predictions(features[~held_out], labels[~held_out], features[held_out])
        per_signer[str(signer)] = float((predicted == labels[held_out]).mean())
        correct += int((predicted == labels[held_out]).sum())
    split = fixed_split(dataset.add_column("index", np.arange(len(dataset))), seed)
    train = np.concatenate([split["train"]["index"], split["validation"]["index"]])
    test = np.array(split["test"]["index"])
    predicted = nearest_neighbour_predictions(features[train], labels[train], features[test])
    return {
        "glosses": list(glosses),
        "clips": len(dataset),
        "signers": len(per_signer),
        "loso_top1": correct / len(dataset),
        "loso_top1_per_signer": per_signer,
        "split_test_signers": sorted(set(signers[test])),
        "split_top1": float((predicted == labels[test]).mean()),
    }


def pretrain_on_training_signers(root: str | Path, glosses: tuple[str, ...], seed: int, epochs: int) -> str:
    """Pretrain a demo-sized SignCLIP on every clip (all glosses) of the fixed split's training signers.

    Validation and test signers are never seen. Returns the saved model directory.
    """
    from datasets import DatasetDict

    from signclip_hf.training import DataConfig, ModelConfig, OptimConfig, PretrainConfig
    from signclip_hf.training.pretrain import pretrain

    work = Path(tempfile.mkdtemp(prefix="islr-pretrain-"))
    everything, _ = build_dataset(root, output=work / "all")
    train_signers = set(fixed_split(gestures_dataset(root, glosses), seed)["train"]["signer"])
    train = everything.filter(lambda signer: signer in train_signers, input_columns="signer").flatten_indices()
    DatasetDict({"train": train}).save_to_disk(str(work / "train"))
    config = PretrainConfig(
        model=ModelConfig(pose_layers=4),
        data=DataConfig(paths=[str(work / "train")], validation_split=None),
        optim=OptimConfig(lr=1e-4, warmup_steps=50),
        batch_size=32,
        epochs=epochs,
        checkpoint_every=None,
        output_dir=str(work / "pretrain"),
        seed=seed,
    )
    return str(pretrain(config))


def model_results(
    model_dir: str, root: str | Path, glosses: tuple[str, ...], seed: int, epochs: float, learning_rate: float = 1e-4
) -> dict:
    """Zero-shot, 5-shot, linear probe (and fine-tuned) top-1 of a SignCLIP model on the fixed split."""
    from transformers import AutoModel, AutoProcessor

    from signclip_hf.evaluation import embed_dataset, few_shot, linear_probe, zero_shot
    from signclip_hf.training.finetune import finetune, training_arguments

    model, processor = AutoModel.from_pretrained(model_dir), AutoProcessor.from_pretrained(model_dir)
    split = fixed_split(gestures_dataset(root, glosses), seed)
    train, test = (embed_dataset(model, processor, split[name]) for name in ("train", "test"))
    five_shot = few_shot(model, processor, train, test, shots=(5,), seeds=(0, 1, 2, 3, 4))
    results = {
        "zero_shot_top1": zero_shot(model, processor, test).metrics["top1_accuracy"],
        "five_shot_top1": five_shot.metrics["5-shot"]["top1_accuracy"],
        "linear_probe_top1": linear_probe(model, processor, train, test).metrics["top1_accuracy"],
    }
    if epochs > 0:
        training_args = training_arguments(tempfile.mkdtemp(prefix="islr-"), num_train_epochs=epochs, seed=seed,
                                           learning_rate=learning_rate)
        tuned = finetune(model, split["train"], split["validation"], training_args=training_args, processor=processor)
        results["finetuned_validation_top1"] = tuned.metrics["eval_top1_accuracy"]
        tested = tuned.trainer.evaluate(split["test"].with_format("numpy"), metric_key_prefix="test")
        results["finetuned_top1"] = tested["test_top1_accuracy"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(DEFAULT_ROOT))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="also evaluate this SignCLIP model directory")
    parser.add_argument("--pretrain-epochs", type=int, default=0,
                        help="first pretrain a demo-sized model on the training signers (instead of --model)")
    parser.add_argument("--finetune-epochs", type=float, default=0.0)
    parser.add_argument("--learning-rate", type=float, default=3e-5, help="fine-tuning learning rate")
    args = parser.parse_args()
    if not Path(args.root, "metadata.csv").is_file():
        raise SystemExit(f"{args.root}: no gestures data (metadata.csv); pass --root")
    start = time.perf_counter()
    results = {"baseline_1nn_mean_pooled": one_nn_baseline(args.root, GLOSSES, args.seed)}
    if args.pretrain_epochs:
        args.model = pretrain_on_training_signers(args.root, GLOSSES, args.seed, args.pretrain_epochs)
    if args.model:
        results["model"] = model_results(
            args.model, args.root, GLOSSES, args.seed, args.finetune_epochs, args.learning_rate
        )
    results["seconds"] = time.perf_counter() - start
    baseline = results["baseline_1nn_mean_pooled"]
    rows = [
        {"method": "1-NN mean-pooled SPEC features", "protocol": "leave-one-signer-out", "top1": baseline["loso_top1"]},
        {"method": "1-NN mean-pooled SPEC features", "protocol": "fixed split", "top1": baseline["split_top1"]},
    ]
    for name, value in results.get("model", {}).items():
        rows.append({"method": name, "protocol": "fixed split", "top1": value})
    report(f"signer-independent ISLR on {baseline['clips']} gesture clips of {', '.join(GLOSSES)} "
           f"by {baseline['signers']} signers", rows, results)

if __name__ == "__main__":
    main()
