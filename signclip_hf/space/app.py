"""SignCLIP demo app (Gradio): recognize a sign from a pose or a video, find the signs that match a text.

One file serves both `signclip-hf app MODEL` and the model's Hugging Face Space (pushed next to it with
`render.py` and a `requirements.txt`). It imports only gradio, torch, transformers, numpy and pose-format
(datasets for a gallery): the model, its preprocessing and its video support come from the model
repository's own remote code (`pipeline(task, model=..., trust_remote_code=True)`), so the Space needs nothing
of the `signclip_hf` package. In a Space, `python app.py` reads the model id from `SIGNCLIP_MODEL` or
from the `models:` list of its README, and an optional gallery from `SIGNCLIP_GALLERY` or `datasets:`.
The model's task comes from its `config.json` (zero-shot for a contrastive `SignCLIPModel`, classification for
a fine-tuned head; the endpoint handler's `load_signclip_pipeline`, a sibling `handler.py` in a Space), so a
folder saved with plain `save_pretrained` works too.

Each request is bounded (`AppLimits`: upload size, candidate count and length, video duration, frames and
pixels through the model's own `VideoConfig`). A recognition is returned even when its skeleton animation
cannot be drawn (the animation slot then says why). Files: uploads and the outputs Gradio serves are deleted
by Gradio (`delete_cache`, and all of them when the server stops); the app's own folder
(`<tmp>/signclip-app-<pid>-*`: animations, at most `AppLimits.cached_animations`) is deleted when the app
closes, and those of dead app processes when the next app starts.

SignCLIP: Jiang et al., "SignCLIP: Connecting Text and Sign Language by Contrastive Learning", EMNLP 2024.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import os
import re
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import torch
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from pose_format import Pose

try:  # inside the signclip_hf package
    from ..render import load_pose, render_pose
except ImportError:  # a Space: render.py is a sibling file
    from render import load_pose, render_pose

try:  # inside the signclip_hf package: the endpoint handler's pipeline loader and text check
    from ..endpoint.handler import ZERO_SHOT_TASK, check_text, load_signclip_pipeline
except ImportError:  # a Space: handler.py is a sibling file
    from handler import ZERO_SHOT_TASK, check_text, load_signclip_pipeline

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
WORKDIR_PREFIX = "signclip-app-"  # + "<pid>-": the app's own temporary folder (see `remove_stale_workdirs`)
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
    """What one request may cost: upload size, candidates (count, length), video duration and frame size (the
    model's own `VideoConfig` enforces them, whatever the container claims), shown results, animations.

    `cached_animations`: animations kept in the app's folder (least recently used deleted first);
    `delete_cache`: Gradio's `(frequency, age)` in seconds for its copies of uploads and outputs.
    """

    max_upload_mb: float = 50.0
    max_candidates: int = 500
    max_label_chars: int = 256  # prompts are truncated to 63 tokens anyway
    max_candidates_chars: int = 64 * 1024  # the whole candidates text box
    max_query_chars: int = 1000
    top_k: int = 10
    gallery_k: int = 6
    max_video_seconds: float = 20.0
    max_video_megapixels: float = 8.3  # 4K UHD
    animation_frames: int = 120
    animation_size: int = 320
    batch_size: int = 32
    cached_animations: int = 64
    delete_cache: tuple[int, int] = (1800, 3600)


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
        self.pipe = load_signclip_pipeline(model, device=0 if torch.cuda.is_available() else -1)
        self.zero_shot = self.pipe.task == ZERO_SHOT_TASK
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
        remove_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
        atexit.register(self.close)

    def close(self) -> None:
        """Delete the app's temporary folder (animations, example copies); called at exit too."""
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- recognize --------------------------------------------------------------------------------
    def recognize(self, upload: str | None, webcam: str | None, candidates: str, spoken: str, sign: str):
        """(skeleton animation, {gloss: score}) for an uploaded pose/video or a webcam recording.

        When the skeleton cannot be drawn, the recognition is returned all the same: the animation slot shows
        an image saying why (and a warning says it too)."""
        path = self._checked_input(upload or webcam)
        video = path if path.lower().endswith(VIDEO_SUFFIXES) else None
        try:
            if self.zero_shot:  # the text first: checking it costs nothing, a video extraction seconds
                labels = self._candidates(candidates)
                spoken = check_text(_text(spoken, "the spoken language"), "the spoken language")
                sign = check_text(_text(sign, "the sign language"), "the sign language")
            pose = self._video_pose(video) if video else path
            if self.zero_shot:
                ranked = self.pipe(
                    pose, candidate_labels=labels, spoken_language=spoken, sign_language=sign, top_k=self.limits.top_k
                )
            else:
                ranked = self.pipe(pose, top_k=self.limits.top_k)
        except (ValueError, OSError) as error:  # InvalidPoseError, UnknownLanguageError, video errors
            raise gr.Error(str(error).replace(path, Path(path).name), print_exception=False) from None
        scores = {item["label"]: item["score"] for item in ranked}
        try:
            animation = self._render(pose, _file_key(path), video, name=Path(path).name)
        except Exception as error:  # a drawing problem must not throw away the recognition
            lines = str(error).strip().splitlines() or [type(error).__name__]
            reason = lines[-1].replace(path, Path(path).name)[:300]
            gr.Warning(f"The skeleton could not be drawn ({reason}); the recognition is shown.")
            animation = self._message_image(f"The skeleton could not be drawn: {reason}")
        return animation, scores

    def _message_image(self, text: str) -> str:
        """A PNG showing `text`: what the animation slot shows when there is no animation."""
        import textwrap

        from PIL import Image, ImageDraw

        output = self.workdir / f"message-{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()[:20]}.png"
        if not output.exists():
            size = self.limits.animation_size
            image = Image.new("RGB", (size, size), (245, 245, 250))
            shown = text.encode("ascii", "replace").decode()  # any font draws it (the warning has the text as is)
            ImageDraw.Draw(image).multiline_text(
                (12, 12), "\n".join(textwrap.wrap(shown, width=max(10, size // 7))), fill=(60, 60, 90)
            )
            partial = output.with_name(f"{output.stem}.{threading.get_ident()}.part.png")
            image.save(partial, format="PNG")
            partial.replace(output)
            self._prune("message-*.png", keep=output)
        return str(output)

    def _video_pose(self, video: str):
        """The video's MediaPipe Holistic pose, extracted (once, cached) by the model's own video code."""
        name = Path(video).name
        package = type(self.pipe.feature_extractor).__module__.rpartition(".")[0]
        try:
            module = importlib.import_module(f"{package}.video_signclip")
        except ImportError:
            raise ValueError(f"{name}: this model's code reads .pose files only; upload a .pose file") from None
        config = module.VideoConfig(
            max_seconds=self.limits.max_video_seconds, max_megapixels=self.limits.max_video_megapixels
        )  # the model's own limits: decoded frames, extraction time, fps header and frame size are checked too
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
        """The comma- or line-separated glosses, stripped; a repeated gloss counts once (the first)."""
        limits = self.limits
        text = _text(text, "the candidate glosses")
        if len(text) > limits.max_candidates_chars:
            raise ValueError(
                f"the candidate glosses are {len(text)} characters long; this app takes at most "
                f"{limits.max_candidates_chars}"
            )
        check_text(text, "the candidate glosses")
        labels = list(dict.fromkeys(label.strip() for label in re.split(r"[,\n]", text) if label.strip()))
        if not labels:
            raise ValueError("type at least one candidate gloss, separated by commas (e.g. house, sun, tree)")
        if len(labels) > limits.max_candidates:
            raise ValueError(f"{len(labels)} candidate glosses; this app ranks at most {limits.max_candidates}")
        longest = max(labels, key=len)
        if len(longest) > limits.max_label_chars:
            raise ValueError(
                f"the candidate gloss {longest[:40]!r}... is {len(longest)} characters long; at most "
                f"{limits.max_label_chars} per gloss (separate glosses with commas)"
            )
        return labels

    def _render(self, pose, key: str, video: str | None = None, name: str | None = None) -> str:
        """The skeleton animation (GIF, over the video if there is one), cached under `key`; errors name `name`."""
        output = self.workdir / f"{key}.gif"
        try:
            os.utime(output)  # cached: marked recently used, so pruned last
            return str(output)
        except FileNotFoundError:
            pass
        partial = output.with_name(f"{key}.{threading.get_ident()}.part.gif")  # one per request
        try:
            shown = fit_pose(layout_pose(pose, self.layout.components), self.limits.animation_size)
            render_pose(shown, partial, video=video, max_frames=self.limits.animation_frames, name=name or key)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
        self._prune("*.gif", keep=output)
        return str(output)

    def _prune(self, pattern: str, keep: Path) -> None:
        """Delete the least recently used files of the app's folder matching `pattern` beyond
        `AppLimits.cached_animations`; never `keep`, never a file still being written (`.part.`)."""

        def last_used(path: Path) -> float:
            try:
                return path.stat().st_mtime
            except FileNotFoundError:
                return 0.0

        files = sorted((p for p in self.workdir.glob(pattern) if ".part." not in p.name), key=last_used)
        for path in files[: max(0, len(files) - self.limits.cached_animations)]:
            if path != keep:
                path.unlink(missing_ok=True)

    # --- find signs for a text --------------------------------------------------------------------
    def search(self, text: str, spoken: str, sign: str, k: float):
        """[(animation, "label · score")] of the gallery clips that best match `text`."""
        if self.gallery is None:
            raise gr.Error("This app was started without a gallery (signclip-hf app MODEL --gallery DATASET).")
        if not isinstance(text, str) or not text.strip():
            raise gr.Error("Type a word or a sentence to search for.", print_exception=False)
        if len(text) > self.limits.max_query_chars:
            raise gr.Error(
                f"The text is {len(text)} characters long; this app searches at most {self.limits.max_query_chars}.",
                print_exception=False,
            )
        try:
            spoken, sign = _text(spoken, "the spoken language"), _text(sign, "the sign language")
            for value, what in ((text, "the text"), (spoken, "the spoken language"), (sign, "the sign language")):
                check_text(value, what)
            hits = self.gallery.search(text.strip(), spoken, sign, int(k))
        except (ValueError, OSError) as error:
            raise gr.Error(str(error), print_exception=False) from None
        captions = self.gallery.captions
        return [(self._gallery_animation(row), f"{captions[row]} · score {score:.2f}") for row, score in hits]

    def _gallery_animation(self, row: int) -> str:
        """A gallery clip's animation, or an image saying why it cannot be drawn (the other hits still show)."""
        try:
            return self._render(self.gallery.pose(row), f"gallery-{row}", name=f"gallery clip {row}")
        except Exception as error:  # a drawing problem must not throw away the search
            lines = str(error).strip().splitlines() or [type(error).__name__]
            return self._message_image(f"The skeleton could not be drawn: {lines[-1][:300]}")


def _text(value, what: str) -> str:
    """A text field's value, stripped (None: empty); anything else is refused by name."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {type(value).__name__}")
    return value.strip()


def remove_stale_workdirs(folder: str | Path | None = None) -> list[Path]:
    """Delete the app folders (`signclip-app-<pid>-*`, in the temporary folder by default) of app processes
    that no longer run; folders of running processes, symlinks and any other name are left alone."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        match = re.fullmatch(rf"{re.escape(WORKDIR_PREFIX)}(\d+)-\w+", path.name)
        if match and path.is_dir() and not path.is_symlink() and not _process_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError): alive
        return True
    return True


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
    with gr.Blocks(title="SignCLIP demo", delete_cache=app.limits.delete_cache) as demo:
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
    """Start serving (blocks unless `prevent_thread_lock=True`). A blocking launch also stops cleanly on
    SIGTERM (as on Ctrl-C): Gradio deletes its copies of uploads and outputs, and the app its folder."""
    blocking = not kwargs.get("prevent_thread_lock")
    if blocking and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return demo.launch(
            server_name=host, server_port=port, theme=gr.themes.Soft(primary_hue="indigo"), css=CSS,
            footer_links=["api"], **kwargs,
        )  # fmt: skip
    finally:
        if blocking and hasattr(demo, "signclip"):
            demo.signclip.close()


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # Gradio's `block_thread` closes the server on it


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
