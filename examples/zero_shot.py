"""Zero-shot and few-shot sign recognition on held-out signers of the bundled sample, with pictures.

    python examples/zero_shot.py --model MODEL_DIR [--output zero_shot_out]

Without --model an untrained SignCLIP (offline MiniLM text tower) is built, so the numbers are near
chance; pass a pretrained model directory (e.g. from `signclip-hf demo` or `pretrain`) for real ones.
"""

import argparse
from pathlib import Path

from signclip_hf.data import build_dataset
from signclip_hf.evaluation import embed_dataset, few_shot, zero_shot
from signclip_hf.evaluation.plots import plot_confusion_matrix, plot_dataset_embeddings
from signclip_hf.model_factory import load_or_build
from signclip_hf.sample_data import GESTURES_DIR

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", default=None, help="SignCLIP model directory (default: an untrained model)")
parser.add_argument("--output", default="zero_shot_out")
args = parser.parse_args()

model, processor = load_or_build(args.model)

# whole signers held out: signer07 and signer12 are in different splits
splits, _ = build_dataset(GESTURES_DIR, signer_split=0.5)
train, test = (embed_dataset(model, processor, splits[name]) for name in ("train", "test"))

result = zero_shot(model, processor, test)
print(f"zero-shot over {result.class_names}: top-1 {result.metrics['top1_accuracy']:.3f}")
shots = few_shot(model, processor, train, test, shots=(1, 5, 10), seeds=(0, 1, 2))
for k, metrics in shots.metrics.items():
    print(f"{k}: top-1 {metrics['top1_accuracy']:.3f} ± {metrics['top1_accuracy_std']:.3f}"
          f" (glosses without support left out: {shots.skipped_labels})")

output = Path(args.output)
print("wrote", plot_confusion_matrix(result.references, result.predictions, result.class_names,
                                      output / "confusion_zero_shot.png"))
print("wrote", plot_dataset_embeddings(test, output / "embeddings.png", title="held-out signer"))
