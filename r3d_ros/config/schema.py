"""The one configuration tree shared by training, export, replay and the node.

A trained model's checkpoint stores the whole tree, so the runtime reads window
length, frame rate, horizon and input size from what the model was trained with
instead of from a second, drifting copy. Every section validates its own values
in ``__post_init__`` and names the offending field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from r3d_ros.config.loader import ConfigError


def check(condition: bool, name: str, message: str) -> None:
    """Raise ConfigError for field ``name`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{name}: {message}")


@dataclass
class InputConfig:
    """What one preprocessed frame looks like to the network."""

    height: int = 48
    width: int = 64
    # Depth is fed in metres divided by this constant (never min-max normalised per
    # frame, which would erase the absolute distance the depth-only classes depend on).
    max_depth_m: float = 6.0
    # Depth readings below this are treated as invalid (sensor minimum range).
    min_depth_m: float = 0.1

    def __post_init__(self) -> None:
        check(8 <= self.height <= 1024, "height", f"must be in [8, 1024], got {self.height}")
        check(8 <= self.width <= 1024, "width", f"must be in [8, 1024], got {self.width}")
        check(self.max_depth_m > 0, "max_depth_m", f"must be > 0, got {self.max_depth_m}")
        check(
            0 <= self.min_depth_m < self.max_depth_m,
            "min_depth_m",
            f"must be in [0, max_depth_m={self.max_depth_m}), got {self.min_depth_m}",
        )


@dataclass
class EncoderConfig:
    """A per-frame CNN encoder; ``backbone`` names an entry of the backbone registry."""

    backbone: str = "small_cnn"
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    # Optional user-provided state dict (.safetensors, or a .pt read with weights_only=True).
    weights: str | None = None

    def __post_init__(self) -> None:
        check(len(self.channels) >= 1, "channels", "needs at least one stage")
        check(all(c > 0 for c in self.channels), "channels", f"must be positive, got {self.channels}")


@dataclass
class FuserConfig:
    """How the per-frame RGB and depth tokens become one fused token."""

    # r3d: Rank-enhancing Token Fuser; mean / concat: the vanilla fusion baselines.
    kind: Literal["r3d", "mean", "concat"] = "r3d"
    # bn_gain: weakest channels by |BatchNorm gain| (R3D reference rule);
    # rank: channels whose removal least lowers the batch's effective rank.
    score: Literal["bn_gain", "rank"] = "bn_gain"
    # Fraction of each modality's channels blended with the other modality's.
    blend_fraction: float = 0.1
    attention_heads: int = 4
    # EMA momentum of the running channel scores used by the rank rule at eval time.
    score_momentum: float = 0.1

    def __post_init__(self) -> None:
        check(0.0 <= self.blend_fraction <= 0.5, "blend_fraction", f"must be in [0, 0.5], got {self.blend_fraction}")
        check(self.attention_heads >= 1, "attention_heads", f"must be >= 1, got {self.attention_heads}")
        check(0.0 < self.score_momentum <= 1.0, "score_momentum", f"must be in (0, 1], got {self.score_momentum}")


@dataclass
class EBRConfig:
    """Explicit Basis Reallocation modules (per-modality projector/decoder, discriminator)."""

    enabled: bool = False
    projector_hidden: int = 128
    discriminator_hidden: int = 64
    # How a missing modality's projection is estimated from the present one:
    # direct: decode the present modality's projection as is (the paper's rule, valid
    #   because adversarial training aligns the projected spaces);
    # affine: apply a ridge-regression map between the projected spaces fitted on
    #   training data with the final weights, then decode.
    substitution: Literal["direct", "affine"] = "direct"

    def __post_init__(self) -> None:
        check(self.projector_hidden > 0, "projector_hidden", f"must be > 0, got {self.projector_hidden}")
        check(self.discriminator_hidden > 0, "discriminator_hidden", f"must be > 0, got {self.discriminator_hidden}")


@dataclass
class TemporalConfig:
    """FUTR-style anticipation transformer over the fused per-frame tokens."""

    dim: int = 128
    heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 2
    # Learned action queries: the longest future action sequence the model can predict.
    num_queries: int = 8
    ffn_mult: int = 2
    dropout: float = 0.1
    use_encoder: bool = True

    def __post_init__(self) -> None:
        check(self.dim > 0 and self.dim % self.heads == 0, "dim", f"must be a positive multiple of heads={self.heads}")
        check(self.encoder_layers >= 0, "encoder_layers", f"must be >= 0, got {self.encoder_layers}")
        check(self.decoder_layers >= 1, "decoder_layers", f"must be >= 1, got {self.decoder_layers}")
        check(self.num_queries >= 1, "num_queries", f"must be >= 1, got {self.num_queries}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


@dataclass
class ModelConfig:
    """The R3D network: encoders, fuser, optional EBR modules, temporal model."""

    # Action classes by id. Left empty in a training config, it is filled from the dataset.
    class_names: list[str] = field(default_factory=list)
    token_dim: int = 128
    input: InputConfig = field(default_factory=InputConfig)
    rgb_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    depth_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    fuser: FuserConfig = field(default_factory=FuserConfig)
    ebr: EBRConfig = field(default_factory=EBRConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)

    def __post_init__(self) -> None:
        check(len(self.class_names) != 1, "class_names", "needs at least two classes")
        check(len(set(self.class_names)) == len(self.class_names), "class_names", "contains duplicates")
        check(self.token_dim > 0, "token_dim", f"must be > 0, got {self.token_dim}")
        check(
            self.token_dim % self.fuser.attention_heads == 0,
            "token_dim",
            f"must be a multiple of fuser.attention_heads={self.fuser.attention_heads}",
        )

    @property
    def num_classes(self) -> int:
        """Number of action classes (the end-of-sequence token is extra)."""
        return len(self.class_names)


@dataclass
class AnticipationConfig:
    """The time base the model was trained on; the runtime reproduces it exactly."""

    # Frames are subsampled to this rate by timestamp, so 15/30/60 fps cameras agree.
    fps: float = 10.0
    # Longest observed window, in frames at ``fps``.
    window: int = 64
    # How far ahead the future action sequence reaches, in seconds.
    horizon_s: float = 6.0

    def __post_init__(self) -> None:
        check(0.5 <= self.fps <= 120.0, "fps", f"must be in [0.5, 120], got {self.fps}")
        check(2 <= self.window <= 1024, "window", f"must be in [2, 1024], got {self.window}")
        check(self.horizon_s > 0, "horizon_s", f"must be > 0, got {self.horizon_s}")


@dataclass
class R3DConfig:
    """Root of the configuration tree."""

    model: ModelConfig = field(default_factory=ModelConfig)
    anticipation: AnticipationConfig = field(default_factory=AnticipationConfig)
