"""The corpus commands on real Ray: a local instance (2 CPUs) and a two-raylet cluster on this machine.

Each class starts and stops its own Ray (`ray.init(num_cpus=2)`, then `ray.cluster_utils.Cluster` with two
nodes of one CPU each). Every job is compared with the single-machine command on the same inputs: the same
`.pose` bytes and errors table, the same dataset rows and skipped files, the same Parquet embeddings (and
equal to `embed_dataset`, <= 1e-6), the same spotting JSON. Fault tolerance: a Ray Data actor killed with
SIGKILL mid-job (embed, build-dataset, spot, video-to-pose), and a worker node removed mid-job (the same
four): the job finishes with every row / file exactly once, equal to the undisturbed single-machine
run. Each fault waits for the job's first output and checks that outputs were still missing after it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from signclip_hf.cli import main as cli_main
from signclip_hf.sample_data import GESTURES_DIR, TEST_VIDEO

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")



@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A tiny model, the bundled gestures built as a dataset (train / test by signer) and its single-process
    embeddings (the undisturbed reference)."""
    from signclip_hf.data import build_dataset

    from fixtures.tiny import save_tiny

    root = tmp_path_factory.mktemp("ray")
    build_dataset(GESTURES_DIR, output=root / "dataset", signer_split=0.5, seed=0)
    save_tiny(root / "tiny", seed=0)
    # the `embed` command on one machine (no --ray): the undisturbed reference
    command = ["embed", str(root / "tiny"), str(root / "dataset"), "--output", str(root / "embeddings")]
    assert cli_main(command + ["--batch-size", "4", "--rows-per-part", "4", "--prompts"]) == 0
    return {"root": root, "model": root / "tiny", "dataset": root / "dataset", "embeddings": root / "embeddings"}


def _parquet_rows(path: Path) -> dict:
    from signclip_hf.cluster.embed import read_embeddings

    return read_embeddings(path).to_pydict()


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _gesture_root(tmp_path: Path) -> Path:
    """Half of the bundled gesture clips, plus a missing, an empty and a corrupt file listed in the CSV."""
    root = tmp_path / "clips"
    shutil.copytree(GESTURES_DIR, root)
    rows = (root / "metadata.csv").read_text().splitlines()
    kept = [rows[0]] + rows[1::2]
    signer = rows[1].split(",")
    (root / "empty.pose").write_bytes(b"")
    (root / "corrupt.pose").write_bytes(b"\x00not a pose file" * 10)
    header = rows[0].split(",")
    for name in ("missing.pose", "empty.pose", "corrupt.pose"):
        row = dict(zip(header, signer))
        row["file"] = name
        kept.append(",".join(row[c] for c in header))
    (root / "metadata.csv").write_text("\n".join(kept) + "\n")
    return root


def _run_in_thread(target, *args, **kwargs) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def body():
        try:
            outcome["result"] = target(*args, **kwargs)
        except BaseException as error:  # reported by the test
            outcome["error"] = error

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


def _ray_actors() -> list:
    """The Ray Data actor processes of this test's Ray: descendants of this process (not another run's)."""
    import psutil

    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "MapWorker" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:  # ended meanwhile
            pass
    return found


def _kill_an_actor() -> None:
    actors = _ray_actors()
    assert actors, "no Ray Data actor process found"
    os.kill(actors[0].pid, signal.SIGKILL)


def _fault_mid_job(thread, outcome: dict, landed, total: int, fault, timeout: float = 120) -> int:
    """Once the job's first output has landed, `fault()` (kill an actor, lose a node); asserts the job was
    still running then: fewer than `total` outputs after the fault. Returns that count."""
    deadline = time.monotonic() + timeout
    while landed() < 1:
        assert thread.is_alive(), f"the job ended before any output landed: {outcome}"
        assert time.monotonic() < deadline, f"no output after {timeout} s"
        time.sleep(0.02)
    fault()
    done = landed()
    assert done < total, f"the job had finished ({done} of {total} outputs) before the fault"
    return done


def _count(folder: Path, pattern: str) -> int:
    return len([p for p in folder.glob(pattern) if p.is_file()]) if folder.is_dir() else 0


def _short_clip(source: Path, target: Path, frames: int = 12) -> None:
    """The first `frames` frames of a video, re-encoded (a second, quick video for the actor pool)."""
    import cv2

    capture = cv2.VideoCapture(os.fspath(source))
    writer = None
    for _ in range(frames):
        ok, frame = capture.read()
        assert ok, f"{source}: fewer than {frames} frames"
        if writer is None:
            size = (frame.shape[1], frame.shape[0])
            writer = cv2.VideoWriter(os.fspath(target), cv2.VideoWriter_fourcc(*"mp4v"), capture.get(5), size)
        writer.write(frame)
    writer.release()
    capture.release()


def _videos(tmp_path: Path) -> Path:
    """Three videos (two in a subfolder; 12, 8 and all frames of the test video) and a text file named .mp4."""
    videos = tmp_path / "videos"
    (videos / "b").mkdir(parents=True)
    shutil.copy(TEST_VIDEO, videos / "b" / "c.mp4")
    _short_clip(TEST_VIDEO, videos / "b" / "d.mp4")
    _short_clip(TEST_VIDEO, videos / "a.mp4", frames=8)
    (videos / "text.mp4").write_text("not a video\n")
    return videos


# the JSON files `spot` writes for `_recordings`: 27, so that the job still runs when a fault strikes
RECORDINGS = sorted(["deep/rec2.json", *(f"more/{i:02d}.json" for i in range(24)), "rec0.json", "rec1.json"])


def _recordings(tmp_path: Path) -> Path:
    """27 gesture clips as recordings (some in subfolders) and a file that is not a pose."""
    recordings = tmp_path / "recordings"
    (recordings / "deep").mkdir(parents=True)
    clips = ["signer07/hello/000.pose", "signer12/thank_you/001.pose", "signer12/i_love_you/002.pose"]
    for i, clip in enumerate(clips):
        shutil.copy(GESTURES_DIR / clip, recordings / ("deep" if i == 2 else "") / f"rec{i}.pose")
    (recordings / "bad.pose").write_bytes(b"not a pose")
    (recordings / "more").mkdir()
    for i, clip in enumerate(sorted(GESTURES_DIR.glob("signer*/*/*.pose"))[::5][:24]):
        shutil.copy(clip, recordings / "more" / f"{i:02d}.pose")
    return recordings


def _wait_for_parts(folder: Path, count: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = len(list(folder.glob("part-*.parquet"))) if folder.is_dir() else 0
        if done >= count:
            return done
        time.sleep(0.02)
    raise AssertionError(f"no {count} parts in {folder} after {timeout} s")


def _assert_same_embeddings(got: Path, expected: Path) -> None:
    a, b = _parquet_rows(got), _parquet_rows(expected)
    assert [(s, r) for s, r in zip(a["split"], a["row"])] == [(s, r) for s, r in zip(b["split"], b["row"])]
    assert len(set(zip(a["split"], a["row"]))) == len(a["row"]) == 120  # every clip once, none twice
    assert a["file"] == b["file"] and a["prompt"] == b["prompt"]
    for column in ("pose_embedding", "text_embedding"):
        np.testing.assert_allclose(np.array(a[column]), np.array(b[column]), atol=1e-6, rtol=0)


class TestLocalRay:
    """`ray.init(num_cpus=2)`: the commands with `--ray`, against the same commands without it."""

    @pytest.fixture(scope="class", autouse=True)
    def local_ray(self):
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()

    def test_embed_survives_a_killed_actor_and_equals_one_process(self, workspace, tmp_path):
        """Ray embed (2 actors, one SIGKILLed mid-job) == the single-process embed == `embed_dataset`."""
        from signclip_hf.cluster.embed import EmbedConfig, embed, embedding_matrix, read_embeddings
        from signclip_hf.cluster.runtime import RayConfig
        from signclip_hf.embedding import embed_dataset, embeddings_of
        from signclip_hf.loading import load_dataset, load_model

        output = tmp_path / "embeddings"
        config = EmbedConfig(batch_size=4, rows_per_part=4, prompts=True)
        job = (workspace["model"], workspace["dataset"], output, config, RayConfig(workers=2))
        thread, outcome = _run_in_thread(embed, *job)
        _wait_for_parts(output, 2)
        _kill_an_actor()
        thread.join(240)
        assert not thread.is_alive() and "error" not in outcome, outcome
        assert outcome["result"]["num_rows"] == 120
        _assert_same_embeddings(output, workspace["embeddings"])

        model, processor = load_model(workspace["model"])
        dataset = load_dataset(workspace["dataset"])
        for split in ("train", "test"):
            expected = embeddings_of(embed_dataset(model, processor, dataset[split], batch_size=7))
            np.testing.assert_allclose(embedding_matrix(read_embeddings(output, split)), expected, atol=1e-6, rtol=0)

    def test_index_builds_from_embeddings_without_reembedding(self, workspace, tmp_path):
        """`index --embeddings` gives the index `index` builds by embedding, hit for hit."""
        from signclip_hf.loading import load_model
        from signclip_hf.search.index import SignIndex

        common = [str(workspace["model"]), str(workspace["dataset"])]
        assert cli_main(["index", *common, "--output", str(tmp_path / "direct")]) == 0
        from_embeddings = ["--output", str(tmp_path / "from"), "--embeddings", str(workspace["embeddings"])]
        assert cli_main(["index", *common, *from_embeddings]) == 0
        model, processor = load_model(workspace["model"])
        direct = SignIndex.load(tmp_path / "direct", model, processor)
        built = SignIndex.load(tmp_path / "from", model, processor)
        queries = ["hello", "thank you", "i love you"]
        a, b = direct.search_text(queries, k=10), built.search_text(queries, k=10)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5, rtol=0)
        other = tmp_path / "other"
        from fixtures.tiny import save_tiny

        save_tiny(other, seed=1)
        with pytest.raises(SystemExit) as exit_info:
            cli_main(["index", str(other), str(workspace["dataset"]), "--output", str(tmp_path / "x"),
                      "--embeddings", str(workspace["embeddings"])])  # fmt: skip
        assert exit_info.value.code == 2

    def test_build_dataset_equals_single_machine(self, tmp_path, capsys):
        """`build-dataset --ray` with an actor SIGKILLed mid-job: the same rows in the same order (the same
        Arrow bytes), the same skipped files and reasons."""
        from signclip_hf.loading import load_dataset

        root = _gesture_root(tmp_path)
        args = [str(root), "--signer-split", "0.5", "--shard-rows", "2"]  # ~32 shards: still running at the kill
        assert cli_main(["build-dataset", *args, "--output", str(tmp_path / "one")]) == 0
        one = capsys.readouterr().out
        shards = _count(tmp_path / "one", "*/data-*.arrow")
        thread, outcome = _run_in_thread(cli_main, ["build-dataset", *args, "--output", str(tmp_path / "ray"), "--ray"])
        try:
            _fault_mid_job(thread, outcome, lambda: _count(tmp_path / "ray", "*/data-*.arrow"), shards, _kill_an_actor)
        finally:
            thread.join(240)
        assert not thread.is_alive() and outcome == {"result": 0}, outcome
        on_ray = capsys.readouterr().out
        arrow = lambda name: {k: v for k, v in _files(tmp_path / name).items() if k.endswith(".arrow")}  # noqa: E731
        assert arrow("one") == arrow("ray") and len(arrow("ray")) == shards > 16
        skipped = lambda text: sorted(line for line in text.splitlines() if line.startswith("  "))  # noqa: E731
        assert skipped(one) == skipped(on_ray) and len(skipped(one)) == 3
        a, b = load_dataset(tmp_path / "one"), load_dataset(tmp_path / "ray")
        assert list(a) == list(b) == ["train", "test"]
        for split in a:
            assert a[split].to_list() == b[split].to_list() and len(a[split]) > 0
        import datasets

        assert len(datasets.load_from_disk(str(tmp_path / "ray"))["train"]) == len(a["train"])

    def test_video_to_pose_is_byte_identical_and_resumes(self, tmp_path, capsys):
        """Three videos (two in a subfolder) and a bad one, an actor SIGKILLed mid-job: same `.pose` bytes and
        errors table as one machine; a rerun skips the finished ones."""
        videos = _videos(tmp_path)
        assert cli_main(["video-to-pose", str(videos), "--output", str(tmp_path / "one")]) == 1
        # 3 videos on 2 actors: when the first .pose lands, another video is still being converted
        thread, outcome = _run_in_thread(cli_main, ["video-to-pose", str(videos), "--output", str(tmp_path / "ray"), "--ray"])
        try:
            _fault_mid_job(thread, outcome, lambda: _count(tmp_path / "ray", "**/*.pose"), 3, _kill_an_actor)
        finally:
            thread.join(240)
        assert not thread.is_alive() and outcome == {"result": 1}, outcome
        one, on_ray = _files(tmp_path / "one"), _files(tmp_path / "ray")
        assert sorted(one) == sorted(on_ray) == ["a.pose", "b/c.pose", "b/d.pose", "video_errors.tsv"]
        assert one == on_ray
        assert "UnreadableVideoError" in one["video_errors.tsv"].decode()
        capsys.readouterr()
        assert cli_main(["video-to-pose", str(videos), "--output", str(tmp_path / "ray"), "--ray"]) == 1
        assert "converted 0 video(s)" in capsys.readouterr().out and _files(tmp_path / "ray") == on_ray

    def test_video_to_pose_between_fsspec_urls(self, tmp_path, capsys):
        """Input and output as fsspec URLs (`local://`: not a plain path, so each actor stages its video in and
        uploads its `.pose` under a scratch name, as on `s3://`): the same files as the local run; a rerun
        skips them."""
        videos = tmp_path / "videos"
        (videos / "b").mkdir(parents=True)
        _short_clip(TEST_VIDEO, videos / "b" / "a.mp4", frames=8)
        (videos / "text.mp4").write_text("not a video\n")
        assert cli_main(["video-to-pose", str(videos), "--output", str(tmp_path / "one")]) == 1
        url = lambda path: "local://" + path.as_posix()  # noqa: E731
        command = ["video-to-pose", url(videos), "--output", url(tmp_path / "ray"), "--ray"]
        assert cli_main(command) == 1
        one, on_ray = _files(tmp_path / "one"), _files(tmp_path / "ray")
        assert sorted(on_ray) == ["b/a.pose", "video_errors.tsv"] and on_ray["b/a.pose"] == one["b/a.pose"]
        assert "text.mp4" in on_ray["video_errors.tsv"].decode() and "UnreadableVideoError" in on_ray["video_errors.tsv"].decode()
        capsys.readouterr()
        assert cli_main(command) == 1
        assert "converted 0 video(s)" in capsys.readouterr().out and _files(tmp_path / "ray") == on_ray

    def test_spot_folder_one_result_per_recording_and_resumes(self, workspace, tmp_path, capsys):
        """`spot FOLDER --ray` with an actor SIGKILLed mid-job: one JSON per recording, equal to the
        single-machine folder run; resumable."""
        recordings = _recordings(tmp_path)
        common = [str(workspace["model"]), str(recordings), "--query", "hello", "--query", "thank you",
                  "--windows", "4,8", "--stride", "2"]  # fmt: skip
        assert cli_main(["spot", *common, "--output", str(tmp_path / "one")]) == 1
        thread, outcome = _run_in_thread(cli_main, ["spot", *common, "--output", str(tmp_path / "ray"), "--ray"])
        total = len(RECORDINGS)
        try:
            _fault_mid_job(thread, outcome, lambda: _count(tmp_path / "ray", "**/*.json"), total, _kill_an_actor)
        finally:
            thread.join(240)
        assert not thread.is_alive() and outcome == {"result": 1}, outcome
        one, on_ray = _files(tmp_path / "one"), _files(tmp_path / "ray")
        assert sorted(one) == [*RECORDINGS, "spot_errors.tsv"] and len(RECORDINGS) == 27
        assert one == on_ray and "bad.pose" in one["spot_errors.tsv"].decode()
        (tmp_path / "ray" / "rec1.json").unlink()
        capsys.readouterr()
        assert cli_main(["spot", *common, "--output", str(tmp_path / "ray"), "--ray"]) == 1
        assert "spotted 1 recording(s)" in capsys.readouterr().out and _files(tmp_path / "ray") == on_ray


class TestTwoNodes:
    """`ray.cluster_utils.Cluster`: a head and a worker raylet on this machine, one CPU each."""

    @pytest.fixture(scope="class")
    def two_raylets(self):
        from ray.cluster_utils import Cluster

        # a killed raylet is declared dead after 5 failed health checks: 1 s apart here (default 3 s)
        health = {"health_check_period_ms": 1000, "health_check_failure_threshold": 5}
        head = {"num_cpus": 1, "include_dashboard": False, "_system_config": health}
        cluster = Cluster(initialize_head=True, head_node_args=head)
        cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        cluster.wait_for_nodes()
        yield cluster
        ray.shutdown()
        cluster.shutdown()

    @pytest.fixture
    def cluster(self, two_raylets):
        """(cluster, its worker node), two nodes alive: a worker lost by a test before is replaced."""
        if not two_raylets.worker_nodes:
            two_raylets.add_node(num_cpus=1)
            two_raylets.wait_for_nodes()
        _wait_for_alive_nodes(2)
        return two_raylets, next(iter(two_raylets.worker_nodes))

    def test_build_dataset_on_two_nodes_equals_single_machine(self, cluster, tmp_path):
        """The worker raylet is killed mid-build: the build ends on the head node, as on one machine."""
        from signclip_hf.cluster.build import build_dataset_ray
        from signclip_hf.cluster.runtime import RayConfig
        from signclip_hf.data import BuildConfig, build_dataset

        cluster, worker = cluster
        root = _gesture_root(tmp_path)
        config = BuildConfig(signer_split=0.5, shard_rows=2)  # ~32 shards: still running when the node is lost
        a, report_a = build_dataset(root, output=tmp_path / "one", config=config)
        shards = _count(tmp_path / "one", "*/data-*.arrow")
        job = {"output": tmp_path / "two", "config": config, "ray_config": RayConfig(workers=2)}
        thread, outcome = _run_in_thread(build_dataset_ray, root, **job)
        lose_worker = lambda: cluster.remove_node(worker, allow_graceful=False)  # noqa: E731
        try:
            _fault_mid_job(thread, outcome, lambda: _count(tmp_path / "two", "*/data-*.arrow"), shards, lose_worker)
        finally:
            thread.join(240)
        assert not thread.is_alive() and "error" not in outcome, outcome
        _wait_for_alive_nodes(1)
        b, report_b = outcome["result"]
        reported = lambda report: [(s.file, s.reason, s.problem) for s in report.skipped]  # noqa: E731
        assert reported(report_a) == reported(report_b) and len(reported(report_a)) == 3
        assert report_a.stored == report_b.stored == sum(len(a[split]) for split in a)
        for split in a:
            assert a[split].to_list() == b[split].to_list() and len(a[split]) > 0

    def test_embed_survives_a_lost_worker_node(self, cluster, workspace, tmp_path):
        """The worker raylet is killed mid-job: the job ends on the head node, every row once, as undisturbed."""
        from signclip_hf.cluster.embed import EmbedConfig, embed
        from signclip_hf.cluster.runtime import RayConfig

        cluster, worker = cluster
        output = tmp_path / "embeddings"
        config = EmbedConfig(batch_size=4, rows_per_part=4, prompts=True)
        job = (workspace["model"], workspace["dataset"], output, config, RayConfig(workers=2))
        thread, outcome = _run_in_thread(embed, *job)
        done = _wait_for_parts(output, 2)
        cluster.remove_node(worker, allow_graceful=False)
        thread.join(240)
        assert not thread.is_alive() and "error" not in outcome, outcome
        assert done < 30, "the job finished before the node was lost"
        _wait_for_alive_nodes(1)
        _assert_same_embeddings(output, workspace["embeddings"])

    def test_video_to_pose_and_spot_survive_a_lost_worker_node(self, cluster, workspace, tmp_path):
        """The worker raylet is killed mid-`video-to-pose`, then (a new worker added) mid-`spot FOLDER`: each
        job ends on the head node with the single-machine files."""
        from signclip_hf.cluster.runtime import RayConfig
        from signclip_hf.cluster.spot import spot_folder
        from signclip_hf.cluster.video import convert_folder_ray
        from signclip_hf.spotting.spot import SpottingConfig
        from signclip_hf.video import convert_folder

        two_raylets, worker = cluster
        videos, recordings = _videos(tmp_path), _recordings(tmp_path)
        convert_folder(videos, tmp_path / "poses-one")
        queries, config = ["hello", "thank you"], SpottingConfig(windows=(4, 8), stride=2)
        spot_folder(workspace["model"], recordings, tmp_path / "spots-one", queries, config)
        jobs = [
            (convert_folder_ray, (videos, tmp_path / "poses-two", RayConfig(workers=2)), "poses", "**/*.pose", 3),
            (spot_folder, (workspace["model"], recordings, tmp_path / "spots-two", queries, config, RayConfig(workers=2)),
             "spots", "**/*.json", len(RECORDINGS)),
        ]  # fmt: skip
        for run, job, name, pattern, total in jobs:
            if not two_raylets.worker_nodes:  # lost by the job before
                worker = two_raylets.add_node(num_cpus=1)
                two_raylets.wait_for_nodes()
                _wait_for_alive_nodes(2)
            thread, outcome = _run_in_thread(run, *job)
            lose_worker = lambda: two_raylets.remove_node(worker, allow_graceful=False)  # noqa: E731
            try:
                _fault_mid_job(thread, outcome, lambda: _count(tmp_path / f"{name}-two", pattern), total, lose_worker)
            finally:
                thread.join(240)
            assert not thread.is_alive() and "error" not in outcome, outcome
            _wait_for_alive_nodes(1)
            assert _files(tmp_path / f"{name}-two") == _files(tmp_path / f"{name}-one"), name
        assert sorted(_files(tmp_path / "spots-two")) == [*RECORDINGS, "spot_errors.tsv"]
        assert sorted(_files(tmp_path / "poses-two")) == ["a.pose", "b/c.pose", "b/d.pose", "video_errors.tsv"]


def _wait_for_alive_nodes(count: int, timeout: float = 60) -> None:
    """Until the cluster has `count` live nodes (the head marks a killed raylet dead after its heartbeat timeout)."""
    deadline = time.monotonic() + timeout
    while len([n for n in ray.nodes() if n["Alive"]]) != count and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len([n for n in ray.nodes() if n["Alive"]]) == count


def test_base_install_does_not_import_ray():
    """The commands' help and the package work without Ray: nothing imports it unless `--ray` is given."""
    code = (
        "import sys; import signclip_hf, signclip_hf.cluster, signclip_hf.cli as c;"
        "[c.command_parser(n) for n in ('embed', 'video-to-pose', 'build-dataset', 'spot', 'index')];"
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_embed_writes_to_an_fsspec_filesystem(workspace):
    """The embeddings folder may be any fsspec URL (here `memory://`): the same rows as the local folder."""
    from signclip_hf.cluster.embed import EmbedConfig, embed

    config = EmbedConfig(batch_size=4, rows_per_part=4, prompts=True)
    embed(workspace["model"], workspace["dataset"], "memory://signclip-test/embeddings", config)
    _assert_same_embeddings("memory://signclip-test/embeddings", workspace["embeddings"])


def test_spot_folder_writes_to_an_fsspec_filesystem(workspace, tmp_path):
    """The JSON folder of `spot FOLDER` may be any fsspec URL (here `memory://`): the same files as a local
    folder, and a rerun resumes from them."""
    import fsspec

    from signclip_hf.cluster.spot import spot_folder
    from signclip_hf.spotting.spot import SpottingConfig

    recordings = tmp_path / "recordings"
    (recordings / "deep").mkdir(parents=True)
    shutil.copy(GESTURES_DIR / "signer07/hello/000.pose", recordings / "rec0.pose")
    shutil.copy(GESTURES_DIR / "signer12/thank_you/001.pose", recordings / "deep" / "rec1.pose")
    (recordings / "bad.pose").write_bytes(b"not a pose")
    job = (workspace["model"], recordings)
    queries, config = ["hello", "thank you"], SpottingConfig(windows=(4, 8), stride=2)
    local = spot_folder(*job, tmp_path / "local", queries, config)
    fs, folder = fsspec.filesystem("memory"), "/signclip-test/spot"
    if fs.exists(folder):
        fs.rm(folder, recursive=True)
    remote = spot_folder(*job, "memory://signclip-test/spot", queries, config)
    stored = {path[len(folder) + 1 :]: fs.cat_file(path) for path in fs.find(folder)}
    assert sorted(stored) == ["deep/rec1.json", "rec0.json", "spot_errors.tsv"]
    assert stored == _files(tmp_path / "local")
    assert remote.failed == local.failed and len(remote.spotted) == 2 and remote.detections == local.detections
    again = spot_folder(*job, "memory://signclip-test/spot", queries, config)
    assert len(again.existing) == 2 and not again.spotted and again.failed == local.failed
    fs.rm(folder, recursive=True)
