"""`save_pretrained` output loads with trust_remote_code where signclip_hf is NOT importable, and packaging works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from signclip_hf.sample_data import HOUSE_POSE

from fixtures.isolation import run_without_signclip_hf
from fixtures.tiny import save_tiny, tiny_model, tiny_processor

REPO = Path(__file__).resolve().parents[1]
PROMPTS = ["<en> <ase> house", "<en> <gsg> house", "random text"]

def test_remote_code_load_without_signclip_hf(tmp_path):
    model_dir = save_tiny(tmp_path / "model", seed=11)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_signclip.SignCLIPModel"
    for name in (
        "configuration_signclip.py", "modeling_signclip.py", "feature_extraction_signclip.py", "processing_signclip.py",
        "keypoints_signclip.py", "pose_io_signclip.py",
    ):  # fmt: skip
        assert (model_dir / name).is_file()
    with torch.no_grad():
        expected = tiny_model(seed=11)(**tiny_processor()(text=PROMPTS, poses=[HOUSE_POSE], return_tensors="pt"))
    result = run_without_signclip_hf(
        f"""
        import json, torch
        from transformers import AutoModel, AutoProcessor
        model = AutoModel.from_pretrained({str(model_dir)!r}, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained({str(model_dir)!r}, trust_remote_code=True)
        inputs = processor(text={PROMPTS!r}, poses=[{str(HOUSE_POSE)!r}], return_tensors="pt")
        with torch.no_grad():
            out = model(**inputs)
        print(json.dumps({{"module": type(model).__module__, "scores": out.logits_per_pose.tolist()}}))
        """,
        tmp_path,
        HF_HUB_OFFLINE="1",
    )
    assert not result["module"].startswith("signclip_hf")
    torch.testing.assert_close(torch.tensor(result["scores"]), expected.logits_per_pose, atol=1e-5, rtol=0)


def test_remote_code_classifier_without_signclip_hf(tmp_path):
    from signclip_hf.modeling import SignCLIPForVideoClassification

    save_tiny(tmp_path / "clip")
    head = SignCLIPForVideoClassification.from_pretrained(tmp_path / "clip", id2label={0: "hello", 1: "house"})
    head.save_pretrained(tmp_path / "head")
    result = run_without_signclip_hf(
        f"""
        import json
        from transformers import AutoModelForVideoClassification
        model = AutoModelForVideoClassification.from_pretrained({str(tmp_path / "head")!r}, trust_remote_code=True)
        print(json.dumps({{"labels": model.config.id2label, "cls": type(model).__name__}}))
        """,
        tmp_path,
        HF_HUB_OFFLINE="1",
    )
    assert result == {"labels": {"0": "hello", "1": "house"}, "cls": "SignCLIPForVideoClassification"}


def test_editable_install_imports_modeling():
    import signclip_hf.modeling

    assert Path(signclip_hf.modeling.__file__).resolve() == REPO / "modeling" / "__init__.py"


@pytest.mark.slow
def test_built_wheel_installs_and_imports(tmp_path):
    """A wheel carries `signclip_hf.modeling` and the sample data, and imports outside the source tree."""
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    wheel = next((tmp_path / "dist").glob("signclip_hf-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    packages = {str(init.parent.relative_to(REPO)) for init in (REPO / "signclip_hf").rglob("__init__.py")}
    for package in packages:  # every toolkit subpackage, and the package data that code reads
        assert f"{package}/__init__.py" in names, package
    for shipped in (
        "signclip_hf/modeling/modeling_signclip.py",
        "signclip_hf/modeling/pipeline_signclip.py",
        "signclip_hf/hub_cards/model_card.md.j2",
        "signclip_hf/hub_cards/dataset_card.md.j2",
        "signclip_hf/endpoint/requirements.txt",
        "signclip_hf/metrics/retrieval/retrieval.py",
        "signclip_hf/sample_data/signs/house.pose",
        "signclip_hf/sample_data/gestures/metadata.csv",
        "signclip_hf/sample_data/gestures/signer12/hello/000.pose",
        "signclip_hf/sample_data/videos/pose-format-test-video.mp4",
        "signclip_hf/modeling/video_signclip.py",
        "signclip_hf/render.py",
    ):
        assert shipped in names, shipped
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    code = "import signclip_hf, signclip_hf.modeling as m; print(m.__file__); print(signclip_hf.sample_data.HOUSE_POSE.is_file())"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # -S would drop torch; instead put the wheel's target first and run from a directory without the repo
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(target)!r}); " + code.replace("import signclip_hf,", "import signclip_hf.sample_data, signclip_hf,")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    module_file, house_exists = result.stdout.split()
    assert module_file.startswith(str(target)) and house_exists == "True"


def test_pipeline_tasks_as_remote_code_without_signclip_hf(tmp_path):
    """Where signclip_hf is absent, the saved task runs the saved pipeline code with trust_remote_code=True, and
    needs it (with signclip_hf imported, the in-library pipelines need none: tests/test_clip_habits.py)."""
    from signclip_hf.pipeline import save_for_pipeline

    model_dir = save_for_pipeline(tiny_model(seed=5), tiny_processor(), tmp_path / "model")
    result = run_without_signclip_hf(
        f"""
        import json
        from transformers import pipeline
        zero_shot = pipeline("zero-shot-sign-classification", model={str(model_dir)!r}, trust_remote_code=True)
        try:
            pipeline("zero-shot-sign-classification", model={str(model_dir)!r})
            refused = ""
        except ValueError as error:
            refused = str(error)
        ranking = zero_shot({str(HOUSE_POSE)!r}, candidate_labels=["house", "sun"])
        print()  # transformers' "run the custom code? [y/N]" prompt leaves its line open
        print(json.dumps({{"module": type(zero_shot).__module__, "labels": sorted(r["label"] for r in ranking),
                          "refused": refused}}))
        """,
        tmp_path,
        HF_HUB_OFFLINE="1",
    )
    assert not result["module"].startswith("signclip_hf") and result["labels"] == ["house", "sun"]
    assert "trust_remote_code=True" in result["refused"]
