"""SignCLIPProcessor: pose clips + language-tagged text prompts -> model inputs in one call (as transformers' CLIPProcessor)."""

from __future__ import annotations

from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessingKwargs, ProcessorMixin, TextKwargs

from .prompts_signclip import (  # noqa: F401  re-exported: the prompt helpers' historical home
    SIGN_LANGUAGES,
    SPOKEN_LANGUAGES,
    UnknownLanguageError,
    check_texts,
    format_prompt,
    validate_prompt,
    warn_if_untagged,
)

TEXT_KWARGS = frozenset(TextKwargs.__annotations__)
ACCEPTED_KWARGS = TEXT_KWARGS | {"text_kwargs", "common_kwargs"}


class SignCLIPProcessorKwargs(ProcessingKwargs, total=False):
    """Call-time keyword arguments: the tokenizer's (`padding`, `truncation`, `max_length`, `return_tensors`, ...)."""


class SignCLIPProcessor(ProcessorMixin):
    r"""Wraps a `SignCLIPFeatureExtractor` (poses) and a BERT-family tokenizer (prompts such as `"<en> <ase> house"`).

    `processor(text=[...], poses=[...], return_tensors="pt", padding=True)` gives `input_ids`, `attention_mask`
    (+ `token_type_ids`), `pose_values`, `pose_attention_mask`. Text defaults: padding to the longest prompt,
    truncation to `text_max_length` tokens (63, as released); call-time `padding="max_length"`, `max_length=N`, ...
    override them (`ProcessorMixin._merge_kwargs`; these saved defaults, not the tokenizer's init kwargs, are the
    base). `prompt_tags`: the tags the model was trained with; an untagged prompt gets a one-time warning naming them.
    """

    valid_processor_kwargs = SignCLIPProcessorKwargs

    def __init__(self, feature_extractor=None, tokenizer=None, text_max_length: int = 63, prompt_tags=None, **kwargs):
        super().__init__(feature_extractor, tokenizer, **kwargs)  # ProcessorMixin refuses unknown keywords
        self.text_max_length = text_max_length
        self.prompt_tags = list(prompt_tags or ["<en> <ase>"])
        self._warned_untagged = False

    @property
    def text_kwargs(self) -> dict:
        """The tokenizer defaults that call-time keyword arguments override (`ProcessorMixin._merge_kwargs`)."""
        return {"padding": True, "truncation": True, "max_length": self.text_max_length}

    def __call__(self, text=None, poses=None, validate_tags: bool = True, **kwargs) -> BatchFeature:
        if text is None and poses is None:
            raise ValueError("give `text`, `poses`, or both")
        unknown = sorted(set(kwargs) - ACCEPTED_KWARGS)
        if unknown:
            raise TypeError(f"{type(self).__name__}.__call__ got unexpected keyword argument(s) {unknown}")
        if text is None and set(kwargs) - {"return_tensors"}:
            raise TypeError(
                f"{type(self).__name__}.__call__ got text keyword argument(s) {sorted(set(kwargs) - {'return_tensors'})} "
                "without text: poses take no call-time options (the feature extractor's settings are saved with it)"
            )
        text_kwargs = self._merge_kwargs(SignCLIPProcessorKwargs, **kwargs)["text_kwargs"]
        unknown = sorted(set(text_kwargs) - TEXT_KWARGS)  # names nested in text_kwargs= / common_kwargs= too
        if unknown:
            raise TypeError(f"{type(self).__name__}.__call__ got unexpected text keyword argument(s) {unknown}")
        return_tensors = text_kwargs.pop("return_tensors", None)
        data = {}
        if text is not None:
            texts = check_texts(text)  # strings of valid Unicode (a lone surrogate breaks the tokenizer)
            if validate_tags:
                for prompt in texts:
                    validate_prompt(prompt)
                if not self._warned_untagged:
                    self._warned_untagged = warn_if_untagged(texts, self.prompt_tags)
            data.update(self.tokenizer(texts, **text_kwargs))
        if poses is not None:
            data.update(self.feature_extractor(poses))
        return BatchFeature(data, tensor_type=return_tensors)

    def format_prompt(self, text: str, spoken_language: str = "en", sign_language: str = "ase") -> str:
        return format_prompt(text, spoken_language, sign_language)

    @property
    def model_input_names(self) -> list[str]:
        return list(self.tokenizer.model_input_names) + list(self.feature_extractor.model_input_names)


__all__ = ["SignCLIPProcessor", "SignCLIPProcessorKwargs"]
