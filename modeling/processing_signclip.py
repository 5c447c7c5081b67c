"""SignCLIPProcessor: pose clips + text prompts -> model inputs in one call.

Prompts follow the paper (Jiang et al., EMNLP 2024, §3): `"<{spoken ISO 639-1}> <{sign ISO 639-3}> {text}"`, e.g. `"<en> <ase> house"`.
The tags are plain text for the tokenizer (not added tokens); the processor checks that any leading
tags are real language codes, so that a typo such as `<asl>` fails loudly instead of scoring quietly.
"""

from __future__ import annotations

import re
from typing import Sequence

from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

SPOKEN_LANGUAGES = frozenset(
    "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el "
    "en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it "
    "iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt "
    "my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl "
    "sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo "
    "za zh zu".split()
)
SIGN_LANGUAGES = {
    "aed": "Argentine Sign Language", "ase": "American Sign Language", "asf": "Auslan",
    "bfi": "British Sign Language", "bqn": "Bulgarian Sign Language", "bvl": "Bolivian Sign Language",
    "bzs": "Brazilian Sign Language (Libras)", "cse": "Czech Sign Language", "csf": "Cuba Sign Language",
    "csg": "Chilean Sign Language", "csl": "Chinese Sign Language", "csn": "Colombian Sign Language",
    "csq": "Croatian Sign Language", "dse": "Sign Language of the Netherlands", "dsl": "Danish Sign Language",
    "ecs": "Ecuadorian Sign Language", "esl": "Egyptian Sign Language", "eso": "Estonian Sign Language",
    "fcs": "Quebec Sign Language", "fse": "Finnish Sign Language", "fsl": "French Sign Language",
    "gsg": "German Sign Language", "gsm": "Guatemalan Sign Language", "gss": "Greek Sign Language",
    "hks": "Hong Kong Sign Language", "hsh": "Hungarian Sign Language", "icl": "Icelandic Sign Language",
    "ils": "International Sign", "ins": "Indian Sign Language", "ise": "Italian Sign Language",
    "isg": "Irish Sign Language", "isr": "Israeli Sign Language", "jos": "Jordanian Sign Language",
    "jsl": "Japanese Sign Language", "kvk": "Korean Sign Language", "lls": "Lithuanian Sign Language",
    "lsl": "Latvian Sign Language", "mdl": "Maltese Sign Language", "mfs": "Mexican Sign Language",
    "nsi": "Nigerian Sign Language", "nsl": "Norwegian Sign Language", "nzs": "New Zealand Sign Language",
    "pks": "Pakistan Sign Language", "prl": "Peruvian Sign Language", "pso": "Polish Sign Language",
    "psr": "Portuguese Sign Language", "rms": "Romanian Sign Language", "rsl": "Russian Sign Language",
    "sdl": "Saudi Arabian Sign Language", "sfb": "French Belgian Sign Language",
    "sfs": "South African Sign Language", "sgg": "Swiss-German Sign Language", "slf": "Swiss-Italian Sign Language",
    "sqs": "Sri Lankan Sign Language", "ssp": "Spanish Sign Language", "ssr": "Swiss-French Sign Language",
    "svk": "Slovakian Sign Language", "swl": "Swedish Sign Language", "tse": "Tunisian Sign Language",
    "tsm": "Turkish Sign Language", "tsq": "Thai Sign Language", "tss": "Taiwan Sign Language",
    "ukl": "Ukrainian Sign Language", "vgt": "Flemish Sign Language", "vsl": "Venezuelan Sign Language",
    "ysl": "Yugoslavian Sign Language",
}  # fmt: skip
_LEADING_TAGS = re.compile(r"^\s*<([^<>\s]*)>\s*<([^<>\s]*)>")


class UnknownLanguageError(ValueError):
    """A prompt tag that is not an ISO 639-1 spoken or a known ISO 639-3 sign language code."""


def check_language_codes(spoken_language: str, sign_language: str, prompt: str | None = None) -> None:
    where = f" in prompt {prompt!r}" if prompt is not None else ""
    if spoken_language not in SPOKEN_LANGUAGES:
        raise UnknownLanguageError(
            f"unknown spoken language tag <{spoken_language}>{where}: expected an ISO 639-1 code such as <en>"
        )
    if sign_language not in SIGN_LANGUAGES:
        raise UnknownLanguageError(
            f"unknown sign language tag <{sign_language}>{where}: expected an ISO 639-3 sign language code "
            f"such as <ase> (American), <gsg> (German), <bfi> (British); known: {', '.join(sorted(SIGN_LANGUAGES))}"
        )


def format_prompt(text: str, spoken_language: str = "en", sign_language: str = "ase") -> str:
    """`format_prompt("house")` -> `"<en> <ase> house"`; codes are validated."""
    check_language_codes(spoken_language, sign_language)
    return f"<{spoken_language}> <{sign_language}> {text}"


def validate_prompt(prompt: str) -> None:
    """Check the leading `<spoken> <sign>` tags of a prompt, if it has them (untagged text is allowed)."""
    match = _LEADING_TAGS.match(prompt)
    if match:
        check_language_codes(match.group(1), match.group(2), prompt)


class SignCLIPProcessor(ProcessorMixin):
    r"""Wraps a `SignCLIPFeatureExtractor` (poses) and a BERT-family tokenizer (text prompts).

    `processor(text=[...], poses=[...], return_tensors="pt")` gives `input_ids`, `attention_mask`
    (+ `token_type_ids`), `pose_values` and `pose_attention_mask`: exactly what `SignCLIPModel` takes.
    Text is truncated to `text_max_length` tokens including [CLS]/[SEP] (63, as released).
    """

    def __init__(self, feature_extractor=None, tokenizer=None, text_max_length: int = 63, **kwargs):
        super().__init__(feature_extractor, tokenizer, **kwargs)  # ProcessorMixin refuses unknown keywords
        self.text_max_length = text_max_length

    def __call__(
        self,
        text: str | Sequence[str] | None = None,
        poses=None,
        return_tensors: str | None = None,
        validate_tags: bool = True,
    ) -> BatchFeature:
        if text is None and poses is None:
            raise ValueError("give `text`, `poses`, or both")
        data = {}
        if text is not None:
            texts = [text] if isinstance(text, str) else list(text)
            if validate_tags:
                for prompt in texts:
                    validate_prompt(prompt)
            data.update(
                self.tokenizer(
                    texts, padding=True, truncation=True, max_length=self.text_max_length, return_tensors=None
                )
            )
        if poses is not None:
            data.update(self.feature_extractor(poses))
        return BatchFeature(data, tensor_type=return_tensors)

    def format_prompt(self, text: str, spoken_language: str = "en", sign_language: str = "ase") -> str:
        return format_prompt(text, spoken_language, sign_language)

    @property
    def model_input_names(self) -> list[str]:
        return list(self.tokenizer.model_input_names) + list(self.feature_extractor.model_input_names)


__all__ = [
    "SignCLIPProcessor",
    "UnknownLanguageError",
    "format_prompt",
    "validate_prompt",
    "SIGN_LANGUAGES",
    "SPOKEN_LANGUAGES",
]
