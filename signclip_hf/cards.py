"""Model cards for SignCLIP repositories: Hub metadata (`ModelCardData`) + a Jinja body from `hub_cards/`.

Evaluation results enter the card's `model-index` from the JSON that `signclip-hf evaluate --output`
writes, or a hand-written one of the same shape::

    {
      "dataset": "data/gestures" | {"name": "Gestures sample", "type": "signclip-gestures", "split": "test"},
      "split": "test",
      "results": {
        "zero-shot": {"metrics": {"top1_accuracy": 0.61, "top5_accuracy": 0.93}},
        "few-shot": {"metrics": {"1-shot": {"top1_accuracy": 0.4}, "5-shot": {"top1_accuracy": 0.7}}},
        "retrieval": {"task_type": "feature-extraction", "metrics": {"v2t_r@1": 0.39}}
      }
    }

A dataset given as a path is named by its last component. Each task holds `metrics` (or is itself the
metrics dict); nested metrics (per setting, e.g. per k-shot) become tasks named "few-shot (5-shot)".
`task_type` names the Hub task (default: `TASK_TYPES`, else `default_task_type`). Non-numeric values
are left out of the model-index.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .hub_cards import TEMPLATES_DIR
from .modeling import SIGN_LANGUAGES, SignCLIPFeatureExtractor

TEMPLATE_NAME = "model_card.md.j2"
# The Hub has no pose or sign-language task. A contrastive SignCLIPModel is an embedding model, so
# "feature-extraction" is the honest tag (the hosted widget would send text, not a .pose, so it cannot run
# it anyway); "zero-shot-classification" would be false: that task is text NLI. A fine-tuned ISLR
# classifier takes pose sequences, not video, so it gets no pipeline_tag rather than "video-classification".
# ISLR (classifying one sign clip among glosses) is closest to the Hub's "video-classification"; retrieval
# results describe the embeddings.
TASK_TYPES = {"retrieval": "feature-extraction"}
PIPELINE_TAGS = {"SignCLIPModel": "feature-extraction", "SignCLIPForVideoClassification": None}
CITATION = """@inproceedings{jiang-etal-2024-signclip,
    title = "{S}ign{CLIP}: Connecting Text and Sign Language by Contrastive Learning",
    author = "Jiang, Zifan and Sant, Gerard and Moryossef, Amit and M{\\"u}ller, Mathias and Sennrich, Rico and Ebling, Sarah",
    booktitle = "Proceedings of the 2024 Conference on Empirical Methods in Natural Language Processing",
    year = "2024",
    address = "Miami, Florida, USA",
    publisher = "Association for Computational Linguistics",
}"""


@dataclass
class CardInfo:
    """What the card says beyond what the model directory itself tells.

    `license` is the licence of the weights being pushed; `base_model` the Hub id(s) the towers started
    from; `datasets` the Hub ids of the training data; `sign_languages` ISO 639-3 codes (tags + language).
    """

    model_name: str
    repo_id: str | None = None
    license: str = "mit"
    base_model: str | list[str] | None = None
    datasets: list[str] = field(default_factory=list)
    sign_languages: list[str] = field(default_factory=lambda: ["ase"])
    description: str | None = None
    default_task_type: str = "video-classification"
    space: str | None = None  # the model's Gradio Space (`signclip-hf push --space`), linked from the card


def template_path() -> Path:
    """`hub_cards/model_card.md.j2`, installed as package data `signclip_hf.hub_cards`."""
    return TEMPLATES_DIR / TEMPLATE_NAME


def load_eval_json(source: str | Path | dict) -> dict:
    """An evaluation JSON (path or already-parsed dict), checked for the documented shape."""
    name = str(source) if not isinstance(source, dict) else "<evaluation dict>"
    data = source if isinstance(source, dict) else json.loads(Path(source).read_text(encoding="utf-8"))
    dataset, results = data.get("dataset"), data.get("results")
    if isinstance(dataset, str) and dataset:
        dataset = {"name": Path(dataset).name or dataset}
    if not isinstance(dataset, dict) or not dataset.get("name"):
        raise ValueError(f"{name}: needs a 'dataset' (a name/path, or an object with at least a 'name')")
    if not isinstance(results, dict) or not results:
        raise ValueError(f"{name}: needs a non-empty 'results' object mapping task name -> metrics")
    dataset.setdefault("split", data.get("split"))
    return dict(data, dataset=dataset)


def eval_results_from_json(
    source: str | Path | dict, default_task_type: str = "video-classification"
) -> list[EvalResult]:
    """Evaluation JSON (module docstring) -> `huggingface_hub.EvalResult`s for the model-index."""
    data = load_eval_json(source)
    dataset = data["dataset"]
    results = []
    for task, entry in data["results"].items():
        metrics = entry.get("metrics", entry) if isinstance(entry, dict) else None
        if not isinstance(metrics, dict):
            raise ValueError(f"results[{task!r}] must be a metrics object, got {type(entry).__name__}")
        task_type = entry.get("task_type") or TASK_TYPES.get(task, default_task_type)
        settings = {f"{task} ({k})": v for k, v in metrics.items() if isinstance(v, dict)}
        for task_name, values in {task: metrics, **settings}.items():
            for metric, value in values.items():
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    continue
                results.append(
                    EvalResult(
                        task_type=task_type,
                        task_name=task_name,
                        dataset_type=dataset.get("type") or dataset["name"],
                        dataset_name=dataset["name"],
                        dataset_split=dataset.get("split"),
                        dataset_config=dataset.get("config"),
                        metric_type=metric,
                        metric_name=metric,
                        metric_value=float(value),
                    )
                )
    return results


def saved_feature_extractor(model_dir: str | Path) -> SignCLIPFeatureExtractor:
    """The feature extractor saved beside the model (it owns the preprocessing settings); defaults if none was."""
    if any((Path(model_dir) / name).is_file() for name in ("processor_config.json", "preprocessor_config.json")):
        return SignCLIPFeatureExtractor.from_pretrained(model_dir)
    return SignCLIPFeatureExtractor()


def build_model_card(model_dir: str | Path, info: CardInfo, eval_json: str | Path | dict | None = None) -> ModelCard:
    """Card for the model saved in `model_dir` (its config.json gives architecture facts)."""
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    architecture = (config.get("architectures") or ["SignCLIPModel"])[0]
    unknown = [code for code in info.sign_languages if code not in SIGN_LANGUAGES]
    if unknown:
        raise ValueError(f"unknown sign language codes {unknown}: expected ISO 639-3 codes such as 'ase'")
    eval_results = eval_results_from_json(eval_json, info.default_task_type) if eval_json is not None else None
    card_data = ModelCardData(
        model_name=info.model_name,
        language=["en", *info.sign_languages],
        license=info.license,
        library_name="transformers",
        pipeline_tag=PIPELINE_TAGS.get(architecture, None),
        tags=["sign-language", "pose", "contrastive", "signclip", *info.sign_languages],
        datasets=list(info.datasets) or None,
        base_model=info.base_model,
        eval_results=eval_results,
    )
    pose, text = config["pose_config"], config["text_config"]
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path()),
        info=info,
        repo_id=info.repo_id or f"path/to/{Path(model_dir).name}",
        classifier=architecture == "SignCLIPForVideoClassification",
        id2label=config.get("id2label") or {},
        pose=pose,
        preprocessing=saved_feature_extractor(model_dir),
        text=text,
        keypoint_layout="right hand only (21 points, 63 features)" if pose["input_dim"] == 63 else
        "MediaPipe Holistic: 33 body + 128 face contour + 2 x 21 hand points (203 points, 609 features)",
        projection_dim=config.get("projection_dim"),
        score_type=config.get("score_type", "dot"),
        sign_language_names={code: SIGN_LANGUAGES[code] for code in info.sign_languages},
        results_table=eval_results or [],
        citation=CITATION,
    )


__all__ = ["CardInfo", "build_model_card", "eval_results_from_json", "load_eval_json", "template_path", "CITATION"]
