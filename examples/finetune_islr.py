"""Fine-tune an isolated sign recognizer (ISLR) on the bundled sample with `Trainer`, then use it.

    python examples/finetune_islr.py --model MODEL_DIR [--output islr_model] [--epochs 5]

The classifier starts as the zero-shot classifier (weights = the glosses' prompt embeddings), trains on
one of the two sample signers for a fixed number of epochs and is tested once on the other, a signer the
model never saw: neither in this fine-tuning nor, when the model records it (`pretraining_signers` in its
config, written by `signclip-hf pretrain` / `demo`), in pretraining. The `demo` model is pretrained on
signer12, so it is tested on signer07. The saved directory loads with `AutoModelForVideoClassification`
and `pipeline(...)`, which return gloss names.
Without --model an untrained SignCLIP (offline MiniLM text tower) is the starting point.
"""

import argparse

import torch

from signclip_hf.data import build_dataset
from signclip_hf.loading import load_model
from signclip_hf.model_factory import load_or_build
from signclip_hf.sample_data import GESTURES_DIR
from signclip_hf.training.finetune import finetune, training_arguments

SIGNERS = ("signer07", "signer12")  # the two sample signers
SHARED = {"hello", "thank you"}  # the glosses both sign

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", default=None, help="SignCLIP model directory or Hub id (default: an untrained model)")
parser.add_argument("--output", default="islr_model")
parser.add_argument("--epochs", type=float, default=5)
args = parser.parse_args()

model, processor = load_or_build(args.model)
seen = getattr(model.config, "pretraining_signers", None) if args.model else []
if seen is None:
    print(f"note: {args.model} does not record its pretraining signers: cannot check that the test signer is unseen")
unseen = [signer for signer in SIGNERS if signer not in (seen or [])]
if not unseen:
    raise SystemExit(f"{args.model} was pretrained on both sample signers {list(SIGNERS)}: no held-out signer to test on")
test_signer = unseen[-1]
train_signer = next(signer for signer in SIGNERS if signer != test_signer)

dataset, _ = build_dataset(GESTURES_DIR)
train = dataset.filter(lambda s, l: s == train_signer and l in SHARED, input_columns=["signer", "label"])
held_out = dataset.filter(lambda s, l: s == test_signer and l in SHARED, input_columns=["signer", "label"])
leaked = set(held_out["signer"]) & (set(seen or []) | set(train["signer"]))
if leaked:  # the guarantee this example makes: the test signer is unseen
    raise SystemExit(f"test signer(s) {sorted(leaked)} were seen in pretraining or fine-tuning")
pretrained_on = "unknown" if seen is None else ", ".join(seen) or "none"
print(f"fine-tuning on {train_signer}, testing on {test_signer} (pretrained on: {pretrained_on})")

training_args = training_arguments(args.output, num_train_epochs=args.epochs, per_device_train_batch_size=8,
                                   learning_rate=1e-4)
result = finetune(model, train, None, training_args=training_args, processor=processor)  # no checkpoint selection on the test signer
tested = result.trainer.evaluate(held_out.with_format("numpy"), metric_key_prefix="test")
print(f"held-out signer {test_signer} top-1: {tested['test_top1_accuracy']:.3f} (saved to {result.output_dir})")

classifier, classifier_processor = load_model(result.output_dir, head="classifier")  # AutoModelForVideoClassification
clip = GESTURES_DIR / held_out[0]["file"]
with torch.no_grad():
    logits = classifier(**classifier_processor(poses=[clip], return_tensors="pt")).logits
print(f"{clip.name} ({held_out[0]['label']}) -> {classifier.config.id2label[int(logits.argmax())]}")
