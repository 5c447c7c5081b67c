"""The loopback Hub against the real huggingface_hub / transformers / datasets clients, over HTTP on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import datasets
import httpx2
import pytest
import torch
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    constants,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors.torch import save_file
from transformers import AutoModel, BertConfig, BertModel

from fixtures.hub import DUMMY_USER, HubServer, hub_environment


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "toy", "hidden_size": 8}))
    save_file({"weight": torch.arange(24, dtype=torch.float32).reshape(4, 6)}, folder / "model.safetensors")
    (folder / "modeling_toy.py").write_text("class Toy:\n    pass\n")
    return folder


def test_server_is_loopback_only(loopback_hub):
    assert loopback_hub.url.startswith("http://127.0.0.1:")
    with pytest.raises(ValueError, match="loopback"):
        HubServer(host="0.0.0.0")


def test_upload_folder_then_snapshot_download_is_byte_identical(hub_env, model_dir):
    api = HfApi()
    assert api.whoami()["name"] == DUMMY_USER
    repo_id = api.create_repo(hub_env.new_repo_id("toy")).repo_id
    commit = api.upload_folder(folder_path=model_dir, repo_id=repo_id, commit_message="add toy model")

    assert api.model_info(repo_id).sha == commit.oid
    assert sorted(api.list_repo_files(repo_id)) == [
        ".gitattributes",
        "config.json",
        "model.safetensors",
        "modeling_toy.py",
    ]
    # the safetensors file went through the LFS batch API, the text files inline
    lfs = {f.path: f.lfs for f in api.list_repo_tree(repo_id) if hasattr(f, "lfs")}
    assert lfs["model.safetensors"].size == (model_dir / "model.safetensors").stat().st_size
    assert lfs["config.json"] is None

    snapshot = Path(snapshot_download(repo_id))
    assert snapshot.is_relative_to(hub_env.cache_dir)
    for name in ("config.json", "model.safetensors", "modeling_toy.py"):
        assert (snapshot / name).read_bytes() == (model_dir / name).read_bytes()


def test_identical_second_upload_creates_no_commit(hub_env, model_dir):
    api = HfApi()
    repo_id = api.create_repo(hub_env.new_repo_id("toy")).repo_id
    first = api.upload_folder(folder_path=model_dir, repo_id=repo_id, commit_message="first")
    second = api.upload_folder(folder_path=model_dir, repo_id=repo_id, commit_message="second")

    assert second.oid == first.oid
    assert [c.title for c in api.list_repo_commits(repo_id)] == ["first", "initial commit"]


def test_create_repo_conflicts_unless_exist_ok(hub_env):
    api = HfApi()
    repo_id = hub_env.new_repo_id("dup")
    url = api.create_repo(repo_id, repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as error:
        api.create_repo(repo_id, repo_type="dataset")
    assert error.value.response.status_code == 409
    assert api.create_repo(repo_id, repo_type="dataset", exist_ok=True) == url
    assert url == f"{hub_env.url}/datasets/{repo_id}"


def test_missing_repo_file_and_revision_raise_typed_errors(hub_env, model_dir):
    api = HfApi()
    repo_id = api.create_repo(hub_env.new_repo_id("toy")).repo_id
    api.upload_folder(folder_path=model_dir, repo_id=repo_id, commit_message="add")

    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"{DUMMY_USER}/does-not-exist", "config.json")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(repo_id)  # it is a model repo
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.json")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "config.json", revision="no-such-branch")
    assert not api.file_exists(repo_id, "missing.json")
    assert api.file_exists(repo_id, "config.json")


def test_private_repos_need_a_token_and_delete_repo_removes(hub_env):
    api = HfApi()
    repo_id = api.create_repo(hub_env.new_repo_id("secret"), private=True).repo_id
    assert api.model_info(repo_id).private
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).model_info(repo_id)
    with pytest.raises(HfHubHTTPError) as error:
        HfApi(token=False).create_repo(hub_env.new_repo_id("anonymous"))
    assert error.value.response.status_code == 401
    api.delete_repo(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id)


def test_subprocess_inherits_the_loopback_endpoint(hub_env):
    api = HfApi()
    repo_id = api.create_repo(hub_env.new_repo_id("child")).repo_id
    api.upload_file(path_or_fileobj=b"from the loopback hub", path_in_repo="note.txt", repo_id=repo_id)
    code = f"from huggingface_hub import hf_hub_download; print(open(hf_hub_download({repo_id!r}, 'note.txt')).read())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "from the loopback hub"


def test_commit_delete_branch_and_paths_info(hub_env):
    api = HfApi()
    repo_id = api.create_repo(hub_env.new_repo_id("ops")).repo_id
    api.create_commit(
        repo_id,
        [CommitOperationAdd("a/x.txt", b"x"), CommitOperationAdd("a/y.txt", b"y"), CommitOperationAdd("b.txt", b"b")],
        commit_message="add",
    )
    api.create_branch(repo_id, branch="dev")
    api.create_tag(repo_id, tag="v1")
    api.create_commit(repo_id, [CommitOperationDelete("a/")], commit_message="drop a", revision="dev")
    api.create_commit(repo_id, [CommitOperationAdd("b.txt", b"b2")], commit_message="edit b")

    assert sorted(api.list_repo_files(repo_id, revision="dev")) == [".gitattributes", "b.txt"]
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "a/x.txt", "a/y.txt", "b.txt"]
    infos = api.get_paths_info(repo_id, ["a", "b.txt", "nope"], expand=True)
    assert [(type(i).__name__, i.path, i.last_commit.title) for i in infos] == [
        ("RepoFolder", "a", "add"),
        ("RepoFile", "b.txt", "edit b"),
    ]
    assert {ref.name for ref in api.list_repo_refs(repo_id).branches} == {"main", "dev"}
    assert Path(hf_hub_download(repo_id, "b.txt", revision="v1")).read_bytes() == b"b"
    assert Path(hf_hub_download(repo_id, "b.txt")).read_bytes() == b"b2"
    with pytest.raises(HfHubHTTPError) as error:
        api.create_commit(
            repo_id,
            [CommitOperationAdd("c.txt", b"c")],
            commit_message="stale",
            parent_commit=api.list_repo_commits(repo_id)[-1].commit_id,
        )
    assert error.value.response.status_code == 412


def test_resolve_serves_byte_ranges(hub_env):
    api = HfApi()
    repo_id = api.create_repo(hub_env.new_repo_id("ranges")).repo_id
    payload = bytes(range(256)) * 4
    commit = api.upload_file(path_or_fileobj=payload, path_in_repo="blob.bin", repo_id=repo_id)
    url = f"{hub_env.url}/{repo_id}/resolve/main/blob.bin"

    head = httpx2.head(url)
    assert head.headers["X-Repo-Commit"] == commit.oid
    assert int(head.headers["Content-Length"]) == len(payload)
    assert head.headers["ETag"].strip('"') == head.headers["X-Linked-Etag"].strip('"')  # sha256 of an LFS file
    part = httpx2.get(url, headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.headers["Content-Range"], part.content) == (
        206,
        f"bytes 10-19/{len(payload)}",
        payload[10:20],
    )
    assert httpx2.get(url, headers={"Range": "bytes=-5"}).content == payload[-5:]
    assert httpx2.get(url, headers={"Range": f"bytes={len(payload)}-"}).status_code == 416


def test_transformers_push_to_hub_then_from_pretrained(hub_env):
    config = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    model = BertModel(config)
    repo_id = hub_env.new_repo_id("tiny-bert")
    model.push_to_hub(repo_id)

    loaded = AutoModel.from_pretrained(repo_id)
    assert type(loaded) is BertModel
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for name, tensor in original.items():
        torch.testing.assert_close(restored[name], tensor, rtol=0, atol=0, msg=name)


def test_dataset_push_to_hub_then_load_dataset(hub_env, loopback_hub):
    rows = {"text": ["hello", "thank you", "see you later"], "label": [0, 1, 2], "score": [0.5, 1.5, 2.5]}
    repo_id = hub_env.new_repo_id("tiny-ds")
    datasets.Dataset.from_dict(rows).push_to_hub(repo_id)

    cache_dir = str(hub_env.cache_dir / "datasets")
    loaded = datasets.load_dataset(repo_id, split="train", cache_dir=cache_dir)
    assert loaded.to_dict() == rows

    n_requests = len(loopback_hub.request_log)
    streamed = datasets.load_dataset(repo_id, split="train", streaming=True)
    assert isinstance(streamed, datasets.IterableDataset)
    assert list(streamed) == [dict(zip(rows, values)) for values in zip(*rows.values())]
    # streaming reads the parquet shard with HTTP range requests through HfFileSystem
    assert any(".parquet [bytes=" in line for line in loopback_hub.request_log[n_requests:])


def test_dataset_dict_push_to_hub_then_load_dataset(hub_env):
    train = {"text": ["a", "b", "c"], "label": [0, 1, 0]}
    test = {"text": ["d"], "label": [1]}
    repo_id = hub_env.new_repo_id("tiny-dd")
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(train), "test": datasets.Dataset.from_dict(test)}
    ).push_to_hub(repo_id)

    card = HfApi().dataset_info(repo_id).card_data  # README.md YAML, as on the Hub
    assert {split["name"] for split in card["dataset_info"]["splits"]} == {"train", "test"}
    loaded = datasets.load_dataset(repo_id, cache_dir=str(hub_env.cache_dir / "datasets"))
    assert sorted(loaded) == ["test", "train"]
    assert loaded["train"].to_dict() == train
    assert loaded["test"].to_dict() == test
    streamed = datasets.load_dataset(repo_id, split="test", streaming=True)
    assert list(streamed) == [{"text": "d", "label": 1}]


def test_hub_environment_restores_client_configuration(hub_server):
    endpoint, template = constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE
    environment, datasets_endpoint = os.environ.get("HF_ENDPOINT"), datasets.config.HF_ENDPOINT
    resolve = socket.getaddrinfo
    with hub_environment(hub_server) as session:
        assert constants.ENDPOINT == session.url == hub_server
        assert datasets.config.HF_ENDPOINT == hub_server
        assert constants.HF_HUB_DISABLE_XET
        assert os.environ["HF_ENDPOINT"] == hub_server and socket.getaddrinfo is not resolve
    assert (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE) == (endpoint, template)
    assert (os.environ.get("HF_ENDPOINT"), datasets.config.HF_ENDPOINT) == (environment, datasets_endpoint)
    assert socket.getaddrinfo is resolve


def test_hub_environment_refuses_and_records_other_hosts(hub_server):
    with hub_environment(hub_server) as session:
        with pytest.raises(socket.gaierror, match="refusing to resolve 'example.com'"):
            socket.getaddrinfo("example.com", 443)
        assert socket.getaddrinfo("127.0.0.1", 80)  # the loopback Hub stays reachable
    assert session.blocked_hosts == ["example.com"]
