"""Convert a released fairseq SignCLIP checkpoint (J22Melody/fairseq examples/MMPT, `MMPTModel`: the
`mmmodel.video_encoder` / `mmmodel.text_encoder` BERT towers) into a transformers model directory.

The checkpoint is read with `torch.load(weights_only=True)`: only tensors, plain containers and the
non-tensor types listed in `ALLOWED_CHECKPOINT_GLOBALS` are rebuilt, so a crafted pickle cannot run
code. Every architecture number comes from the tensors themselves (layers, widths, vocabularies,
input features, projections), so the released model, FingerCLIP and smaller variants all convert.
The one number tensors do not store, the attention head count, comes from the checkpoint's training
config when it states one, else from the head size given, else BERT's head size 64 (`resolve_attention_heads`;
a head size contradicting the config fails); the report says which was used.
Every checkpoint key is accounted for: mapped, listed as intentionally unused (BERT poolers, old
position-id buffers), or reported; any model weight left without a source fails the conversion.
"""

from __future__ import annotations

import argparse
import pickle
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoTokenizer
from transformers.initialization import no_init_weights

from .modeling import (
    KEYPOINT_LAYOUTS,
    SignCLIPConfig,
    SignCLIPFeatureExtractor,
    SignCLIPModel,
    SignCLIPOutput,
    SignCLIPProcessor,
)
from .pipeline import save_for_pipeline
from .sample_data import HOUSE_POSE

# Non-tensor objects a fairseq checkpoint holds besides plain containers/numbers/strings: the training
# arguments (`cfg`/`args`) are an `argparse.Namespace`. Nothing else is rebuilt.
ALLOWED_CHECKPOINT_GLOBALS = (argparse.Namespace,)
PREFIX = "mmmodel."
POSE_TOWER, TEXT_TOWER = "video_encoder.bert.", "text_encoder."
# The released model's scores of house.pose against these prompts (J22Melody/fairseq examples/MMPT
# `demo_sign.py`), printed next to the converted model's by the self-check.
RELEASED_SCORES = {
    "<en> <ase> house": 93.79,
    "<en> <gsg> house": 80.39,
    "<en> <fsl> house": 83.64,
    "<en> <ase> sun": 72.61,
    "<en> <ase> police": 81.21,
    "random text": 62.98,
    "house": 67.90,
}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
DEFAULT_HEAD_SIZE = 64  # bert-base / bert-large; MMPT builds both towers from `AutoConfig(dataset.bert_name)`
# Names of the head count in a checkpoint's config: transformers' BertConfig name (MMPT's towers are BERTs),
# fairseq's own transformer argument name. Looked up at the top level and under `model` (fairseq >= 0.10
# stores the training arguments as `cfg["model"]`, a Namespace for legacy models), in `cfg` then `args`.
HEAD_COUNT_KEYS = ("num_attention_heads", "encoder_attention_heads")


class FairseqCheckpointError(ValueError):
    """A fairseq checkpoint that cannot be converted; the message names the file and the problem. (Not the
    training checkpoints of `training.checkpoint`, which have their own `CheckpointError`.)"""

    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


class UnsafeFairseqCheckpointError(FairseqCheckpointError):
    """The pickle asks for Python objects outside the allow-list (refused, never executed)."""


@dataclass
class AttentionHeads:
    """The head count used for both towers and where it came from (a cfg key, the head size given, the default)."""

    count: int
    source: str


@dataclass
class ConversionReport:
    """What happened to every checkpoint key."""

    config: SignCLIPConfig
    keypoint_layout: str
    source_dtypes: list[str]
    attention_heads: AttentionHeads
    mapped: dict[str, str] = field(default_factory=dict)  # checkpoint key -> model key
    intentionally_unused: dict[str, str] = field(default_factory=dict)  # checkpoint key -> reason
    unrecognized: list[str] = field(default_factory=list)
    checkpoint_path: Path | None = None
    output_dir: Path | None = None
    self_check: SignCLIPOutput | None = None  # `verify_conversion` of the written directory, when verified

    def format(self) -> str:
        """The report as printed by `signclip-hf convert`: architecture, key accounting, the self-check."""
        config, pose, text, heads = self.config, self.config.pose_config, self.config.text_config, self.attention_heads
        lines = [
            f"Converted {self.checkpoint_path} ({', '.join(self.source_dtypes)}) -> {self.output_dir}",
            (
                f"  pose tower: {pose.num_hidden_layers} layers, hidden {pose.hidden_size}, "
                f"{self.keypoint_layout} layout ({pose.input_dim} features)"
            ),
            (
                f"  text tower: {text.num_hidden_layers} layers, hidden {text.hidden_size}, vocab {text.vocab_size}; "
                f"projection: {config.projection_dim or 'none'}"
            ),
            f"  attention heads: {heads.count} per layer in both towers (from {heads.source})",
            f"  {len(self.mapped)} tensors mapped, {len(self.intentionally_unused)} intentionally unused",
        ]
        reasons = defaultdict(list)
        for key, reason in self.intentionally_unused.items():
            reasons[reason].append(key)
        lines += [f"    unused ({reason}): {', '.join(keys)}" for reason, keys in reasons.items()]
        if self.unrecognized:
            lines.append(f"  WARNING: {len(self.unrecognized)} unrecognized tensors not converted: "
                         + ", ".join(self.unrecognized))  # fmt: skip
        if self.self_check is not None:
            output = self.self_check
            pose_embeds = output.pose_embeds[0]
            start = [round(v, 4) for v in pose_embeds[:4].tolist()]
            size, norm = pose_embeds.numel(), f"{pose_embeds.norm():.4f}"
            lines += [
                f"Self-check on {HOUSE_POSE.name}: pose embedding ({size}-d, norm {norm}) starts {start}",
                "  converted score / released score, text embedding norm:",
            ]
            scores = output.logits_per_pose[0].tolist()
            for prompt, score, text_embeds in zip(RELEASED_SCORES, scores, output.text_embeds):
                released = RELEASED_SCORES[prompt]
                lines.append(f"  {prompt!r:>22}: {score:9.4f} / {released:.2f}   |t| {text_embeds.norm():.4f}")
        return "\n".join(lines)


def read_fairseq_checkpoint(path: str | Path) -> dict:
    """Read a fairseq checkpoint without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise FairseqCheckpointError(path, "no such file")
    allowed = {f"{cls.__module__}.{cls.__qualname__}" for cls in ALLOWED_CHECKPOINT_GLOBALS}
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as error:  # not a zip archive / truncated: torch raises RuntimeError or pickle errors
        problem = f"not a readable torch checkpoint: {type(error).__name__}: {error}"
        raise FairseqCheckpointError(path, problem) from None
    refused = sorted(set(found) - allowed)
    if refused:
        raise UnsafeFairseqCheckpointError(
            path,
            f"the pickle references Python objects outside the allow-list ({', '.join(refused)}); "
            f"refusing to load it (allowed: {', '.join(sorted(allowed))}). The file was not executed.",
        )
    try:
        with torch.serialization.safe_globals(list(ALLOWED_CHECKPOINT_GLOBALS)):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeFairseqCheckpointError(path, f"refused by the weights-only unpickler: {error}") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise FairseqCheckpointError(path, "expected a fairseq checkpoint dict with a 'model' state dict")
    return checkpoint


def _tower_fields(state: dict[str, torch.Tensor], prefix: str, path: Path, heads: AttentionHeads) -> dict:
    """BERT sizes of one tower, read from its tensors (the head count is not stored: it is `heads`)."""
    try:
        words = state[f"{prefix}embeddings.word_embeddings.weight"]
        positions = state[f"{prefix}embeddings.position_embeddings.weight"]
        token_types = state[f"{prefix}embeddings.token_type_embeddings.weight"]
    except KeyError as error:
        raise FairseqCheckpointError(path, f"missing tensor {error.args[0]} (the MMPT key layout)") from None
    layer_pattern = re.compile(re.escape(prefix) + r"encoder\.layer\.(\d+)\.")
    layers = {int(m.group(1)) for key in state if (m := layer_pattern.match(key))}
    if not layers:
        raise FairseqCheckpointError(path, f"no encoder layers under {prefix!r}")
    if layers != set(range(len(layers))):
        raise FairseqCheckpointError(path, f"{prefix} encoder layers are not numbered 0..N-1: {sorted(layers)}")
    hidden = words.shape[1]
    if hidden % heads.count:
        raise FairseqCheckpointError(
            path, f"{prefix} hidden size {hidden} is not divisible into {heads.count} attention heads ({heads.source})"
        )
    intermediate = state.get(f"{prefix}encoder.layer.0.intermediate.dense.weight")
    if intermediate is None:
        raise FairseqCheckpointError(path, f"missing tensor {prefix}encoder.layer.0.intermediate.dense.weight")
    return dict(
        hidden_size=hidden,
        num_hidden_layers=len(layers),
        num_attention_heads=heads.count,
        intermediate_size=intermediate.shape[0],
        vocab_size=words.shape[0],
        max_position_embeddings=positions.shape[0],
        type_vocab_size=token_types.shape[0],
    )


def _config_value(config, key: str):
    """`config[key]` / `config.key` of a plain dict or `argparse.Namespace` (None when absent)."""
    if isinstance(config, dict):
        return config.get(key)
    return getattr(config, key, None) if isinstance(config, argparse.Namespace) else None


def stated_head_count(checkpoint: dict) -> tuple[int, str] | None:
    """(head count, where) stated by the checkpoint's `cfg` / `args`, e.g. (12, "cfg.model.num_attention_heads")."""
    for root in ("cfg", "args"):
        for section in (None, "model"):
            config = checkpoint.get(root) if section is None else _config_value(checkpoint.get(root), section)
            for key in HEAD_COUNT_KEYS:
                value = _config_value(config, key)
                if value is not None:
                    return value, ".".join(part for part in (root, section, key) if part)
    return None


def resolve_attention_heads(checkpoint: dict, hidden: int, path: Path, head_size: int | None = None) -> AttentionHeads:
    """The head count of a `hidden`-wide tower: `head_size` when given (hidden / head_size), else the count the
    checkpoint's config states, else hidden / 64. A given head size that disagrees with the config fails."""
    stated = stated_head_count(checkpoint)
    if stated is not None:
        count, where = stated
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise FairseqCheckpointError(path, f"{where} = {count!r} is not a positive head count")
    if head_size is not None:
        if head_size < 1 or hidden % head_size:
            raise FairseqCheckpointError(path, f"hidden size {hidden} is not a multiple of the head size {head_size}")
        if stated is not None and stated[0] != hidden // head_size:
            raise FairseqCheckpointError(
                path, f"head size {head_size} means {hidden // head_size} heads but {stated[1]} = {stated[0]}; "
                "give no head size to use the checkpoint's value",
            )
        return AttentionHeads(hidden // head_size, f"head size {head_size}")
    if stated is not None:
        return AttentionHeads(stated[0], stated[1])
    if hidden % DEFAULT_HEAD_SIZE:
        raise FairseqCheckpointError(
            path, f"hidden size {hidden} is not a multiple of the default head size {DEFAULT_HEAD_SIZE} and the "
            "checkpoint's cfg states no head count: give the head size",
        )
    return AttentionHeads(hidden // DEFAULT_HEAD_SIZE, f"default head size {DEFAULT_HEAD_SIZE}")


def infer_config(
    state: dict[str, torch.Tensor], path: Path, heads: AttentionHeads, max_frames: int = 256
) -> tuple[SignCLIPConfig, str]:
    """SignCLIPConfig (and keypoint layout name) of a fairseq state dict with the `mmmodel.` prefix removed."""
    linear1 = state.get("video_encoder.videomlp.linear1.weight")
    if linear1 is None:
        raise FairseqCheckpointError(path, "missing tensor video_encoder.videomlp.linear1.weight (the MMPT key layout)")
    layouts = {layout.feature_dim: name for name, layout in KEYPOINT_LAYOUTS.items()}
    input_dim = linear1.shape[1]
    if input_dim not in layouts:
        raise FairseqCheckpointError(
            path, f"pose input has {input_dim} features; known layouts: "
            + ", ".join(f"{name} ({dim})" for dim, name in layouts.items()),
        )
    projections = [state.get(f"{side}_projection.linear.weight") for side in ("video", "text")]
    if (projections[0] is None) != (projections[1] is None):
        raise FairseqCheckpointError(path, "only one of video_projection/text_projection is present; need both or neither")
    if projections[0] is not None and projections[0].shape[0] != projections[1].shape[0]:
        raise FairseqCheckpointError(path, f"projection sizes differ: {projections[0].shape[0]} vs {projections[1].shape[0]}")
    pose_fields = _tower_fields(state, POSE_TOWER, path, heads)
    text_fields = _tower_fields(state, TEXT_TOWER, path, heads)
    try:
        config = SignCLIPConfig(
            pose_config=dict(pose_fields, input_dim=input_dim, max_frames=max_frames),
            text_config=dict(text_fields, model_type="bert"),
            projection_dim=None if projections[0] is None else projections[0].shape[0],
            score_type="dot",
        )
    except ValueError as error:  # e.g. too few pose positions for max_frames, tower widths that differ
        raise FairseqCheckpointError(path, f"inferred architecture is invalid: {error}") from None
    return config, layouts[input_dim]


def map_key(key: str) -> str | None:
    """Our model's name for a fairseq key (prefix removed), or None when it has no counterpart."""
    if key.startswith("video_encoder.videomlp."):
        rest = key.removeprefix("video_encoder.videomlp.").replace("LayerNorm.", "layer_norm.")
        return f"pose_model.frame_tokenizer.{rest}"
    if key.startswith(POSE_TOWER):
        return f"pose_model.bert.{key.removeprefix(POSE_TOWER)}"
    if key.startswith(TEXT_TOWER):
        return f"text_model.{key.removeprefix(TEXT_TOWER)}"
    if key in ("video_projection.linear.weight", "text_projection.linear.weight"):
        return key.replace("video_", "pose_").replace(".linear", "")
    return None


def unused_reason(key: str) -> str | None:
    """Why a checkpoint key is deliberately dropped (None: it is not expected to be dropped)."""
    if ".pooler." in key and key.startswith((POSE_TOWER, TEXT_TOWER)):
        return "BERT pooler: SignCLIP mean-pools instead (MMPT's MMBertForEncoder)"
    if key.endswith("embeddings.position_ids"):
        return "position-id buffer of transformers 3.x, recomputed"
    return None


def convert_state_dict(
    checkpoint: dict, path: str | Path, head_size: int | None = None, max_frames: int = 256
) -> tuple[SignCLIPModel, ConversionReport]:
    """Build a `SignCLIPModel` (float32) holding the checkpoint's weights; fail on any missing weight.

    `head_size` overrides the head count stated in the checkpoint's config (see `resolve_attention_heads`).
    """
    path = Path(path)
    raw = checkpoint["model"]
    state = {key.removeprefix(PREFIX): value for key, value in raw.items() if isinstance(value, torch.Tensor)}
    words = state.get(f"{POSE_TOWER}embeddings.word_embeddings.weight")
    if words is None:
        raise FairseqCheckpointError(path, f"missing tensor {POSE_TOWER}embeddings.word_embeddings.weight (the MMPT key layout)")
    heads = resolve_attention_heads(checkpoint, words.shape[1], path, head_size)
    config, layout = infer_config(state, path, heads, max_frames)
    report = ConversionReport(config, layout, sorted({str(v.dtype) for v in state.values()}), heads)
    with no_init_weights():  # every weight is overwritten below (missing ones fail), so skip the random init
        model = SignCLIPModel(config)
    target = model.state_dict()
    converted = {}
    for key, value in state.items():
        reason = unused_reason(key)
        name = map_key(key)
        if reason is not None:
            report.intentionally_unused[PREFIX + key] = reason
        elif name is None or name not in target:
            report.unrecognized.append(PREFIX + key)
        elif tuple(target[name].shape) != tuple(value.shape):
            raise FairseqCheckpointError(
                path, f"{PREFIX}{key} has shape {tuple(value.shape)}, {name} needs {tuple(target[name].shape)}"
            )
        else:
            converted[name] = value.to(torch.float32)
            report.mapped[PREFIX + key] = name
    missing = sorted(set(target) - set(converted))
    if missing:
        raise FairseqCheckpointError(path, f"{len(missing)} model weights have no source tensor: {', '.join(missing[:10])}")
    model.load_state_dict(converted, strict=True)
    return model.eval(), report


def convert_checkpoint(
    checkpoint_path: str | Path,
    output_dir: str | Path,
    tokenizer_dir: str | Path,
    dtype: str = "float32",
    head_size: int | None = None,
    max_frames: int = 256,
    verify: bool = True,
) -> ConversionReport:
    """Convert `checkpoint_path` into `output_dir`: weights, config, processor, remote code and pipeline code.

    `tokenizer_dir` is a local BERT tokenizer matching the text tower (bert-base-cased for the released
    model, bert-base-uncased for FingerCLIP). `dtype` is the dtype written (fp16 sources become float32
    by default). `head_size` overrides the checkpoint config's head count (default: that count, else 64 per
    head). With `verify`, the converted directory is reloaded and scored on the bundled house.pose
    (`report.self_check`; `report.format()` prints it next to the released model's scores).
    """
    checkpoint_path, output_dir = Path(checkpoint_path), Path(output_dir)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    model, report = convert_state_dict(read_fairseq_checkpoint(checkpoint_path), checkpoint_path, head_size, max_frames)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    text_vocab = report.config.text_config.vocab_size
    if len(tokenizer) > text_vocab:
        raise FairseqCheckpointError(
            checkpoint_path, f"tokenizer {tokenizer_dir} has {len(tokenizer)} tokens but the text tower only "
            f"{text_vocab} embeddings; use the tokenizer the model was trained with",
        )
    feature_extractor = SignCLIPFeatureExtractor(keypoint_layout=report.keypoint_layout, max_frames=max_frames)
    processor = SignCLIPProcessor(feature_extractor, tokenizer, text_max_length=report.config.text_max_length)
    save_for_pipeline(model.to(DTYPES[dtype]), processor, output_dir)
    report.checkpoint_path, report.output_dir = checkpoint_path, output_dir
    if verify:
        report.self_check = verify_conversion(output_dir)
    return report


def verify_conversion(model_dir: str | Path, pose=HOUSE_POSE, prompts=tuple(RELEASED_SCORES)) -> SignCLIPOutput:
    """Embeddings and scores of the converted model (reloaded from disk, float32) for `prompts` against one pose."""
    from .loading import load_model

    model, processor = load_model(model_dir, dtype=torch.float32)
    with torch.no_grad(), warnings.catch_warnings():  # the released prompts include untagged ones on purpose
        warnings.filterwarnings("ignore", message="prompt .* has no language tags")
        return model(**processor(text=list(prompts), poses=[pose], return_tensors="pt"))
