"""The onnxruntime backend: an exported folder (`signclip-hf export`) served as a drop-in `SignCLIPModel`.

`OnnxSignCLIPModel` runs the folder's pose and text graphs with onnxruntime (CPU execution provider) and
answers the methods the package's entry points call on a `SignCLIPModel`: `get_pose_features` /
`get_text_features` (objects whose `.pooler_output` is the embedding), `score`, `forward` (logits_per_pose /
logits_per_text), `config`, `eval()`, `device`, `dtype`, `parameters()`, `state_dict()` (a fingerprint of the
graphs, for the embedding cache). Arrays in give arrays out; torch tensors in give torch tensors out, so the
pipelines, the embedding API, `index`/`search`, `spot` and the app run on it unchanged
(`signclip_hf.loading.load_model(folder)` returns one).

Inference itself uses numpy and onnxruntime only: torch is imported only to wrap results for callers that
passed torch tensors (and by `import signclip_hf`, whose package init registers the PyTorch classes).
The folder layout and the graphs' inputs/outputs are described in `signclip_onnx.json` (`MANIFEST_NAME`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST_NAME = "signclip_onnx.json"
FORMAT = "signclip-onnx"
FORMAT_VERSION = 1
PRECISIONS = ("fp32", "int8")
PRECISION_ENV = "SIGNCLIP_HF_ONNX_PRECISION"  # "int8": `load_model` on an exported folder picks the int8 graphs
THREADS_ENV = "SIGNCLIP_HF_ONNX_THREADS"  # intra-op threads of the onnxruntime sessions (default: onnxruntime's)


def is_exported_folder(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder written by `signclip-hf export` (it holds `signclip_onnx.json`)."""
    return os.path.isfile(os.path.join(os.fspath(path), MANIFEST_NAME))


def read_manifest(path: str | os.PathLike) -> dict:
    """The folder's `signclip_onnx.json`, checked to be this format; a clear error otherwise."""
    manifest_path = Path(path, MANIFEST_NAME)
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: not an exported SignCLIP folder (no {MANIFEST_NAME}; run `signclip-hf export`)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{manifest_path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{manifest_path}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{manifest_path}: format_version {manifest.get('format_version')!r}, this package reads {FORMAT_VERSION}"
        )
    return manifest


def session_options(intra_op_num_threads: int | None = None):
    """onnxruntime session options: all graph optimizations, `intra_op_num_threads` (None: onnxruntime's default,
    or `SIGNCLIP_HF_ONNX_THREADS`)."""
    from .extras import require

    ort = require("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    threads = intra_op_num_threads if intra_op_num_threads is not None else os.environ.get(THREADS_ENV)
    if threads is not None:
        threads = int(threads)
        if threads < 0:
            raise ValueError(f"intra_op_num_threads must be >= 0 (0: onnxruntime's default), got {threads}")
        options.intra_op_num_threads = threads
    return options


def new_session(graph: str | os.PathLike, intra_op_num_threads: int | None = None):
    """An onnxruntime CPU session for one graph file."""
    from .extras import require

    ort = require("onnxruntime", "onnx")
    return ort.InferenceSession(
        os.fspath(graph), session_options(intra_op_num_threads), providers=["CPUExecutionProvider"]
    )


class PooledOutput(dict):
    """What `get_pose_features` / `get_text_features` return: `.pooler_output` is the (B, E) embedding
    (`last_hidden_state` is None: the graphs return only the embedding)."""

    def __init__(self, pooler_output):
        super().__init__(pooler_output=pooler_output)
        self.pooler_output = pooler_output
        self.last_hidden_state = None

    def __getitem__(self, key):
        return list(self.values())[key] if isinstance(key, int) else super().__getitem__(key)


class ScoresOutput(dict):
    """What `forward` returns: `logits_per_pose` (P, T), `logits_per_text` (T, P), `pose_embeds`, `text_embeds`."""

    def __init__(self, **fields):
        super().__init__(**fields)
        self.__dict__.update(fields)
        self.loss = None


def _is_torch(value) -> bool:
    return type(value).__module__.startswith("torch")


def _to_numpy(value, dtype) -> np.ndarray:
    if _is_torch(value):
        value = value.detach().to("cpu").numpy()
    return np.ascontiguousarray(np.asarray(value), dtype=dtype)


def _like(array: np.ndarray, reference):
    """`array` as a torch tensor when `reference` is one (so torch callers get torch back), else as it is."""
    if _is_torch(reference):
        import torch

        return torch.from_numpy(array)
    return array


class OnnxSignCLIPModel:
    """A `SignCLIPModel` served by onnxruntime from an exported folder (fp32 or int8 graphs).

    Args:
        path: the folder `signclip-hf export` wrote.
        precision: "fp32" or "int8" (the `--quantize int8` graphs); None: `SIGNCLIP_HF_ONNX_PRECISION` or fp32.
        intra_op_num_threads: onnxruntime intra-op threads (None: `SIGNCLIP_HF_ONNX_THREADS` or onnxruntime's default).
    Sessions are opened on first use: a pose-only caller never loads the text graph.
    """

    backend = "onnx"
    training = False

    def __init__(
        self, path: str | os.PathLike, precision: str | None = None, intra_op_num_threads: int | None = None
    ):
        from .modeling import SignCLIPConfig

        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        precision = precision or os.environ.get(PRECISION_ENV) or "fp32"
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        graphs = self.manifest.get("graphs", {})
        if precision not in graphs:
            raise ValueError(
                f"{self.path}: has no {precision} graphs (has {sorted(graphs)}); export with --quantize int8 for int8"
            )
        self.precision = precision
        self.graphs = {name: self.path / relative for name, relative in graphs[precision].items()}
        self._digests: dict[str, bytes] | None = None
        for name, graph in self.graphs.items():
            if not graph.is_file():
                raise FileNotFoundError(f"{self.path}: the {name} graph {graph} is missing")
        self.intra_op_num_threads = intra_op_num_threads
        self.config = SignCLIPConfig.from_pretrained(self.path)
        self.config._name_or_path = str(self.path)
        self.name_or_path = str(self.path)
        self.max_frames = int(self.manifest["max_frames"])
        self.input_dim = int(self.manifest["input_dim"])
        self.scale = float(self.manifest["score"]["logit_scale"])
        self._sessions: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, precision={self.precision!r})"

    # --- the onnxruntime sessions ---------------------------------------------------------------------
    def session(self, name: str):
        """The onnxruntime session of the "pose" or "text" graph (opened on first use)."""
        if name not in self._sessions:
            self._sessions[name] = new_session(self.graphs[name], self.intra_op_num_threads)
        return self._sessions[name]

    def pose_embeds(self, pose_values, pose_attention_mask=None) -> np.ndarray:
        """(B, frames, input_dim) features (+ (B, frames) mask) -> (B, E) float32 embeddings (numpy)."""
        values = _to_numpy(pose_values, np.float32)
        if values.ndim != 3 or values.shape[-1] != self.input_dim:
            raise ValueError(
                f"pose_values must be (batch, frames, {self.input_dim}) for this model, got {tuple(values.shape)}"
            )
        batch, frames = values.shape[:2]
        if frames > self.max_frames:
            raise ValueError(
                f"pose_values has {frames} frames but this model has positions for max_frames={self.max_frames}: fit "
                "long clips with the feature extractor (its `max_frames` and `long_clip_policy`, e.g. "
                "`processor(poses=...)`) instead of passing them to the model directly"
            )
        if frames == 0 or batch == 0:
            raise ValueError(f"pose_values has no frames or no clips: shape {tuple(values.shape)}")
        if pose_attention_mask is None:
            mask = np.ones((batch, frames), dtype=np.int64)
        else:
            mask = _to_numpy(pose_attention_mask, np.int64)
            if mask.shape != (batch, frames):
                raise ValueError(f"pose_attention_mask must be {(batch, frames)}, got {tuple(mask.shape)}")
        return self.session("pose").run(["pose_embeds"], {"pose_values": values, "pose_attention_mask": mask})[0]

    def text_embeds(self, input_ids, attention_mask=None, token_type_ids=None) -> np.ndarray:
        """(B, tokens) token ids (+ mask) -> (B, E) float32 embeddings (numpy). Prompts are one segment: the
        graph has no token_type_ids input, and nonzero ones are refused rather than ignored."""
        ids = _to_numpy(input_ids, np.int64)
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"input_ids must be (batch, tokens), got {tuple(ids.shape)}")
        mask = np.ones_like(ids) if attention_mask is None else _to_numpy(attention_mask, np.int64)
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask must be {tuple(ids.shape)}, got {tuple(mask.shape)}")
        if token_type_ids is not None and _to_numpy(token_type_ids, np.int64).any():
            raise ValueError("the exported text graph takes single-segment prompts: token_type_ids must be all 0")
        return self.session("text").run(["text_embeds"], {"input_ids": ids, "attention_mask": mask})[0]

    # --- the SignCLIPModel surface ----------------------------------------------------------------------
    def get_pose_features(self, pose_values, pose_attention_mask=None) -> PooledOutput:
        """As `SignCLIPModel.get_pose_features`: `.pooler_output` is the (B, E) pose embedding."""
        return PooledOutput(_like(self.pose_embeds(pose_values, pose_attention_mask), pose_values))

    def get_text_features(self, input_ids, attention_mask=None, token_type_ids=None) -> PooledOutput:
        """As `SignCLIPModel.get_text_features`: `.pooler_output` is the (B, E) text embedding."""
        return PooledOutput(_like(self.text_embeds(input_ids, attention_mask, token_type_ids), input_ids))

    def score(self, pose_embeds, text_embeds):
        """(P, E) x (T, E) -> (P, T) scores: dot products times the manifest's `logit_scale` (1 for "dot")."""
        if _is_torch(pose_embeds) or _is_torch(text_embeds):
            import torch

            pose = pose_embeds if _is_torch(pose_embeds) else torch.from_numpy(np.asarray(pose_embeds))
            text = text_embeds if _is_torch(text_embeds) else torch.from_numpy(np.asarray(text_embeds))
            logits = pose.float() @ text.float().t()
            return logits * self.scale if self.scale != 1.0 else logits
        logits = np.asarray(pose_embeds, np.float32) @ np.asarray(text_embeds, np.float32).T
        return logits * np.float32(self.scale) if self.scale != 1.0 else logits

    def forward(
        self,
        input_ids=None,
        pose_values=None,
        attention_mask=None,
        pose_attention_mask=None,
        token_type_ids=None,
        return_loss: bool | None = None,
    ) -> ScoresOutput:
        """As `SignCLIPModel.forward` (no loss: this backend is for inference)."""
        if input_ids is None or pose_values is None:
            raise ValueError("OnnxSignCLIPModel.forward needs both `pose_values` and `input_ids`")
        if return_loss:
            raise ValueError("the onnxruntime backend does inference only: return_loss is not supported")
        pose = self.get_pose_features(pose_values, pose_attention_mask).pooler_output
        text = self.get_text_features(input_ids, attention_mask, token_type_ids).pooler_output
        logits = self.score(pose, text)
        return ScoresOutput(
            logits_per_pose=logits, logits_per_text=logits.T, pose_embeds=pose, text_embeds=text
        )

    __call__ = forward

    @property
    def logit_scale(self):
        """log of the score scale (a 0-d torch tensor, as `SignCLIPModel.logit_scale`) for cosine; None for dot."""
        if self.config.score_type != "cosine":
            return None
        import torch

        return torch.tensor(float(np.log(self.scale)))

    @property
    def device(self):
        import torch

        return torch.device("cpu")

    @property
    def dtype(self):
        import torch

        return torch.float32

    def eval(self):
        return self

    def train(self, mode: bool = True):
        if mode:
            raise ValueError("the onnxruntime backend does inference only; load the PyTorch model to train")
        return self

    def to(self, device=None, *args, **kwargs):
        """Stays on the CPU (the CPU execution provider): moving elsewhere is refused."""
        if device is not None and str(device) not in ("cpu", "-1") and not (isinstance(device, int) and device < 0):
            raise ValueError(f"the onnxruntime backend runs on the CPU, not {device}")
        return self

    def requires_grad_(self, requires_grad: bool = True):
        return self

    def parameters(self):
        """One 0-d CPU tensor, so that `next(model.parameters()).device` (the package's device idiom) is the CPU."""
        import torch

        yield torch.zeros(())

    def state_dict(self) -> dict:
        """The graphs' sha256 digests as uint8 tensors: what `embedding.model_fingerprint` hashes for the cache key
        (each graph is hashed once per model: the fingerprint is taken by every embedding and index call)."""
        import torch

        if self._digests is None:
            self._digests = {name: hashlib.sha256(graph.read_bytes()).digest() for name, graph in self.graphs.items()}
        return {
            f"onnx.{name}": torch.frombuffer(bytearray(digest), dtype=torch.uint8)
            for name, digest in sorted(self._digests.items())
        }

    def can_generate(self) -> bool:
        return False


def load_onnx_model(path: str | os.PathLike, precision: str | None = None, intra_op_num_threads: int | None = None):
    """(OnnxSignCLIPModel, SignCLIPProcessor) of an exported folder."""
    from transformers import AutoProcessor

    from . import register_auto_classes

    register_auto_classes()
    model = OnnxSignCLIPModel(path, precision, intra_op_num_threads)
    processor = AutoProcessor.from_pretrained(os.fspath(path))
    processor.feature_extractor.check_model_config(model.config)
    return model, processor


def onnx_pipeline(path: str | os.PathLike, precision: str | None = None, intra_op_num_threads: int | None = None):
    """The zero-shot-sign-classification pipeline of an exported folder, on onnxruntime (what the app serves)."""
    from transformers import pipeline

    model, processor = load_onnx_model(path, precision, intra_op_num_threads)
    return pipeline("zero-shot-sign-classification", model=model, processor=processor)


__all__ = [
    "MANIFEST_NAME",
    "onnx_pipeline",
    "OnnxSignCLIPModel",
    "PRECISIONS",
    "is_exported_folder",
    "load_onnx_model",
    "read_manifest",
]
