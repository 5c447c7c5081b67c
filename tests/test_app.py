"""The SignCLIP app (`signclip_hf/space/app.py`): `signclip-hf app` served on 127.0.0.1 and queried with
gradio_client and a real headless Chromium; the Hub Space pushed to the loopback Hub and run from a fresh
folder where signclip_hf cannot be imported. No mocks: a tiny real model, real `.pose` files, real servers."""

from __future__ import annotations

import ast
import csv
import os
import re
import shutil
import sys
from pathlib import Path

import gradio
import numpy as np
import pytest
import torch
import yaml
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from huggingface_hub import HfApi, ModelCard, snapshot_download
from PIL import Image
from signclip_hf.modeling import KEYPOINT_LAYOUTS, SignCLIPForVideoClassification, format_prompt
from transformers import AutoModel, AutoProcessor, pipeline

from signclip_hf.cli import main as cli_main
from signclip_hf.data.build import build_dataset, load_saved
from signclip_hf.pipeline import save_for_pipeline
from signclip_hf.sample_data import FORMATS_DIR, GESTURES_DIR, HOUSE_POSE, SAMPLE_DIR, TEST_VIDEO
from signclip_hf.space.app import AppLimits, GalleryIndex, SignCLIPApp, build_demo
from signclip_hf.space.stage import REQUIREMENTS

from fixtures.app_server import serve
from fixtures.isolation import python_without_signclip_hf
from fixtures.launch import free_port
from fixtures.tiny import tiny_config, tiny_model, tiny_processor

CANDIDATES = ["house", "sun", "tree", "hello"]
DGS_HOUSE = SAMPLE_DIR / "signs" / "dgs-HOUSE1A.pose"  # 1.15 MB: over the 1 MB limit the served app gets


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_for_pipeline(tiny_model(seed=3), tiny_processor(), tmp_path_factory.mktemp("app") / "model")


@pytest.fixture(scope="module")
def gallery_dir(tmp_path_factory):
    """Nine real gesture clips (3 glosses x 3 signers/takes) built by build-dataset."""
    folder = tmp_path_factory.mktemp("gallery")
    with open(GESTURES_DIR / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    chosen = [
        r for label in ("hello", "thank you", "see you later") for r in [r for r in rows if r["label"] == label][:3]
    ]
    with open(folder / "metadata.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    build_dataset(GESTURES_DIR, folder / "metadata.csv", folder / "dataset")
    return folder / "dataset"


@pytest.fixture(scope="module")
def served_app(model_dir, gallery_dir, tmp_path_factory):
    """`signclip-hf app MODEL --gallery DATASET` on 127.0.0.1 (1 MB upload limit); yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "signclip_hf.cli", "app", str(model_dir), "--gallery", str(gallery_dir),
               "--port", str(port), "--max-upload-mb", "1"]  # fmt: skip
    env = dict(os.environ, SIGNCLIP_HF_POSE_CACHE=str(tmp_path_factory.mktemp("pose-cache")), HF_HUB_OFFLINE="1")
    with serve(command, url, env=env):
        yield url


@pytest.fixture(scope="module")
def client(served_app):
    return Client(served_app, verbose=False)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.txt").write_text("not a pose")
    (folder / "empty.pose").write_bytes(b"")
    (folder / "broken.pose").write_bytes(HOUSE_POSE.read_bytes()[:5000])
    (folder / "text.mp4").write_text("this is no video")
    return folder


def reference_ranking(model_dir, pose, labels, spoken="en", sign="ase") -> dict[str, float]:
    ranked = pipeline(model=str(model_dir), trust_remote_code=True)(
        str(pose), candidate_labels=labels, spoken_language=spoken, sign_language=sign
    )
    return {item["label"]: item["score"] for item in ranked}


def recognize(client, pose, candidates: str = "house, sun, tree, hello", spoken="en", sign="ase"):
    return client.predict(handle_file(str(pose)), None, candidates, spoken, sign, api_name="/recognize")


def package_message(action) -> str:
    """The message of the package's own exception for the same input."""
    with pytest.raises((ValueError, OSError)) as raised:
        action()
    return str(raised.value)


def assert_house_result(result, model_dir) -> None:
    animation, ranked = result
    expected = reference_ranking(model_dir, HOUSE_POSE, CANDIDATES)
    got = {item["label"]: item["confidence"] for item in ranked["confidences"]}
    assert list(got) == list(expected)  # same order, best first
    np.testing.assert_allclose(list(got.values()), list(expected.values()), atol=1e-6)
    assert ranked["label"] == next(iter(expected))
    with Image.open(animation) as gif:  # the skeleton animation: every frame of the 73-frame clip
        assert gif.format == "GIF" and gif.n_frames == 73


@pytest.mark.slow
def test_recognize_tab_ranks_like_the_pipeline(client, model_dir):
    assert_house_result(recognize(client, HOUSE_POSE), model_dir)


@pytest.mark.slow
def test_recognize_tab_reads_a_video(client, model_dir):
    animation, ranked = recognize(client, TEST_VIDEO)
    expected = reference_ranking(model_dir, TEST_VIDEO, CANDIDATES)
    assert [item["label"] for item in ranked["confidences"]] == list(expected)
    np.testing.assert_allclose(
        [item["confidence"] for item in ranked["confidences"]], list(expected.values()), atol=1e-6
    )
    with Image.open(animation) as gif:  # the skeleton drawn over the video's 58 frames
        assert gif.format == "GIF" and gif.n_frames == 58


@pytest.mark.slow
def test_bad_inputs_show_the_package_message_and_the_app_keeps_serving(client, model_dir, bad_files):
    from signclip_hf.modeling.video_signclip import VideoConfig, as_pose_source

    extractor = tiny_processor().feature_extractor
    openpose = FORMATS_DIR / "openpose.pose"
    cases = [
        (bad_files / "notes.txt", {}, "notes.txt: not a .pose file or a video"),
        (bad_files / "empty.pose", {}, package_message(lambda: extractor.extract(bad_files / "empty.pose", "empty.pose"))),
        (bad_files / "broken.pose", {}, package_message(lambda: extractor.extract(bad_files / "broken.pose", "broken.pose"))),
        (openpose, {}, package_message(lambda: extractor.extract(openpose, "openpose.pose"))),
        (bad_files / "text.mp4", {}, package_message(
            lambda: as_pose_source(str(bad_files / "text.mp4"), "text.mp4", VideoConfig(cache_dir=None)))),
        (DGS_HOUSE, {}, "dgs-HOUSE1A.pose: the file is 1.1 MB; this app accepts files up to 1 MB"),
        (HOUSE_POSE, {"sign": "asl"}, package_message(lambda: format_prompt("house", "en", "asl"))),
        (HOUSE_POSE, {"spoken": "english"}, package_message(lambda: format_prompt("house", "english", "ase"))),
        (HOUSE_POSE, {"candidates": " , "}, "type at least one candidate gloss"),
    ]  # fmt: skip
    for pose, options, message in cases:
        with pytest.raises(AppError) as raised:
            recognize(client, pose, **options)
        assert message in str(raised.value), (pose.name, options)
        assert "Traceback" not in str(raised.value)
    assert_house_result(recognize(client, HOUSE_POSE), model_dir)  # still serving, same answer


def reference_search(model_dir, gallery_dir, text: str, k: int) -> list[tuple[str, float]]:
    """The top-k gallery clips for `text`, computed with the package's own model and features."""
    model, processor = AutoModel.from_pretrained(model_dir).eval(), AutoProcessor.from_pretrained(model_dir)
    rows = load_saved(gallery_dir).with_format("numpy")
    with torch.no_grad():
        text_embeds = model.get_text_features(**processor(text=[format_prompt(text)], return_tensors="pt")).pooler_output
        scores = []
        for row in rows:
            features = processor.feature_extractor.features_from_keypoints(row["pose"], row["confidence"])
            inputs = processor.feature_extractor.pad([features], return_tensors="pt")
            scores.append(model.score(model.get_pose_features(**inputs).pooler_output, text_embeds).item())
    order = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return [(str(rows[int(i)]["label"]), scores[int(i)]) for i in order]


@pytest.mark.slow
def test_search_tab_finds_the_reference_clips(client, model_dir, gallery_dir):
    results = client.predict("hello", "en", "ase", 3, api_name="/search")
    captions = [item["caption"] for item in results]
    expected = reference_search(model_dir, gallery_dir, "hello", 3)
    assert captions == [f"{label} · score {score:.2f}" for label, score in expected]
    for item in results:
        with Image.open(item["image"]) as gif:
            assert gif.format == "GIF" and gif.n_frames >= 20  # gesture clips are 20-30 frames
    with pytest.raises(AppError, match="unknown sign language tag <xyz>"):
        client.predict("hello", "en", "xyz", 3, api_name="/search")
    with pytest.raises(AppError, match="Type a word"):
        client.predict("  ", "en", "ase", 3, api_name="/search")
    assert [item["caption"] for item in client.predict("hello", "en", "ase", 3, api_name="/search")] == captions


def test_gallery_embeddings_do_not_depend_on_the_batch_size(gallery_dir):
    model, processor = tiny_model(seed=3), tiny_processor()
    layout = KEYPOINT_LAYOUTS["holistic"]
    embeds = [
        GalleryIndex(str(gallery_dir), model, processor, layout, AppLimits(batch_size=size)).pose_embeds
        for size in (1, 2, 3)
    ]
    assert embeds[0].shape == (9, model.config.pose_config.hidden_size)
    torch.testing.assert_close(embeds[1], embeds[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(embeds[2], embeds[0], atol=1e-5, rtol=1e-5)
    gallery = GalleryIndex(str(gallery_dir), model, processor, layout, AppLimits())
    pose = gallery.pose(0)  # a stored row back as a pose-format Pose, for rendering
    assert [c.name for c in pose.header.components] == [name for name, _ in layout.components]
    row = load_saved(gallery_dir).with_format("numpy")[0]
    shown = pose.body.confidence[:, 0] > 0
    np.testing.assert_array_equal(shown, (row["confidence"] > 0) & layout.kept_points)  # legs hidden
    offset = row["pose"][shown] - np.asarray(pose.body.data.data)[:, 0][shown]  # the frame is cropped, not scaled
    np.testing.assert_allclose(offset, np.broadcast_to(offset[0], offset.shape), atol=1e-3)
    assert offset[0, 2] == 0


def test_a_fine_tuned_classifier_ranks_its_own_labels(tmp_path):
    labels = ["hello", "thank you", "house"]
    config = tiny_config(id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    torch.manual_seed(4)
    directory = save_for_pipeline(SignCLIPForVideoClassification(config).eval(), tiny_processor(), tmp_path / "islr")
    demo = build_demo(str(directory))
    app: SignCLIPApp = demo.signclip
    assert not app.zero_shot and app.labels == labels and app.gallery is None
    _, ranked = app.recognize(str(HOUSE_POSE), None, "", "en", "ase")  # candidates are ignored
    expected = pipeline(model=str(directory), trust_remote_code=True)(str(HOUSE_POSE), top_k=3)
    assert list(ranked) == [item["label"] for item in expected]
    np.testing.assert_allclose(list(ranked.values()), [item["score"] for item in expected], atol=1e-6)


# --- a real browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    from fixtures.web_page import chromium, require_chromium

    require_chromium()

    with chromium(window_size="1280,1200") as driver:
        yield driver


def save_screenshot(driver, tmp_path, name: str) -> Path:
    """Full-page PNG in the test's tmp dir, and in $SIGNCLIP_HF_ARTIFACTS when set."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, height + 40))
    path = tmp_path / name
    driver.save_screenshot(str(path))
    artifacts = os.environ.get("SIGNCLIP_HF_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / name)
    return path


@pytest.mark.slow
def test_browser_recognizes_house_pose(browser, served_app, model_dir, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served_app)
    wait = WebDriverWait(browser, 300)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#recognize"))
    assert "SignCLIP" in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(HOUSE_POSE))
    # uploaded: the file component lists it (its name and extension may be separate elements)
    wait.until(lambda d: "house.pose" in d.find_element(By.CSS_SELECTOR, "#upload").text.replace("\n", ""))
    browser.find_element(By.CSS_SELECTOR, "textarea").send_keys(", ".join(CANDIDATES))
    browser.find_element(By.CSS_SELECTOR, "#recognize").click()
    wait.until(lambda d: len(re.findall(r"\d+%", d.find_element(By.CSS_SELECTOR, "#ranked").text)) == len(CANDIDATES))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#skeleton img"))
    shown = browser.find_element(By.CSS_SELECTOR, "#ranked").text.split("\n")
    expected = reference_ranking(model_dir, HOUSE_POSE, CANDIDATES)
    ranked = [line for line in shown if line in CANDIDATES][1:]  # the first line repeats the top label
    assert ranked == list(expected)
    assert [int(p.rstrip("%")) for p in re.findall(r"\d+%", "\n".join(shown))] == [
        round(100 * s) for s in expected.values()
    ]
    assert save_screenshot(browser, tmp_path, "app-recognize.png").stat().st_size > 10_000


@pytest.mark.slow
def test_browser_finds_signs_for_a_text(browser, served_app, model_dir, gallery_dir, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served_app)
    wait = WebDriverWait(browser, 300)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#recognize"))
    next(b for b in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if "Find signs" in b.text).click()
    query = wait.until(
        lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "#query textarea, #query input") if e.is_displayed()]
    )
    query[0].send_keys("hello")
    browser.find_element(By.CSS_SELECTOR, "#search").click()
    expected = [f"{label} · score {score:.2f}" for label, score in reference_search(model_dir, gallery_dir, "hello", 6)]
    wait.until(lambda d: expected[0] in d.find_element(By.CSS_SELECTOR, "#results").text)
    shown = browser.find_element(By.CSS_SELECTOR, "#results").text
    assert [caption for caption in expected if caption in shown] == expected
    save_screenshot(browser, tmp_path, "app-search.png")


# --- the Space on the (loopback) Hub ----------------------------------------------------------------------


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    return {name.split(".")[0] for name in names if name}


@pytest.mark.slow
def test_space_pushed_to_the_hub_runs_without_signclip_hf(hub_env, model_dir, tmp_path):
    repo, space = hub_env.new_repo_id("signclip-app-model"), hub_env.new_repo_id("signclip-app")
    push = ["push", str(model_dir), repo, "--space", space]
    assert cli_main(push) == 0
    api = HfApi()
    heads = api.model_info(repo).sha, api.space_info(space).sha
    assert cli_main(push) == 0  # unchanged: no new commit, neither for the model nor for the Space
    assert (api.model_info(repo).sha, api.space_info(space).sha) == heads
    assert len(api.list_repo_commits(space, repo_type="space")) == 2  # the repo's creation + the app
    assert f"https://huggingface.co/spaces/{space}" in ModelCard.load(repo).text

    folder = Path(snapshot_download(space, repo_type="space", local_dir=tmp_path / "space"))
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts}
    assert {"app.py", "render.py", "handler.py", "requirements.txt", "README.md", "examples/house.pose"} <= files
    meta = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert (meta["sdk"], meta["sdk_version"], meta["app_file"], meta["models"]) == (
        "gradio",
        gradio.__version__,
        "app.py",
        [repo],
    )
    requirements = (folder / "requirements.txt").read_text()
    packages = [line.split("==")[0] for line in requirements.splitlines() if line and not line.startswith("#")]
    assert not [name for name in packages if "signclip" in name] and f"gradio=={gradio.__version__}" in requirements
    assert re.search(r"^torch==\d+\.\d+\.\d+$", requirements, re.MULTILINE) and re.search(
        r"^transformers==\S+$", requirements, re.MULTILINE
    )
    # everything app.py and render.py import is the standard library, a sibling, or a listed requirement
    import_names = {"pose-format": "pose_format", "pyyaml": "yaml", "opencv-python-headless": "cv2", "pillow": "PIL"}
    siblings = {"render", "handler"}
    provided = {import_names.get(name, name) for name in REQUIREMENTS} | siblings | set(sys.stdlib_module_names)
    assert set().union(*(imported_modules(folder / f"{name}.py") for name in ["app", *siblings])) <= provided

    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               HF_MODULES_CACHE=str(tmp_path / "modules"), SIGNCLIP_HF_POSE_CACHE="off")  # fmt: skip
    run_app = python_without_signclip_hf("import runpy; runpy.run_path('app.py', run_name='__main__')")
    with serve(run_app, f"http://127.0.0.1:{port}/", cwd=folder, env=env):
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert_house_result(recognize(client, HOUSE_POSE), model_dir)
        with pytest.raises(AppError, match=re.escape(package_message(lambda: format_prompt("x", "en", "asl")))):
            recognize(client, HOUSE_POSE, sign="asl")
