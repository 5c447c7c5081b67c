"""Sign spotting: peak finding, batched == one window at a time, writers read back, bad inputs, CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pose_format import Pose
from signclip_hf.modeling import LEFT_HANDED_RULES, EmptyPoseError, PoseLayoutError, UnknownLanguageError
from transformers import AutoModel, AutoProcessor

from signclip_hf.cli import main
from signclip_hf.embedding import embed_texts
from signclip_hf.sample_data import FORMATS_DIR, GESTURES_DIR, HOUSE_POSE
from signclip_hf.spotting import (
    Detection,
    RecordingTooShortError,
    ScoreCurve,
    Segment,
    SpottingConfig,
    evaluate_spotting,
    find_detections,
    iter_window_batches,
    local_maxima,
    normalize_windows,
    read_recording,
    spot,
    window_starts,
)
from signclip_hf.spotting.outputs import read_segments, write_eaf, write_srt, write_vtt
from signclip_hf.spotting.synthetic import make_recording

from fixtures.tiny import save_tiny, tiny_processor

QUERIES = ["hello", "thank you", "i love you"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny-spot"))


@pytest.fixture(scope="module")
def loaded(model_dir):
    return AutoModel.from_pretrained(model_dir).eval(), AutoProcessor.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """4 real clips of signer12 with pauses of missing frames (windows inside a pause cannot be normalized)."""
    path = tmp_path_factory.mktemp("recording") / "signer12.pose"
    truth = make_recording(GESTURES_DIR, "signer12", path, signs=4, pause_frames=(12, 16), seed=1)
    return path, truth


def test_synthetic_recording_places_real_clips(recording):
    path, truth = recording
    pose = Pose.read(path.read_bytes())
    assert pose.body.data.shape[0] == truth["frames"]
    assert truth["glosses"] == ["hello", "i love you", "thank you"]
    for sign in truth["signs"]:
        clip = Pose.read(Path(sign["source"]).read_bytes())
        frames = pose.body.data.data[sign["start_frame"] : sign["end_frame"]]
        np.testing.assert_array_equal(frames, clip.body.data.data[:, :1])
        assert sign["start"] == pytest.approx(sign["start_frame"] / truth["fps"])
    gaps = np.array([b["start_frame"] - a["end_frame"] for a, b in zip(truth["signs"], truth["signs"][1:])])
    assert ((gaps >= 12) & (gaps <= 16)).all()


def _curve(centres_and_heights, length, noise=0.0, seed=0):
    x = np.arange(length, dtype=np.float64)
    curve = sum(h * np.exp(-0.5 * ((x - c) / 3) ** 2) for c, h in centres_and_heights)
    return curve + noise * np.random.default_rng(seed).standard_normal(length)


def test_peaks_and_nms_on_synthetic_curves():
    assert local_maxima(np.array([0, 2, 1, 1, 3, 3, 0, 5])).tolist() == [1, 5, 7]
    # window starts every 2 frames; query 0 peaks at windows 20 and 60 (heights 5, 3), query 1 at 40
    starts = np.arange(0, 200, 2)
    small = np.stack([_curve([(20, 5), (60, 3)], 100, 0.01), _curve([(40, 4)], 100, 0.01, seed=1)], axis=1)
    large = np.stack(
        [_curve([(18, 4.5)], 92, 0.01, 2), _curve([(40, 1)], 92, 0.01, 3)], axis=1
    )  # same signs, 24-frame windows
    curves = [ScoreCurve(16, starts, small), ScoreCurve(24, starts[:92], large)]
    found = find_detections(curves, ["a", "b"], fps=25.0, top_k=2, threshold=None, nms_iou=0.3)
    by_query = {q: [d for d in found if d.query == q] for q in "ab"}
    assert [(d.start_frame, d.end_frame, d.window) for d in by_query["a"]] == [(40, 56, 16), (120, 136, 16)]
    assert by_query["a"][0].score == pytest.approx(5, abs=0.05) and by_query["a"][0].start == pytest.approx(1.6)
    assert by_query["b"][0].start_frame == 80 and by_query["b"][0].window == 16
    # the 24-frame window peak at start 36 (IoU 16/24 with the better 16-frame one) is suppressed
    assert all(d.window == 16 for d in by_query["a"])
    assert len(find_detections(curves, ["a", "b"], 25.0, top_k=None, threshold=2.0)) == 3
    assert find_detections(curves, ["a", "b"], 25.0, top_k=1, threshold=10.0) == []


def test_windowed_embedding_equals_one_window_at_a_time(loaded, recording):
    model, processor = loaded
    path, _ = recording
    pose = Pose.read(path.read_bytes())
    text = torch.from_numpy(embed_texts(model, processor, [processor.format_prompt(q) for q in QUERIES]))
    results = {}
    for batch_size in (1, 2, 3):
        config = SpottingConfig(windows=(8, 20), stride=4, batch_size=batch_size, top_k=None)
        results[batch_size] = spot(model, processor, path, QUERIES, config, progress=False)
    reference = results[3]
    assert reference.skipped_windows > 0  # windows inside the pauses cannot be normalized
    for curve in reference.curves:
        expected = []
        for start in curve.starts:
            inputs = processor(
                poses=[Pose(pose.header, pose.body[int(start) : int(start) + curve.size])], return_tensors="pt"
            )
            with torch.no_grad():
                embeds = model.get_pose_features(inputs["pose_values"], inputs["pose_attention_mask"]).pooler_output
            expected.append(model.score(embeds, text).numpy()[0])
        np.testing.assert_allclose(curve.scores, np.array(expected), atol=1e-5, rtol=0)
        for batch_size in (1, 2):
            other = next(c for c in results[batch_size].curves if c.size == curve.size)
            np.testing.assert_array_equal(other.starts, curve.starts)
            np.testing.assert_allclose(other.scores, curve.scores, atol=1e-5, rtol=0)
    spans = [[(d.query, d.start_frame, d.end_frame, d.window) for d in r.detections] for r in (results[1], reference)]
    assert spans[0] == spans[1] and len(spans[0]) >= len(QUERIES)
    np.testing.assert_allclose(
        [d.score for d in results[1].detections], [d.score for d in reference.detections], atol=1e-5
    )


@pytest.mark.parametrize("rule", LEFT_HANDED_RULES)
def test_mirror_option_and_long_windows_match_the_feature_extractor(recording, rule):
    path, _ = recording
    pose = Pose.read(path.read_bytes())
    extractor = tiny_processor(mirror_left_handed=True, left_handed_rule=rule, max_frames=10).feature_extractor
    record = read_recording(path)
    starts = window_starts(record.num_frames, 14, 7)
    features, valid = normalize_windows(record, starts, 14, extractor)
    assert features.shape == (len(starts), 10, extractor.feature_dim) and (~valid).any()
    for row, start in enumerate(starts):
        window = Pose(pose.header, pose.body[int(start) : int(start) + 14])
        if valid[row]:
            np.testing.assert_allclose(features[row], extractor.fit_length(extractor.extract(window)), atol=1e-6)
        else:
            assert not features[row].any()


def test_memory_is_bounded_by_the_batch(recording):
    path, _ = recording
    record = read_recording(path)
    extractor = tiny_processor().feature_extractor
    batches = list(iter_window_batches(record, (8, 16, 24), 3, extractor, batch_size=7))
    assert max(len(b.starts) for b in batches) == 7
    assert all(b.features.shape[:2] == (len(b.starts), b.size) for b in batches)  # one length per batch
    for size in (8, 16, 24):
        starts = np.concatenate([b.starts for b in batches if b.size == size])
        np.testing.assert_array_equal(starts, window_starts(record.num_frames, size, 3))
        assert starts[-1] == record.num_frames - size  # the last window reaches the end


def test_writers_read_back(loaded, recording, tmp_path):
    model, processor = loaded
    path, _ = recording
    result = spot(model, processor, path, QUERIES, SpottingConfig(windows=(12, 20), stride=4, top_k=3), progress=False)
    assert len(result.detections) == 9
    from pympi.Elan import Eaf

    eaf = Eaf(str(write_eaf(result, tmp_path / "out.eaf")))
    annotations = {tier: eaf.get_annotation_data_for_tier(tier) for tier in eaf.get_tier_names()}
    assert {tier.split(" (")[0] for tier in annotations} == set(QUERIES)
    assert sorted(a for tier in annotations for a in annotations[tier] if tier.startswith("hello")) == sorted(
        (round(d.start * 1000), round(d.end * 1000), f"{d.score:.4f}") for d in result.detections if d.query == "hello"
    )
    for tier in annotations.values():  # ELAN tiers hold no overlapping annotations
        spans = sorted(a[:2] for a in tier)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    expected = sorted((round(d.start, 3), round(d.end, 3), f"{d.query} ({d.score:.3f})") for d in result.detections)
    import srt
    import webvtt

    srt_cues = list(srt.parse(write_srt(result, tmp_path / "out.srt").read_text()))
    assert sorted((c.start.total_seconds(), c.end.total_seconds(), c.content) for c in srt_cues) == expected
    vtt_cues = webvtt.read(str(write_vtt(result, tmp_path / "out.vtt")))
    assert sorted((s.start, s.end, s.text) for s in read_segments(tmp_path / "out.vtt")) == expected
    assert len(vtt_cues) == 9
    assert sorted((s.start, s.end) for s in read_segments(tmp_path / "out.eaf")) == sorted(
        (round(d.start, 3), round(d.end, 3)) for d in result.detections
    )


def test_segment_mode_scores_each_given_span(loaded, recording):
    model, processor = loaded
    path, truth = recording
    pose = Pose.read(path.read_bytes())
    segments = [Segment(s["start"], s["end"], s["gloss"]) for s in truth["signs"]]
    result = spot(model, processor, path, QUERIES, SpottingConfig(top_k=None), segments=segments, progress=False)
    text = torch.from_numpy(embed_texts(model, processor, result.prompts))
    scored = {(int(s), c.size): c.scores[i] for c in result.curves for i, s in enumerate(c.starts)}
    assert sorted(scored) == sorted((s["start_frame"], s["end_frame"] - s["start_frame"]) for s in truth["signs"])
    for (start, length), scores in scored.items():
        inputs = processor(poses=[Pose(pose.header, pose.body[start : start + length])], return_tensors="pt")
        with torch.no_grad():
            expected = model.score(
                model.get_pose_features(**{k: inputs[k] for k in ("pose_values", "pose_attention_mask")}).pooler_output, text
            )
        np.testing.assert_allclose(scores, expected.numpy()[0], atol=1e-5)
    assert len(result.detections) == len(QUERIES) * len(segments)  # every segment is a candidate


def test_evaluation_with_known_answers():
    truth = [
        {"gloss": "a", "start": 1.0, "end": 2.0},
        {"gloss": "a", "start": 5.0, "end": 6.0},
        {"gloss": "b", "start": 3.0, "end": 4.0},
    ]
    detections = [
        Detection("a", 0, 0, 1.1, 2.1, 0.9, 16),  # hit: IoU 0.9 / 1.1, errors +0.1, +0.1
        Detection("a", 0, 0, 1.2, 2.0, 0.8, 16),  # same sign again: false positive
        Detection("a", 0, 0, 4.8, 5.8, 0.7, 16),  # hit: errors -0.2, -0.2
        Detection("b", 0, 0, 8.0, 9.0, 0.6, 16),  # miss
    ]
    scores = evaluate_spotting(detections, truth, ["a", "b"], iou=0.5)
    assert (scores.hits, scores.detections, scores.true_signs) == (2, 4, 3)
    assert scores.precision == pytest.approx(0.5) and scores.recall == pytest.approx(2 / 3)
    assert scores.boundary_error == pytest.approx(0.15) and scores.centre_error == pytest.approx(0.15)
    # AP(a) = (1/1 + 2/3) / 2, AP(b) = 0
    assert scores.mean_average_precision == pytest.approx((1 + 2 / 3) / 2 / 2)


def test_bad_inputs(loaded, recording, tmp_path):
    model, processor = loaded
    path, _ = recording
    config = SpottingConfig(windows=(12,), stride=4)
    with pytest.raises(ValueError, match="no queries"):
        spot(model, processor, path, [], config)
    with pytest.raises(ValueError, match="blank"):
        spot(model, processor, path, ["hello", " "], config)
    with pytest.raises(UnknownLanguageError, match="<asl>"):
        spot(model, processor, path, ["hello"], SpottingConfig(sign_language="asl"))
    with pytest.raises(RecordingTooShortError, match="73 frame\\(s\\), fewer than the smallest window \\(80"):
        spot(model, processor, HOUSE_POSE, ["house"], SpottingConfig(windows=(80, 96)))
    pose = Pose.read(path.read_bytes())
    empty = tmp_path / "empty.pose"
    with open(empty, "wb") as handle:
        Pose(pose.header, pose.body[0:0]).write(handle)
    with pytest.raises(EmptyPoseError, match="empty.pose: the clip has zero frames"):
        spot(model, processor, empty, ["hello"], config)
    with pytest.raises(PoseLayoutError, match="reduced-holistic-178-sentence.pose: .*POSE_LANDMARKS lacks"):
        spot(model, processor, FORMATS_DIR / "reduced-holistic-178-sentence.pose", ["house"], config)
    garbage = tmp_path / "garbage.srt"
    garbage.write_text("this is not\na subtitle file\n")
    with pytest.raises(ValueError, match="garbage.srt: not a readable SRT file"):
        read_segments(garbage)
    with pytest.raises(ValueError, match="lies outside the recording"):
        spot(model, processor, path, ["hello"], config, segments=[Segment(100.0, 101.0)])
    with pytest.raises(ValueError, match="window sizes must be positive"):
        SpottingConfig(windows=(0, 16))
    # window sizes longer than the recording are skipped (and reported), the others still run
    result = spot(model, processor, HOUSE_POSE, ["house"], SpottingConfig(windows=(16, 80), top_k=1), progress=False)
    assert result.skipped_sizes == [80] and [c.size for c in result.curves] == [16]
    assert result.detections[0].end_frame <= 73 and np.isfinite(result.detections[0].score)


def test_cli_spot_writes_every_output(model_dir, recording, tmp_path, capsys):
    path, truth = recording
    out = tmp_path / "cli"
    code = main([
        "spot", str(model_dir), str(path), "--query", "hello", "--query", "thank you",
        "--windows", "12,20", "--stride", "4", "--top-k", "2", "--batch-size", "5",
        "--normalize", "zscore", "--merge", "overlap", "--output", str(out / "r.json"), "--eaf", str(out / "r.eaf"), "--srt", str(out / "r.srt"),
        "--vtt", str(out / "r.vtt"), "--plot", str(out / "r.png"),
    ])  # fmt: skip
    assert code == 0
    written = json.loads((out / "r.json").read_text())
    assert written["frames"] == truth["frames"] and written["queries"] == ["hello", "thank you"]
    assert len(written["detections"]) == 4 and written["config"]["windows"] == [12, 20]
    assert (written["config"]["normalize"], written["config"]["merge"]) == ("zscore", "overlap")
    assert (out / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all((out / f"r.{ext}").stat().st_size > 0 for ext in ("eaf", "srt", "vtt"))
    # segment mode from the SRT just written
    assert main(["spot", str(model_dir), str(path), "--query", "hello", "--segments", str(out / "r.srt"),
                 "--output", str(out / "s.json")]) == 0  # fmt: skip
    assert json.loads((out / "s.json").read_text())["segments"]
    with pytest.raises(SystemExit) as exit_info:
        main(["spot", str(model_dir), str(path), "--query", "hello", "--sign-language", "xyz",
              "--output", str(out / "bad.json")])  # fmt: skip
    assert exit_info.value.code == 2
    assert "unknown sign language tag <xyz>" in capsys.readouterr().err


def test_zscore_makes_sizes_comparable_and_overlap_merges_nested_peaks():
    from signclip_hf.spotting.peaks import normalize_curves

    starts = np.arange(0, 100, 4)
    rng = np.random.default_rng(0)
    # 16-frame windows score high everywhere (offset 10); the 32-frame curve has the sharper peak at start 40
    short = 10 + 0.1 * rng.standard_normal((len(starts), 1))
    short[10] = 10.5
    long = 0.1 * rng.standard_normal((len(starts) - 4, 1))
    long[9] = 1.0
    curves = [ScoreCurve(16, starts, short), ScoreCurve(32, starts[:-4], long)]
    normalized = normalize_curves(curves, "zscore")
    for curve in normalized:
        np.testing.assert_allclose([curve.scores.mean(), curve.scores.std()], [0, 1], atol=1e-9)
    raw = find_detections(curves, ["a"], 25.0, top_k=1)
    assert (raw[0].window, raw[0].start_frame) == (16, 40)  # the raw offset decides
    best = find_detections(curves, ["a"], 25.0, top_k=1, normalize="zscore")
    assert (best[0].window, best[0].start_frame) == (32, 36)  # the sharper peak wins once standardized
    # the 16-frame peak [40, 56) lies inside the 32-frame one [36, 68): IoU 0.5 survives IoU-NMS at 0.6,
    # intersection over the shorter span (1.0) merges it
    iou = find_detections(curves, ["a"], 25.0, top_k=None, threshold=1.0, nms_iou=0.6, normalize="zscore")
    merged = find_detections(
        curves, ["a"], 25.0, top_k=None, threshold=1.0, nms_iou=0.6, normalize="zscore", merge="overlap"
    )
    assert {(d.start_frame, d.window) for d in iou} == {(36, 32), (40, 16)}
    assert [(d.start_frame, d.window) for d in merged] == [(36, 32)]
    from signclip_hf.cli import command_parser
    from signclip_hf.spotting.peaks import MERGES, NORMALIZATIONS

    choices = {a.dest: tuple(a.choices) for a in command_parser("spot")[0]._actions if a.dest in ("normalize", "merge")}
    assert choices == {"normalize": NORMALIZATIONS, "merge": MERGES}  # the CLI's literal choices (a light import)
    with pytest.raises(ValueError, match="normalize must be one of"):
        SpottingConfig(normalize="softmax")
    with pytest.raises(ValueError, match="merge must be one of"):
        SpottingConfig(merge="union")


def test_transitions_interpolate_between_clips_and_stay_out_of_the_truth(tmp_path):
    truth = make_recording(
        GESTURES_DIR, "signer12", tmp_path / "t.pose", signs=3, pause_frames=(0, 0), transition_frames=(6, 6), seed=1
    )
    pose = Pose.read((tmp_path / "t.pose").read_bytes())
    data, confidence = pose.body.data.data, np.asarray(pose.body.confidence)
    for a, b in itertools.pairwise(truth["signs"]):
        assert b["start_frame"] - a["end_frame"] == 6  # the transition lies between the two signs' spans
        first, last = data[a["end_frame"] - 1], data[b["start_frame"]]
        seen = (confidence[a["end_frame"] - 1] > 0) & (confidence[b["start_frame"]] > 0)
        expected = first + (np.arange(1, 7) / 7)[:, None, None, None] * (last - first)
        moving = data[a["end_frame"] : b["start_frame"]]
        np.testing.assert_allclose(moving[:, seen], expected[:, seen], atol=1e-4)
        assert not confidence[a["end_frame"] : b["start_frame"]][:, ~seen].any()
    assert truth["transition_frames"] == [6, 6] and truth["frames"] == 3 * 30 + 2 * 6
