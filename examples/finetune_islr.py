"""Fine-tune an isolated sign recognizer (ISLR) on the bundled sample with `Trainer`, then use it.

    python examples/finetune_islr.py --model MODEL_DIR [--output islr_model] [--epochs 5]

The classifier starts as the zero-shot classifier (weights = the glosses' prompt embeddings), trains
on one signer and picks the best checkpoint on the other (signer-independent). The saved directory
loads with `AutoModelForVideoClassification` and `pipeline(...)`, which return gloss names.
Without --model an untrained SignCLIP (offline MiniLM text tower) is the starting point.
"""

import argparse

import torch
from transformers import AutoModelForVideoClassification, AutoProcessor

from signclip_hf.build import load_or_build
from signclip_hf.data import build_dataset
from signclip_hf.evaluation.finetune import FinetuneConfig, finetune
from signclip_hf.sample_data import GESTURES_DIR

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", default=None, help="SignCLIP model directory (default: an untrained model)")
parser.add_argument("--output", default="islr_model")
parser.add_argument("--epochs", type=float, default=5)
args = parser.parse_args()

model, processor = load_or_build(args.model)

dataset, _ = build_dataset(GESTURES_DIR)
shared = {"hello", "thank you"}  # the glosses both sample signers sign
train = dataset.filter(lambda s, l: s == "signer07" and l in shared, input_columns=["signer", "label"])
held_out = dataset.filter(lambda s, l: s == "signer12" and l in shared, input_columns=["signer", "label"])

config = FinetuneConfig(output_dir=args.output, num_train_epochs=args.epochs, per_device_train_batch_size=8,
                        learning_rate=1e-4)
result = finetune(model, train, held_out, config, processor=processor)
print(f"held-out signer top-1: {result.metrics['eval_top1_accuracy']:.3f} (saved to {result.output_dir})")

classifier = AutoModelForVideoClassification.from_pretrained(result.output_dir).eval()
clip = GESTURES_DIR / held_out[0]["file"]
with torch.no_grad():
    logits = classifier(**AutoProcessor.from_pretrained(result.output_dir)(poses=[clip], return_tensors="pt")).logits
print(f"{clip.name} ({held_out[0]['label']}) -> {classifier.config.id2label[int(logits.argmax())]}")
