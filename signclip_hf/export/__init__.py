"""ONNX export of SignCLIP (`signclip-hf export`) and the onnxruntime backend that serves an exported folder.

- `export_model(model, output_dir, ExportConfig(quantize="int8", vocabulary="glosses.txt"))`: the pose and text
  towers as two ONNX graphs next to the config, tokenizer and feature extractor settings, verified by
  onnxruntime against PyTorch before the folder is written (`exporter.py`).
- `OnnxSignCLIPModel(folder)` / `signclip_hf.loading.load_model(folder)`: the exported graphs as a drop-in
  `SignCLIPModel` for the pipelines, the embedding API, index/search, spot and the app (`runtime.py`).
"""

from __future__ import annotations

from ..onnx_backend import MANIFEST_NAME, OnnxSignCLIPModel, is_exported_folder, load_onnx_model, read_manifest


def __getattr__(name: str):
    """The exporter (which needs torch and onnx) is imported on first use."""
    if name in ("ExportConfig", "ExportReport", "ExportVerificationError", "export_model"):
        from . import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MANIFEST_NAME",
    "ExportConfig",
    "ExportReport",
    "ExportVerificationError",
    "OnnxSignCLIPModel",
    "export_model",
    "is_exported_folder",
    "load_onnx_model",
    "read_manifest",
]
