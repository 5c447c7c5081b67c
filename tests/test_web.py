"""The SignCLIP web page (`signclip-hf web`, signclip_hf/web/): a trained tiny model exported by `export_model`,
the site written by the real CLI, served from a loopback http.server and driven in a real headless Chromium. The
page's JavaScript features equal the Python feature extractor's on real bundled clips, its onnxruntime-web scores
and rankings equal PyTorch's, and damaged or non-holistic files show the package's own message. No mocks."""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from signclip_hf.modeling import InvalidPoseError, SignCLIPFeatureExtractor, format_prompt

from signclip_hf.cli import main as cli_main
from signclip_hf.sample_data import FORMATS_DIR, GESTURES_DIR, HOUSE_POSE, SAMPLE_DIR
from signclip_hf.web import site as web_site

from fixtures.web_page import call, chromium, require_chromium, serve_site

DGS_HOUSE = SAMPLE_DIR / "signs" / "dgs-HOUSE1A.pose"  # pose-format v0.1, 123 frames, 468 face points
SHOULDER_GAPS = GESTURES_DIR / "signer07" / "hello" / "030.pose"  # frames where a shoulder is unseen
GLOSSES = ["hello", "thank you", "see you later", "i love you", "house"]
NON_HOLISTIC = [
    "openpose.pose",
    "mediapipe_hand_normalized.pose",
    "reduced-holistic-178-sentence.pose",
    "mmposewholebody-SOUP.pose",
]


def real_clips() -> list[Path]:
    """Real clips of every kind the page must read: v0.2 and v0.1, 128 and 468 face points, 20 to 123 frames."""
    with open(GESTURES_DIR / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    gestures = [GESTURES_DIR / row["file"] for row in rows[::17]]  # both signers, all glosses
    return [HOUSE_POSE, DGS_HOUSE, SHOULDER_GAPS, *gestures]


# --- the exported model and the site ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runtime():
    """onnxruntime-web (package.json's version) in signclip_hf/web/node_modules (not committed), installed with npm
    when it is not there yet."""
    if shutil.which("npm") is None and not any(
        web_site.runtime_dist(p / "node_modules") for p in web_site.default_runtime_prefixes()
    ):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must run the web page tests: install Node.js (npm)")
        pytest.skip("npm is not installed: the web page needs it to install onnxruntime-web")
    return web_site.ensure_runtime().parent.parent  # the node_modules folder


@pytest.fixture(scope="module")
def exported(gloss_model, tmp_path_factory):
    """The trained tiny cosine-score model (conftest `gloss_model`) exported with a vocabulary of the gestures' glosses."""
    from signclip_hf.export import ExportConfig, export_model

    folder = tmp_path_factory.mktemp("web-export")
    (folder / "glosses.txt").write_text("\n".join(GLOSSES) + "\n")
    export_model(
        gloss_model[0], folder / "export", ExportConfig(vocabulary=str(folder / "glosses.txt"), verify_clips=4)
    )
    return folder / "export"


@pytest.fixture(scope="module")
def site(exported, runtime, tmp_path_factory):
    """The site written by the CLI: `signclip-hf web EXPORTED_DIR --output SITE_DIR`."""
    output = tmp_path_factory.mktemp("web") / "site"
    assert cli_main(["web", str(exported), "--output", str(output), "--runtime", str(runtime)]) == 0
    return output


@pytest.fixture(scope="module")
def served(site):
    with serve_site(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def page(browser, served):
    """The page, loaded (its model ready)."""
    browser.get(served)
    info = call(browser, "window.signclip.ready")
    assert info["glosses"] == len(GLOSSES) and info["precision"] == "fp32" and info["ort"].startswith("1.30.")
    return browser


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


# --- features --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"max_frames": 40},  # long clips subsampled uniformly (the saved policy's default)
        {"max_frames": 25, "long_clip_policy": "truncate"},
        {"mirror_left_handed": True, "left_handed_rule": "left_hand_busier"},
        {"keypoint_layout": "right_hand"},
    ],
    ids=["saved", "subsample", "truncate", "mirror", "right_hand"],
)
def test_page_features_equal_the_python_feature_extractor(page, settings):
    extractor = SignCLIPFeatureExtractor(**settings)
    for path in real_clips():
        expected = extractor(str(path))["pose_values"][0]
        got = call(page, "window.signclip.features(arguments[0], arguments[1])", b64(path), settings)
        assert (got["frames"], got["dim"]) == expected.shape, path.name
        values = np.asarray(got["values"], dtype=np.float32).reshape(expected.shape)
        assert np.abs(values - expected).max() <= 1e-5, path.name
    fitted = call(page, "window.signclip.features(arguments[0], arguments[1])", b64(DGS_HOUSE), {"max_frames": 40})
    assert (fitted["sourceFrames"], fitted["frames"]) == (123, 40)


# --- scores and ranking -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pytorch_reference(gloss_model):
    """PyTorch's (pose embedding, scores against the glosses' prompts) of each real clip."""
    from signclip_hf.loading import load_model

    model, processor = load_model(gloss_model[0], backend="torch")
    prompts = [format_prompt(gloss) for gloss in GLOSSES]
    with torch.no_grad():
        text = model.get_text_features(**processor(text=prompts, return_tensors="pt", padding=True)).pooler_output
        reference = {}
        for path in real_clips():
            pose = model.get_pose_features(**processor(poses=str(path), return_tensors="pt")).pooler_output
            reference[path] = (pose[0].numpy(), model.score(pose, text)[0].numpy())
    return reference


@pytest.mark.slow
def test_page_scores_and_ranking_equal_pytorch(page, pytorch_reference, exported):
    manifest = json.loads((exported / "signclip_onnx.json").read_text())
    assert manifest["score"]["score_type"] == "cosine" and manifest["score"]["logit_scale"] != 1.0
    for path, (embedding, scores) in pytorch_reference.items():
        result = call(page, "window.signclip.rank(arguments[0], arguments[1])", b64(path), path.name)
        assert np.abs(np.asarray(result["embedding"]) - embedding).max() <= 1e-4, path.name
        by_gloss = {entry["gloss"]: entry for entry in result["ranking"]}
        np.testing.assert_allclose(
            [by_gloss[g]["score"] for g in GLOSSES], scores, atol=1e-3, rtol=1e-5, err_msg=path.name
        )
        assert [entry["gloss"] for entry in result["ranking"]] == [
            GLOSSES[i] for i in np.argsort(-scores, kind="stable")
        ]
        probabilities = torch.softmax(torch.from_numpy(scores).double(), 0).numpy()
        np.testing.assert_allclose([by_gloss[g]["probability"] for g in GLOSSES], probabilities, atol=1e-4)


def choose_file(driver, path: Path):
    """Pick `path` in the page's file input; wait for the page's answer: (message text, its kind)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script(
        "document.querySelector('#message').className = 'pending'; document.querySelector('#pose-file').value = ''"
    )
    driver.find_element(By.CSS_SELECTOR, "#pose-file").send_keys(str(path))
    WebDriverWait(driver, 60).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#message").get_attribute("class") in ("done", "error")
    )
    message = driver.find_element(By.CSS_SELECTOR, "#message")
    return message.text, message.get_attribute("class")


@pytest.mark.slow
def test_dropping_a_clip_shows_the_ranked_glosses_and_the_skeleton(page, pytorch_reference, tmp_path):
    from selenium.webdriver.common.by import By

    text, kind = choose_file(page, HOUSE_POSE)
    assert kind == "done" and text.startswith("house.pose: 73 frames; 5 glosses ranked"), text
    shown = [
        item.find_element(By.CSS_SELECTOR, ".gloss").text for item in page.find_elements(By.CSS_SELECTOR, "#ranked li")
    ]
    scores = pytorch_reference[HOUSE_POSE][1]
    assert shown == [GLOSSES[i] for i in np.argsort(-scores, kind="stable")]
    drawn = page.execute_script(
        "const c = document.querySelector('#skeleton'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) n++; return n"
    )
    assert drawn > 500  # the skeleton's limbs and points
    page.save_screenshot(str(tmp_path / "web-page.png"))
    artifacts = os.environ.get("SIGNCLIP_HF_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "web-page.png", Path(artifacts) / "web-page.png")


# --- free text (the visitor's own glosses: tokenizer and text graph in the page) ----------------------------

TEXTS = [
    "<en> <ase> house", "<de> <gsg> Haus", "<en> <ase> Thank you!", "see-you later...", "Café naïve résumé",
    "北京 大学", "tab\there\nnewline", "  spaces   everywhere ", "unaffable xyzzyq", "[CLS] inside [SEP] text",
    "emoji 👍 ok", "don't", "ÅÉÎÕÜ ß ﬁ", "word " * 80, "a\u0000b\u200bc", "¿Qué? ¡Sí!",
]  # fmt: skip
OWN_GLOSSES = ["tree", "hello", "my house", "Thank you!", "see you later"]


@pytest.mark.slow
def test_page_tokenizer_and_text_graph_equal_python(page, gloss_model, exported):
    from signclip_hf.loading import load_model

    model, processor = load_model(gloss_model[0], backend="torch")
    max_length = json.loads((exported / "signclip_onnx.json").read_text())["text"]["max_length"]
    for text in TEXTS:
        expected = processor.tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
        assert call(page, "window.signclip.tokenize(arguments[0])", text) == expected, repr(text)
    prompts = [format_prompt(gloss) for gloss in OWN_GLOSSES]
    got = np.asarray(call(page, "window.signclip.embedTexts(arguments[0])", prompts))
    with torch.no_grad():
        tokens = processor(text=prompts, return_tensors="pt", padding=True)
        expected = model.get_text_features(**tokens).pooler_output.numpy()
    assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.slow
def test_page_ranks_your_own_glosses_like_pytorch(page, gloss_model):
    from selenium.webdriver.common.by import By

    from signclip_hf.loading import load_model

    model, processor = load_model(gloss_model[0], backend="torch")
    with torch.no_grad():
        text = model.get_text_features(
            **processor(text=[format_prompt(g) for g in OWN_GLOSSES], return_tensors="pt", padding=True)
        ).pooler_output
        pose = model.get_pose_features(**processor(poses=str(DGS_HOUSE), return_tensors="pt")).pooler_output
        scores = model.score(pose, text)[0].numpy()
    expected = [OWN_GLOSSES[i] for i in np.argsort(-scores, kind="stable")]
    result = call(page, "window.signclip.rank(arguments[0], 'dgs.pose', arguments[1])", b64(DGS_HOUSE), OWN_GLOSSES)
    assert [entry["gloss"] for entry in result["ranking"]] == expected
    by_gloss = {entry["gloss"]: entry["score"] for entry in result["ranking"]}
    np.testing.assert_allclose([by_gloss[g] for g in OWN_GLOSSES], scores, atol=1e-3, rtol=1e-5)
    box = page.find_element(By.CSS_SELECTOR, "#candidates")  # the same through the page's form
    box.clear()
    box.send_keys(", ".join(OWN_GLOSSES))
    try:
        text, kind = choose_file(page, DGS_HOUSE)
        assert kind == "done" and "your 5 glosses ranked" in text, text
        shown = [
            item.find_element(By.CSS_SELECTOR, ".gloss").text
            for item in page.find_elements(By.CSS_SELECTOR, "#ranked li")
        ]
        assert shown == expected
    finally:
        box.clear()


# --- bad files --------------------------------------------------------------------------------------------


def python_message(path: Path) -> str:
    """The Python feature extractor's message for the same bytes under the same name."""
    with pytest.raises(InvalidPoseError) as raised:
        SignCLIPFeatureExtractor().extract(path.read_bytes(), name=path.name)
    return str(raised.value)


@pytest.fixture(scope="module")
def damaged_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged")
    house, dgs = HOUSE_POSE.read_bytes(), DGS_HOUSE.read_bytes()
    files = {
        "house-truncated.pose": house[: len(house) - 1000],  # v0.2: body shorter than the header declares
        "dgs-truncated.pose": dgs[: len(dgs) - 7],  # v0.1: a partial frame
        "header-cut.pose": house[:300],  # the file ends inside the header
        "garbage.pose": bytes(range(256)) * 8,
        "empty.pose": b"",
        "photo.pose": b"\x89PNG\r\n\x1a\n" + bytes(500),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


@pytest.mark.slow
def test_damaged_and_non_holistic_files_show_the_package_message(page, damaged_files):
    for path in [*damaged_files, *(FORMATS_DIR / name for name in NON_HOLISTIC)]:
        text, kind = choose_file(page, path)
        assert kind == "error", (path.name, text)
        assert text == python_message(path)
        assert page.find_elements("css selector", "#ranked li") == []
    assert "keypoint layout does not fit the 'holistic' layout" in python_message(FORMATS_DIR / "openpose.pose")
    text, kind = choose_file(page, DGS_HOUSE)  # the page keeps working after bad files
    assert kind == "done" and text.startswith("dgs-HOUSE1A.pose: 123 frames")


# --- the site builder -------------------------------------------------------------------------------------


def test_site_builder_refuses_bad_folders(exported, runtime, tmp_path, capsys):
    other = tmp_path / "not-a-site"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(OSError, match="not empty and is not a SignCLIP web page"):
        web_site.build_site(exported, other, runtime=runtime)
    assert (other / "notes.txt").read_text() == "mine"
    without = tmp_path / "without-vocabulary"
    shutil.copytree(exported, without)
    manifest = json.loads((without / "signclip_onnx.json").read_text())
    (without / "signclip_onnx.json").write_text(json.dumps({**manifest, "vocabulary": None}))
    with pytest.raises(OSError, match="export with --vocabulary"):
        web_site.build_site(without, tmp_path / "site", runtime=runtime)
    graph = without / manifest["graphs"]["fp32"]["pose"]
    (without / "signclip_onnx.json").write_text(json.dumps(manifest))
    graph.write_bytes(graph.read_bytes()[:-10])
    with pytest.raises(ValueError, match="differs from the manifest"):
        web_site.build_site(without, tmp_path / "site", runtime=runtime)
    with pytest.raises(ValueError, match="no int8 graphs"):
        web_site.build_site(exported, tmp_path / "site", web_site.SiteConfig(precision="int8"), runtime=runtime)
    with pytest.raises(SystemExit) as exited:
        cli_main(["web", str(tmp_path / "missing"), "--output", str(tmp_path / "site")])
    assert exited.value.code == 2
    assert "not an exported SignCLIP folder" in capsys.readouterr().err
    with pytest.raises(OSError, match="no onnxruntime-web"):
        web_site.ensure_runtime(tmp_path)
    assert not (tmp_path / "site").exists()


def test_vocabulary_only_site_and_rewriting_a_site(exported, runtime, site, tmp_path):
    small = tmp_path / "small"
    report = web_site.build_site(exported, small, web_site.SiteConfig(free_text=False, top_k=3), runtime=runtime)
    settings = json.loads((small / "site.json").read_text())
    assert settings["free_text"] is False and settings["top_k"] == 3 and settings["model"] == "model/"
    assert (
        not (small / "model" / "onnx" / "text_model.onnx").exists()
        and not (small / "model" / "tokenizer.json").exists()
    )
    assert (small / "model" / "onnx" / "pose_model.onnx").read_bytes() == (
        exported / "onnx" / "pose_model.onnx"
    ).read_bytes()
    assert set(report.files) >= {"index.html", "app.js", "pose.js", "ort/ort-wasm-simd-threaded.wasm", "site.json"}
    web_site.build_site(exported, small, runtime=runtime)  # a page written before is rewritten
    assert json.loads((small / "site.json").read_text())["free_text"] is True
    assert (small / "model" / "tokenizer.json").is_file()
    web_site.build_site(exported, small, web_site.SiteConfig(free_text=False), runtime=runtime)
    assert not (small / "model" / "tokenizer.json").exists()  # what the earlier build wrote and this one does not
    remote = web_site.build_site(
        exported,
        tmp_path / "remote",
        web_site.SiteConfig(model_url="https://huggingface.co/user/signclip/resolve/main/"),
        runtime=runtime,
    )
    assert not (tmp_path / "remote" / "model").exists() and "site.json" in remote.files
    layouts = json.loads((site / "site.json").read_text())["layouts"]
    assert len(layouts["holistic"]["components"]) == 4 and layouts["right_hand"]["shoulders"] is None


# --- the static Hub Space -----------------------------------------------------------------------------------


def test_static_space_loads_the_graphs_from_the_model_repo(hub_env, gloss_model, exported, runtime, tmp_path, capsys):
    import urllib.request

    import yaml
    from huggingface_hub import HfApi, ModelCard, snapshot_download

    from signclip_hf.web.space import model_files, push_static_space

    repo, space = hub_env.new_repo_id("signclip-web-model"), hub_env.new_repo_id("signclip-web")
    push = ["push", str(gloss_model[0]), repo, "--space", space, "--static", str(exported)]
    assert cli_main(push) == 0
    api = HfApi()
    heads = api.model_info(repo).sha, api.space_info(space).sha
    push_static_space(space, repo, exported, runtime=runtime)  # unchanged: no new commit
    assert (api.model_info(repo).sha, api.space_info(space).sha) == heads
    assert f"https://huggingface.co/spaces/{space}" in ModelCard.load(repo).text
    with pytest.raises(SystemExit):  # a bad export fails before anything is pushed
        cli_main(
            ["push", str(gloss_model[0]), hub_env.new_repo_id("never"), "--space", space, "--static", str(tmp_path)]
        )
    assert "not an exported SignCLIP folder" in capsys.readouterr().err
    folder = Path(snapshot_download(space, repo_type="space", local_dir=tmp_path / "space"))
    meta = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert (meta["sdk"], meta["app_file"], meta["models"]) == ("static", "index.html", [repo])
    assert {"index.html", "app.js", "pose.js", "ort/ort-wasm-simd-threaded.wasm"} <= {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    }
    settings = json.loads((folder / "site.json").read_text())
    assert settings["model"] == f"{hub_env.url}/{repo}/resolve/main/" and not (folder / "model").exists()
    manifest = json.loads((exported / "signclip_onnx.json").read_text())
    for relative in model_files(exported, manifest):  # what the page fetches is on the model repo, byte for byte
        with urllib.request.urlopen(settings["model"] + relative, timeout=30) as response:
            assert response.read() == (exported / relative).read_bytes(), relative
