"""Processor: prompts, language tags, tokenization limits, and the one-call interface."""

from __future__ import annotations

import numpy as np
import pytest
from signclip_hf.modeling import SignCLIPProcessor, UnknownLanguageError, format_prompt, validate_prompt
from transformers import AutoProcessor

from signclip_hf.sample_data import HOUSE_POSE

from fixtures.tiny import tiny_processor


def test_format_prompt():
    assert format_prompt("house") == "<en> <ase> house"
    assert format_prompt("Haus", "de", "gsg") == "<de> <gsg> Haus"


@pytest.mark.parametrize(
    "prompt, message",
    [("<en> <asl> house", "unknown sign language tag <asl>"), ("<english> <ase> house", "unknown spoken language tag <english>")],
)
def test_unknown_tags_are_refused(prompt, message):
    with pytest.raises(UnknownLanguageError, match=message):
        validate_prompt(prompt)
    with pytest.raises(UnknownLanguageError, match="house"):
        tiny_processor()(text=[prompt])


def test_untagged_text_is_allowed():
    validate_prompt("random text")
    validate_prompt("house")


def test_processor_outputs_what_the_model_takes():
    processor = tiny_processor()
    batch = processor(text=["<en> <ase> house", "<en> <gsg> house"], poses=[HOUSE_POSE], return_tensors="pt")
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "pose_values", "pose_attention_mask"}
    assert batch["pose_values"].shape == (1, 73, 609)
    tokens = processor.tokenizer.convert_ids_to_tokens(batch["input_ids"][0][batch["attention_mask"][0].bool()])
    # tags are plain text for the tokenizer, not added tokens
    assert tokens[:7] == ["[CLS]", "<", "en", ">", "<", "as", "##e"] and tokens[-1] == "[SEP]"


def test_text_truncated_to_63_tokens():
    batch = tiny_processor()(text=["<en> <ase> " + "word " * 200])
    assert len(batch["input_ids"][0]) == 63
    assert batch["input_ids"][0][-1] == tiny_processor().tokenizer.sep_token_id


def test_processor_save_load(tmp_path):
    processor = tiny_processor(long_clip_policy="truncate", max_frames=128)
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, SignCLIPProcessor)
    assert loaded.feature_extractor.long_clip_policy == "truncate" and loaded.feature_extractor.max_frames == 128
    np.testing.assert_array_equal(loaded(poses=HOUSE_POSE)["pose_values"], processor(poses=HOUSE_POSE)["pose_values"])


def test_needs_some_input():
    with pytest.raises(ValueError, match="give `text`, `poses`, or both"):
        tiny_processor()()
