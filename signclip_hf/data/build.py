"""Build a pose dataset: a folder of `.pose` files + a metadata CSV -> a `datasets` dataset (`build-dataset`).

Each clip is stored as raw keypoints in layout order (`pose` Array3D (T, K, 3), `confidence` Array2D
(T, K)), not as nested lists (reads ~100x faster) and not normalized (the feature extractor does that,
so a stored dataset serves any model config). Each process streams its clips into one Arrow shard at a
time (`ArrowWriter`, small record batches) directly in the output folder, in the layout of
`Dataset.save_to_disk` (so `datasets.load_from_disk` reads it): memory stays bounded however many clips
there are, and nothing is written twice. Splits (a CSV column, or signer-independent) are decided from the
CSV before writing. A file that cannot be read never aborts the build: it is skipped and reported with
its reason (missing, empty, corrupt, wrong layout, non-finite, degenerate, unreadable).

The CSV is checked first: paths leaving ROOT (absolute or `../`) are refused, files listed twice and
rows without a label are reported (`on_duplicate`, `on_empty_label`). `build_report.json` records the
plan and each finished shard as it lands, so an interrupted build (killed, out of power) resumes where it
stopped and ends with the same files as an uninterrupted one; a rebuild deletes only the files a previous
build recorded, and a folder holding anything else is refused.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import multiprocessing
import os
import re
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

from datasets import Array2D, Array3D, Dataset, DatasetDict, DatasetInfo, Features, Value
from datasets import config as datasets_config
from datasets.arrow_writer import ArrowWriter
from tqdm.auto import tqdm

from ..modeling import (
    KEYPOINT_LAYOUTS,
    CorruptPoseError,
    DegeneratePoseError,
    EmptyPoseError,
    InvalidPoseError,
    NonFinitePoseError,
    PoseLayoutError,
    UnknownLanguageError,
    format_prompt,
    keypoints_to_features,
    read_keypoints,
)
from ..modeling.video_signclip import InvalidVideoError, cached_pose_path, is_video
from .report import BuildReport, SkippedFile
from .splits import assign_signers

STRING_COLUMNS = ("text", "label", "sign_language", "spoken_language", "signer", "file")
REPORT_FILE = "build_report.json"
SPLIT_FILES = ("dataset_info.json", "state.json")  # next to a split's Arrow files, as `save_to_disk` writes
PARTIAL = ".partial"  # suffix of a file being written (renamed when complete)
ON_DUPLICATE = ("warn", "skip", "error")  # a file listed again: stored again, left out, or refused
ON_EMPTY_LABEL = ("skip", "error")  # a row without label/text: left out, or refused
# error class -> short reason shown in the report (most specific first: the classes form a hierarchy)
SKIP_REASONS = (
    (InvalidVideoError, "bad video"),
    (EmptyPoseError, "empty"),
    (CorruptPoseError, "corrupt"),
    (PoseLayoutError, "wrong layout"),
    (NonFinitePoseError, "non-finite"),
    (DegeneratePoseError, "degenerate"),
    (InvalidPoseError, "invalid"),
)


@dataclass
class BuildConfig:
    """How `build_dataset` reads the CSV and writes the dataset (every field has the CLI's default).

    Attributes:
        file_column / label_column / text_column: CSV columns; `text` defaults to the label.
        split_column: if the CSV has this column, it is kept as `split` and the result is a DatasetDict.
        signer_split: else, if given, the fraction of clips held out as a signer-independent `test` split.
        seed: of the signer-independent split.
        keypoint_layout: the keypoints stored (a name in `KEYPOINT_LAYOUTS`).
        sign_language / spoken_language: used for rows whose CSV lacks these columns.
        num_proc: worker processes writing the shards.
        writer_batch_size: rows per Arrow record batch (bounds the memory of the build).
        shard_rows: clips per Arrow file (the unit of work of the `num_proc` processes, and of resuming).
        allow_outside_root: read CSV paths that are absolute or climb out of `root` with `..`
            (refused by default).
        on_duplicate: a file listed again in the CSV is "warn" (stored once per row, reported), "skip"
            (only the first row kept) or "error" (nothing built).
        on_empty_label: a row with an empty label or text is "skip" (left out, reported) or "error".
    """

    file_column: str = "file"
    label_column: str = "label"
    text_column: str | None = None
    split_column: str | None = "split"
    signer_split: float | None = None
    seed: int = 0
    keypoint_layout: str = "holistic"
    sign_language: str = "ase"
    spoken_language: str = "en"
    num_proc: int = 1
    writer_batch_size: int = 64
    shard_rows: int = 1000
    allow_outside_root: bool = False
    on_duplicate: str = "warn"
    on_empty_label: str = "skip"

    def __post_init__(self):
        if self.keypoint_layout not in KEYPOINT_LAYOUTS:
            raise ValueError(f"keypoint_layout must be one of {sorted(KEYPOINT_LAYOUTS)}, got {self.keypoint_layout!r}")
        if self.on_duplicate not in ON_DUPLICATE:
            raise ValueError(f"on_duplicate must be one of {ON_DUPLICATE}, got {self.on_duplicate!r}")
        if self.on_empty_label not in ON_EMPTY_LABEL:
            raise ValueError(f"on_empty_label must be one of {ON_EMPTY_LABEL}, got {self.on_empty_label!r}")
        if self.signer_split is not None and not 0 < self.signer_split < 1:
            raise ValueError(f"signer_split is a fraction of the clips, between 0 and 1; got {self.signer_split}")
        if self.shard_rows < 1 or self.writer_batch_size < 1:
            raise ValueError(f"shard_rows and writer_batch_size must be >= 1, got {self.shard_rows}, {self.writer_batch_size}")
        self.num_proc = max(1, self.num_proc)


def dataset_features(keypoint_layout: str = "holistic", with_split: bool = False) -> Features:
    """The row schema shared by build-dataset, the collator, training and evaluation."""
    num_points = KEYPOINT_LAYOUTS[keypoint_layout].num_points
    columns = {
        "pose": Array3D(shape=(None, num_points, 3), dtype="float32"),
        "confidence": Array2D(shape=(None, num_points), dtype="float32"),
        "fps": Value("float32"),
        "num_frames": Value("int32"),
        **{name: Value("string") for name in STRING_COLUMNS},
    }
    if with_split:
        columns["split"] = Value("string")
    return Features(columns)


def read_metadata(path: str | os.PathLike, required: Sequence[str]) -> tuple[list[dict[str, str]], list[int]]:
    """The metadata CSV (UTF-8, with or without a BOM) as row dicts, and each row's line number.

    A missing file or column, text that is not UTF-8 or malformed CSV fails naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metadata CSV {path} does not exist")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[error.start]:02x}); save the CSV as UTF-8"
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows, lines = [], []
    try:
        if not reader.fieldnames:
            raise ValueError(
                f"{path}: the CSV is empty (no header row); it needs the column(s) {list(dict.fromkeys(required))}"
            )
        missing = [c for c in dict.fromkeys(required) if c not in reader.fieldnames]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; the CSV has {reader.fieldnames}")
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as error:
        raise ValueError(f"{path}: line {reader.line_num}: malformed CSV ({error})") from None
    return rows, lines


def _outside(file: str) -> bool:
    """Whether CSV path `file` leaves `root` (absolute, or climbing out with `..`); symlinks are not followed."""
    return os.path.isabs(file) or os.path.normpath(file).split(os.sep)[0] == os.pardir


def _check_rows(
    rows: list[dict[str, str]],
    lines: list[int],
    metadata_path: Path,
    allow_outside_root: bool,
    on_duplicate: str,
    on_empty_label: str,
) -> tuple[list[dict[str, str]], list[SkippedFile], list[str]]:
    """The rows to build, the rows left out (as skipped files) and warnings, per the policies.

    Raises ValueError naming the CSV and its lines for paths outside ROOT and for problems whose policy
    is "error".
    """
    def refuse(problems: list[str], hint: str) -> None:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ValueError(f"{metadata_path}: " + "; ".join(problems[:5]) + more + f"; {hint}")

    outside = [f"line {n}: {r['file']!r} is outside ROOT" for r, n in zip(rows, lines) if _outside(r["file"])]
    if outside and not allow_outside_root:
        refuse(outside, "paths must stay inside ROOT (allow outside-root paths to read them)")
    kept, left_out, notes, empty, repeated = [], [], [], [], []
    first_line: dict[str, int] = {}
    for row, line in zip(rows, lines):
        blank = [name for name in ("label", "text") if not (row[name] or "").strip()]
        if blank:
            problem = f"line {line}: empty {' and '.join(blank)}"
            empty.append(problem)
            left_out.append(SkippedFile(row["file"], "no label", f"{metadata_path}: {problem}"))
            continue
        key = os.path.normpath(row["file"])
        if key in first_line:
            problem = f"line {line}: {row['file']} is listed again (first on line {first_line[key]})"
            repeated.append(problem)
            if on_duplicate == "skip":
                left_out.append(SkippedFile(row["file"], "duplicate", f"{metadata_path}: {problem}"))
                continue
            notes.append(f"{metadata_path}: {problem}; stored again")
        first_line.setdefault(key, line)
        kept.append(row)
    if empty and on_empty_label == "error":
        refuse(empty, "fill them in, or skip those rows (on_empty_label='skip')")
    if repeated and on_duplicate == "error":
        refuse(repeated, "remove them, or keep them (on_duplicate='warn' or 'skip')")
    if repeated and on_duplicate != "error":
        action = "stored once per row" if on_duplicate == "warn" else "only the first row kept"
        warnings.warn(
            f"{metadata_path}: {len(repeated)} row(s) list a file already listed ({action}): "
            + "; ".join(repeated[:3]) + (" ..." if len(repeated) > 3 else "") + " (see build_report.json)",
            stacklevel=3,
        )
    if empty:
        warnings.warn(
            f"{metadata_path}: {len(empty)} row(s) without a label left out: " + "; ".join(empty[:3])
            + (" ..." if len(empty) > 3 else ""),
            stacklevel=3,
        )
    return kept, left_out, notes


def _examples(
    rows: list[dict[str, str]], root: str, keypoint_layout: str, skipped: list[SkippedFile]
) -> Iterator[dict]:
    """One dataset row per readable clip; unreadable ones are appended to `skipped`."""
    for row in rows:
        path = os.path.join(root, row["file"])
        try:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: no such file")
            if os.path.getsize(path) == 0:
                raise EmptyPoseError(path, "the file is empty (0 bytes)")
            pose_path = cached_pose_path(path) if is_video(path) else path  # videos: extracted up front
            points, confidence, fps = read_keypoints(pose_path, keypoint_layout, path)
            keypoints_to_features(points, confidence, keypoint_layout, path)  # fail now, not mid-training
        except FileNotFoundError as error:
            skipped.append(SkippedFile(row["file"], "missing", str(error)))
            continue
        except OSError as error:  # permissions, I/O errors
            skipped.append(SkippedFile(row["file"], "unreadable", f"{type(error).__name__}: {error}"))
            continue
        except InvalidPoseError as error:
            reason = next(r for cls, r in SKIP_REASONS if isinstance(error, cls))
            skipped.append(SkippedFile(row["file"], reason, error.problem))
            continue
        yield {"pose": points, "confidence": confidence, "fps": fps, "num_frames": len(points), **row}


@dataclass
class _Shard:
    """One Arrow file of the output (`name`, relative to `output`) and the CSV rows that go into it."""

    output: str
    name: str
    rows: list[dict[str, str]]
    root: str
    keypoint_layout: str
    features: Features
    writer_batch_size: int


# The private `ArrowWriter` (shards streamed in place at their final names) and a hand-written `state.json`
# (`_write_split_metadata`), not the public `Dataset.from_generator` per shard + `concatenate_datasets` +
# `save_to_disk`: past the 1.5x slowdown the project allows, the public path took 4.16x the time at 1,690
# gestures clips (80 vs 333 clips/s; 118 vs 629 per CPU-second) and 3.36x at 5,070 (144 vs 484 clips/s),
# num_proc=2 on a shared 2-core machine (load average ~7; an earlier run: 5.99x / 3.54x), with the same peak
# anonymous RSS (332 / 338 MiB). Reproduce: `python benchmarks/dataset_bench.py --compare-writers`.
def _write_shard(shard: _Shard) -> tuple[str, dict]:
    """Write the shard under a temporary name, renamed when complete; returns (name, its report record)."""
    skipped: list[SkippedFile] = []
    path = os.path.join(shard.output, shard.name)
    with ArrowWriter(features=shard.features, path=path + PARTIAL, writer_batch_size=shard.writer_batch_size) as writer:
        for example in _examples(shard.rows, shard.root, shard.keypoint_layout, skipped):
            writer.write(example)
        stored, _ = writer.finalize()
    os.replace(path + PARTIAL, path)
    return shard.name, {"stored": stored, "skipped": [asdict(s) for s in skipped], "size": os.path.getsize(path)}


def _write_split_metadata(directory: Path, files: list[str], features: Features, split: str | None) -> None:
    """`dataset_info.json` + `state.json`, as `Dataset.save_to_disk` writes them next to the Arrow files."""
    DatasetInfo(features=features).write_to_directory(os.fspath(directory))
    state = {
        "_data_files": [{"filename": name} for name in files],
        "_fingerprint": uuid.uuid4().hex,
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": split,
    }
    _replace_text(directory / "state.json", json.dumps(state, indent=2, sort_keys=True))


def _replace_text(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a kill never leaves half a report."""
    temporary = path.with_name(path.name + PARTIAL)
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _read_report(output: Path) -> dict | None:
    try:
        report = json.loads((output / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def is_complete_build(output: str | os.PathLike) -> bool:
    """Whether `output` holds a finished build (an interrupted one still says "in progress")."""
    report = _read_report(Path(output))
    return report is not None and report.get("status") == "done"


def _prepare_output(output: Path, fingerprint: str, files: list[str]) -> dict[str, dict]:
    """Make `output` ready for the build planned as `files` (relative paths) with this `fingerprint`.

    Returns the shards an interrupted build of the same plan finished (kept: the build resumes), else {}.
    Only files a previous build recorded in its report are deleted; a folder holding anything else is
    refused, so no foreign file is ever lost.
    """
    present = []
    if output.is_dir():
        present = sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file())
    finished: dict[str, dict] = {}
    if present:
        previous = _read_report(output)  # unreadable: not ours (ours are replaced atomically)
        owned = {REPORT_FILE, *previous.get("files", [])} if previous is not None else set()
        previous = previous or {}
        owned |= {name + PARTIAL for name in owned}
        foreign = [name for name in present if name not in owned]
        if foreign:
            listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise FileExistsError(
                f"{output} holds files build-dataset did not write ({listed}); choose an empty or new folder"
            )
        if previous.get("status") == "in progress" and previous.get("fingerprint") == fingerprint:
            finished = {
                name: record
                for name, record in previous.get("shards", {}).items()
                if (output / name).is_file() and (output / name).stat().st_size == record.get("size")
            }
        elif previous.get("status") == "in progress":
            warnings.warn(f"{output}: an interrupted build with other inputs or settings is replaced", stacklevel=3)
        for name in present:
            if name not in finished and name != REPORT_FILE:
                (output / name).unlink()
                if (output / name).parent != output and not any((output / name).parent.iterdir()):
                    (output / name).parent.rmdir()
    output.mkdir(parents=True, exist_ok=True)
    report = {"status": "in progress", "fingerprint": fingerprint, "files": files, "shards": finished}
    _replace_text(output / REPORT_FILE, json.dumps(report, indent=2))
    return finished


@dataclass
class _BuildPlan:
    """Everything decided from the CSV before anything is written: the rows per split, their shards, the files."""

    root: str
    target: Path
    rows: list[dict[str, str]]
    left_out: list[SkippedFile]  # CSV rows not built (no label, duplicates), reported as skipped
    notes: list[str]  # warnings for the report
    features: Features
    arrow_files: dict[str | None, list[str]]  # split (None: no splits) -> its Arrow files, in order
    shards: list[_Shard]
    files: list[str]  # every file the build writes, relative to `target`
    fingerprint: str  # of the inputs and settings: an interrupted build resumes only the same plan


def _csv_rows(
    metadata_path: Path,
    file_column: str,
    text_column: str,
    label_column: str,
    split_column: str | None,
    sign_language: str,
    spoken_language: str,
) -> tuple[list[dict[str, str]], list[int], bool]:
    """The CSV rows in the dataset's columns (+ `split` when the CSV has `split_column`), their line numbers,
    and whether they are split."""
    csv_rows, lines = read_metadata(metadata_path, [file_column, label_column, text_column])
    if not csv_rows:
        raise ValueError(f"{metadata_path}: no rows")
    has_split = split_column is not None and split_column in csv_rows[0]
    rows = [
        {
            "file": r[file_column] or "",
            "text": r[text_column],
            "label": r[label_column],
            "sign_language": r.get("sign_language") or sign_language,
            "spoken_language": r.get("spoken_language") or spoken_language,
            "signer": r.get("signer") or "",
            **({"split": r[split_column]} if has_split else {}),
        }
        for r in csv_rows
    ]
    for row, line in zip(rows, lines) if has_split else ():
        if not re.fullmatch(r"\w+(\.\w+)*", row["split"] or ""):
            raise ValueError(f"{metadata_path}: line {line}: {row['split']!r} is not a split name (letters, digits, _)")
    return rows, lines, has_split


def _check_languages(rows: list[dict[str, str]], metadata_path: Path) -> None:
    """Validate the language codes now, not in the collator mid-training."""
    for spoken, sign in {(r["spoken_language"], r["sign_language"]) for r in rows}:
        try:
            format_prompt("", spoken, sign)
        except UnknownLanguageError as error:
            raise UnknownLanguageError(f"{metadata_path}: {error}") from None


def _split_groups(
    rows: list[dict[str, str]], has_split: bool, signer_split: float | None, seed: int
) -> dict[str | None, list[dict[str, str]]]:
    """The rows of each split (the CSV's, or signer-independent train/test); {None: rows} when not split."""
    if has_split:
        split_of = [r["split"] for r in rows]
    elif signer_split is not None:
        split_of = assign_signers([r["signer"] for r in rows], test_size=signer_split, seed=seed).tolist()
    else:
        split_of = [None] * len(rows)
    groups: dict[str | None, list[dict[str, str]]] = {}
    for name in (["train", "test"] if signer_split is not None and not has_split else []):
        groups[name] = []
    for name, row in zip(split_of, rows):
        groups.setdefault(name, []).append(row)
    return groups


def _plan_build(root: str, metadata: str | os.PathLike, output: str | os.PathLike | None, config: BuildConfig) -> _BuildPlan:
    """Set-up: read and check the CSV, decide the splits, cut each split into shards (nothing is written)."""
    c = config
    metadata_path = Path(root, metadata)
    rows, lines, has_split = _csv_rows(
        metadata_path, c.file_column, c.text_column or c.label_column, c.label_column, c.split_column,
        c.sign_language, c.spoken_language,
    )
    rows, left_out, notes = _check_rows(rows, lines, metadata_path, c.allow_outside_root, c.on_duplicate, c.on_empty_label)
    _check_languages(rows, metadata_path)
    groups = _split_groups(rows, has_split, c.signer_split, c.seed)
    keypoint_layout, writer_batch_size, num_proc = c.keypoint_layout, c.writer_batch_size, c.num_proc

    target = Path(output or Path(datasets_config.HF_DATASETS_CACHE, "signclip-builds", uuid.uuid4().hex))
    features = dataset_features(keypoint_layout, with_split=has_split)
    shards: list[_Shard] = []
    arrow_files: dict[str | None, list[str]] = {}
    for name, group in groups.items():
        count = max(-(-len(group) // c.shard_rows), min(num_proc, len(group)), 1)
        bounds = [len(group) * i // count for i in range(count + 1)]
        arrow_files[name] = [f"data-{i:05d}-of-{count:05d}.arrow" for i in range(count)]
        shards.extend(
            _Shard(
                os.fspath(target),
                f"{name}/{file}" if name is not None else file,
                group[bounds[i] : bounds[i + 1]],
                root,
                keypoint_layout,
                features,
                writer_batch_size,
            )
            for i, file in enumerate(arrow_files[name])
        )
    metadata_files = [f"{name}/{file}" if name is not None else file for name in groups for file in SPLIT_FILES]
    files = [s.name for s in shards] + metadata_files + ([] if None in groups else ["dataset_dict.json"])
    identity = {
        "root": os.path.abspath(root),
        "features": features.to_dict(),
        "writer_batch_size": writer_batch_size,
        "shards": [[s.name, s.rows] for s in shards],
    }
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return _BuildPlan(root, target, rows, left_out, notes, features, arrow_files, shards, files, fingerprint)


def _extract_videos(plan: _BuildPlan, num_proc: int) -> None:
    """A folder of videos: their poses go to the pose cache first, in parallel (see video.py)."""
    paths = [os.path.join(plan.root, r["file"]) for r in plan.rows]
    videos = [path for path in paths if is_video(path)]
    if videos:
        from ..video import extract_to_cache

        extract_to_cache(videos, num_proc)


def _write_shards(plan: _BuildPlan, done: dict[str, dict], num_proc: int) -> None:
    """Write the shards not in `done` (in `num_proc` processes), recording each in the report as it lands."""
    pending = [shard for shard in plan.shards if shard.name not in done]
    in_progress = {"status": "in progress", "fingerprint": plan.fingerprint, "files": plan.files, "shards": done}
    finished_rows = len(plan.rows) - sum(len(shard.rows) for shard in pending)
    rows_of = {shard.name: len(shard.rows) for shard in pending}
    pool = None
    if num_proc > 1 and len(pending) > 1:
        pool = multiprocessing.get_context("fork").Pool(min(num_proc, len(pending)))
    progress = tqdm(total=len(plan.rows), initial=finished_rows, unit=" clips", desc="Building the pose dataset")
    with progress, pool or contextlib.nullcontext():
        for name, record in pool.imap_unordered(_write_shard, pending) if pool else map(_write_shard, pending):
            done[name] = record
            _replace_text(plan.target / REPORT_FILE, json.dumps(in_progress, indent=2))  # survives a kill from now on
            progress.update(rows_of[name])


def _finish_build(
    plan: _BuildPlan, done: dict[str, dict], resumed_shards: int, start: float
) -> tuple[Dataset | DatasetDict, BuildReport]:
    """Write the split metadata next to the shards, load the result and write the final report."""
    target = plan.target
    for name, files in plan.arrow_files.items():
        _write_split_metadata(target / name if name is not None else target, files, plan.features, name)
    if None not in plan.arrow_files:
        _replace_text(target / "dataset_dict.json", json.dumps({"splits": list(plan.arrow_files)}))
    skipped = plan.left_out + [SkippedFile(**s) for shard in plan.shards for s in done[shard.name]["skipped"]]
    result = load_saved(target)
    report = BuildReport(
        stored=sum(done[shard.name]["stored"] for shard in plan.shards),
        skipped=sorted(skipped, key=lambda s: s.file),
        output=os.fspath(target),
        warnings=plan.notes,
        resumed_shards=resumed_shards,
        files=plan.files,
    )
    if isinstance(result, DatasetDict):
        report.split_sizes = {name: len(part) for name, part in result.items()}
    report.seconds = time.perf_counter() - start
    _replace_text(target / REPORT_FILE, report.to_json())
    return result, report


def build_dataset(
    root: str | os.PathLike,
    metadata: str | os.PathLike = "metadata.csv",
    output: str | os.PathLike | None = None,
    config: BuildConfig | None = None,
    **options,
) -> tuple[Dataset | DatasetDict, BuildReport]:
    """Build a pose dataset from `root` (a folder of `.pose` files) and its metadata CSV.

    Args:
        metadata: CSV path, relative to `root` unless absolute.
        output: folder for the dataset (`datasets.load_from_disk` / `load_saved` read it) and its
            `build_report.json`; default: a new folder under the datasets cache.
        config: the build settings (`BuildConfig`); keyword `options` set or override its fields
            (`build_dataset(root, signer_split=0.2)` is `build_dataset(root, config=BuildConfig(signer_split=0.2))`).
    An interrupted build into the same `output` with the same inputs and settings resumes: the shards
    it finished are kept.
    Returns:
        (dataset, report): a Dataset, or a DatasetDict when split; the report lists skipped files.
    """
    start = time.perf_counter()
    root = os.fspath(root)
    config = replace(config or BuildConfig(), **options)
    num_proc = config.num_proc
    plan = _plan_build(root, metadata, output, config)
    done = _prepare_output(plan.target, plan.fingerprint, plan.files)  # before any work: a bad output fails now
    resumed_shards = len(done)
    for name in plan.arrow_files:
        (plan.target / name if name is not None else plan.target).mkdir(exist_ok=True)
    _extract_videos(plan, num_proc)
    _write_shards(plan, done, num_proc)
    return _finish_build(plan, done, resumed_shards, start)


def load_saved(path: str | os.PathLike) -> Dataset | DatasetDict:
    """A dataset written by `build_dataset(output=...)` (Dataset or DatasetDict); see `loading.load_dataset`."""
    from ..loading import load_dataset

    return load_dataset(path)
