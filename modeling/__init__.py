"""The SignCLIP model family in transformers' file layout (these files also travel to the Hub as remote code)."""

from .configuration_signclip import SignCLIPConfig, SignCLIPPoseConfig
from .feature_extraction_signclip import LONG_CLIP_POLICIES, SignCLIPFeatureExtractor, select_frame_indices
from .keypoints_signclip import (
    KEYPOINT_LAYOUTS,
    LEFT_HANDED_RULES,
    CorruptPoseError,
    DegeneratePoseError,
    EmptyPoseError,
    InvalidPoseError,
    KeypointLayout,
    NonFinitePoseError,
    PoseLayoutError,
    array_to_keypoints,
    keypoints_to_features,
    left_handed_clips,
    mirror_features,
    normalize_keypoints,
    refuse_non_finite,
)
from .modeling_signclip import (
    SignCLIPForVideoClassification,
    SignCLIPModel,
    SignCLIPOutput,
    SignCLIPPreTrainedModel,
    signclip_loss,
)
from .pose_io_signclip import describe_pose_input, load_pose, read_keypoints
from .processing_signclip import SignCLIPProcessor, SignCLIPProcessorKwargs
from .prompts_signclip import SIGN_LANGUAGES, SPOKEN_LANGUAGES, UnknownLanguageError, format_prompt, validate_prompt
