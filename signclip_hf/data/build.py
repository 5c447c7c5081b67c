"""`signclip-hf build-dataset`: a folder of `.pose` files + a metadata CSV -> a `datasets` dataset.

Each clip is stored as raw keypoints in layout order (`pose` Array3D (T, K, 3), `confidence` Array2D
(T, K)), not as nested lists (reads ~100x faster) and not normalized (the feature extractor does that,
so a stored dataset serves any model config). Each process streams its clips into one Arrow shard at a
time (`ArrowWriter`, small record batches) directly in the output folder, in the layout of
`Dataset.save_to_disk` (so `datasets.load_from_disk` reads it): memory stays bounded however many clips
there are, and nothing is written twice. Splits (a CSV column, or signer-independent) are decided from the
CSV before writing. A file that cannot be read never aborts the build: it is skipped and reported with
its reason (missing, empty, corrupt, wrong layout, non-finite, degenerate, unreadable).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
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
from .splits import assign_signers

STRING_COLUMNS = ("text", "label", "sign_language", "spoken_language", "signer", "file")
REPORT_FILE = "build_report.json"
# error class -> short reason shown in the report (most specific first: the classes form a hierarchy)
SKIP_REASONS = (
    (EmptyPoseError, "empty"),
    (CorruptPoseError, "corrupt"),
    (PoseLayoutError, "wrong layout"),
    (NonFinitePoseError, "non-finite"),
    (DegeneratePoseError, "degenerate"),
    (InvalidPoseError, "invalid"),
)


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


@dataclass
class SkippedFile:
    """One file that was not stored: its path (as in the CSV), a short reason, and the full problem."""

    file: str
    reason: str
    problem: str


@dataclass
class BuildReport:
    """What a build did: clips stored (per split), files skipped and why, where it was written."""

    stored: int
    skipped: list[SkippedFile] = field(default_factory=list)
    split_sizes: dict[str, int] = field(default_factory=dict)
    output: str | None = None
    seconds: float = 0.0

    @property
    def clips_per_second(self) -> float:
        return (self.stored + len(self.skipped)) / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        lines = [f"stored {self.stored} clips" + (f" to {self.output}" if self.output else "")
                 + f" in {self.seconds:.1f}s ({self.clips_per_second:.0f} files/s)"]
        if self.split_sizes:
            lines.append("splits: " + ", ".join(f"{name} {size}" for name, size in self.split_sizes.items()))
        lines.append(f"skipped {len(self.skipped)} file(s)" + (":" if self.skipped else ""))
        lines.extend(f"  {s.file}: {s.reason}: {s.problem}" for s in self.skipped)
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"status": "done", **asdict(self), "clips_per_second": self.clips_per_second}, indent=2)


def read_metadata(path: str | os.PathLike, required: Sequence[str]) -> list[dict[str, str]]:
    """The metadata CSV as a list of row dicts; a missing file or column fails with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metadata CSV {path} does not exist")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in dict.fromkeys(required) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; the CSV has {reader.fieldnames}")
        return list(reader)


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
            points, confidence, fps = read_keypoints(path, keypoint_layout)
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
    """One Arrow file of the output and the CSV rows that go into it."""

    path: str
    rows: list[dict[str, str]]
    root: str
    keypoint_layout: str
    features: Features
    writer_batch_size: int


def _write_shard(shard: _Shard) -> tuple[int, list[SkippedFile]]:
    skipped: list[SkippedFile] = []
    writer = ArrowWriter(features=shard.features, path=shard.path, writer_batch_size=shard.writer_batch_size)
    try:
        for example in _examples(shard.rows, shard.root, shard.keypoint_layout, skipped):
            writer.write(example)
        stored, _ = writer.finalize()
    finally:
        writer.close()
    return stored, skipped


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
    (directory / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")


def is_complete_build(output: str | os.PathLike) -> bool:
    """Whether `output` holds a finished build (an interrupted one still says "in progress")."""
    report = Path(output) / REPORT_FILE
    return report.is_file() and json.loads(report.read_text(encoding="utf-8")).get("status") != "in progress"


def _prepare_output(output: Path) -> None:
    """An empty output folder marked as a build in progress.

    A previous build there (finished or interrupted: it has a build report) is replaced; a folder with
    anything else in it is refused.
    """
    if output.exists() and any(output.iterdir()):
        if not (output / REPORT_FILE).is_file():
            raise FileExistsError(f"{output} is not empty and holds no {REPORT_FILE}; choose an empty folder")
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / REPORT_FILE).write_text(json.dumps({"status": "in progress"}), encoding="utf-8")


def build_dataset(
    root: str | os.PathLike,
    metadata: str | os.PathLike = "metadata.csv",
    output: str | os.PathLike | None = None,
    file_column: str = "file",
    text_column: str | None = None,
    label_column: str = "label",
    keypoint_layout: str = "holistic",
    num_proc: int = 1,
    split_column: str | None = "split",
    signer_split: float | None = None,
    seed: int = 0,
    sign_language: str = "ase",
    spoken_language: str = "en",
    writer_batch_size: int = 64,
    shard_rows: int = 1000,
) -> tuple[Dataset | DatasetDict, BuildReport]:
    """Build a pose dataset from `root` (a folder of `.pose` files) and its metadata CSV.

    Args:
        metadata: CSV path, relative to `root` unless absolute.
        output: folder for the dataset (`datasets.load_from_disk` / `load_saved` read it) and its
            `build_report.json`; default: a new folder under the datasets cache.
        file_column / label_column / text_column: CSV columns; `text` defaults to the label.
        split_column: if the CSV has this column, it is kept as `split` and the result is a DatasetDict.
        signer_split: else, if given, the fraction of clips held out as a signer-independent `test` split.
        sign_language / spoken_language: used for rows whose CSV lacks these columns.
        writer_batch_size: rows per Arrow record batch (bounds the memory of the build).
        shard_rows: clips per Arrow file (the unit of work of the `num_proc` processes).
    Returns:
        (dataset, report): a Dataset, or a DatasetDict when split; the report lists skipped files.
    """
    if keypoint_layout not in KEYPOINT_LAYOUTS:
        raise ValueError(f"keypoint_layout must be one of {sorted(KEYPOINT_LAYOUTS)}, got {keypoint_layout!r}")
    start = time.perf_counter()
    root = os.fspath(root)
    metadata_path = Path(root, metadata)
    text_column = text_column or label_column
    csv_rows = read_metadata(metadata_path, [file_column, label_column, text_column])
    if not csv_rows:
        raise ValueError(f"{metadata_path}: no rows")
    has_split = split_column is not None and split_column in csv_rows[0]
    rows = [
        {
            "file": r[file_column],
            "text": r[text_column],
            "label": r[label_column],
            "sign_language": r.get("sign_language") or sign_language,
            "spoken_language": r.get("spoken_language") or spoken_language,
            "signer": r.get("signer") or "",
            **({"split": r[split_column]} if has_split else {}),
        }
        for r in csv_rows
    ]
    for spoken, sign in {(r["spoken_language"], r["sign_language"]) for r in rows}:
        try:
            format_prompt("", spoken, sign)  # validates the codes: fail now, not in the collator mid-training
        except UnknownLanguageError as error:
            raise UnknownLanguageError(f"{metadata_path}: {error}") from None

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

    target = Path(output or Path(datasets_config.HF_DATASETS_CACHE, "signclip-builds", uuid.uuid4().hex))
    _prepare_output(target)
    features = dataset_features(keypoint_layout, with_split=has_split)
    num_proc = max(1, num_proc)
    shards: list[_Shard] = []
    for name, group in groups.items():
        directory = target / name if name is not None else target
        directory.mkdir(exist_ok=True)
        count = max(-(-len(group) // shard_rows), min(num_proc, len(group)), 1)
        bounds = [len(group) * i // count for i in range(count + 1)]
        shards.extend(
            _Shard(
                os.fspath(directory / f"data-{i:05d}-of-{count:05d}.arrow"),
                group[bounds[i] : bounds[i + 1]],
                root,
                keypoint_layout,
                features,
                writer_batch_size,
            )
            for i in range(count)
        )
    results = []
    with tqdm(total=len(rows), unit=" clips", desc="Building the pose dataset") as progress:
        if num_proc > 1:
            with multiprocessing.get_context("fork").Pool(min(num_proc, len(shards))) as pool:
                for shard, result in zip(shards, pool.imap(_write_shard, shards)):
                    results.append(result)
                    progress.update(len(shard.rows))
        else:
            for shard in shards:
                results.append(_write_shard(shard))
                progress.update(len(shard.rows))
    for name in groups:
        directory = target / name if name is not None else target
        files = sorted(Path(s.path).name for s in shards if Path(s.path).parent == directory)
        _write_split_metadata(directory, files, features, name)
    if None not in groups:
        (target / "dataset_dict.json").write_text(json.dumps({"splits": list(groups)}), encoding="utf-8")

    skipped = sorted((s for _, part in results for s in part), key=lambda s: s.file)
    result = load_saved(target)
    report = BuildReport(stored=sum(stored for stored, _ in results), skipped=skipped, output=os.fspath(target))
    if isinstance(result, DatasetDict):
        report.split_sizes = {name: len(part) for name, part in result.items()}
    report.seconds = time.perf_counter() - start
    (target / REPORT_FILE).write_text(report.to_json(), encoding="utf-8")
    return result, report


def load_saved(path: str | os.PathLike) -> Dataset | DatasetDict:
    """A dataset written by `build_dataset(output=...)` (Dataset or DatasetDict)."""
    from datasets import load_from_disk

    return load_from_disk(os.fspath(path))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", help="folder of .pose files (paths in the CSV are relative to it)")
    parser.add_argument("--metadata", default="metadata.csv", help="CSV, relative to ROOT unless absolute")
    parser.add_argument("--output", required=True, help="directory for the saved dataset")
    parser.add_argument("--file-column", default="file")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--text-column", default=None, help="text of the prompt (default: the label column)")
    parser.add_argument("--split-column", default="split", help="kept as `split` when the CSV has it")
    parser.add_argument(
        "--signer-split", type=float, default=None, metavar="FRACTION",
        help="without a split column: hold out whole signers as a `test` split of about this fraction",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keypoint-layout", default="holistic", choices=sorted(KEYPOINT_LAYOUTS))
    parser.add_argument("--sign-language", default="ase", help="for rows without a sign_language column")
    parser.add_argument("--spoken-language", default="en", help="for rows without a spoken_language column")
    parser.add_argument("--num-proc", type=int, default=1)
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="also push it with a dataset card")
    parser.add_argument("--license", default="other", help="licence for the dataset card (with --push-to-hub)")


def run(args: argparse.Namespace) -> int:
    dataset, report = build_dataset(
        args.root,
        metadata=args.metadata,
        output=args.output,
        file_column=args.file_column,
        text_column=args.text_column,
        label_column=args.label_column,
        keypoint_layout=args.keypoint_layout,
        num_proc=args.num_proc,
        split_column=args.split_column,
        signer_split=args.signer_split,
        seed=args.seed,
        sign_language=args.sign_language,
        spoken_language=args.spoken_language,
    )
    print(report.summary())
    if args.push_to_hub and report.stored > 0:
        from .hub import DatasetCardConfig, push_pose_dataset

        card = DatasetCardConfig(license=args.license, keypoint_layout=args.keypoint_layout)
        push_pose_dataset(dataset, args.push_to_hub, card, report)
        print(f"pushed to {args.push_to_hub}")
    return 0 if report.stored > 0 else 1
