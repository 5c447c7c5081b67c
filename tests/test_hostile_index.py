"""The search index under hostile input: a folder whose parts were swapped, truncated or hand-edited is refused
with one clear error (the FAISS file is bound to the metadata by its SHA-256; every field is validated; gallery
files must lie in the folder), k is capped by the real size, the model path survives a change of folder, and
a table of hostile `search` runs each end with exit 2 and one line, or a correct, finite answer."""

from __future__ import annotations

import csv
import json
import math
import shutil

import pytest
from transformers import AutoModel, AutoProcessor

from signclip_hf.cli import main
from signclip_hf.data.build import build_dataset
from signclip_hf.sample_data import GESTURES_DIR
from signclip_hf.search import SignIndex

from fixtures.cli import one_error_line, run_cli
from fixtures.tiny import save_tiny

pytest.importorskip("faiss")

CLIPS = 12


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny model and a 12-clip dataset; an exact index built by the CLI from a relative model path, and the
    FAISS file of another model's index over the same clips."""
    root = tmp_path_factory.mktemp("hostile-index")
    rows = list(csv.DictReader((GESTURES_DIR / "metadata.csv").open()))[::10][:CLIPS]
    with open(root / "metadata.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    build_dataset(GESTURES_DIR, metadata=root / "metadata.csv", output=root / "data")
    save_tiny(root / "model", seed=0)
    save_tiny(root / "other", seed=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # MODEL given as a relative path
        assert main(["index", "model", "data", "--output", "idx"]) == 0
        assert main(["index", "other", "data", "--output", "other-idx"]) == 0
    return root


@pytest.fixture(scope="module")
def loaded(built):
    return AutoModel.from_pretrained(built / "model").eval(), AutoProcessor.from_pretrained(built / "model")




def test_search_from_another_folder_finds_the_model(built, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["search", str(built / "idx"), "--query", "hello", "--top-k", "3"], capsys)
    assert code == 0, err
    assert "query: <en> <ase> hello" in out
    assert json.loads((built / "idx" / "signclip_index.json").read_text())["model"] == str(built / "model")


def _edit_metadata(**changes):
    def edit(folder):
        path = folder / "signclip_index.json"
        data = json.loads(path.read_text())
        for key, value in changes.items():
            if value is KeyError:
                del data[key]
            elif key == "config":
                data[key].update(value)
            else:
                data[key] = value
        path.write_text(json.dumps(data))

    return edit


def _write(relative: str, content: bytes | None = None, cut: int | None = None, source: str | None = None):
    def edit(folder):
        path = folder / relative
        if source is not None:
            shutil.copyfile(folder.parent.parent / source / relative, path)
        elif cut is not None:
            path.write_bytes(path.read_bytes()[:cut])
        elif content is None:
            path.unlink()
        else:
            path.write_bytes(content)

    return edit


def _traversal(folder):
    state = folder / "gallery" / "state.json"
    data = json.loads(state.read_text())
    data["_data_files"] = [{"filename": "../../../../../../etc/passwd"}]
    state.write_text(json.dumps(data))


TAMPERED = [
    ("other-models-faiss", _write("index.faiss", source="other-idx"), "its SHA-256 does not match"),
    ("truncated-faiss", _write("index.faiss", cut=100), "its SHA-256 does not match"),
    ("empty-faiss", _write("index.faiss", b""), "its SHA-256 does not match"),
    ("missing-faiss", _write("index.faiss"), "the index's FAISS file is missing"),
    ("num-items-1e9", _edit_metadata(num_items=10**9), "holds 12 vectors, the metadata says 1000000000 clips"),
    ("num-items-0", _edit_metadata(num_items=0), "num_items must be a whole number in"),
    ("num-items-text", _edit_metadata(num_items="12"), "num_items must be a whole number in"),
    ("missing-key", _edit_metadata(num_items=KeyError), "missing field(s) 'num_items'"),
    ("unknown-key", _edit_metadata(extra=1), "unknown field(s) 'extra'"),
    ("kind-ivf-on-flat", _edit_metadata(config={"kind": "ivf"}), "it is a IndexFlatIP, the metadata says kind 'ivf'"),
    ("kind-unknown", _edit_metadata(config={"kind": "lsh"}), "invalid config: unknown index kind 'lsh'"),
    ("nprobe-text", _edit_metadata(config={"nprobe": "x"}), "invalid config: nprobe must be a whole number"),
    ("score-scale-negative", _edit_metadata(score_scale=-1), "score_scale must be a finite positive number"),
    ("score-scale-nan", _edit_metadata(score_scale=math.nan), "score_scale must be a finite positive number"),
    ("score-scale-other", _edit_metadata(score_scale=123.0), "do not match"),
    ("embed-dim-other", _edit_metadata(embed_dim=7), "do not match"),
    ("hash-edited", _edit_metadata(index_sha256="0" * 64), "its SHA-256 does not match"),
    ("hash-missing-v1", _edit_metadata(format_version=1, index_sha256=KeyError), "index format 1"),
    ("not-json", _write("signclip_index.json", b"{nope"), "not valid JSON"),
    ("json-list", _write("signclip_index.json", b"[]"), "expected a JSON object"),
    ("gallery-traversal", _traversal, "is not a file of the gallery folder"),
    ("gallery-missing", lambda folder: shutil.rmtree(folder / "gallery"), "the index's gallery is missing"),
]


@pytest.mark.parametrize("name, tamper, pattern", TAMPERED, ids=[t[0] for t in TAMPERED])
def test_tampered_index_is_refused_with_one_clear_error(built, loaded, tmp_path, name, tamper, pattern):
    folder = tmp_path / "copy" / "idx"
    shutil.copytree(built / "idx", folder)
    (tmp_path / "other-idx").symlink_to(built / "other-idx")  # for the swapped-file case
    tamper(folder)
    model, processor = loaded
    with pytest.raises((ValueError, OSError)) as error:
        SignIndex.load(folder, model, processor)
    assert pattern in str(error.value) and str(folder) in str(error.value), str(error.value)


def test_k_is_capped_by_the_real_size(built, loaded):
    model, processor = loaded
    index = SignIndex.load(built / "idx", model, processor)
    for k in (10**9, None, CLIPS):
        result = index.search_text(["hello", "thank you"], k=k)
        assert result.indices.shape == (2, CLIPS) and sorted(result.indices[0].tolist()) == list(range(CLIPS))
    for k in (0, -1, 2.5, "3"):
        with pytest.raises(ValueError, match="k must be a whole number >= 1"):
            index.search_text("hello", k=k)
    for texts, pattern in (("", "is blank"), ("<en> <ase>  ", "is blank"), (["\ud800"], "not valid Unicode"),
                           ([None], "not a string"), ([], "no text queries")):  # fmt: skip
        with pytest.raises(ValueError, match=pattern):
            index.search_text(texts)


def test_search_cli_fuzz_table(built, tmp_path, capsys):
    idx = str(built / "idx")
    garbage = tmp_path / "garbage.pose"
    garbage.write_bytes(b"\x00" * 50)
    refused = [
        (["--query", "ho\udcffuse"], "is not valid Unicode"),
        (["--query", "\udcff"], "is not valid Unicode"),
        (["--query", ""], "is blank"),
        (["--query", "  "], "is blank"),
        (["--query", "<en> <ase>"], "is blank"),
        (["--query", "<en> <asl> house"], "unknown sign language tag <asl>"),
        (["--query", "house", "--top-k", "-1"], "top-k must be >= 0"),
        (["--pose", str(tmp_path / "missing.pose")], "missing.pose"),
        (["--pose", str(garbage)], "garbage.pose"),
        (["--query", "house", "--output", idx + "/index.faiss"], "is a file of INDEX_DIR"),
        (["--pose", str(garbage), "--output", str(garbage)], "garbage.pose: is --pose 1"),
    ]
    for extra, pattern in refused:
        code, _, err = run_cli(["search", idx, *extra], capsys)
        assert code == 2 and pattern in err and one_error_line(err), (extra, err)
    for top_k, expected in (("0", CLIPS), ("1000000000", CLIPS), ("5", 5)):
        output = tmp_path / f"r{top_k}.json"
        code, _, err = run_cli(["search", idx, "--query", "hello", "--top-k", top_k, "--output", str(output)], capsys)
        assert code == 0, err
        matches = json.loads(output.read_text())["results"][0]["matches"]
        assert len(matches) == expected and all(math.isfinite(m["score"]) for m in matches)
        assert [m["score"] for m in matches] == sorted((m["score"] for m in matches), reverse=True)
    tampered = tmp_path / "tampered"
    shutil.copytree(built / "idx", tampered)
    shutil.copyfile(built / "other-idx" / "index.faiss", tampered / "index.faiss")
    code, _, err = run_cli(["search", str(tampered), "--query", "hello"], capsys)
    assert code == 2 and "SHA-256 does not match" in err and one_error_line(err)
