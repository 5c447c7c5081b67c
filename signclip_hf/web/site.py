"""The SignCLIP web page: a static site that runs an exported pose graph in the browser (`signclip-hf web`).

`build_site(exported, output)` writes the page (this package's `index.html`, `*.js`, `style.css`), the
onnxruntime-web runtime (the npm package named in `package.json`, installed by `ensure_runtime`, never committed)
and the export's manifest, pose graph and vocabulary into one folder any static host serves; `server.make_server`
serves it on this machine. The page computes the features in JavaScript (`pose.js`, the same numbers as
`SignCLIPFeatureExtractor`), so nothing is sent anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .server import SITE_FORMAT, SITE_MANIFEST, is_site, make_server

WEB_DIR = Path(__file__).resolve().parent
PAGE_FILES = ("index.html", "app.js", "pose.js", "skeleton.js", "text.js", "style.css")
TOKENIZER = "tokenizer.json"
RUNTIME_PACKAGE = "onnxruntime-web"
# the wasm-only ES module build of onnxruntime-web and its (SIMD, threads when cross-origin isolated) wasm binary
RUNTIME_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MANIFEST = "signclip_onnx.json"
PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class SiteConfig:
    """What the page uses: `precision` picks the export's graphs; `model_url` (e.g. a Hub model repo's
    `https://huggingface.co/USER/REPO/resolve/main/`) makes the page load the manifest, graph and vocabulary from
    there instead of copying them into the site; `top_k` glosses are shown; `free_text` adds the text graph and the tokenizer (the page then embeds the
    visitor's own glosses; without it the page ranks the export's vocabulary only)."""

    precision: str = "fp32"
    model_url: str | None = None
    top_k: int = 10
    max_file_bytes: int = 256 * 1024 * 1024
    threads: int | None = None  # onnxruntime-web wasm threads; None: 1, or half the cores (<= 4) when isolated
    free_text: bool = True  # the text graph and tokenizer too: visitors may rank their own glosses

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")


@dataclass
class SiteReport:
    output: Path
    glosses: int
    files: dict[str, int] = field(default_factory=dict)  # relative path -> bytes

    def __str__(self) -> str:
        total = sum(self.files.values())
        return f"wrote the SignCLIP web page to {self.output} ({len(self.files)} files, {total / 1e6:.1f} MB, {self.glosses} glosses)"


def required_runtime_version() -> str:
    """The onnxruntime-web version range `package.json` pins (e.g. `~1.30.0`)."""
    return json.loads((WEB_DIR / "package.json").read_text())["dependencies"][RUNTIME_PACKAGE]


def _version_fits(version: str, wanted: str) -> bool:
    """`~X.Y.Z` (same X.Y, patch >= Z) or an exact version."""
    if not wanted.startswith("~"):
        return version == wanted
    want = wanted[1:].split(".")
    have = version.split("-")[0].split(".")
    return have[:2] == want[:2] and len(have) == 3 and int(have[2]) >= int(want[2] if len(want) > 2 else 0)


def runtime_dist(node_modules: str | os.PathLike) -> Path | None:
    """`node_modules/onnxruntime-web/dist` when it holds the files the page needs in the pinned version, else None."""
    package = Path(node_modules) / RUNTIME_PACKAGE
    try:
        version = json.loads((package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    dist = package / "dist"
    if _version_fits(version, required_runtime_version()) and all((dist / name).is_file() for name in RUNTIME_FILES):
        return dist
    return None


def default_runtime_prefixes() -> list[Path]:
    """Where the runtime is looked for and installed: this package's folder, else a user cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "signclip-hf" / "web"
    return [WEB_DIR, cache]


def install_runtime(prefix: str | os.PathLike, timeout: float = 600) -> Path:
    """`npm install` the page's npm dependencies (`package.json`) into `prefix/node_modules`; their dist folder."""
    prefix = Path(prefix)
    npm = shutil.which("npm")
    if npm is None:
        raise OSError(
            f"npm is needed to install {RUNTIME_PACKAGE} {required_runtime_version()} for the web page: install Node.js "
            "(npm), or pass --runtime with a node_modules folder that has it"
        )
    prefix.mkdir(parents=True, exist_ok=True)
    if prefix.resolve() != WEB_DIR:
        shutil.copyfile(WEB_DIR / "package.json", prefix / "package.json")
    command = [npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--omit=dev", "--prefix", str(prefix)]
    try:
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OSError(f"npm install of {RUNTIME_PACKAGE} into {prefix} did not finish within {timeout:.0f} s") from None
    dist = runtime_dist(prefix / "node_modules")
    if result.returncode != 0 or dist is None:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OSError(f"npm install of {RUNTIME_PACKAGE} into {prefix} failed (exit {result.returncode}): {last[0]}")
    return dist


def ensure_runtime(runtime: str | os.PathLike | None = None) -> Path:
    """The onnxruntime-web dist folder: from `runtime` (a node_modules folder), else installed already, else
    installed now with npm into the first writable of `default_runtime_prefixes()`."""
    if runtime is not None:
        dist = runtime_dist(runtime)
        if dist is None:
            raise OSError(
                f"{runtime}: no {RUNTIME_PACKAGE} {required_runtime_version()} with {', '.join(RUNTIME_FILES)} "
                "in this node_modules folder"
            )
        return dist
    prefixes = default_runtime_prefixes()
    for prefix in prefixes:
        dist = runtime_dist(prefix / "node_modules")
        if dist is not None:
            return dist
    writable = next((p for p in prefixes if os.access(p if p.exists() else p.parent, os.W_OK)), prefixes[-1])
    return install_runtime(writable)


def layouts_payload() -> dict:
    """The keypoint layouts (`KEYPOINT_LAYOUTS`, their one home) as the page's `pose.js` reads them."""
    from ..modeling import KEYPOINT_LAYOUTS

    return {
        name: {
            "components": [[component, list(points)] for component, points in layout.components],
            "shoulders": [list(point) for point in layout.shoulders] if layout.shoulders else None,
            "hidden": [list(point) for point in layout.hidden],
        }
        for name, layout in KEYPOINT_LAYOUTS.items()
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_export(exported: str | os.PathLike, precision: str = "fp32", free_text: bool = True) -> tuple[dict, dict]:
    """An exported folder's checked (manifest, vocabulary): the pose graph of `precision` present with the size
    and SHA-256 the manifest records, a vocabulary whose embeddings fit the graph."""
    exported = Path(exported)
    manifest_path = exported / MANIFEST
    if not manifest_path.is_file():
        raise OSError(
            f"{exported}: not an exported SignCLIP folder (no {MANIFEST}); write one with `signclip-hf export`"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{manifest_path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "signclip-onnx":
        raise ValueError(f"{manifest_path}: not a SignCLIP ONNX manifest (format is not 'signclip-onnx')")
    graphs = manifest.get("graphs") or {}
    if precision not in graphs:
        hint = " (export with --quantize int8)" if precision == "int8" else ""
        raise ValueError(f"{exported}: the export has no {precision} graphs{hint}; it has {sorted(graphs)}")
    graph = graphs[precision]["pose"]
    graph_path = exported / graph
    if not graph_path.is_file():
        raise OSError(f"{exported}: the manifest names {graph} but the file is missing")
    recorded = (manifest.get("files") or {}).get(graph)
    if recorded and (graph_path.stat().st_size != recorded["bytes"] or _sha256(graph_path) != recorded["sha256"]):
        raise ValueError(f"{graph_path}: size or SHA-256 differs from the manifest (a damaged or replaced graph)")
    if free_text:
        for relative in (graphs[precision].get("text"), TOKENIZER):
            if not relative or not (exported / relative).is_file():
                raise OSError(
                    f"{exported}: no {relative or 'text graph'} for free-text queries (or use --vocabulary-only)"
                )
    vocabulary_name = manifest.get("vocabulary")
    if not vocabulary_name or not (exported / vocabulary_name).is_file():
        raise OSError(
            f"{exported}: the export has no vocabulary, which the page ranks: export with --vocabulary glosses.txt"
        )
    try:
        vocabulary = json.loads((exported / vocabulary_name).read_text())
        entries, embeds = vocabulary["entries"], vocabulary["text_embeds"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{exported / vocabulary_name}: not a SignCLIP vocabulary ({type(error).__name__}: {error})"
        ) from None
    embed_dim = manifest.get("embed_dim")
    if not entries or len(entries) != len(embeds) or any(len(row) != embed_dim for row in embeds):
        raise ValueError(
            f"{exported / vocabulary_name}: {len(entries)} entries and {len(embeds)} text embeddings; each must have "
            f"embed_dim={embed_dim} values"
        )
    for key in ("score", "feature_extractor"):
        if key not in manifest:
            raise ValueError(f"{manifest_path}: no {key!r} entry")
    return manifest, vocabulary


def build_site(
    exported: str | os.PathLike,
    output: str | os.PathLike,
    config: SiteConfig | None = None,
    runtime: str | os.PathLike | None = None,
) -> SiteReport:
    """Write the static site for `exported` (a `signclip-hf export` folder) into `output`.

    `output` must be new, empty, or a site this function wrote (then it is rewritten); `runtime` is a node_modules
    folder with onnxruntime-web (else `ensure_runtime` finds or installs it).
    """
    config = config or SiteConfig()
    exported, output = Path(exported), Path(output)
    manifest, vocabulary = read_export(exported, config.precision, config.free_text)
    if output.exists() and not output.is_dir():
        raise OSError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not is_site(output):
        raise OSError(f"{output}: the folder is not empty and is not a SignCLIP web page; choose a new or empty folder")
    if output.resolve() == exported.resolve() or exported.resolve() in output.resolve().parents:
        raise OSError(f"{output}: the site cannot be written inside the exported folder {exported}")
    previous = _site_files(output)
    dist = ensure_runtime(runtime)
    try:
        output.mkdir(parents=True, exist_ok=True)
        (output / "ort").mkdir(exist_ok=True)
    except OSError as error:
        raise OSError(f"{output}: cannot write the site there ({error.strerror or error})") from None
    report = SiteReport(output=output, glosses=len(vocabulary["entries"]))

    def copy(source: Path, relative: str) -> None:
        target = output / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        report.files[relative] = target.stat().st_size

    for name in PAGE_FILES:
        copy(WEB_DIR / name, name)
    for name in RUNTIME_FILES:
        copy(dist / name, f"ort/{name}")
    model = config.model_url
    if model is None:
        model = "model/"
        graphs = manifest["graphs"][config.precision]
        wanted = [MANIFEST, graphs["pose"], manifest["vocabulary"]]
        if config.free_text:
            wanted += [graphs["text"], TOKENIZER]
        for relative in wanted:
            copy(exported / relative, f"model/{relative}")
    site = {
        "format": SITE_FORMAT,
        "model": model,
        "precision": config.precision,
        "top_k": config.top_k,
        "max_file_bytes": config.max_file_bytes,
        "threads": config.threads,
        "free_text": config.free_text,
        "runtime": {
            "package": RUNTIME_PACKAGE,
            "version": json.loads((dist.parent / "package.json").read_text())["version"],
        },
        "layouts": layouts_payload(),
    }
    site["files"] = sorted(report.files)
    (output / SITE_MANIFEST).write_text(json.dumps(site, indent=1) + "\n")
    report.files[SITE_MANIFEST] = (output / SITE_MANIFEST).stat().st_size
    for stale in previous - set(report.files):  # what an earlier build wrote and this one does not
        (output / stale).unlink(missing_ok=True)
    return report


def _site_files(folder: Path) -> set[str]:
    """The files an earlier `build_site` wrote into `folder` (as its site.json lists them), inside the folder."""
    if not is_site(folder):
        return set()
    listed = json.loads((folder / SITE_MANIFEST).read_text()).get("files") or []
    root = folder.resolve()
    return {name for name in listed if isinstance(name, str) and root in (folder / name).resolve().parents}


__all__ = [
    "PAGE_FILES",
    "RUNTIME_FILES",
    "SiteConfig",
    "SiteReport",
    "build_site",
    "ensure_runtime",
    "make_server",
    "read_export",
]
