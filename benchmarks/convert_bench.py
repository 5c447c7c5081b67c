"""Converting a full-size fairseq SignCLIP checkpoint (random weights, released shapes).

Builds a random fp16 checkpoint with the released architecture (2 x 12-layer BERT-base towers as in MMPT,
609-d pose input, no projections; 404 tensors + 2 position-id buffers), then times each conversion step:
the safe `weights_only` load, key mapping into `SignCLIPModel` (fp32), saving the Hub-ready directory,
and the self-check (reload + house.pose against the 7 prompts of the released scores). The text vocabulary
is 30,522 (the offline MiniLM tokenizer used here) instead of bert-base-cased's 28,996.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import peak_rss_mb, report, timed
from signclip_hf.modeling import SignCLIPFeatureExtractor, SignCLIPProcessor
from transformers import AutoTokenizer

from signclip_hf.convert import convert_state_dict, read_fairseq_checkpoint, verify_conversion
from signclip_hf.model_factory import default_text_model
from signclip_hf.pipeline import save_for_pipeline

from fixtures.fairseq_checkpoint import make_fairseq_checkpoint


def timed_step(rows: list[dict], step: str, function):
    """Run one conversion step; appends its seconds and the peak RSS so far to `rows`."""
    seconds, value = timed(function)
    rows.append({"step": step, "seconds": seconds, "peak_rss_mb": peak_rss_mb()})
    return value


def main() -> None:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint_best.pt"
        tensors = make_fairseq_checkpoint(
            path, hidden=768, intermediate=3072, pose_layers=12, text_layers=12, pose_vocab=28996
        )
        weights = {k: v for k, v in tensors.items() if not k.endswith("position_ids")}
        del tensors
        size_mb = path.stat().st_size / 2**20
        checkpoint = timed_step(rows, "load (weights_only)", lambda: read_fairseq_checkpoint(path))
        model, report_ = timed_step(rows, "map keys -> SignCLIPModel", lambda: convert_state_dict(checkpoint, path))
        processor = SignCLIPProcessor(SignCLIPFeatureExtractor(), AutoTokenizer.from_pretrained(default_text_model()))
        timed_step(rows, "save model+processor+code", lambda: save_for_pipeline(model, processor, Path(tmp) / "out"))
        output = timed_step(rows, "self-check (reload + house.pose)", lambda: verify_conversion(Path(tmp) / "out"))
        saved_mb = (Path(tmp) / "out" / "model.safetensors").stat().st_size / 2**20
    report(
        "convert a full-size fairseq checkpoint",
        rows,
        {
            "checkpoint_mb": round(size_mb, 1),
            "safetensors_mb": round(saved_mb, 1),
            "tensors": len(weights),
            "parameters": sum(v.numel() for v in weights.values()),
            "mapped": len(report_.mapped),
            "intentionally_unused": len(report_.intentionally_unused),
            "house_scores": [round(v, 3) for v in output.logits_per_pose[0].tolist()],
        },
    )


if __name__ == "__main__":
    main()
