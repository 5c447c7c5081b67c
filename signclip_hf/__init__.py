"""signclip-hf: SignCLIP (sign-language pose <-> text) on the Hugging Face stack.

Importing this package registers the SignCLIP classes with transformers' Auto classes, and marks them
for `trust_remote_code` export so that `save_pretrained` writes the modeling files next to the weights.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForVideoClassification,
    AutoProcessor,
)

from .modeling import *  # noqa: F403
from .modeling import (
    SignCLIPConfig,
    SignCLIPFeatureExtractor,
    SignCLIPForVideoClassification,
    SignCLIPModel,
    SignCLIPPoseConfig,
    SignCLIPProcessor,
)

__version__ = "0.1.0"


def _register() -> None:
    AutoConfig.register(SignCLIPConfig.model_type, SignCLIPConfig, exist_ok=True)
    AutoConfig.register(SignCLIPPoseConfig.model_type, SignCLIPPoseConfig, exist_ok=True)
    AutoModel.register(SignCLIPConfig, SignCLIPModel, exist_ok=True)
    AutoModelForVideoClassification.register(SignCLIPConfig, SignCLIPForVideoClassification, exist_ok=True)
    AutoFeatureExtractor.register(SignCLIPConfig, SignCLIPFeatureExtractor, exist_ok=True)
    AutoProcessor.register(SignCLIPConfig, SignCLIPProcessor, exist_ok=True)
    SignCLIPConfig.register_for_auto_class()
    SignCLIPModel.register_for_auto_class("AutoModel")
    SignCLIPForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")
    SignCLIPFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
    SignCLIPProcessor.register_for_auto_class("AutoProcessor")


_register()

from . import pipeline  # noqa: E402  registers the SignCLIP pipeline tasks
