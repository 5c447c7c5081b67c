"""SignCLIP score for generated poses, on real bundled clips with a briefly trained tiny model (conftest
`gloss_model`): the function, the `evaluate` module, batching, and checks that the score means something."""

import numpy as np
import pytest
from signclip_hf.modeling import UnknownLanguageError, read_keypoints
from transformers import AutoModel, AutoProcessor

from signclip_hf.evaluation import signclip_score
from signclip_hf.metrics import load_metric
from signclip_hf.sample_data import GESTURES_DIR


@pytest.fixture(scope="module")
def trained(gloss_model):
    directory, held_out = gloss_model
    model, processor = AutoModel.from_pretrained(directory).eval(), AutoProcessor.from_pretrained(directory)
    files = [str(GESTURES_DIR / row["file"]) for row in held_out]
    return directory, model, processor, files, [row["label"] for row in held_out]


def keypoints(path: str) -> np.ndarray:
    """A clip as a (T, K, 3) array, missing points NaN (how arrays mark them)."""
    points, confidence, _ = read_keypoints(path)
    points[confidence == 0] = np.nan
    return points


def corrupted(path: str, how: str, rng: np.random.Generator) -> np.ndarray:
    points = keypoints(path)
    if how == "shuffled":
        return points[rng.permutation(len(points))]
    spread = np.nanstd(points, axis=(0, 1))  # heavy: noise as large as the whole body's extent
    return points + rng.standard_normal(points.shape).astype(np.float32) * spread


def test_clips_of_a_gloss_score_highest_for_its_text(trained):
    """Held-out clips (signers seen, clips not): each clip's best-scoring gloss text is its own far above chance,
    and for a gloss text X, the clips of X score higher on average than the clips of other glosses (the metric's
    use: one prompt, candidate poses compared), for at least 3 of the 4 glosses."""
    _, model, processor, files, labels = trained
    glosses = sorted(set(labels))
    scores = np.stack(
        [
            signclip_score(model, processor, files, references_text=[gloss] * len(files)).text_scores
            for gloss in glosses
        ],
        axis=1,
    )  # (clips, glosses)
    own = np.array([glosses.index(label) for label in labels])
    by_clip_gloss = np.stack([scores[own == g].mean(axis=0) for g in range(len(glosses))])  # rows: clips of gloss g
    print("top-1", (scores.argmax(axis=1) == own).mean(), dict(zip(glosses, by_clip_gloss.round(2).tolist())))
    assert (scores.argmax(axis=1) == own).mean() >= 0.6  # chance: 0.25
    assert (by_clip_gloss.argmax(axis=0) == np.arange(len(glosses))).sum() >= 3


def test_heavy_noise_and_shuffled_frames_score_lower(trained):
    """A clip vs the same clip with heavy noise / frames shuffled in time: text score for its gloss, and pose
    similarity to another recording of the same gloss (the previous clip of the same signer)."""
    _, model, processor, files, labels = trained
    rng = np.random.default_rng(0)
    previous = {f: f.replace(f"/{int(f[-8:-5]):03d}.pose", f"/{int(f[-8:-5]) - 1:03d}.pose") for f in files}
    references = [previous[f] for f in files]
    variants = {"original": [keypoints(f) for f in files]}
    variants.update({how: [corrupted(f, how, rng) for f in files] for how in ("noisy", "shuffled")})
    results = {name: signclip_score(model, processor, clips, labels, references) for name, clips in variants.items()}
    text = {name: r.text_scores for name, r in results.items()}
    pose = {name: r.pose_similarities for name, r in results.items()}
    print({name: (float(text[name].mean()), float(pose[name].mean())) for name in text})
    print(
        {
            name: (float((text["original"] > text[name]).mean()), float((pose["original"] > pose[name]).mean()))
            for name in text
        }
    )
    for corrupted_name in ("noisy", "shuffled"):
        assert text["original"].mean() > text[corrupted_name].mean()
        assert pose["original"].mean() > pose[corrupted_name].mean()
    assert (text["original"] > text["noisy"]).mean() >= 0.6


def test_batched_equals_one_at_a_time(trained):
    _, model, processor, files, labels = trained
    files, labels = files[:3], labels[:3]
    full = signclip_score(model, processor, files, labels, files[::-1], batch_size=3)
    for size in (1, 2, 3):
        part = signclip_score(model, processor, files[:size], labels[:size], files[::-1][:size], batch_size=1)
        np.testing.assert_allclose(part.text_scores, full.text_scores[:size], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(part.pose_similarities, full.pose_similarities[:size], rtol=1e-5, atol=1e-5)
    assert full.pose_similarities[1] == pytest.approx(1.0, abs=1e-6)  # the middle clip is its own reference


def test_evaluate_module_matches_the_function(trained):
    directory, model, processor, files, labels = trained
    expected = signclip_score(model, processor, files[:4], labels[:4], files[4:8])
    metric = load_metric("signclip_score", model=str(directory))
    result = metric.compute(predictions=files[:4], references=labels[:4], reference_poses=files[4:8])
    assert result["num_items"] == 4
    np.testing.assert_allclose(result["text_scores"], expected.text_scores, rtol=1e-5)
    assert result["text_score"] == pytest.approx(expected.text_score, rel=1e-5)
    assert result["pose_similarity"] == pytest.approx(expected.pose_similarity, rel=1e-5)
    # config "pose": references are clips; predictions may be arrays
    by_pose = load_metric("signclip_score", config_name="pose").compute(
        predictions=[keypoints(f) for f in files[:4]], references=files[4:8], model=model, processor=processor
    )
    np.testing.assert_allclose(by_pose["pose_similarities"], expected.pose_similarities, rtol=1e-4, atol=1e-5)
    assert "text_score" not in by_pose


def test_bad_inputs_are_named(trained):
    _, model, processor, files, labels = trained
    with pytest.raises(ValueError, match="references_text has 1 items but there are 2 predictions"):
        signclip_score(model, processor, files[:2], labels[:1])
    with pytest.raises(ValueError, match="give references_text"):
        signclip_score(model, processor, files[:2])
    with pytest.raises(UnknownLanguageError, match="<asl>"):
        signclip_score(model, processor, files[:1], ["house"], sign_language="asl")
    with pytest.raises(ValueError, match="needs a model"):
        load_metric("signclip_score").compute(predictions=files[:1], references=["house"])
