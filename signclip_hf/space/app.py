"""SignCLIP demo app (Gradio): recognize a sign from a pose or a video, find the signs that match a text.

One file serves both `signclip-hf app MODEL` and the model's Hugging Face Space (pushed next to it with
`render.py` and a `requirements.txt`). It imports only gradio, torch, transformers, numpy and pose-format
(datasets for a gallery): the model, its preprocessing and its video support come from the model
repository's own remote code (`pipeline(model=..., trust_remote_code=True)`), so the Space needs nothing
of the `signclip_hf` package. In a Space, `python app.py` reads the model id from `SIGNCLIP_MODEL` or
from the `models:` list of its README, and an optional gallery from `SIGNCLIP_GALLERY` or `datasets:`.

SignCLIP: Jiang et al., "SignCLIP: Connecting Text and Sign Language by Contrastive Learning", EMNLP 2024.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import pipeline

if TYPE_CHECKING:
    from pose_format import Pose

try:  # inside the signclip_hf package
    from ..render import load_pose, render_pose
except ImportError:  # a Space: render.py is a sibling file
    from render import load_pose, render_pose

try:  # inside the signclip_hf package: its one model / dataset loader (a wrong local path fails at once)
    from ..loading import load_dataset, resolve_model
except ImportError:  # a Space: the model and the gallery are Hub ids (or folders next to app.py)

    def resolve_model(name: str) -> str:
        return name

    def load_dataset(source: str):
        import datasets

        return datasets.load_from_disk(source) if os.path.isdir(source) else datasets.load_dataset(source)

PAPER_URL = "https://aclanthology.org/2024.emnlp-main.518"
CODE_URL = "https://github.com/J22Melody/fairseq/tree/main/examples/MMPT"
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v")
CITATION = """@inproceedings{jiang-etal-2024-signclip,
    title = "{S}ign{CLIP}: Connecting Text and Sign Language by Contrastive Learning",
    author = "Jiang, Zifan and Sant, Gerard and Moryossef, Amit and M{\\"u}ller, Mathias and Sennrich, Rico and Ebling, Sarah",
    booktitle = "Proceedings of the 2024 Conference on Empirical Methods in Natural Language Processing",
    year = "2024",
    address = "Miami, Florida, USA",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2024.emnlp-main.518",
}"""


@dataclass(frozen=True)
class Example:
    """A clickable example: a bundled file (found by name under the examples folder) and its settings."""

    file: str
    title: str
    candidates: str
    spoken_language: str = "en"
    sign_language: str = "ase"


EXAMPLES = (
    Example("house.pose", "ASL: HOUSE (.pose)", "house, sun, car, tree, book, water, hello, thank you"),
    Example("dgs-HOUSE1A.pose", "DGS: HAUS (.pose)", "Haus, Sonne, Auto, Baum, Buch, Wasser", "de", "gsg"),
    Example("pose-format-test-video.mp4", "A video of a person (.mp4)", "hello, house, thank you, goodbye, yes, no"),
)


@dataclass(frozen=True)
class AppLimits:
    """What one request may cost: upload size, candidate count, shown results and animation length."""

    max_upload_mb: float = 50.0
    max_candidates: int = 500
    top_k: int = 10
    gallery_k: int = 6
    max_video_seconds: float = 20.0
    animation_frames: int = 120
    animation_size: int = 320
    batch_size: int = 32


class GalleryIndex:
    """A pose dataset built by `signclip-hf build-dataset`, embedded once; `search(text)` ranks its clips.

    `source` is a `save_to_disk` folder or a Hub dataset id; all splits are searched.
    """

    def __init__(self, source: str, model, processor, layout, limits: AppLimits):
        import datasets  # only galleries need it

        data = load_dataset(source)
        if isinstance(data, datasets.DatasetDict):
            data = datasets.concatenate_datasets(list(data.values()))
        missing = {"pose", "confidence"} - set(data.column_names)
        if missing or not ({"label", "text"} & set(data.column_names)):
            raise ValueError(
                f"gallery {source}: not a dataset built by `signclip-hf build-dataset` (columns {data.column_names})"
            )
        if len(data) == 0:
            raise ValueError(f"gallery {source}: the dataset has no clips")
        self.source, self.model, self.processor, self.layout = source, model, processor, layout
        columns = {
            name: list(data[name]) if name in data.column_names else [None] * len(data)
            for name in ("label", "text", "sign_language")
        }
        self.captions = [str(label or text) for label, text in zip(columns["label"], columns["text"])]
        languages = [code for code in columns["sign_language"] if code]
        self.sign_language = max(set(languages), key=languages.count) if languages else "ase"
        self.rows = data.with_format("numpy", columns=["pose", "confidence"], output_all_columns=True)
        self.pose_embeds = self._embed(limits.batch_size)

    @torch.inference_mode()
    def _embed(self, batch_size: int) -> torch.Tensor:
        extractor = self.processor.feature_extractor
        embeds = []
        for start in tqdm(range(0, len(self.rows), batch_size), desc="Embedding the gallery", unit="batch"):
            batch = self.rows[start : start + batch_size]
            clips = extractor.features_from_keypoints_batch(
                [(points, confidence, f"{self.source} row {start + i}")
                 for i, (points, confidence) in enumerate(zip(batch["pose"], batch["confidence"]))]
            )
            inputs = extractor.pad(clips, return_tensors="pt").to(self.model.device)
            embeds.append(self.model.get_pose_features(**inputs).pooler_output)
        return torch.cat(embeds)  # on the model's device

    @torch.inference_mode()
    def search(self, text: str, spoken_language: str, sign_language: str, k: int) -> list[tuple[int, float]]:
        """(row, score) of the `k` best clips for `text`, best first (scores are the model's own logits)."""
        prompt = self.processor.format_prompt(text, spoken_language, sign_language)
        inputs = self.processor(text=[prompt], return_tensors="pt").to(self.model.device)
        scores = self.model.score(self.pose_embeds, self.model.get_text_features(**inputs).pooler_output)[:, 0].float().cpu()
        order = torch.argsort(scores, descending=True, stable=True)[:k]
        return [(i, scores[i].item()) for i in order.tolist()]

    def pose(self, row: int):
        """Row `row` as a `pose_format.Pose` (for rendering)."""
        item = self.rows[row]
        return keypoints_to_pose(item["pose"], item["confidence"], float(item.get("fps") or 25.0), self.layout)


def layout_pose(pose, components):
    """The pose (a `Pose`, `.pose` path or bytes) reduced to a layout's `(name, point names)` components:
    the keypoints the model reads (files carry more, e.g. the 468-point face mesh; drawing it is slow)."""
    pose = load_pose(pose)
    names = [name for name, _ in components]
    if [c.name for c in pose.header.components] == names:
        return pose
    return pose.get_components(names, {name: list(points) for name, points in components})


def fit_pose(pose, max_side: int):
    """Scale `pose` (in place) so that its frame fits in `max_side` pixels: GIF encoding time grows with the area."""
    width, height = pose.header.dimensions.width, pose.header.dimensions.height
    scale = max_side / max(width, height, 1)
    if scale < 1:
        pose.body.data[..., :2] *= scale
        pose.header.dimensions.width, pose.header.dimensions.height = round(width * scale), round(height * scale)
    return pose


def keypoints_to_pose(points: np.ndarray, confidence: np.ndarray, fps: float, layout, margin: int = 10) -> Pose:
    """Raw keypoints in a layout's order (as `build-dataset` stores them) -> a `pose_format.Pose` to draw.

    `layout` is the model's `KeypointLayout`: its components are the header, its hidden points (legs) are
    left out, and the frame is cropped to the points seen. Limbs and colors come from pose-format's MediaPipe
    Holistic header (it needs mediapipe); without it only the points are drawn.
    """
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    try:
        from pose_format.utils.holistic import holistic_components

        known = {component.name: component for component in holistic_components()}
    except ImportError:
        known = {}
    header_components = []
    for name, names in layout.components:
        full = known.get(name)
        index = {point: i for i, point in enumerate(names)}
        limbs = []
        if full is not None:
            ends = [(full.points[a], full.points[b]) for a, b in full.limbs]
            limbs = [(index[a], index[b]) for a, b in ends if a in index and b in index]
        colors = full.colors if full is not None else [(80, 80, 200)]
        header_components.append(PoseHeaderComponent(name, list(names), limbs, colors, "XYZC"))
    confidence = np.where(layout.kept_points, confidence, 0).astype(np.float32)  # hidden points (legs) stay hidden
    points = np.array(points, np.float32)
    seen = points[confidence > 0][:, :2]
    low = seen.min(axis=0) - margin if len(seen) else np.zeros(2, np.float32)
    points[..., :2] -= low  # crop the frame to the signer
    width, height = np.ceil(seen.max(axis=0) - low + margin).astype(int) if len(seen) else (256, 256)
    header = PoseHeader(0.2, PoseHeaderDimensions(int(width), int(height), 1), header_components)
    body = NumPyPoseBody(fps, points[:, None], confidence[:, None])
    return Pose(header, body)


class SignCLIPApp:
    """The model (its own pipeline) + an optional gallery, and the request handlers behind the UI."""

    def __init__(self, model: str, gallery: str | None = None, limits: AppLimits | None = None):
        self.model_id = model = resolve_model(model)
        self.limits = limits or AppLimits()
        self.pipe = pipeline(model=model, trust_remote_code=True, device=0 if torch.cuda.is_available() else -1)
        self.zero_shot = self.pipe.task == "zero-shot-sign-classification"
        self.labels = (
            []
            if self.zero_shot
            else [self.pipe.model.config.id2label[i] for i in sorted(self.pipe.model.config.id2label)]
        )
        extractor = self.pipe.feature_extractor
        # the keypoints the model reads, (component, point names): what the animations show
        self.layout = importlib.import_module(type(extractor).__module__).KEYPOINT_LAYOUTS[extractor.keypoint_layout]
        processor = self.pipe.processor if self.zero_shot else None
        languages = importlib.import_module(type(processor).__module__) if processor is not None else None
        self.sign_languages = dict(getattr(languages, "SIGN_LANGUAGES", {}))
        self.spoken_languages = sorted(getattr(languages, "SPOKEN_LANGUAGES", ()))
        self.gallery = None
        if gallery and processor is not None:
            self.gallery = GalleryIndex(gallery, self.pipe.model, processor, self.layout, self.limits)
        self.workdir = Path(tempfile.mkdtemp(prefix="signclip-app-"))

    # --- recognize --------------------------------------------------------------------------------
    def recognize(self, upload: str | None, webcam: str | None, candidates: str, spoken: str, sign: str):
        """(skeleton animation, {gloss: score}) for an uploaded pose/video or a webcam recording."""
        path = self._checked_input(upload or webcam)
        video = path if path.lower().endswith(VIDEO_SUFFIXES) else None
        try:
            pose = self._video_pose(video) if video else path
            if self.zero_shot:
                ranked = self.pipe(
                    pose, candidate_labels=self._candidates(candidates), spoken_language=spoken.strip(),
                    sign_language=sign.strip(), top_k=self.limits.top_k,
                )  # fmt: skip
            else:
                ranked = self.pipe(pose, top_k=self.limits.top_k)
            animation = self._render(pose, _file_key(path), video)
        except (ValueError, OSError) as error:  # InvalidPoseError, UnknownLanguageError, video errors
            raise gr.Error(str(error).replace(path, Path(path).name), print_exception=False) from None
        return animation, {item["label"]: item["score"] for item in ranked}

    def _video_pose(self, video: str):
        """The video's MediaPipe Holistic pose, extracted (once, cached) by the model's own video code."""
        name = Path(video).name
        package = type(self.pipe.feature_extractor).__module__.rpartition(".")[0]
        try:
            module = importlib.import_module(f"{package}.video_signclip")
        except ImportError:
            raise ValueError(f"{name}: this model's code reads .pose files only; upload a .pose file") from None
        config = module.VideoConfig(max_seconds=self.limits.max_video_seconds)
        return module.as_pose_source(video, name, config)

    def _checked_input(self, path: str | None) -> str:
        if not path:
            raise gr.Error(
                "Upload a .pose file or a video first (or record one with the webcam).", print_exception=False
            )
        name, size = Path(path).name, os.path.getsize(path)
        if not name.lower().endswith((".pose", *VIDEO_SUFFIXES)):
            raise gr.Error(
                f"{name}: not a .pose file or a video; upload a MediaPipe Holistic .pose file "
                f"or a video ({', '.join(VIDEO_SUFFIXES)})",
                print_exception=False,
            )
        if size > self.limits.max_upload_mb * 1e6:
            raise gr.Error(
                f"{name}: the file is {size / 1e6:.1f} MB; this app accepts files up to {self.limits.max_upload_mb:g} MB",
                print_exception=False,
            )
        return path

    def _candidates(self, text: str) -> list[str]:
        labels = list(dict.fromkeys(label.strip() for label in re.split(r"[,\n]", text or "") if label.strip()))
        if not labels:
            raise ValueError("type at least one candidate gloss, separated by commas (e.g. house, sun, tree)")
        if len(labels) > self.limits.max_candidates:
            raise ValueError(f"{len(labels)} candidate glosses; this app ranks at most {self.limits.max_candidates}")
        return labels

    def _render(self, pose, key: str, video: str | None = None) -> str:
        """The skeleton animation (GIF, over the video if there is one), cached under `key`."""
        output = self.workdir / f"{key}.gif"
        if not output.exists():
            partial = output.with_suffix(".part.gif")
            shown = fit_pose(layout_pose(pose, self.layout.components), self.limits.animation_size)
            render_pose(shown, partial, video=video, max_frames=self.limits.animation_frames)
            partial.replace(output)
        return str(output)

    # --- find signs for a text --------------------------------------------------------------------
    def search(self, text: str, spoken: str, sign: str, k: float):
        """[(animation, "label · score")] of the gallery clips that best match `text`."""
        if self.gallery is None:
            raise gr.Error("This app was started without a gallery (signclip-hf app MODEL --gallery DATASET).")
        if not (text or "").strip():
            raise gr.Error("Type a word or a sentence to search for.", print_exception=False)
        try:
            hits = self.gallery.search(text.strip(), spoken.strip(), sign.strip(), int(k))
            return [
                (
                    self._render(self.gallery.pose(row), f"gallery-{row}"),
                    f"{self.gallery.captions[row]} · score {score:.2f}",
                )
                for row, score in hits
            ]
        except (ValueError, OSError) as error:
            raise gr.Error(str(error), print_exception=False) from None


def _file_key(path: str) -> str:
    """A short content hash of an upload (hashlib: this file also runs as a Space with only its requirements)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:20]


def find_examples(folder: str | Path | None) -> list[Example]:
    """The `EXAMPLES` whose files exist under `folder` (searched recursively), with full paths."""
    if folder is None or not Path(folder).is_dir():
        return []
    found = []
    for example in EXAMPLES:
        match = next(iter(sorted(Path(folder).rglob(example.file))), None)
        if match is not None:
            found.append(replace(example, file=str(match)))
    return found


INTRO = """\
# SignCLIP: sign language ⇄ text

**SignCLIP** ([Jiang et al., EMNLP 2024]({paper})) embeds sign language clips — body, hand and face keypoints
from MediaPipe Holistic — and spoken language text in one space, like CLIP does for images. A clip and its
gloss score high together, so the model can **recognize a sign** among candidate words and **find signs for a
text**, without training for a specific vocabulary. This app runs [`{model}`]({model_url}).
"""

CSS = """
.gradio-container { max-width: 1180px !important; margin: auto; }
.note { font-size: 0.85rem; opacity: 0.8; }
footer { display: none !important; }
"""


def _language_choices(names: dict[str, str]) -> list[tuple[str, str]]:
    return [(f"{code} — {name}", code) for code, name in sorted(names.items(), key=lambda item: item[1])]


def build_demo(
    model: str,
    gallery: str | None = None,
    examples_dir: str | Path | None = None,
    limits: AppLimits | None = None,
) -> gr.Blocks:
    """The Gradio app for `model` (a local directory or Hub repo id) and an optional gallery dataset."""
    app = SignCLIPApp(model, gallery, limits)
    examples = find_examples(examples_dir)
    copies = app.workdir / "examples"  # gradio serves example files only from the cwd or temp folders
    copies.mkdir(exist_ok=True)
    examples = [
        replace(example, file=str(shutil.copy2(example.file, copies / Path(example.file).name))) for example in examples
    ]
    model_url = model if os.path.isdir(model) else f"https://huggingface.co/{model}"
    with gr.Blocks(title="SignCLIP demo") as demo:
        gr.Markdown(INTRO.format(paper=PAPER_URL, model=model, model_url=model_url))
        with gr.Tab("Recognize a sign"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=5):
                    with gr.Tab("Upload"):
                        upload = gr.File(
                            label="A .pose file (MediaPipe Holistic) or a video of one sign",
                            height=120,
                            elem_id="upload",
                        )
                    with gr.Tab("Webcam"):
                        webcam = gr.Video(label="Record one sign", sources=["webcam"], height=240)
                    if app.zero_shot:
                        candidates = gr.Textbox(
                            label="Candidate glosses", placeholder="house, sun, tree", lines=2,
                            info="Comma-separated words; the model ranks them for the clip.",
                        )  # fmt: skip
                        with gr.Row():
                            spoken = gr.Dropdown(
                                app.spoken_languages, value="en", label="Spoken language",
                                allow_custom_value=True, info="ISO 639-1 code of the glosses", scale=2,
                            )  # fmt: skip
                            sign = gr.Dropdown(
                                _language_choices(app.sign_languages), value="ase", label="Sign language",
                                allow_custom_value=True, info="ISO 639-3 code of the clip's language", scale=3,
                            )  # fmt: skip
                    else:
                        gr.Markdown(
                            f"This fine-tuned classifier ranks its own {len(app.labels)} glosses: "
                            + ", ".join(f"`{label}`" for label in app.labels[:50])
                        )
                        candidates, spoken, sign = gr.State(""), gr.State("en"), gr.State("ase")
                    button = gr.Button("Recognize", variant="primary", elem_id="recognize")
                with gr.Column(scale=6):
                    with gr.Row():
                        animation = gr.Image(label="Skeleton", type="filepath", height=300, elem_id="skeleton")
                        ranked = gr.Label(label="Ranked glosses", num_top_classes=app.limits.top_k, elem_id="ranked")
                    gr.Markdown(
                        "The skeleton shows the keypoints the model reads. Scores are a softmax over the model's "
                        "similarity between the clip and each candidate: they rank the glosses you typed.",
                        elem_classes="note",
                    )
            inputs = [upload, webcam, candidates, spoken, sign]
            button.click(app.recognize, inputs, [animation, ranked], api_name="recognize")
            upload.upload(lambda: None, None, webcam, api_visibility="private")
            if examples and app.zero_shot:
                gr.Examples(
                    [[e.file, None, e.candidates, e.spoken_language, e.sign_language] for e in examples],
                    inputs, [animation, ranked], app.recognize, cache_examples=False, run_on_click=True,
                    label="Examples (real clips): click one", example_labels=[e.title for e in examples],
                )  # fmt: skip
        with gr.Tab("Find signs for a text"):
            if app.gallery is None:
                gr.Markdown(
                    "Start the app with a gallery to search it: `signclip-hf app MODEL --gallery DATASET`, where "
                    "DATASET is a folder or Hub dataset built by `signclip-hf build-dataset`"
                    + ("" if app.zero_shot else " (and a contrastive SignCLIP model: this one is a classifier)")
                    + "."
                )
            else:
                gr.Markdown(f"Searches the {len(app.gallery.captions)} clips of `{app.gallery.source}`.")
                size = len(app.gallery.captions)
                with gr.Row():
                    query = gr.Textbox(label="Text", placeholder="house", scale=4, elem_id="query")
                    query_spoken = gr.Dropdown(
                        app.spoken_languages, value="en", label="Spoken language", allow_custom_value=True, scale=1,
                        min_width=140,
                    )  # fmt: skip
                    query_sign = gr.Dropdown(
                        _language_choices(app.sign_languages), value=app.gallery.sign_language, label="Sign language",
                        allow_custom_value=True, scale=2,
                    )  # fmt: skip
                with gr.Row(equal_height=True):
                    k = gr.Slider(
                        1, min(24, size), value=min(app.limits.gallery_k, size), step=1, label="Clips to show", scale=3
                    )
                    search = gr.Button("Search", variant="primary", elem_id="search", scale=1)
                results = gr.Gallery(
                    label="Best matching clips", columns=3, object_fit="contain", height=640, elem_id="results"
                )  # fmt: skip
                search_inputs = [query, query_spoken, query_sign, k]
                search.click(app.search, search_inputs, results, api_name="search")
                query.submit(app.search, search_inputs, results, api_visibility="private")
                first = app.gallery.captions[0]
                gr.Examples([[first, "en", app.gallery.sign_language, k.value]], search_inputs, results, app.search,
                            cache_examples=False, run_on_click=True)  # fmt: skip
        with gr.Accordion("About SignCLIP and this app", open=False):
            gr.Markdown(
                f"Input poses are MediaPipe Holistic keypoints (a `.pose` file from "
                f"[pose-format](https://github.com/sign-language-processing/pose-format)); videos are turned into "
                f"poses the same way. Each candidate gloss becomes the prompt `<spoken> <sign> gloss` (e.g. "
                f"`<en> <ase> house`), and the scores are a softmax over the model's similarities. "
                f"Original code: [J22Melody/fairseq examples/MMPT]({CODE_URL}). Please cite:"
            )
            gr.Code(CITATION, language=None, label="BibTeX")
    demo.signclip = app  # the handlers, for tests and the benchmark
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, **kwargs):
    """Start serving (blocks unless `prevent_thread_lock=True`)."""
    return demo.launch(
        server_name=host, server_port=port, theme=gr.themes.Soft(primary_hue="indigo"), css=CSS,
        footer_links=["api"], **kwargs,
    )  # fmt: skip


def space_settings(folder: Path) -> tuple[str, str | None]:
    """(model, gallery) for a Space: env vars `SIGNCLIP_MODEL` / `SIGNCLIP_GALLERY`, else its README metadata."""
    import yaml

    model, gallery = os.environ.get("SIGNCLIP_MODEL"), os.environ.get("SIGNCLIP_GALLERY")
    readme = folder / "README.md"
    if readme.is_file():
        match = re.match(r"^---\s*\n(.*?)\n---", readme.read_text(encoding="utf-8"), re.DOTALL)
        meta = (yaml.safe_load(match.group(1)) if match else None) or {}
        model = model or (meta.get("models") or [None])[0]
        gallery = gallery or (meta.get("datasets") or [None])[0]
    if not model:
        raise SystemExit("set SIGNCLIP_MODEL (or list the model under `models:` in README.md)")
    return model, gallery


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    model_id, gallery_id = space_settings(here)
    launch(
        build_demo(model_id, gallery_id, examples_dir=here / "examples"),
        host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
