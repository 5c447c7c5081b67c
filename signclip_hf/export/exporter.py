"""Export a SignCLIP model as two ONNX graphs (pose tower, text tower), verified by onnxruntime before it is done.

The folder is written to a temporary sibling and renamed into place only after every check passed:
fp32 graphs within `fp32_tolerance` (1e-4) max abs of PyTorch on the embeddings of the bundled real clips and
prompts, int8 graphs (`--quantize int8`, onnxruntime dynamic quantization) with cosine >= 0.99 to PyTorch and
the same zero-shot top-1 on >= 99% of the clips. What was measured is written to the manifest
(`signclip_onnx.json`, `runtime.read_manifest`) and the report. The folder layout is documented in
`runtime.py`'s readers and the README ("ONNX and CPU inference").
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..onnx_backend import FORMAT, FORMAT_VERSION, MANIFEST_NAME, is_exported_folder, new_session

# torch.export (dynamo=True), not the legacy TorchScript tracer: the tracer bakes transformers 5's attention-mask
# construction into the trace (0.3 max abs error on a tiny model); torch.export keeps it exact (< 1e-6).
EXPORTER = "torch.onnx.export(dynamo=True)"
OPSET = 18
GRAPHS = {
    "fp32": {"pose": "onnx/pose_model.onnx", "text": "onnx/text_model.onnx"},
    "int8": {"pose": "onnx/pose_model_int8.onnx", "text": "onnx/text_model_int8.onnx"},
}
QUANTIZATIONS = ("int8",)
PER_CHANNEL = True  # one scale per output channel: closer to fp32 than one per tensor, same file size
VOCABULARY_NAME = "vocabulary.json"
FEATURE_EXTRACTOR_KEYS = (
    "keypoint_layout", "max_frames", "long_clip_policy", "padding", "mirror_left_handed", "left_handed_rule",
)  # fmt: skip
SCORE_RULE = (
    "logits_per_pose[p, t] = logit_scale * dot(pose_embeds[p], text_embeds[t]); the graphs' embeddings are final "
    "(projected, L2-normalized when score_type is 'cosine'); zero-shot: softmax over a pose's logits against the "
    "candidate prompts, ranked by logit"
)


class ExportVerificationError(ValueError):
    """onnxruntime's answers differ from PyTorch's beyond the tolerance: nothing was written."""


@dataclass
class ExportConfig:
    """What `export_model` writes and how it checks it.

    Args:
        quantize: None or "int8" (onnxruntime `quantize_dynamic`, QInt8 weights), written beside the fp32 graphs.
        vocabulary: a gloss file (`vocabulary.parse_vocabulary`) whose text embeddings go to `vocabulary.json`.
        spoken_language, sign_language: the tags of vocabulary lines without their own.
        verify_clips: how many bundled clips to verify on (None: all of them).
        fp32_tolerance: max abs difference of fp32 onnxruntime embeddings from PyTorch's.
        int8_min_cosine, int8_min_top1: the int8 graphs' least cosine to PyTorch's embeddings and least share of
            clips whose zero-shot top-1 equals PyTorch's.
        intra_op_num_threads: onnxruntime threads while verifying (None: onnxruntime's default).
    """

    quantize: str | None = None
    vocabulary: str | None = None
    spoken_language: str = "en"
    sign_language: str = "ase"
    verify_clips: int | None = None
    batch_size: int = 16
    fp32_tolerance: float = 1e-4
    int8_min_cosine: float = 0.99
    int8_min_top1: float = 0.99
    intra_op_num_threads: int | None = None

    def __post_init__(self):
        if self.quantize is not None and self.quantize not in QUANTIZATIONS:
            raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {self.quantize!r}")


@dataclass
class ExportReport:
    output_dir: Path
    manifest: dict
    seconds: float = 0.0
    sizes: dict = field(default_factory=dict)

    def format(self) -> str:
        verification = self.manifest["verification"]
        lines = [f"exported {self.manifest['source_model']} to {self.output_dir} in {self.seconds:.0f} s "
                 f"({EXPORTER}, opset {OPSET})"]  # fmt: skip
        for name, size in self.sizes.items():
            lines.append(f"  {name}: {size / 1e6:.1f} MB")
        fp32 = verification["fp32"]
        lines.append(
            f"verified with onnxruntime {verification['onnxruntime_version']} on {len(verification['clips'])} bundled "
            f"clips and {len(verification['prompts'])} prompts:"
        )
        for what in ("pose", "text", "mixed_lengths"):
            row = fp32[what]
            lines.append(
                f"  fp32 {what}: max abs diff {row['max_abs_diff']:.2e} (tolerance {fp32['tolerance']:.0e}), "
                f"min cosine {row['min_cosine']:.6f}"
            )
        if "int8" in verification:
            int8 = verification["int8"]
            lines.append(
                f"  int8 pose: min cosine {int8['pose']['min_cosine']:.4f}, text: min cosine "
                f"{int8['text']['min_cosine']:.4f} (threshold {int8['threshold_cosine']}); zero-shot top-1 equal to "
                f"PyTorch on {int8['top1_agreement']:.1%} of the clips (threshold {int8['threshold_top1']:.0%})"
            )
        if self.manifest.get("vocabulary"):
            lines.append(f"  vocabulary: {self.manifest['vocabulary_size']} glosses -> {VOCABULARY_NAME}")
        return "\n".join(lines)


# --- the output folder ---------------------------------------------------------------------------------------
def check_output_dir(output_dir: str | os.PathLike) -> Path:
    """`output_dir` as a Path when export may write it: absent or an empty folder, in a writable place."""
    output = Path(output_dir)
    if output.exists() or output.is_symlink():
        if not output.is_dir():
            raise FileExistsError(f"{output}: exists and is not a folder; give a new folder to export into")
        if any(output.iterdir()):
            raise FileExistsError(
                f"{output}: the folder is not empty; export writes a new folder and never writes over existing files"
            )
    parent = output.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"{output}: cannot create the output folder ({error.strerror or error})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{output}: cannot write into {parent} (permission denied)")
    return output


def _staging_dir(output: Path) -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=f".{output.name}.export-", dir=output.absolute().parent))
    except OSError as error:
        raise OSError(f"{output}: cannot write into {output.absolute().parent} ({error.strerror or error})") from None


# --- the source model ----------------------------------------------------------------------------------------
def load_source(name: str | os.PathLike):
    """(SignCLIPModel in float32 with eager attention, processor); a clear error for anything else."""
    from transformers import AutoConfig

    from .. import register_auto_classes
    from ..loading import load_model, resolve_model
    from ..modeling import SignCLIPModel

    register_auto_classes()
    path = resolve_model(name)
    if os.path.isdir(path) and is_exported_folder(path):
        raise ValueError(f"{name}: is already an exported ONNX folder; export the PyTorch model it came from")
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
        raise ValueError(f"{name}: not a SignCLIP model (no config.json)")
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{name}: not a SignCLIP model ({str(error).splitlines()[0]})") from None
    if getattr(config, "model_type", None) != "signclip":
        raise ValueError(
            f"{name}: not a SignCLIP model (config.json has model_type {getattr(config, 'model_type', None)!r}, "
            "expected 'signclip')"
        )
    model, processor = load_model(path, head="saved")
    if not isinstance(model, SignCLIPModel):
        raise ValueError(
            f"{name}: is a {type(model).__name__}; export takes a contrastive SignCLIPModel (pose and text towers)"
        )
    model = model.float().eval()
    model.set_attn_implementation("eager")  # plain matmul + softmax attention: one graph for every onnxruntime
    return model, processor


# --- the graphs ----------------------------------------------------------------------------------------------
def _graph_modules(model):
    import torch

    class PoseGraph(torch.nn.Module):
        """`pose_values`, `pose_attention_mask` -> `pose_embeds` = `model.get_pose_features(...).pooler_output`."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pose_values, pose_attention_mask):
            return self.model.get_pose_features(pose_values, pose_attention_mask).pooler_output

    class TextGraph(torch.nn.Module):
        """`input_ids`, `attention_mask` -> `text_embeds` = `model.get_text_features(...).pooler_output`."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model.get_text_features(input_ids, attention_mask).pooler_output

    return PoseGraph(model).eval(), TextGraph(model).eval()


def export_graphs(model, directory: Path) -> dict[str, Path]:
    """Write `onnx/pose_model.onnx` and `onnx/text_model.onnx` (dynamic batch, frames / tokens) into `directory`."""
    import torch
    from torch.export import Dim

    pose_graph, text_graph = _graph_modules(model)
    pose_config = model.config.pose_config
    batch = Dim("batch", min=1, max=4096)
    frames = Dim("frames", min=1, max=pose_config.max_frames)
    tokens = Dim("tokens", min=1, max=model.config.text_config.max_position_embeddings)
    example_frames = min(16, pose_config.max_frames)
    pose_values = torch.randn(2, example_frames, pose_config.input_dim, generator=torch.Generator().manual_seed(0))
    pose_mask = torch.ones(2, example_frames, dtype=torch.long)
    pose_mask[1, example_frames // 2 :] = 0
    input_ids = torch.full((2, 8), 100, dtype=torch.long)
    text_mask = torch.ones(2, 8, dtype=torch.long)
    text_mask[1, 5:] = 0
    jobs = {
        "pose": (pose_graph, (pose_values, pose_mask), ["pose_values", "pose_attention_mask"], ["pose_embeds"],
                 {"pose_values": {0: batch, 1: frames}, "pose_attention_mask": {0: batch, 1: frames}}),
        "text": (text_graph, (input_ids, text_mask), ["input_ids", "attention_mask"], ["text_embeds"],
                 {"input_ids": {0: batch, 1: tokens}, "attention_mask": {0: batch, 1: tokens}}),
    }  # fmt: skip
    paths = {}
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)  # no torchvision ops
    for name, (module, args, inputs, outputs, shapes) in jobs.items():
        path = directory / GRAPHS["fp32"][name]
        path.parent.mkdir(parents=True, exist_ok=True)
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, args, dynamo=True, input_names=inputs, output_names=outputs, dynamic_shapes=shapes,
                opset_version=OPSET, external_data=False, verbose=False,
            )  # fmt: skip
            program.save(str(path), external_data=False)
        fold_constant_gathers(path)
        paths[name] = path
    return paths


def fold_constant_gathers(path: Path) -> int:
    """Replace each Gather of constant rows from a weight (the pose tower's [CLS]/[SEP] rows of its word
    embeddings: the optimizer leaves tables above its size limit alone) by the rows themselves, and drop
    weights nothing reads any more; the number of Gathers folded. Saves the 28996 x 768 table (89 MB) of the
    released pose graph; the text graph's Gathers take token ids, not constants, and stay."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    constants = {
        node.output[0]: numpy_helper.to_array(node.attribute[0].t)
        for node in graph.node
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value"
    }
    small = {name: tensor for name, tensor in weights.items() if int(np.prod(tensor.dims)) <= 64}
    constants.update({name: numpy_helper.to_array(tensor) for name, tensor in small.items()})
    folded = []
    for node in graph.node:
        if node.op_type == "Gather" and node.input[0] in weights and node.input[1] in constants:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            rows = np.take(numpy_helper.to_array(weights[node.input[0]]), constants[node.input[1]], axis=axis)
            folded.append((node, numpy_helper.from_array(np.ascontiguousarray(rows), node.output[0])))
    if not folded:
        return 0
    for node, tensor in folded:
        graph.node.remove(node)
        graph.initializer.append(tensor)
    used = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)
    onnx.save(model, str(path))
    return len(folded)


def quantize_graphs(directory: Path) -> dict[str, Path]:
    """int8 copies of the fp32 graphs: onnxruntime dynamic quantization (QInt8 weights of MatMul/Gather)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    paths = {}
    root = logging.getLogger()
    level = root.level
    for name in ("pose", "text"):
        target = directory / GRAPHS["int8"][name]
        root.setLevel(logging.ERROR)  # quantize_dynamic's advice to pre-process (shape inference) is for CNNs
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                quantize_dynamic(
                    directory / GRAPHS["fp32"][name], target, weight_type=QuantType.QInt8, per_channel=PER_CHANNEL
                )
        finally:
            root.setLevel(level)
        paths[name] = target
    return paths


# --- verification --------------------------------------------------------------------------------------------
def bundled_clips(limit: int | None = None) -> list[Path]:
    """The real `.pose` files shipped in `signclip_hf/sample_data` (gestures, then signs), sorted."""
    from ..sample_data import GESTURES_DIR, SAMPLE_DIR

    clips = sorted(GESTURES_DIR.rglob("*.pose")) + sorted((SAMPLE_DIR / "signs").glob("*.pose"))
    return clips[:limit] if limit is not None else clips


def verification_clips(processor, limit: int | None = None) -> tuple[list[str], list[np.ndarray]]:
    """(names relative to sample_data, (frames, D) features fitted to max_frames) of the bundled clips this
    feature extractor reads; a clip it refuses (e.g. no right hand for `right_hand`) is left out."""
    from ..modeling.keypoints_signclip import InvalidPoseError
    from ..sample_data import SAMPLE_DIR

    extractor = processor.feature_extractor
    names, features = [], []
    for path in bundled_clips(limit):
        try:
            clip = extractor.fit_length(extractor.extract(path))
        except InvalidPoseError:
            continue
        names.append(str(path.relative_to(SAMPLE_DIR)))
        features.append(np.asarray(clip, np.float32))
    if len(features) < 2:
        layout = extractor.keypoint_layout
        raise ValueError(f"only {len(features)} bundled clips could be read with the {layout!r} layout")
    return names, features


def verification_prompts(vocabulary_prompts: list[str]) -> list[str]:
    """The bundled gestures' gloss prompts, "house", and the vocabulary's prompts (each once, in that order)."""
    import csv

    from ..modeling.prompts_signclip import format_prompt
    from ..sample_data import GESTURES_DIR

    with (GESTURES_DIR / "metadata.csv").open() as handle:
        glosses = sorted({row["label"] for row in csv.DictReader(handle)})
    prompts = [format_prompt(gloss) for gloss in [*glosses, "house"]]
    return list(dict.fromkeys([*prompts, *vocabulary_prompts]))


def _batches(features: list[np.ndarray], processor, batch_size: int):
    for start in range(0, len(features), batch_size):
        yield processor.feature_extractor.pad(features[start : start + batch_size])


def torch_pose_embeds(model, processor, features: list[np.ndarray], batch_size: int) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([
            model.get_pose_features(torch.from_numpy(b["pose_values"]), torch.from_numpy(b["pose_attention_mask"]))
            .pooler_output.numpy()
            for b in _batches(features, processor, batch_size)
        ])  # fmt: skip


def onnx_pose_embeds(session, processor, features: list[np.ndarray], batch_size: int) -> np.ndarray:
    return np.concatenate([
        session.run(["pose_embeds"], {key: b[key] for key in ("pose_values", "pose_attention_mask")})[0]
        for b in _batches(features, processor, batch_size)
    ])  # fmt: skip


def tokenize(processor, prompts: list[str]) -> dict[str, np.ndarray]:
    inputs = processor(text=prompts, return_tensors="np", validate_tags=False)
    return {key: inputs[key].astype(np.int64) for key in ("input_ids", "attention_mask")}


def torch_text_embeds(model, tokens: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([
            model.get_text_features(
                torch.from_numpy(tokens["input_ids"][s : s + batch_size]),
                torch.from_numpy(tokens["attention_mask"][s : s + batch_size]),
            ).pooler_output.numpy()
            for s in range(0, len(tokens["input_ids"]), batch_size)
        ])  # fmt: skip


def onnx_text_embeds(session, tokens: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    return np.concatenate([
        session.run(["text_embeds"], {key: value[s : s + batch_size] for key, value in tokens.items()})[0]
        for s in range(0, len(tokens["input_ids"]), batch_size)
    ])  # fmt: skip


def compare(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """Max abs / relative difference and cosine of two (N, E) embedding matrices, row by row."""
    reference, candidate = np.asarray(reference, np.float64), np.asarray(candidate, np.float64)
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    cosine = np.einsum("ij,ij->i", reference, candidate) / np.maximum(norms, 1e-30)
    return {
        "max_abs_diff": float(np.abs(reference - candidate).max()),
        "max_abs_value": float(np.abs(reference).max()),
        "min_cosine": float(cosine.min()),
        "mean_cosine": float(cosine.mean()),
        "rows": int(len(reference)),
    }


def mixed_length_features(features: list[np.ndarray], max_frames: int) -> list[np.ndarray]:
    """Real clips cut to mixed lengths, plus one frame and one max_frames-long clip (a real clip repeated): the
    batch that checks masks, [SEP] at max_frames + 1 and lengths other than the trace example's."""
    first = features[0]
    long = np.concatenate([first] * (max_frames // len(first) + 1))[:max_frames]
    cut = [clip[: max(1, len(clip) * (1 + i % 4) // 4)] for i, clip in enumerate(features[:6])]
    return [long, first[:1], *cut]


def verify(model, processor, graphs: dict, config: ExportConfig, prompts: list[str]) -> dict:
    """onnxruntime vs PyTorch on the bundled clips and `prompts`; the measurements (raises when out of tolerance)."""
    from ..embedding import score_scale

    import onnxruntime as ort

    names, features = verification_clips(processor, config.verify_clips)
    tokens = tokenize(processor, prompts)
    reference_pose = torch_pose_embeds(model, processor, features, config.batch_size)
    reference_text = torch_text_embeds(model, tokens)
    mixed = mixed_length_features(features, model.config.pose_config.max_frames)
    reference_mixed = torch_pose_embeds(model, processor, mixed, 1)  # one clip per forward pass
    scale = score_scale(model)
    reference_top1 = np.argmax(reference_pose @ reference_text.T * scale, axis=1)
    report = {
        "onnxruntime_version": ort.__version__,
        "clips": names,
        "prompts": prompts,
        "batch_size": config.batch_size,
        "reference": "PyTorch float32 (the model's own get_pose_features / get_text_features)",
    }
    problems = []
    for precision, paths in graphs.items():
        pose_session = new_session(paths["pose"], config.intra_op_num_threads)
        text_session = new_session(paths["text"], config.intra_op_num_threads)
        pose = onnx_pose_embeds(pose_session, processor, features, config.batch_size)
        text = onnx_text_embeds(text_session, tokens)
        mixed_pose = onnx_pose_embeds(pose_session, processor, mixed, len(mixed))  # one padded batch
        top1 = np.argmax(pose @ text.T * scale, axis=1)
        row = {
            "pose": compare(reference_pose, pose),
            "text": compare(reference_text, text),
            "mixed_lengths": {
                **compare(reference_mixed, mixed_pose),
                "lengths": [int(len(clip)) for clip in mixed],
                "how": "one padded batch through onnxruntime vs each clip alone through PyTorch",
            },
            "top1_agreement": float(np.mean(top1 == reference_top1)),
        }
        if precision == "fp32":
            row["tolerance"] = config.fp32_tolerance
            worst = max(row[what]["max_abs_diff"] for what in ("pose", "text", "mixed_lengths"))
            row["passed"] = bool(worst <= config.fp32_tolerance)
            if not row["passed"]:
                problems.append(f"fp32 embeddings differ from PyTorch by {worst:.2e} (> {config.fp32_tolerance:.0e})")
        else:
            row["threshold_cosine"] = config.int8_min_cosine
            row["threshold_top1"] = config.int8_min_top1
            cosine = min(row[what]["min_cosine"] for what in ("pose", "text", "mixed_lengths"))
            row["passed"] = bool(cosine >= config.int8_min_cosine and row["top1_agreement"] >= config.int8_min_top1)
            if not row["passed"]:
                problems.append(
                    f"{precision} embeddings: min cosine {cosine:.4f} (needs {config.int8_min_cosine}), zero-shot "
                    f"top-1 agreement {row['top1_agreement']:.1%} (needs {config.int8_min_top1:.0%})"
                )
        report[precision] = row
    if problems:
        raise ExportVerificationError(
            "onnxruntime does not reproduce PyTorch, nothing was written: " + "; ".join(problems)
        )
    return report


# --- the folder ----------------------------------------------------------------------------------------------
def file_record(path: Path) -> dict:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def build_manifest(source: str, model, processor, graphs: dict, staging: Path, verification: dict, vocabulary) -> dict:
    from ..embedding import score_scale

    import torch

    from .. import __version__

    extractor = processor.feature_extractor
    pose_config = model.config.pose_config
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "written_by": f"signclip-hf {__version__}",
        "source_model": source,
        "architecture": type(model).__name__,
        "exporter": EXPORTER,
        "torch_version": torch.__version__,
        "onnx_opset": OPSET,
        "graphs": {precision: dict(GRAPHS[precision]) for precision in graphs},
        "files": {
            GRAPHS[precision][name]: file_record(path)
            for precision, paths in graphs.items()
            for name, path in paths.items()
        },
        "inputs": {
            "pose": {
                "pose_values": ["batch", "frames", pose_config.input_dim],
                "pose_attention_mask": ["batch", "frames"],
            },
            "text": {"input_ids": ["batch", "tokens"], "attention_mask": ["batch", "tokens"]},
        },
        "outputs": {
            "pose": {"pose_embeds": ["batch", model.config.embed_dim]},
            "text": {"text_embeds": ["batch", model.config.embed_dim]},
        },
        "input_dim": pose_config.input_dim,
        "embed_dim": model.config.embed_dim,
        "max_frames": pose_config.max_frames,
        "sep_position": pose_config.sep_position,
        "feature_extractor": {key: getattr(extractor, key) for key in FEATURE_EXTRACTOR_KEYS},
        "text": {
            "max_length": processor.text_max_length,
            "prompt_format": "<{spoken_language}> <{sign_language}> {text}",
            "prompt_tags": list(processor.prompt_tags),
        },
        "score": {
            "score_type": model.config.score_type,
            "logit_scale": score_scale(model),
            "rule": SCORE_RULE,
        },
        "verification": verification,
        "vocabulary": VOCABULARY_NAME if vocabulary is not None else None,
        "vocabulary_size": len(vocabulary) if vocabulary is not None else 0,
    }


def export_model(
    model_name: str | os.PathLike,
    output_dir: str | os.PathLike,
    config: ExportConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> ExportReport:
    """Export `model_name` (a SignCLIP model folder or Hub id) into the new folder `output_dir`, verified."""
    from ..embedding import score_scale

    from .vocabulary import entries_as_dicts, parse_vocabulary

    config = config or ExportConfig()
    log = log or (lambda message: None)
    started = time.perf_counter()
    output = check_output_dir(output_dir)
    entries = (
        parse_vocabulary(config.vocabulary, config.spoken_language, config.sign_language)
        if config.vocabulary is not None
        else None
    )  # a bad gloss file fails before the model loads
    model, processor = load_source(model_name)
    staging = _staging_dir(output)
    try:
        log("exporting the pose and text graphs")
        graphs = {"fp32": export_graphs(model, staging)}
        if config.quantize == "int8":
            log("quantizing (int8 dynamic)")
            graphs["int8"] = quantize_graphs(staging)
        prompts = verification_prompts([entry.prompt for entry in entries or []])
        log("verifying with onnxruntime against PyTorch")
        verification = verify(model, processor, graphs, config, prompts)
        model.config.save_pretrained(staging)
        processor.save_pretrained(staging)
        if entries is not None:
            text = torch_text_embeds(model, tokenize(processor, [entry.prompt for entry in entries]))
            vocabulary = {
                "spoken_language": config.spoken_language,
                "sign_language": config.sign_language,
                "entries": entries_as_dicts(entries),
                "embed_dim": model.config.embed_dim,
                "logit_scale": score_scale(model),
                "text_embeds": text.astype(np.float32).tolist(),
            }
            (staging / VOCABULARY_NAME).write_text(json.dumps(vocabulary))
        manifest = build_manifest(str(model_name), model, processor, graphs, staging, verification, entries)
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 -> an ordinary folder
        if output.is_dir():
            output.rmdir()  # empty (checked): the finished folder takes its place
        os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    sizes = {relative: record["bytes"] for relative, record in manifest["files"].items()}
    return ExportReport(output, manifest, time.perf_counter() - started, sizes)


__all__ = ["EXPORTER", "ExportConfig", "ExportReport", "ExportVerificationError", "check_output_dir", "export_model"]
