"""Spotting under hostile input: text that is not valid Unicode, outputs that would overwrite an input or each
other, malformed segments files (ELAN / SRT / WebVTT), absurd frame rates; and a table of hostile CLI runs, each
a one-line error (exit 2, no traceback) or a correct answer, never NaN/inf."""

from __future__ import annotations

import json
import math
import re

import pytest
from pose_format import Pose
from signclip_hf.modeling import InvalidPoseError, SignCLIPProcessor

from signclip_hf.sample_data import GESTURES_DIR
from signclip_hf.spotting import read_recording
from signclip_hf.spotting.outputs import read_segments
from signclip_hf.spotting.spot import make_prompts
from signclip_hf.spotting.synthetic import make_recording

from fixtures.cli import one_error_line, run_cli
from fixtures.tiny import save_tiny, tiny_processor

EAF = """<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="x" FORMAT="3.0" VERSION="3.0">
  <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds"/>
  <TIME_ORDER>
    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="{t1}"/>
    <TIME_SLOT TIME_SLOT_ID="ts2" {t2}/>
    <TIME_SLOT TIME_SLOT_ID="ts3" TIME_VALUE="600"/>
    <TIME_SLOT TIME_SLOT_ID="ts4" TIME_VALUE="900"/>
  </TIME_ORDER>
  <TIER TIER_ID="gloss" LINGUISTIC_TYPE_REF="default-lt">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="{ref2}">
      <ANNOTATION_VALUE>hello</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts3" TIME_SLOT_REF2="ts4">
      <ANNOTATION_VALUE>bye</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <TIER TIER_ID="words" LINGUISTIC_TYPE_REF="ref-lt" PARENT_REF="gloss">
    <ANNOTATION><REF_ANNOTATION ANNOTATION_ID="r1" ANNOTATION_REF="{ref}">
      <ANNOTATION_VALUE>hi</ANNOTATION_VALUE></REF_ANNOTATION></ANNOTATION>
  </TIER>
  <LINGUISTIC_TYPE LINGUISTIC_TYPE_ID="default-lt" TIME_ALIGNABLE="true"/>
  <LINGUISTIC_TYPE LINGUISTIC_TYPE_ID="ref-lt" TIME_ALIGNABLE="false" CONSTRAINTS="Symbolic_Association"/>
</ANNOTATION_DOCUMENT>
"""


def eaf(t1="100", t2='TIME_VALUE="500"', ref2="ts2", ref="a1") -> str:
    return EAF.format(t1=t1, t2=t2, ref2=ref2, ref=ref)


SRT = "1\n00:00:00,100 --> 00:00:00,500\nhello\n\n2\n00:00:00,600 --> 00:00:00,900\nbye\n"

# (name, suffix, content, error pattern after the file name)
MALFORMED_SEGMENTS = [
    ("broken-xml", ".eaf", eaf()[:-40], r"not a readable ELAN file: broken XML"),
    ("not-elan", ".eaf", "<html><body/></html>", r"not an ELAN file: the root element is <html>"),
    ("value-1e3", ".eaf", eaf(t1="1e3"), r"time slot 'ts1' has TIME_VALUE '1e3', not a whole number of milliseconds"),
    ("value-negative", ".eaf", eaf(t1="-100"), r"time slot 'ts1' has TIME_VALUE '-100'"),
    ("value-huge", ".eaf", eaf(t1="99999999999999"), r"time slot 'ts1' has TIME_VALUE '99999999999999'"),
    ("value-empty", ".eaf", eaf(t1=""), r"time slot 'ts1' has TIME_VALUE ''"),
    ("dangling-ref2", ".eaf", eaf(ref2="ts9"), r"annotation 'a1': TIME_SLOT_REF2 'ts9' is not a time slot"),
    ("dangling-ref", ".eaf", eaf(ref="a9"), r"annotation 'r1' refers to 'a9', not an annotation of the file"),
    ("self-ref", ".eaf", eaf(ref="r1"), r"annotation 'r1': its references form a cycle"),
    ("backwards", ".eaf", eaf(t1="700"), r"annotation 'a1' \(tier 'gloss'\) ends at 0.500 s, not after its start"),
    ("duplicate-slot", ".eaf", eaf().replace('"ts4"', '"ts3"', 1), r"time slot 'ts3' is defined twice"),
    ("latin-1-srt", ".srt", SRT.replace("hello", "h\xe9llo").encode("latin-1"), r"not UTF-8 text \(byte \d+"),
    ("garbage-srt", ".srt", "this is not\na subtitle file\n", r"not a readable SRT file"),
    ("backwards-srt", ".srt", SRT.replace("00:00:00,500", "00:00:00,050"), r"cue 1 ends at 0.050 s"),
    ("latin-1-vtt", ".vtt", "WEBVTT\n\n00:00.100 --> 00:00.500\nh\xe9llo\n".encode("latin-1"), r"not UTF-8 text"),
    ("garbage-vtt", ".vtt", "no header\n", r"not a readable WebVTT file"),
    ("empty-srt", ".srt", "", r"no segments in the file"),
]


@pytest.mark.parametrize("name, suffix, content, pattern", MALFORMED_SEGMENTS, ids=[c[0] for c in MALFORMED_SEGMENTS])
def test_malformed_segments_files_name_the_file_and_the_problem(tmp_path, name, suffix, content, pattern):
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": " + pattern):
        read_segments(path)


def test_segments_files_read_every_tier_and_reference_annotations(tmp_path):
    path = tmp_path / "ok.eaf"
    path.write_text(eaf())
    spans = [(s.start, s.end, s.text) for s in read_segments(path)]
    assert spans == [(0.1, 0.5, "hello"), (0.1, 0.5, "hi"), (0.6, 0.9, "bye")]  # r1 takes a1's span
    assert [s.text for s in read_segments(path, "words")] == ["hi"]
    with pytest.raises(ValueError, match="no tier 'nope'; tiers: gloss, words"):
        read_segments(path, "nope")
    (tmp_path / "ok.srt").write_text(SRT)
    assert [(s.start, s.end) for s in read_segments(tmp_path / "ok.srt")] == [(0.1, 0.5), (0.6, 0.9)]


def test_unaligned_time_slot_is_skipped_with_a_warning(tmp_path):
    """ELAN allows a TIME_SLOT without TIME_VALUE (an unaligned slot): its annotations have no time, they are
    skipped and reported; the others are read."""
    from signclip_hf.spotting.outputs import SegmentsWarning

    path = tmp_path / "unaligned.eaf"
    path.write_text(eaf(t2=""))
    with pytest.warns(SegmentsWarning, match=r"skipped 2 annotation\(s\) on unaligned time slots.*'a1', 'r1'"):
        segments = read_segments(path)
    assert [(s.start, s.end, s.text) for s in segments] == [(0.6, 0.9, "bye")]
    with pytest.warns(SegmentsWarning), pytest.raises(ValueError, match="no aligned segments"):
        read_segments(path, "words")


def test_text_that_is_not_unicode_is_refused_by_the_processor():
    processor = tiny_processor()
    for texts, pattern in (
        (["<en> <ase> house", "\ud800"], r"text 1 '\\ud800' is not valid Unicode"),
        ("ho\udcffuse", r"text 0 'ho\\udcffuse' is not valid Unicode \(character 2"),
        (["house", None], r"text 1 is not a string: NoneType"),
        ([b"house"], r"text 0 is not a string: bytes"),
    ):
        with pytest.raises(ValueError, match=pattern):
            processor(text=texts, return_tensors="pt")
        with pytest.raises(ValueError, match=pattern):
            processor(text=texts, validate_tags=False)
    assert isinstance(processor, SignCLIPProcessor)
    with pytest.raises(ValueError, match=r"text 0 'ho\\udcffuse' is not valid Unicode"):
        make_prompts(["ho\udcffuse"])
    assert make_prompts("house") == ["<en> <ase> house"]  # one string is one query


def test_output_paths_are_checked_against_inputs_and_each_other(tmp_path):
    from signclip_hf.spotting.outputs import check_output_paths

    recording = tmp_path / "rec.pose"
    recording.write_bytes(b"x")
    inputs = {"the recording": recording, "--segments": None}
    with pytest.raises(ValueError, match=r"--output .*rec.pose: is the recording"):
        check_output_paths({"--output": tmp_path / "." / "rec.pose"}, inputs)
    link = tmp_path / "link.json"
    link.symlink_to(recording)
    with pytest.raises(ValueError, match="is the recording"):
        check_output_paths({"--output": link}, inputs)
    with pytest.raises(ValueError, match=r"--eaf .*x.json: is also --output"):
        check_output_paths({"--output": tmp_path / "x.json", "--eaf": tmp_path / "sub" / ".." / "x.json"}, inputs)
    with pytest.raises(ValueError, match="is a folder"):
        check_output_paths({"--output": tmp_path}, inputs)
    check_output_paths({"--output": tmp_path / "r.json", "--srt": tmp_path / "r.srt", "--vtt": None}, inputs)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny-hostile-spot"))


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile-recording") / "rec.pose"
    make_recording(GESTURES_DIR, "signer12", path, signs=2, pause_frames=(4, 6), seed=3)
    return path


@pytest.fixture(scope="module")
def bad_fps(recording, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fps")
    paths = {}
    for fps in (1e9, 1e-30, 0.0, 1001.0):  # (NaN is refused by the pose reader itself)
        pose = Pose.read(recording.read_bytes())
        pose.body.fps = fps
        paths[fps] = folder / f"fps-{fps}.pose"
        with open(paths[fps], "wb") as handle:
            pose.write(handle)
    return paths


def test_absurd_frame_rates_are_refused(bad_fps):
    pattern = r"frame rate is .* fps; times in seconds need a frame rate in \[1, 1000\]"
    for fps, path in bad_fps.items():
        with pytest.raises(InvalidPoseError, match=pattern):
            read_recording(path)




def test_spot_cli_refuses_to_overwrite_its_inputs_before_computing(model_dir, recording, tmp_path, capsys):
    copy = tmp_path / "rec.pose"
    copy.write_bytes(recording.read_bytes())
    subtitles = tmp_path / "subs.srt"
    subtitles.write_text(SRT)
    before = copy.read_bytes(), subtitles.read_bytes()
    base = ["spot", str(model_dir), str(copy), "--query", "hello", "--windows", "8"]
    for extra, pattern in (
        (["--output", str(copy)], "--output .*rec.pose: is the recording"),
        (["--output", str(tmp_path / "r.json"), "--srt", str(subtitles), "--segments", str(subtitles)],
         "--srt .*subs.srt: is --segments"),
        (["--output", str(tmp_path / "x.eaf"), "--eaf", str(tmp_path / "x.eaf")], "--eaf .*x.eaf: is also --output"),
        (["--output", str(model_dir / "config.json")], "is a file of MODEL"),
    ):  # fmt: skip
        code, out, err = run_cli(base + extra, capsys)
        assert code == 2 and re.search(pattern, err) and one_error_line(err), err
        assert "scored" not in out  # refused before any window was scored
    assert (copy.read_bytes(), subtitles.read_bytes()) == before


def test_spot_cli_reports_skipped_unaligned_annotations(model_dir, recording, tmp_path, capsys):
    path = tmp_path / "unaligned.eaf"
    path.write_text(eaf(t2=""))
    code, out, err = run_cli(["spot", str(model_dir), str(recording), "--query", "hello", "--segments", str(path),
                           "--output", str(tmp_path / "r.json")], capsys)  # fmt: skip
    assert code == 0, err
    assert "warning: " in err and "skipped 2 annotation(s) on unaligned time slots" in err
    assert json.loads((tmp_path / "r.json").read_text())["segments"] == [{"start": 0.6, "end": 0.9, "text": "bye"}]


def test_spot_cli_fuzz_table(model_dir, recording, bad_fps, tmp_path, capsys):
    """Hostile invocations: each ends with exit 2 and one line naming the problem (no traceback), or succeeds
    with finite numbers."""
    segments = {}
    for name, suffix, content, _ in MALFORMED_SEGMENTS:
        segments[name] = tmp_path / f"{name}{suffix}"
        segments[name].write_bytes(content.encode() if isinstance(content, str) else content)
    out = str(tmp_path / "r.json")
    base = [str(model_dir), str(recording)]
    refused = [
        (["--query", "ho\udcffuse"], "is not valid Unicode"),
        (["--query", "\udcff"], "is not valid Unicode"),
        (["--query", ""], "is blank"),
        (["--query", "   "], "is blank"),
        (["--query", "a", "--query", "a "], "given more than once"),
        (["--query", "a", "--top-k", "-1"], "top_k must be >= 1"),
        (["--query", "a", "--threshold", "nan"], "threshold must be a finite number"),
        (["--query", "a", "--threshold", "inf"], "threshold must be a finite number"),
        (["--query", "a", "--nms-iou", "nan"], "nms_iou must be in"),
        (["--query", "a", "--nms-iou", "0"], "nms_iou must be in"),
        (["--query", "a", "--spoken-language", "xx\udcff"], "unknown spoken language tag"),
        (["--query", "a", "--segments", str(tmp_path / "missing.srt")], "segments file not found"),
        (["--query", "a", "--segments", str(recording)], "segments must be .srt, .vtt or .eaf"),
        (["--query", "a", "--segments", str(segments["value-1e3"])], "TIME_VALUE '1e3'"),
        (["--query", "a", "--segments", str(segments["latin-1-srt"])], "latin-1-srt.srt: not UTF-8 text"),
        (["--query", "a", "--segments", str(segments["dangling-ref2"])], "TIME_SLOT_REF2 'ts9'"),
    ]
    for extra, pattern in refused:
        code, _, err = run_cli(["spot", *base, *extra, "--output", out], capsys)
        assert code == 2 and pattern in err and one_error_line(err), (extra, err)
    for fps, path in bad_fps.items():
        code, _, err = run_cli(["spot", str(model_dir), str(path), "--query", "a", "--output", out], capsys)
        assert code == 2 and "need a frame rate in [1, 1000]" in err and one_error_line(err), (fps, err)
    # odd but valid: a very long query, a query of symbols, segments far outside the recording (refused)
    code, _, err = run_cli(["spot", *base, "--query", "x" * 5000, "--query", "<>", "--windows", "8,400",
                         "--stride", "1000", "--top-k", "0", "--output", out], capsys)  # fmt: skip
    assert code == 0, err
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["skipped_sizes"] == [400]
    assert all(math.isfinite(d["score"]) and 0 <= d["start"] < d["end"] <= written["seconds"]
               for d in written["detections"])  # fmt: skip
    far = tmp_path / "far.srt"
    far.write_text("1\n99:00:00,000 --> 99:00:01,000\nhello\n")
    code, _, err = run_cli(["spot", *base, "--query", "a", "--segments", str(far), "--output", out], capsys)
    assert code == 2 and "lies outside the recording" in err
