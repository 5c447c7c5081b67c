"""`signclip-hf serve`: the original SignCLIP API (fairseq examples/MMPT `app.py`) over a real uvicorn server.

Servers listen on 127.0.0.1 on an ephemeral port, are started and stopped by the tests, and answer real
clients (`requests`, raw sockets). Models are the tiny real ones of `fixtures.tiny`; clips are the bundled
real `.pose` files (and real sub-clips of them, for different lengths).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
import requests  # noqa: E402
import uvicorn  # noqa: E402
from pose_format import Pose  # noqa: E402
from pose_format.numpy import NumPyPoseBody  # noqa: E402

from signclip_hf.embedding import embed_poses, embed_texts  # noqa: E402
from signclip_hf.sample_data import FORMATS_DIR, GESTURES_DIR, HOUSE_POSE, SAMPLE_DIR, TEST_VIDEO  # noqa: E402
from signclip_hf.serve import ServeConfig, create_app  # noqa: E402

from fixtures.launch import free_port  # noqa: E402
from fixtures.tiny import save_tiny, tiny_model, tiny_processor  # noqa: E402

TOLERANCE = 1e-5
HEADERS = {"Content-Type": "application/json"}
PROMPTS = ["<en> <ase> house", "<en> <gsg> house", "<en> <ase> sun", "random text", "<de> <gsg> Haus", "hello"]


def subclip(path: Path, frames: int) -> bytes:
    """The first `frames` frames of a real clip, as `.pose` bytes."""
    pose = Pose.read(path.read_bytes())
    body = NumPyPoseBody(pose.body.fps, pose.body.data[:frames], pose.body.confidence[:frames])
    buffer = io.BytesIO()
    Pose(pose.header, body).write(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clips() -> list[bytes]:
    """Real clips of 30, 73 and 123 frames and real sub-clips of 17, 50 and 90 frames (holistic, two layouts)."""
    gesture = sorted(GESTURES_DIR.rglob("*.pose"))[0]
    dgs = SAMPLE_DIR / "signs" / "dgs-HOUSE1A.pose"
    return [gesture.read_bytes(), HOUSE_POSE.read_bytes(), dgs.read_bytes(),
            subclip(HOUSE_POSE, 17), subclip(HOUSE_POSE, 50), subclip(dgs, 90)]  # fmt: skip


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@contextlib.contextmanager
def running(app, **uvicorn_options):
    """Serve `app` with uvicorn on 127.0.0.1 (ephemeral port) in a thread; yields its URL; stops it after."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **uvicorn_options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


@pytest.fixture(scope="module")
def models():
    """Two real tiny models: "default" (dot score) and "cosine" (another seed, projected, cosine score)."""
    return {
        "default": (tiny_model(seed=0), tiny_processor()),
        "cosine": (tiny_model(seed=1, score_type="cosine", projection_dim=16), tiny_processor()),
    }


@pytest.fixture(scope="module")
def server(models):
    config = ServeConfig(max_wait_ms=10, max_clips=8, max_texts=16, max_text_chars=200, max_frames=200,
                         max_request_bytes=8 * 1024 * 1024, api_key=None, video_cache_dir=None)  # fmt: skip
    with running(create_app(models, config)) as url:
        yield url


def test_a_client_of_the_original_api_gets_the_python_api_embeddings(server, models, clips):
    """Called as the original README / Colab / client_example.py call it: GET, a JSON body, `requests`."""
    model, processor = models["default"]
    payload = json.dumps({"pose": [b64(clip) for clip in clips[:3]]})
    response = requests.request("GET", f"{server}/api/embed/pose", headers=HEADERS, data=payload, timeout=60)
    assert response.status_code == 200, response.text
    embeddings = np.asarray(response.json()["embeddings"])
    assert embeddings.shape == (3, model.config.embed_dim)  # a list of lists, one per clip
    np.testing.assert_allclose(embeddings, embed_poses(model, processor, clips[:3]), atol=TOLERANCE, rtol=0)

    # base64 with line breaks (`base64.encodebytes`), as the original's decoder takes it
    lines = {"pose": [base64.encodebytes(clip).decode("ascii") for clip in clips[:3]]}
    wrapped = requests.request("GET", f"{server}/api/embed/pose", headers=HEADERS, data=json.dumps(lines), timeout=60)
    np.testing.assert_allclose(wrapped.json()["embeddings"], embeddings, atol=0, rtol=0)

    # one string (not a list) is one item, as the original wraps it; POST answers the same
    single = requests.post(f"{server}/api/embed/pose", json={"pose": b64(clips[1])}, timeout=60).json()["embeddings"]
    np.testing.assert_allclose(single, embed_poses(model, processor, [clips[1]]), atol=TOLERANCE, rtol=0)

    response = requests.request("GET", f"{server}/api/embed/text", headers=HEADERS,
                                data=json.dumps({"text": "In Baar gibt es eine Höhle."}), timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(
        response.json()["embeddings"], embed_texts(model, processor, ["In Baar gibt es eine Höhle."]), atol=TOLERANCE
    )
    texts = requests.get(f"{server}/api/embed/text", json={"text": PROMPTS}, timeout=60).json()["embeddings"]
    np.testing.assert_allclose(texts, embed_texts(model, processor, PROMPTS), atol=TOLERANCE, rtol=0)


def test_model_name_picks_the_model_and_score_is_the_models_score(server, models, clips):
    import torch

    model, processor = models["cosine"]
    body = {"pose": [b64(clips[0]), b64(clips[2])], "model_name": "cosine"}
    poses = np.asarray(requests.post(f"{server}/api/embed/pose", json=body, timeout=60).json()["embeddings"])
    np.testing.assert_allclose(poses, embed_poses(model, processor, [clips[0], clips[2]]), atol=TOLERANCE, rtol=0)
    assert poses.shape == (2, 16)
    # "default" names the first model, as in the original's requests
    body = {"pose": b64(clips[0]), "model_name": "default"}
    default = requests.post(f"{server}/api/embed/pose", json=body, timeout=60)
    assert np.asarray(default.json()["embeddings"]).shape == (1, models["default"][0].config.embed_dim)

    body = {"pose": [b64(clips[0]), b64(clips[2])], "text": PROMPTS[:3], "model_name": "cosine"}
    scores = np.asarray(requests.post(f"{server}/api/score", json=body, timeout=60).json()["scores"])
    with torch.no_grad():
        expected = model.score(
            torch.from_numpy(embed_poses(model, processor, [clips[0], clips[2]])),
            torch.from_numpy(embed_texts(model, processor, PROMPTS[:3])),
        ).numpy()
    assert scores.shape == (2, 3)
    np.testing.assert_allclose(scores, expected, atol=1e-4, rtol=1e-5)  # cosine: times exp(logit_scale)


@pytest.mark.parametrize("batching", [True, False])
def test_batched_equals_one_at_a_time_under_concurrency(models, clips, batching):
    """Requests of 1, 2 and 3 clips of different lengths, 24 at once: every answer equals the clip alone."""
    model, processor = models["default"]
    singles = np.concatenate([embed_poses(model, processor, [clip], batch_size=1) for clip in clips])
    text_singles = np.concatenate([embed_texts(model, processor, [prompt], batch_size=1) for prompt in PROMPTS])
    plans = [[(start + offset) % len(clips) for offset in range(size)] for start in range(8) for size in (1, 2, 3)]
    config = ServeConfig(max_wait_ms=10, batching=batching, max_batch_clips=8, api_key=None)
    app = create_app({"default": (model, processor)}, config)
    with running(app) as url:

        def ask(plan: list[int]):
            session = requests.Session()
            poses = session.post(f"{url}/api/embed/pose", json={"pose": [b64(clips[i]) for i in plan]}, timeout=120)
            texts = session.post(f"{url}/api/embed/text", json={"text": [PROMPTS[i] for i in plan]}, timeout=120)
            return plan, poses, texts

        with ThreadPoolExecutor(len(plans)) as pool:
            answers = list(pool.map(ask, plans))
        stats = requests.get(f"{url}/health", timeout=30).json()["batching"]
    for plan, poses, texts in answers:
        assert poses.status_code == 200 and texts.status_code == 200, (poses.text, texts.text)
        np.testing.assert_allclose(poses.json()["embeddings"], singles[plan], atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(texts.json()["embeddings"], text_singles[plan], atol=TOLERANCE, rtol=0)
    pose_stats = stats["default/pose"]
    assert pose_stats["requests"] == len(plans) and pose_stats["rows"] == sum(map(len, plans))
    if batching:  # concurrent requests did share forward passes (8 clips at most per pass)
        assert pose_stats["forward_passes"] < len(plans) and 3 < pose_stats["largest_batch"] <= 8
    else:
        assert pose_stats["forward_passes"] == len(plans) and pose_stats["largest_batch"] == 3


def _damaged_pose(clip: bytes) -> bytes:
    return clip[: len(clip) // 2]


def _no_shoulders() -> bytes:
    pose = Pose.read(HOUSE_POSE.read_bytes())
    confidence = np.array(pose.body.confidence)
    confidence[:] = 0
    buffer = io.BytesIO()
    Pose(pose.header, NumPyPoseBody(pose.body.fps, np.array(pose.body.data), confidence)).write(buffer)
    return buffer.getvalue()


def _bad_requests(clips: list[bytes]) -> list[tuple[str, bytes, int, str]]:
    good = b64(clips[0])
    return [
        ("pose", b"", 400, "no body"),
        ("pose", b"{not json", 400, "not valid JSON"),
        ("text", b'{"text": ["\xc3\x28 not UTF-8"]}', 400, "not UTF-8"),
        ("pose", b'["a list"]', 400, "must be a JSON object"),
        ("pose", b"{}", 400, 'no "pose"'),
        ("pose", b'{"pose": []}', 400, "empty list"),
        ("pose", b'{"pose": 3}', 400, "got a JSON number"),
        ("pose", b'{"pose": NaN}', 400, "got a JSON number"),
        ("pose", b'{"pose": [null]}', 400, '"pose"[0] must be a string'),
        ("pose", b'{"pose": ["not base64 !!"]}', 400, "not valid base64"),
        ("pose", b'{"pose": ["\\u00e9t\\u00e9"]}', 400, "not valid base64"),
        ("pose", json.dumps({"pose": [good, b64(b"hello world")]}).encode(), 400, '"pose"[1]: not a readable .pose'),
        ("pose", json.dumps({"pose": [b64(_damaged_pose(clips[1]))]}).encode(), 400, "truncated"),
        ("pose", json.dumps({"pose": [b64((FORMATS_DIR / "openpose.pose").read_bytes())]}).encode(), 400, "layout"),
        ("pose", json.dumps({"pose": [b64(_no_shoulders())]}).encode(), 400, "shoulders"),
        ("pose", json.dumps({"pose": [b64(TEST_VIDEO.read_bytes()[:4096])]}).encode(), 400, "is a video"),
        ("pose", json.dumps({"pose": [good] * 9}).encode(), 413, "at most 8"),
        ("pose", json.dumps({"pose": [good], "model_name": "asl_citizen"}).encode(), 404, "unknown model_name"),
        ("pose", json.dumps({"pose": [good], "model_name": 7}).encode(), 400, '"model_name" must be a string'),
        ("text", b'{"text": [1, 2]}', 400, '"text"[0] must be a string'),
        ("text", b'{"text": {"a": 1}}', 400, "got a JSON object"),
        ("text", b'{"text": ["<en> <asl> house"]}', 400, "unknown sign language tag <asl>"),
        ("text", b'{"text": ["<xx> <ase> house"]}', 400, "unknown spoken language tag <xx>"),
        ("text", b'{"text": ["ok", "\\ud800 lone"]}', 400, '"text"[1] is not valid Unicode'),
        ("text", json.dumps({"text": ["x" * 201]}).encode(), 413, "at most 200"),
        ("text", json.dumps({"text": ["a"] * 17}).encode(), 413, "at most 16"),
        ("nonsense", b'{"text": ["a"]}', 404, "unknown modality"),
        ("video", b'{"video": ["aGVsbG8gd29ybGQ="]}', 400, "not a video"),
        ("video", b'{"video": 1}', 400, "got a JSON number"),
    ]


def test_every_bad_request_is_a_one_line_4xx_and_the_server_keeps_serving(server, clips):
    with requests.Session() as session:
        for modality, body, status, words in _bad_requests(clips):
            response = session.request("GET", f"{server}/api/embed/{modality}", data=body, headers=HEADERS, timeout=60)
            assert response.status_code == status, (modality, body[:80], response.status_code, response.text[:300])
            detail = response.json()["detail"]
            assert words in detail and "\n" not in detail and "Traceback" not in detail, (body[:80], detail)
            assert session.get(f"{server}/health", timeout=30).status_code == 200
        frames = json.dumps({"pose": [b64((SAMPLE_DIR / "signs" / "dgs-HOUSE1A.pose").read_bytes())]})
        within = session.post(f"{server}/api/embed/pose", data=frames, headers=HEADERS, timeout=60)
        assert within.status_code == 200  # 123 frames: within the limit of 200
        ok = session.post(f"{server}/api/embed/pose", json={"pose": b64(clips[0])}, timeout=60)
        assert ok.status_code == 200 and np.isfinite(ok.json()["embeddings"]).all()
        assert session.post(f"{server}/api/score", json={"pose": b64(clips[0])}, timeout=60).status_code == 400
        assert "openapi" in session.get(f"{server}/openapi.json", timeout=30).json()


def test_a_body_over_the_size_limit_is_413_by_its_length_or_as_it_streams(server):
    port = int(server.rsplit(":", 1)[1])
    request = b"POST /api/embed/pose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:  # declared: refused before reading it
        raw.sendall(request + b"Content-Length: %d\r\n\r\n" % (9 * 1024 * 1024))
        status, answer = _read_response(raw)
    assert status == 413 and "larger than the limit of 8,388,608 bytes" in json.loads(answer)["detail"]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:  # chunked, no length: cut off
        raw.sendall(request + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"A" * (1024 * 1024)
        with contextlib.suppress(OSError):  # the server may close the connection once it has answered
            for _ in range(9):
                raw.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        status, answer = _read_response(raw)
    assert status == 413 and "larger than the limit" in json.loads(answer)["detail"]
    assert requests.get(f"{server}/health", timeout=30).status_code == 200


def test_too_many_frames_is_refused(models, clips):
    app = create_app({"default": models["default"]}, ServeConfig(max_frames=100, api_key=None))
    with running(app) as url:
        response = requests.post(f"{url}/api/embed/pose", json={"pose": [b64(clips[0]), b64(clips[2])]}, timeout=60)
        assert response.status_code == 413 and '"pose"[1]: 123 frames; at most 100' in response.json()["detail"]


def test_api_key_and_cors(models, clips):
    config = ServeConfig(api_key="s3cret", cors_origins=("https://example.org",))
    with running(create_app({"default": models["default"]}, config)) as url:
        body = {"text": ["<en> <ase> house"]}
        assert requests.post(f"{url}/api/embed/text", json=body, timeout=30).status_code == 401
        wrong = requests.post(f"{url}/api/embed/text", json=body, headers={"X-API-Key": "nope"}, timeout=30)
        assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong API key"
        for header in ({"X-API-Key": "s3cret"}, {"Authorization": "Bearer s3cret"}):
            assert requests.post(f"{url}/api/embed/text", json=body, headers=header, timeout=30).status_code == 200
        assert requests.get(f"{url}/health", timeout=30).status_code == 200  # liveness stays open
        preflight = requests.options(
            f"{url}/api/embed/text", timeout=30,
            headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"},
        )  # fmt: skip
        assert preflight.headers.get("access-control-allow-origin") == "https://example.org"
        other = requests.options(
            f"{url}/api/embed/text", timeout=30,
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )  # fmt: skip
        assert "access-control-allow-origin" not in other.headers


def test_a_client_that_disconnects_mid_request_does_not_hurt_the_others(server, clips):
    port = int(server.rsplit(":", 1)[1])
    body = json.dumps({"pose": [b64(clips[1])]}).encode()
    for cut in (10, len(body) // 2, len(body)):  # inside the body, and after it (before the answer)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"GET /api/embed/pose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body[:cut])  # fmt: skip
    ok = requests.post(f"{server}/api/embed/pose", json={"pose": b64(clips[0])}, timeout=60)
    assert ok.status_code == 200


def test_a_short_load_test_has_no_errors(server, models, clips):
    """16 clients for 3 s, one clip per request (real clips of different lengths), against the expected answers."""
    model, processor = models["default"]
    expected = embed_poses(model, processor, clips, batch_size=1)
    bodies = [json.dumps({"pose": [b64(clip)]}) for clip in clips]
    stop = time.monotonic() + 3.0
    latencies, failures = [], []

    def client(index: int):
        with requests.Session() as session:
            count = 0
            while time.monotonic() < stop:
                which = (index + count) % len(clips)
                started = time.perf_counter()
                response = session.post(f"{server}/api/embed/pose", data=bodies[which], headers=HEADERS, timeout=60)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures.append(response.text)
                elif not np.allclose(response.json()["embeddings"], expected[which : which + 1], atol=TOLERANCE):
                    failures.append(f"wrong embedding for clip {which}")
                count += 1

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(client, range(16)))
    assert not failures, failures[:3]
    assert len(latencies) >= 16
    print(f"load: {len(latencies) / 3.0:.1f} requests/s, p99 {np.percentile(latencies, 99) * 1000:.0f} ms")


@pytest.mark.slow
def test_video_upload_is_embedded_as_its_extracted_pose(models, tmp_path):
    pytest.importorskip("mediapipe")
    from signclip_hf.modeling.video_signclip import VideoConfig, cached_pose_path

    model, processor = models["default"]
    config = ServeConfig(video_cache_dir=str(tmp_path / "poses"), api_key=None)
    with running(create_app({"default": (model, processor)}, config)) as url:
        with TEST_VIDEO.open("rb") as video:
            files = {"video": ("test.mp4", video, "video/mp4")}
            upload = requests.post(f"{url}/api/embed/video", files=files, timeout=300)
        assert upload.status_code == 200, upload.text
        as_json = requests.post(f"{url}/api/embed/video", json={"video": [b64(TEST_VIDEO.read_bytes())]}, timeout=300)
        assert as_json.status_code == 200, as_json.text
    pose = cached_pose_path(TEST_VIDEO, VideoConfig(cache_dir=str(tmp_path / "poses")))  # the server's extraction
    expected = embed_poses(model, processor, [pose])
    np.testing.assert_allclose(upload.json()["embeddings"], expected, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(as_json.json()["embeddings"], expected, atol=TOLERANCE, rtol=0)


def _read_response(raw: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = raw.recv(65536)
        assert chunk, "the server closed the connection without an answer"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = int(next(line.split(b":")[1] for line in lines if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        chunk = raw.recv(65536)
        assert chunk, "the server closed the connection before its answer was complete"
        rest += chunk
    return int(head.split()[1]), rest


@pytest.mark.slow
def test_sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_cleanly(tmp_path, clips):
    model_dir = save_tiny(tmp_path / "model", seed=0)
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    environment = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", SIGNCLIP_API_KEY="")
    process = subprocess.Popen(
        [sys.executable, "-m", "signclip_hf.cli", "serve", str(model_dir), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=environment,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            time.sleep(0.2)
        body = json.dumps({"pose": [b64(clips[1]), b64(clips[0])]}).encode()
        in_flight = socket.create_connection(("127.0.0.1", port), timeout=30)
        in_flight.sendall(b"GET /api/embed/pose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body[:1000])  # fmt: skip
        time.sleep(0.3)  # the server has the request's headers: it is in flight
        process.send_signal(signal.SIGTERM)
        refused, deadline = False, time.monotonic() + 15
        while not refused and time.monotonic() < deadline:  # new connections are refused once it stops listening
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                time.sleep(0.05)
            except ConnectionRefusedError:
                refused = True
        assert refused, "the server kept accepting connections after SIGTERM"
        in_flight.sendall(body[1000:])
        status, answer = _read_response(in_flight)
        in_flight.close()
        assert status == 200, answer[:300]
        model, processor = tiny_model(seed=0), tiny_processor()
        np.testing.assert_allclose(
            json.loads(answer)["embeddings"], embed_poses(model, processor, [clips[1], clips[0]]), atol=TOLERANCE
        )
        assert process.wait(timeout=60) == 0, (tmp_path / "server.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_the_example_client_talks_to_the_server(server, models, monkeypatch, capsys):
    import runpy

    example = Path(__file__).resolve().parents[1] / "examples" / "serve_client.py"
    monkeypatch.setattr(sys, "argv", [str(example), "--url", server, "--text", "<en> <ase> house", "--text", "sun"])
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    dim = models["default"][0].config.embed_dim
    assert f"pose embeddings: (1, {dim}) text embeddings: (2, {dim})" in out
    assert "house.pose {'<en> <ase> house': " in out
