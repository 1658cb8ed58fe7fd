"""The one configuration tree shared by training, export, replay and the node.

A trained model's checkpoint stores the whole tree, so the runtime reads window
length, frame rate, horizon and input size from what the model was trained with
instead of from a second, drifting copy. Every section validates its own values
in ``__post_init__`` and names the offending field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from r3d_ros.config.loader import ConfigError


def check(condition: bool, name: str, message: str) -> None:
    """Raise ConfigError for field ``name`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{name}: {message}")


# Color/depth pairing defaults, shared by the bag data loader (DataConfig) and the node and
# replay (StreamConfig), so a model is trained on the pairs it will see at run time.
SYNC_POLICY: Literal["exact", "approximate"] = "approximate"
SYNC_SLOP_S = 0.005
DEPTH_TIMEOUT_S = 0.3
# The largest exponent on the grammar filter's newest frame: weights up to 2 were measured
# (docs/experiment.md, "The newest frame's weight above 1"); 4 leaves room without inviting typos.
MAX_NEWEST_WEIGHT = 4.0


def setting(default: Any, doc: str, *, low: float | None = None, high: float | None = None, live: bool = False) -> Any:
    """A field that is also a node parameter: default, range and description live here only.

    ``live`` marks a setting the node applies when it changes at run time (at a
    tick boundary); the others are read-only parameters, read on configure.
    The node's parameter table, its params file and docs/parameters.md are
    generated from these fields (r3d_ros/ros/parameters.py).
    """
    metadata = {"doc": doc, "low": low, "high": high, "live": live}
    if isinstance(default, tuple):  # a string-array parameter: a fresh list per instance
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def check_ranges(config: object) -> None:
    """Check every ``setting`` field of ``config`` against its [low, high] range, naming the field."""
    for item in fields(config):
        low, high = item.metadata.get("low"), item.metadata.get("high")
        value = getattr(config, item.name)
        if low is not None and not low <= value <= high:
            raise ConfigError(f"{item.name}: must be in [{low:g}, {high:g}], got {value!r}")


@dataclass
class InputConfig:
    """What one preprocessed frame looks like to the network."""

    height: int = 48  # rows of the network input (frames are centre-cropped to its aspect ratio, then resized)
    width: int = 64  # columns of the network input
    # Depth is fed in metres divided by this constant (never min-max normalised per
    # frame, which would erase the absolute distance the depth-only classes depend on).
    max_depth_m: float = 6.0
    # Depth readings below this are treated as invalid (sensor minimum range).
    min_depth_m: float = 0.1
    # How a network depth pixel summarises the camera pixels it covers: "closest" keeps the
    # nearest valid reading (thin structures such as an arm keep their own depth), "area"
    # averages them (an arm's depth blends with the wall behind it). "area" is the default
    # only because model files written before this setting existed were trained with it.
    depth_downsample: Literal["area", "closest"] = "area"

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

    backbone: str = "small_cnn"  # registry name (r3d_ros/model/encoders.py BACKBONES)
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])  # one stride-2 conv stage per entry
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
    attention_heads: int = 4  # heads of the 2-token cross-modal attention
    # EMA momentum of the running channel scores used by the rank rule at eval time.
    score_momentum: float = 0.1
    # How the R3D fuser's two attended tokens become one: mean (the reference: averaged, then
    # projected), concat (both kept side by side, then projected), so a modality's channels
    # need not share the fused token's directions with the other's, or gated (a weighted mean
    # whose two weights a learned gate reads from the frame's tokens, equal at initialisation),
    # so a frame whose depth or colour looks unreliable can lean on the other modality.
    pool: Literal["mean", "concat", "gated"] = "mean"

    def __post_init__(self) -> None:
        check(0.0 <= self.blend_fraction <= 0.5, "blend_fraction", f"must be in [0, 0.5], got {self.blend_fraction}")
        check(self.attention_heads >= 1, "attention_heads", f"must be >= 1, got {self.attention_heads}")
        check(0.0 < self.score_momentum <= 1.0, "score_momentum", f"must be in (0, 1], got {self.score_momentum}")


@dataclass
class EBRConfig:
    """Explicit Basis Reallocation modules (per-modality projector/decoder, discriminator)."""

    enabled: bool = False  # add a projector/decoder per modality and a modality discriminator
    projector_hidden: int = 128  # hidden width of the projector and decoder MLPs
    discriminator_hidden: int = 64  # hidden width of the discriminator MLP
    # How a missing modality's projection is estimated from the present one:
    # direct: decode the present modality's projection as is (the paper's rule, valid
    #   because adversarial training aligns the projected spaces);
    # affine: apply a ridge-regression map between the projected spaces fitted on
    #   training data with the final weights, then decode.
    substitution: Literal["direct", "affine"] = "direct"
    # Parameter-free LayerNorm on each projection, so the encoders cannot escape the
    # adversary by scale (the paper does not say; without it they do, docs/experiment.md).
    normalize_projections: bool = True

    def __post_init__(self) -> None:
        check(self.projector_hidden > 0, "projector_hidden", f"must be > 0, got {self.projector_hidden}")
        check(self.discriminator_hidden > 0, "discriminator_hidden", f"must be > 0, got {self.discriminator_hidden}")


@dataclass
class TemporalConfig:
    """Anticipation transformer over the fused per-frame tokens (r3d_ros/model/temporal.py)."""

    dim: int = 128  # transformer width
    heads: int = 4  # attention heads
    encoder_layers: int = 2  # encoder layers over the observed frames
    # Decoder layers of the queries (the next action, and the class at each future frame).
    decoder_layers: int = 2
    ffn_mult: int = 2  # feed-forward width as a multiple of dim
    dropout: float = 0.1  # dropout in the transformer layers
    use_encoder: bool = True  # false: the decoder reads the projected tokens directly
    # Future frames per future query: each query predicts the class of this many consecutive
    # frames (the decoder's cost falls by the same factor; boundaries are placed to this grain).
    future_stride: int = 2
    # Each observed frame attends only to itself and earlier frames: every frame of the window is
    # then segmented as the last one is at run time (from the past alone), so all of them train
    # the recognition a live robot needs, not only the window's last.
    causal: bool = False
    # A second encoder stack over the same tokens, causal, with its own segmentation head: it is
    # trained to segment every frame from the past alone, and at run time the window's newest
    # frame (live_frames of them) is read from it while the older frames keep the bidirectional encoder's reading
    # (docs/experiment.md, "A causal live frame for the bidirectional network").
    live_encoder: bool = False
    # At run time (eval mode), frames the live stack's every frame attends to, itself included (0: all
    # earlier frames of the window). With a long history the newest frame of a just-begun action is read
    # with the confidence the older frames give the action before, and the grammar filter follows that
    # reading. Training is unchanged (every frame from its whole past; see live_history_in_training), so it
    # is a way to read a trained network (docs/experiment.md, "What a right newest frame is worth").
    live_history: int = 0
    # Train the live stack with that band too (every frame from its last live_history frames), instead of
    # from its whole past: the network then learns the reading it is given at run time.
    live_history_in_training: bool = False
    # At run time, the window's newest frames read from the live stack (1: the newest alone); the older ones
    # keep the bidirectional stack's reading. The bidirectional reading of a frame needs frames after it in
    # view: in the window's last few it sees few or none and reads worse than the live stack. Training is
    # unchanged, so it is a way to read a trained network (docs/experiment.md, "The window's newest frames
    # read from the live stack").
    live_frames: int = 1
    # A second head on the live stack (0: none): for every frame, how many more frames its action goes on,
    # as a distribution over 0 .. remaining_frames - 1 (the last bin: that many or more). Trained on every
    # frame as the live stack's segmentation is; at run time the newest frame's distribution tells the
    # grammar filter when the current action ends (model.filter_remaining_weight), which the chain's
    # duration distribution alone cannot: an action's frames show how far into it the person is
    # (docs/experiment.md, "When the current action ends").
    remaining_frames: int = 0

    def __post_init__(self) -> None:
        check(self.remaining_frames >= 0, "remaining_frames", f"must be >= 0 (0: no head), got {self.remaining_frames}")
        check(
            self.remaining_frames == 0 or self.live_encoder,
            "remaining_frames",
            "is a head of the live stack: it needs live_encoder true",
        )
        check(self.live_history >= 0, "live_history", f"must be >= 0 (0: the whole window), got {self.live_history}")
        check(
            not self.live_history_in_training or self.live_history > 0,
            "live_history_in_training",
            "needs a live_history > 0 to train with",
        )
        check(self.live_frames >= 1, "live_frames", f"must be >= 1 (the newest frame), got {self.live_frames}")
        check(
            self.live_frames == 1 or self.live_encoder,
            "live_frames",
            "reads frames from the live stack: it needs live_encoder true",
        )
        check(
            not self.live_encoder or (self.use_encoder and self.encoder_layers > 0 and not self.causal),
            "live_encoder",
            "needs the bidirectional encoder (use_encoder, encoder_layers > 0) and causal false",
        )
        check(self.future_stride >= 1, "future_stride", f"must be >= 1, got {self.future_stride}")
        check(self.dim > 0 and self.dim % self.heads == 0, "dim", f"must be a positive multiple of heads={self.heads}")
        check(self.encoder_layers >= 0, "encoder_layers", f"must be >= 0, got {self.encoder_layers}")
        check(self.decoder_layers >= 1, "decoder_layers", f"must be >= 1, got {self.decoder_layers}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


@dataclass
class ModelConfig:
    """The R3D network: encoders, fuser, optional EBR modules, temporal model."""

    # Action classes by id. Left empty in a training config, it is filled from the dataset.
    class_names: list[str] = field(default_factory=list)
    token_dim: int = 128  # channels of each per-frame token (RGB, depth, fused)
    input: InputConfig = field(default_factory=InputConfig)
    rgb_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    depth_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    fuser: FuserConfig = field(default_factory=FuserConfig)
    ebr: EBRConfig = field(default_factory=EBRConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    # How the future is read out: head = the future head's per-frame classes (and the
    # next-action head); grammar = the action grammar estimated from the training labels,
    # applied to the recognised current action and how long it has lasted (r3d_ros/model/grammar.py);
    # grammar_filter = the same grammar as a hidden semi-Markov model over the window's per-frame
    # class probabilities: the current action, its age and the future from P(class, age | window).
    future_decoder: Literal["head", "grammar", "grammar_filter"] = "head"
    # grammar_filter: exponent on each frame's class probabilities (below 1: a temporal encoder's
    # per-frame outputs share context, so they are not independent evidence).
    filter_evidence_weight: float = 0.5
    # grammar_filter: exponent on the window's newest frame (None: filter_evidence_weight). The
    # newest frame is the only evidence of an action that has just started; tempered like the
    # older frames, whose context it shares, it holds the filter on the previous action longer.
    # Above 1 it counts as more than one observation: the live stack's reading sharpened.
    filter_newest_weight: float | None = None
    # grammar_filter with a remaining-frames head (temporal.remaining_frames): exponent on the head's
    # distribution of when the current action ends, multiplied into the chain's (0: the head is not read).
    filter_remaining_weight: float = 1.0
    # Depth noise (std of a reading at 1 m, m; r3d_ros/runtime/depth_noise.py) past which this
    # model does better without depth, measured after training (train.depth_limit, or
    # scripts/measure_noise_limit.py --write on the synthetic benchmark, or scripts/set_model_setting.py);
    # the node leaves out noisier depth frames (its max_depth_noise -1). 0 = not measured: every
    # depth frame is kept.
    max_depth_noise: float = 0.0
    # RGB noise (std of the pixel noise at the network's input, 0-255; r3d_ros/runtime/rgb_noise.py)
    # past which this model does better without RGB where it has depth, measured after training
    # (train.rgb_limit, or scripts/measure_noise_limit.py --modality rgb --write on the synthetic
    # benchmark, or scripts/set_model_setting.py). 0 = not
    # measured: every RGB frame is kept.
    max_rgb_noise: float = 0.0

    def __post_init__(self) -> None:
        check(len(self.class_names) != 1, "class_names", "needs at least two classes")
        check(0 <= self.max_depth_noise <= 1, "max_depth_noise", f"must be in [0, 1], got {self.max_depth_noise}")
        check(0 <= self.max_rgb_noise <= 255, "max_rgb_noise", f"must be in [0, 255], got {self.max_rgb_noise}")
        check(len(set(self.class_names)) == len(self.class_names), "class_names", "contains duplicates")
        check(self.token_dim > 0, "token_dim", f"must be > 0, got {self.token_dim}")
        check(
            0 < self.filter_evidence_weight <= 1,
            "filter_evidence_weight",
            f"must be in (0, 1], got {self.filter_evidence_weight}",
        )
        check(
            self.filter_newest_weight is None or 0 < self.filter_newest_weight <= MAX_NEWEST_WEIGHT,
            "filter_newest_weight",
            f"must be empty or in (0, {MAX_NEWEST_WEIGHT:g}], got {self.filter_newest_weight}",
        )
        check(
            self.filter_remaining_weight >= 0,
            "filter_remaining_weight",
            f"must be >= 0 (0: the remaining-frames head is not read), got {self.filter_remaining_weight}",
        )
        check(
            self.token_dim % self.fuser.attention_heads == 0,
            "token_dim",
            f"must be a multiple of fuser.attention_heads={self.fuser.attention_heads}",
        )

    @property
    def num_classes(self) -> int:
        """Number of action classes (the end-of-sequence token is extra)."""
        return len(self.class_names)

    @property
    def uses_grammar(self) -> bool:
        """True when the future is decoded by the action grammar the model file carries."""
        return self.future_decoder in ("grammar", "grammar_filter")

    @property
    def decoding(self) -> str:
        """How the future is read out, filter weights included: the model id does not cover them."""
        if self.future_decoder != "grammar_filter":
            return self.future_decoder
        newest = self.filter_evidence_weight if self.filter_newest_weight is None else self.filter_newest_weight
        remaining = f", remaining {self.filter_remaining_weight:g}" if self.temporal.remaining_frames else ""
        return f"grammar_filter (evidence weight {self.filter_evidence_weight:g}, newest frame {newest:g}{remaining})"


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
        check(
            self.horizon_frames <= 1024,
            "horizon_s",
            f"covers {self.horizon_frames} frames at {self.fps} fps; 1024 at most",
        )

    @property
    def horizon_frames(self) -> int:
        """Future frames (at ``fps``) the model predicts a class for."""
        return max(1, round(self.horizon_s * self.fps))


@dataclass
class SyntheticConfig:
    """Knobs of the synthetic benchmark; each is validated on construction (ConfigError names the field).

    The defaults are mild; how hard the sensor effects are is the experiment's
    choice, made in the training config.
    """

    num_train: int = 48  # videos in the "train" split
    num_test: int = 16  # videos in the "test" split
    seconds: float = 20.0  # length of every video
    fps: float = 10.0  # frame rate; stamps are i / fps
    height: int = 120  # image rows (480 x 640 gives D435-like recordings)
    width: int = 160  # image columns; the horizontal field of view is always 69 degrees
    min_distance_m: float = 2.4  # the figure's base distance from the camera is uniform in
    max_distance_m: float = 3.2  # [min_distance_m, max_distance_m] per video
    rgb_noise: float = 2.0  # std of Gaussian pixel noise, 0-255 scale
    depth_noise: float = 0.003  # depth noise std in metres at 1 m; grows with distance squared (stereo)
    occlusion: float = 0.05  # probability per frame of an occluding box in front of the figure
    occlusion_size: float = 0.3  # the box's sides as a fraction of the image sides (x0.7-1.3)
    depth_dropout: float = 0.02  # fraction of depth pixels zeroed at random (stereo holes)
    depth_missing_frames: float = 0.0  # probability that a whole depth frame is missing (Frame.depth None)
    ir_absorbing_sleeves: float = 0.0  # probability per video that the figure's arms read no depth (dark fabric)
    sleeve_holes_filled: bool = False  # the sleeves' holes filled with what lies behind them (a hole-filling filter)
    lighting_gain: float = 0.15  # per-video brightness gain uniform in [1 - this, 1 + this]
    lighting_flicker: float = 0.02  # std of the per-frame relative brightness change
    seed: int = 0  # everything the benchmark draws derives from it

    def __post_init__(self) -> None:
        check(self.num_train >= 0, "num_train", f"must be >= 0, got {self.num_train}")
        check(self.num_test >= 0, "num_test", f"must be >= 0, got {self.num_test}")
        check(self.num_train + self.num_test >= 1, "num_train", "num_train + num_test must be >= 1")
        check(0 < self.fps <= 120, "fps", f"must be in (0, 120], got {self.fps}")
        check(0 < self.seconds <= 3600, "seconds", f"must be in (0, 3600], got {self.seconds}")
        check(round(self.seconds * self.fps) >= 1, "seconds", "seconds * fps must give at least one frame")
        check(32 <= self.height <= 2160, "height", f"must be in [32, 2160], got {self.height}")
        check(32 <= self.width <= 3840, "width", f"must be in [32, 3840], got {self.width}")
        check(1.8 <= self.min_distance_m <= 3.6, "min_distance_m", f"must be in [1.8, 3.6], got {self.min_distance_m}")
        check(
            self.min_distance_m <= self.max_distance_m <= 3.6,
            "max_distance_m",
            f"must be in [min_distance_m={self.min_distance_m}, 3.6], got {self.max_distance_m}",
        )
        check(0 <= self.rgb_noise <= 128, "rgb_noise", f"must be in [0, 128], got {self.rgb_noise}")
        check(0 <= self.depth_noise <= 0.1, "depth_noise", f"must be in [0, 0.1], got {self.depth_noise}")
        check(0 <= self.occlusion <= 1, "occlusion", f"must be in [0, 1], got {self.occlusion}")
        check(0 < self.occlusion_size <= 1, "occlusion_size", f"must be in (0, 1], got {self.occlusion_size}")
        check(0 <= self.depth_dropout < 1, "depth_dropout", f"must be in [0, 1), got {self.depth_dropout}")
        check(
            0 <= self.depth_missing_frames <= 1,
            "depth_missing_frames",
            f"must be in [0, 1], got {self.depth_missing_frames}",
        )
        check(
            0 <= self.ir_absorbing_sleeves <= 1,
            "ir_absorbing_sleeves",
            f"must be in [0, 1], got {self.ir_absorbing_sleeves}",
        )
        check(0 <= self.lighting_gain <= 0.9, "lighting_gain", f"must be in [0, 0.9], got {self.lighting_gain}")
        check(
            0 <= self.lighting_flicker <= 0.5, "lighting_flicker", f"must be in [0, 0.5], got {self.lighting_flicker}"
        )
        check(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")

    @property
    def num_frames(self) -> int:
        """Frames per video."""
        return round(self.seconds * self.fps)


@dataclass
class RecordingConfig:
    """One of the user's own recordings: a rosbag2 (folder or file) and its label file."""

    bag: str
    labels: str


@dataclass
class DataConfig:
    """Where training and evaluation videos come from."""

    source: Literal["synthetic", "ntu", "utkinect", "darai", "rosbag"] = "synthetic"  # which loader
    # Dataset root folder (ntu, utkinect, darai).
    root: str | None = None
    # Standard split protocol of the dataset (e.g. cross_subject, cross_view for NTU).
    protocol: str = "default"
    # ntu: 60 or 120 classes.
    ntu_version: int = 60
    # darai: label level used as classes (1 = activity, 2 = action, 3 = fine-grained).
    darai_level: int = 2
    # rosbag: recordings for training and for testing, plus topic names and pairing.
    train_recordings: list[RecordingConfig] = field(default_factory=list)
    test_recordings: list[RecordingConfig] = field(default_factory=list)
    color_topic: str | None = None  # color Image topic (None = the only one in the bag)
    depth_topic: str | None = None  # depth Image topic (None = the only one in the bag)
    sync_policy: Literal["exact", "approximate"] = SYNC_POLICY  # color/depth pairing (see StreamConfig)
    sync_slop_s: float = SYNC_SLOP_S  # approximate pairing tolerance (s)
    depth_timeout_s: float = DEPTH_TIMEOUT_S  # a color frame waits this long (stamp time) for its depth
    # synthetic: the procedural benchmark's knobs (docs/synthetic_benchmark.md).
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    # raise: a corrupt file stops loading with its name; skip: skip it and count it.
    on_error: Literal["raise", "skip"] = "raise"
    # Folder for preprocessed frames of file-backed datasets (None = keep in memory only).
    cache_dir: str | None = None
    # Processes that render and preprocess the videos not in the cache (0 = one per CPU core).
    workers: int = 0

    def __post_init__(self) -> None:
        check(self.ntu_version in (60, 120), "ntu_version", f"must be 60 or 120, got {self.ntu_version}")
        check(self.darai_level in (1, 2, 3), "darai_level", f"must be 1, 2 or 3, got {self.darai_level}")
        check(self.sync_slop_s >= 0, "sync_slop_s", f"must be >= 0, got {self.sync_slop_s}")
        check(self.workers >= 0, "workers", f"must be >= 0 (0 = one per CPU core), got {self.workers}")
        if self.source in ("ntu", "utkinect", "darai"):
            check(self.root is not None, "root", f"is required for source={self.source}")
        if self.source == "rosbag":
            check(bool(self.train_recordings), "train_recordings", "is required for source=rosbag")


@dataclass
class EBRTrainConfig:
    """The adversarial game of EBR: psi identifies the modality, encoders+projectors confuse it."""

    # grl: one backward pass through a gradient-reversal layer;
    # alternating: a discriminator step on detached projections, then an encoder step against frozen psi.
    mode: Literal["grl", "alternating"] = "grl"
    # Weight of the adversarial term in the encoders' loss, reached after ramp_epochs (0 = no ramp).
    weight: float = 0.1
    ramp_epochs: int = 2  # epochs over which the adversarial weight ramps up linearly
    discriminator_lr: float = 1e-3  # learning rate of the discriminator's own optimiser
    # What the encoders optimise against the discriminator psi:
    # confusion: the cross-entropy of psi's output against the uniform distribution (bounded,
    #   minimal when psi cannot tell the modalities apart; psi learns on detached projections);
    # reverse: maximise psi's modality-ID cross-entropy (the paper's min-max, unbounded: the
    #   encoders are rewarded for making psi confidently wrong, i.e. swapping the modalities).
    objective: Literal["confusion", "reverse"] = "confusion"
    # Weight of the relative reconstruction error ||h^-1(h(f)) - f||^2 / ||f - mean f||^2
    # keeping each decoder an inverse of its projector, so the fuser's input keeps the
    # encoder's information (0 = off).
    reconstruction_weight: float = 1.0
    # Weight of the relative cross-reconstruction error ||h_t^-1(h_s(f_s)) - f_t||^2 on frames
    # with both modalities: trains the substitution of a missing modality directly. Not in the
    # paper (whose distribution-level alignment does not pair frames), so 0 by default.
    cross_reconstruction_weight: float = 0.0

    def __post_init__(self) -> None:
        check(self.weight >= 0, "weight", f"must be >= 0, got {self.weight}")
        check(self.ramp_epochs >= 0, "ramp_epochs", f"must be >= 0, got {self.ramp_epochs}")
        check(self.discriminator_lr > 0, "discriminator_lr", f"must be > 0, got {self.discriminator_lr}")
        check(self.reconstruction_weight >= 0, "reconstruction_weight", "must be >= 0")
        check(self.cross_reconstruction_weight >= 0, "cross_reconstruction_weight", "must be >= 0")


@dataclass
class DistillConfig:
    """Cross-modal knowledge distillation on per-frame action predictions of each modality."""

    enabled: bool = False  # add cross-modal distillation
    # Teacher and student branches; the teacher's predictions are detached.
    teacher: Literal["rgb", "depth", "fused"] = "rgb"
    student: Literal["rgb", "depth"] = "depth"
    weight: float = 0.5  # weight of the distillation term
    temperature: float = 2.0  # softmax temperature of teacher and student

    def __post_init__(self) -> None:
        check(self.teacher != self.student, "student", "must differ from the teacher")
        check(self.weight >= 0, "weight", f"must be >= 0, got {self.weight}")
        check(self.temperature > 0, "temperature", f"must be > 0, got {self.temperature}")


@dataclass
class TeacherConfig:
    """Distillation from a trained model file into the model being trained (a student of the same task).

    Why: a fused model trained from scratch ends up below the single-modality model of its
    own recipe on the modality that carries the task (docs/experiment.md); the teacher's
    per-frame class probabilities on every window frame it can read tell the student what that
    model makes of each frame, not only the hard label. The teacher reads only the modalities it
    was trained on (its own ``train.trained_modalities``) and is never updated; its file is read
    with safetensors (no unpickling). With ``student_alone`` an RGB-only teacher teaches only on
    frames whose depth was dropped: the student's fallback, not its fused reading. With
    ``alone_over: window`` only on windows with no depth at all: a frame whose depth was dropped
    amid frames with depth is read from their context too, which the teacher cannot see.
    """

    model: str = ""  # path of the teacher's model file (.safetensors); empty = no teacher
    weight: float = 0.0  # weight of the distillation term (0 = off)
    temperature: float = 2.0  # softmax temperature of teacher and student (the term is scaled by its square)
    student_alone: bool = False  # distil only on frames the student reads with the teacher's modalities alone
    alone_over: Literal["frame", "window"] = "frame"  # with student_alone: each such frame, or only whole such windows

    def __post_init__(self) -> None:
        check(self.weight >= 0, "weight", f"must be >= 0, got {self.weight}")
        check(self.temperature > 0, "temperature", f"must be > 0, got {self.temperature}")
        check(self.weight == 0 or bool(self.model), "model", "a teacher weight > 0 needs the teacher's model file")

    @property
    def enabled(self) -> bool:
        """Whether training distils from the teacher."""
        return self.weight > 0


@dataclass
class RSCConfig:
    """RSC-MD-style balancing: per-modality auxiliary heads and gradient amplification."""

    enabled: bool = False  # add per-modality auxiliary heads (and gradient amplification)
    # Weight of each modality's auxiliary per-frame classification loss.
    aux_weight: float = 0.5
    # Amplify the suppressed modality's encoder gradient by the measured imbalance.
    amplify: bool = True
    # Upper bound of the amplification factor.
    max_gain: float = 4.0
    # Exponent on the imbalance ratio (gain = ratio ** power, clipped to [1, max_gain]).
    power: float = 1.0

    def __post_init__(self) -> None:
        check(self.aux_weight >= 0, "aux_weight", f"must be >= 0, got {self.aux_weight}")
        check(self.max_gain >= 1, "max_gain", f"must be >= 1, got {self.max_gain}")
        check(self.power > 0, "power", f"must be > 0, got {self.power}")


@dataclass
class FramePretrainConfig:
    """Per-frame pretraining of the encoders before the windowed training (see r3d_ros.train.pretrain)."""

    # Passes over every training frame (0 = off). Each modality's encoder classifies single
    # frames drawn from all videos at once, through a linear head dropped afterwards.
    epochs: int = 0
    batch_frames: int = 256  # frames per optimisation step, drawn from all training videos
    lr: float = 2e-3  # AdamW peak learning rate (5 % linear warm-up, then cosine decay)

    def __post_init__(self) -> None:
        check(self.epochs >= 0, "epochs", f"must be >= 0 (0 = off), got {self.epochs}")
        check(self.batch_frames >= 2, "batch_frames", f"must be >= 2 (BatchNorm), got {self.batch_frames}")
        check(self.lr > 0, "lr", f"must be > 0, got {self.lr}")


@dataclass
class ColorJitterConfig:
    """Photometric augmentation of training RGB (see r3d_ros.train.augment); 0 and 0 = off."""

    # Each colour channel is multiplied by a gain drawn from [1 - gain, 1 + gain] and shifted
    # by an offset drawn from [-bias, bias] (RGB scaled to [0, 1]), then clipped to [0, 1]:
    # one draw per training video in the windowed steps, one per frame in pretraining.
    gain: float = 0.0
    bias: float = 0.0

    def __post_init__(self) -> None:
        check(0 <= self.gain < 1, "gain", f"must be in [0, 1), got {self.gain}")
        check(0 <= self.bias <= 0.5, "bias", f"must be in [0, 0.5], got {self.bias}")

    @property
    def enabled(self) -> bool:
        """Whether any jitter is applied."""
        return self.gain > 0 or self.bias > 0


@dataclass
class BlurConfig:
    """Gaussian blur of training RGB (see r3d_ros.train.augment); probability 0 = off."""

    # With this probability a training video (windowed steps) or frame (pretraining) is blurred
    # with a Gaussian whose standard deviation, in network-input pixels, is drawn uniformly from
    # [0.5, max_sigma].
    probability: float = 0.0
    max_sigma: float = 1.5

    def __post_init__(self) -> None:
        check(0 <= self.probability <= 1, "probability", f"must be in [0, 1], got {self.probability}")
        check(0.5 <= self.max_sigma <= 8, "max_sigma", f"must be in [0.5, 8], got {self.max_sigma}")

    @property
    def enabled(self) -> bool:
        """Whether any frame is blurred."""
        return self.probability > 0


@dataclass
class ZoomOutConfig:
    """The scene moved away from the camera in training frames (see r3d_ros.train.augment); probability 0 = off."""

    # With this probability a training video (windowed steps) or frame (pretraining) has its RGB
    # and depth shrunk about the image centre by a scale drawn uniformly from [min_scale, 1]
    # (edges replicated into the border) and its depth divided by that scale: the same scene
    # that much farther away.
    probability: float = 0.0
    min_scale: float = 0.7

    def __post_init__(self) -> None:
        check(0 <= self.probability <= 1, "probability", f"must be in [0, 1], got {self.probability}")
        check(0.3 <= self.min_scale < 1, "min_scale", f"must be in [0.3, 1), got {self.min_scale}")

    @property
    def enabled(self) -> bool:
        """Whether any frame is zoomed out."""
        return self.probability > 0


@dataclass
class DepthCorruptionConfig:
    """A miscalibrated, noisy depth stream in training frames (see r3d_ros.train.augment); probability 0 = off."""

    # With this probability a training video (windowed steps) or frame (pretraining) has every
    # depth reading multiplied by one gain drawn uniformly from [1 - max_gain_change, 1 + max_gain_change]
    # (a depth scale off by that much) and by 1 + Gaussian noise whose relative standard deviation
    # is drawn uniformly from [0, max_relative_noise] (each reading on its own); holes stay holes.
    probability: float = 0.0
    max_gain_change: float = 0.15
    max_relative_noise: float = 0.1
    # Stereo noise as the camera adds it, before the network pixel summarises its readings (0 = none):
    # a corrupted video or frame also gets a noise coefficient drawn uniformly from [0, max_noise_at_1m]
    # (the std of one reading at 1 m, growing with the distance squared: the renderer's depth_noise, the
    # node's estimate and its max_depth_noise), added to each of the readings_per_pixel camera readings a
    # network pixel covers, of which it keeps the nearest (depth_downsample: closest; their mean with
    # area). So the nearest is pulled towards the camera by about 1.3 std (six readings), as noisy depth
    # reaches the network at run time, which zero-mean noise on the network pixel never shows.
    max_noise_at_1m: float = 0.0
    readings_per_pixel: int = 6  # camera readings per network pixel: 6 for 120x160 at 48x64, 100 for 480x640

    def __post_init__(self) -> None:
        check(0 <= self.probability <= 1, "probability", f"must be in [0, 1], got {self.probability}")
        check(0 <= self.max_gain_change < 1, "max_gain_change", f"must be in [0, 1), got {self.max_gain_change}")
        check(
            0 <= self.max_relative_noise <= 1, "max_relative_noise", f"must be in [0, 1], got {self.max_relative_noise}"
        )
        check(0 <= self.max_noise_at_1m <= 0.5, "max_noise_at_1m", f"must be in [0, 0.5], got {self.max_noise_at_1m}")
        check(
            1 <= self.readings_per_pixel <= 10000,
            "readings_per_pixel",
            f"must be in [1, 10000], got {self.readings_per_pixel}",
        )

    @property
    def enabled(self) -> bool:
        """Whether any frame's depth is corrupted."""
        return self.probability > 0


@dataclass
class MonitorConfig:
    """Rank monitoring during training."""

    # Frames of the evaluation set used for spectra, ranks and CKA.
    max_frames: int = 2048
    # Warn when a modality's rank or contribution falls below this fraction of its early value.
    collapse_fraction: float = 0.5
    # The epoch whose values are the "early" reference (1 = after the first epoch).
    reference_epoch: int = 1

    def __post_init__(self) -> None:
        check(self.max_frames >= 16, "max_frames", f"must be >= 16, got {self.max_frames}")
        check(0 < self.collapse_fraction < 1, "collapse_fraction", f"must be in (0, 1), got {self.collapse_fraction}")
        check(self.reference_epoch >= 1, "reference_epoch", f"must be >= 1, got {self.reference_epoch}")


@dataclass
class EvalConfig:
    """Anticipation metrics (FUTR/R3D protocol)."""

    alphas: list[float] = field(default_factory=lambda: [0.2, 0.3])  # observed fractions of each test video
    betas: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.5])  # predicted fractions after them
    # Fraction of frames whose depth is removed for the depth-missing accuracy.
    depth_missing_fraction: float = 0.5

    def __post_init__(self) -> None:
        check(all(0 < a < 1 for a in self.alphas), "alphas", f"must be in (0, 1), got {self.alphas}")
        check(all(0 < b <= 1 for b in self.betas), "betas", f"must be in (0, 1], got {self.betas}")
        check(0 <= self.depth_missing_fraction <= 1, "depth_missing_fraction", "must be in [0, 1]")


@dataclass
class NoiseLimitConfig:
    """The noise of one modality past which the trained model does better without it, measured after training.

    On the synthetic benchmark (whose renderer sets the noise) the finished model segments the
    test splits of ``seeds`` with the modality at each noise level on every frame, and without
    it; the limit, the midpoint after the last level at which the modality still helps, is
    written into the model file (``model.max_depth_noise`` / ``model.max_rgb_noise``), where the
    node reads it. So a model trained from its config leaves out what it cannot use without a
    separate step.
    """

    # Noise levels in the renderer's units (train.depth_limit: data.synthetic.depth_noise, the std
    # of a reading at 1 m, m; train.rgb_limit: data.synthetic.rgb_noise, a pixel's std, 0-255),
    # increasing; empty = not measured (the model keeps every frame of the modality).
    levels: list[float] = field(default_factory=list)
    # Development benchmark seeds the limit is tuned on: report no number measured on them.
    seeds: list[int] = field(default_factory=lambda: [50, 51, 52])
    num_test: int = 48  # test videos per seed

    def __post_init__(self) -> None:
        check(all(level > 0 for level in self.levels), "levels", f"must be positive, got {self.levels}")
        check(list(self.levels) == sorted(set(self.levels)), "levels", f"must be increasing, got {self.levels}")
        check(len(self.seeds) > 0, "seeds", "needs at least one seed")
        check(self.num_test >= 1, "num_test", f"must be >= 1, got {self.num_test}")

    @property
    def enabled(self) -> bool:
        """Whether the limit is measured after training."""
        return bool(self.levels)


@dataclass
class TrainConfig:
    """Optimisation, sampling, remedies for modality collapse, monitoring and checkpoints."""

    epochs: int = 20  # passes over the training videos
    # Videos per optimisation step (all their frames are encoded once), split across processes.
    batch_videos: int = 8
    # Observation windows sampled per video per step (they share the encoded frames).
    windows_per_video: int = 8
    # Shortest observed window, in frames.
    min_observed: int = 4
    lr: float = 1e-3  # AdamW peak learning rate (linear warm-up, then cosine decay)
    weight_decay: float = 5e-3  # AdamW weight decay
    warmup_epochs: int = 2  # epochs of linear learning-rate warm-up
    grad_clip: float = 1.0  # gradient-norm clipping (0 = off)
    # Decay per optimisation step of the moving average of the weights that training evaluates and
    # saves (0 = off: the last step's weights). The average over roughly 1 / (1 - ema_decay) steps
    # smooths out which batches came last.
    ema_decay: float = 0.0
    seed: int = 0  # initialisation and every epoch's sampling derive from it
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto = CUDA when available
    # torch's intra-op CPU threads (0 = torch's default, one per core). The thread count changes the
    # order of floating-point sums, so the same config gives the same weights only at the same count.
    threads: int = 0
    loss_segmentation: float = 1.0  # weight of the observed-segmentation cross-entropy
    loss_future: float = 1.0  # weight of the cross-entropy of the class at each future frame
    loss_next: float = 0.5  # weight of the next-action cross-entropy
    loss_remaining: float = 1.0  # weight of the remaining-frames cross-entropy (model.temporal.remaining_frames)
    # The last ``recent_frames`` observed frames of each window count ``recent_weight`` times in the
    # segmentation loss: the current action (the last frame) drives every forecast, and it is the
    # frame recognised with the least context (no frame after it).
    recent_frames: int = 0
    recent_weight: float = 1.0
    # Frames within ``boundary_frames`` of a change of action, on either side (the old action's last
    # frames and the new one's first), count ``boundary_weight`` times in the segmentation terms. Every
    # action ramps in from and out to the same stance, so these few frames are where a change is told
    # at all; an anticipation that starts in an action's first frames reads its class from them. Off in
    # the shipped recipe: 5 frames at weight 2 read no onset sooner and lost at alpha 0.2 over three
    # draws (docs/experiment.md, "Frames near a change of action weighted twice in training").
    boundary_frames: int = 0
    boundary_weight: float = 1.0
    # Per-frame probability of removing depth (or RGB) during training, so the fusion
    # head learns to work with substituted (EBR) or zeroed inputs.
    modality_dropout_depth: float = 0.0
    modality_dropout_rgb: float = 0.0
    # Per-video probability of removing depth (or RGB) from every frame of a training video,
    # so the model also learns to anticipate from one modality alone (a camera whose depth
    # stream is lost); a frame never loses both. 1 trains a single-modality baseline (the
    # other modality is never seen, in training nor in its evaluations; the same network and
    # recipe otherwise).
    modality_dropout_depth_video: float = 0.0
    modality_dropout_rgb_video: float = 0.0
    # Colour jitter of training RGB, so the RGB encoder cannot key on one camera's colours.
    rgb_jitter: ColorJitterConfig = field(default_factory=ColorJitterConfig)
    # Gaussian blur of training RGB, so the RGB encoder relies on coarse shape and motion, the
    # evidence that survives pixel noise and focus, instead of fine texture.
    rgb_blur: BlurConfig = field(default_factory=BlurConfig)
    # The scene moved farther from the camera (RGB and depth together), so a person farther away
    # than the training videos' range still looks like one the model has seen.
    zoom_out: ZoomOutConfig = field(default_factory=ZoomOutConfig)
    # Depth off in scale and noisy, with its labels unchanged: when depth misleads, the fusion must
    # learn to read RGB instead of trusting depth because it is usually the better modality.
    depth_corruption: DepthCorruptionConfig = field(default_factory=DepthCorruptionConfig)
    ebr: EBRTrainConfig = field(default_factory=EBRTrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    rsc: RSCConfig = field(default_factory=RSCConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    pretrain: FramePretrainConfig = field(default_factory=FramePretrainConfig)
    depth_limit: NoiseLimitConfig = field(default_factory=NoiseLimitConfig)
    rgb_limit: NoiseLimitConfig = field(default_factory=NoiseLimitConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # Evaluate (metrics + rank monitoring) every this many epochs, and after the last.
    eval_every: int = 1

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        check(self.threads >= 0, "threads", f"must be >= 0 (0 = torch's default), got {self.threads}")
        check(self.batch_videos >= 1, "batch_videos", f"must be >= 1, got {self.batch_videos}")
        check(self.windows_per_video >= 1, "windows_per_video", f"must be >= 1, got {self.windows_per_video}")
        check(self.min_observed >= 1, "min_observed", f"must be >= 1, got {self.min_observed}")
        check(self.recent_frames >= 0, "recent_frames", f"must be >= 0, got {self.recent_frames}")
        check(self.recent_weight > 0, "recent_weight", f"must be > 0, got {self.recent_weight}")
        check(self.boundary_frames >= 0, "boundary_frames", f"must be >= 0, got {self.boundary_frames}")
        check(self.boundary_weight > 0, "boundary_weight", f"must be > 0, got {self.boundary_weight}")
        check(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        check(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        check(self.warmup_epochs >= 0, "warmup_epochs", f"must be >= 0, got {self.warmup_epochs}")
        check(self.grad_clip >= 0, "grad_clip", f"must be >= 0 (0 = off), got {self.grad_clip}")
        check(0 <= self.ema_decay < 1, "ema_decay", f"must be in [0, 1) (0 = off), got {self.ema_decay}")
        for name in ("modality_dropout_depth", "modality_dropout_rgb"):
            value = getattr(self, name)
            check(0 <= value < 1, name, f"must be in [0, 1), got {value}")
        for name in ("modality_dropout_depth_video", "modality_dropout_rgb_video"):
            value = getattr(self, name)
            check(0 <= value <= 1, name, f"must be in [0, 1], got {value}")
        both = min(self.modality_dropout_depth_video, self.modality_dropout_rgb_video)
        check(
            both < 1, "modality_dropout_rgb_video", "1 together with modality_dropout_depth_video = 1 leaves no input"
        )
        check(self.eval_every >= 1, "eval_every", f"must be >= 1, got {self.eval_every}")

    @property
    def trained_modalities(self) -> tuple[str, ...]:
        """The modalities training shows the model: a single-modality baseline never sees the other one.

        Its encoder for that modality is untrained, so evaluation never feeds it
        (r3d_ros/eval/anticipation.py): scored "with both", the baseline is scored on its own modality.
        """
        return tuple(name for name in ("rgb", "depth") if getattr(self, f"modality_dropout_{name}_video") < 1)


@dataclass
class RuntimeConfig:
    """Deployment choices: which backend runs the graphs and how (not part of what was trained)."""

    backend: Literal["auto", "tensorrt", "onnxruntime", "torch"] = setting(
        "auto", "inference backend (auto: TensorRT with a CUDA GPU, else ONNX Runtime, else PyTorch)"
    )
    cache_dir: str | None = setting(None, "folder for exported ONNX and TensorRT engines; empty = ~/.cache/r3d_ros")
    # One ONNX Runtime thread is fastest for the small default model: a spinning thread pool
    # competes with preprocessing for the cores (docs/benchmarks.md, --threads 0 vs 1).
    threads: int = setting(1, "ONNX Runtime intra-op threads (0 = library default)", low=0, high=64)
    onnx_providers: list[str] = setting(
        ("CPUExecutionProvider",),
        "ONNX Runtime execution providers in order of preference (CPUExecutionProvider, CUDAExecutionProvider, "
        "TensorrtExecutionProvider); those not available here are skipped with a warning",
    )
    # PyTorch: device (auto = CUDA when available) and optional torch.compile.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_compile: bool = False
    precision: Literal["fp16", "fp32"] = setting("fp16", "TensorRT engine precision")
    # TensorRT: builder workspace limit, version-compatible engines.
    workspace_mb: int = 1024
    version_compatible: bool = False

    def __post_init__(self) -> None:
        check_ranges(self)
        check(self.workspace_mb >= 16, "workspace_mb", f"must be >= 16, got {self.workspace_mb}")
        check(bool(self.onnx_providers), "onnx_providers", "needs at least one provider")
        unknown = [p for p in self.onnx_providers if not p.endswith("ExecutionProvider")]
        check(
            not unknown, "onnx_providers", f"{unknown} are not ONNX Runtime provider names (e.g. CUDAExecutionProvider)"
        )


@dataclass
class StreamConfig:
    """How a live or replayed RGB-D stream becomes anticipations (node and bag replay share it)."""

    # approximate is the default: with a slop well under half a frame period it pairs what exact
    # pairs (the closest depth wins, equal stamps at no extra latency) and survives the few
    # milliseconds of stamp jitter between streams that make exact pairing fail silently.
    sync_policy: Literal["exact", "approximate"] = setting(
        SYNC_POLICY, "color/depth pairing: exact = equal stamps, approximate = nearest within sync_slop_s"
    )
    sync_slop_s: float = setting(
        SYNC_SLOP_S, "approximate sync: largest stamp difference of a pair (s); keep under half a frame period",
        low=0.0, high=0.5,
    )  # fmt: skip
    depth_timeout_s: float = setting(
        DEPTH_TIMEOUT_S,
        "a color frame waits this long (stamp time) for depth, then goes on without it",
        low=0.01,
        high=5.0,
    )
    sync_queue: int = setting(64, "synchronizer queue bound per stream (frames)", low=1, high=10000)
    # A depth stream that is present but wrong misleads the model more than no depth
    # (docs/limitations.md); this runs it on colour alone, as when depth is lost. With
    # input_source realsense the camera is then not asked for depth at all (USB bandwidth).
    use_depth: bool = setting(
        True, "read depth; false = colour alone, every frame without depth, for a depth stream known to be wrong"
    )
    # -1: the loaded model's own limit (model.max_depth_noise in its file), since where depth stops
    # helping depends on the training: 0.08 for the model shipped on 2026-12-06 (second), 0.0325
    # before it. It is measured at the renderer's 160x120 and converted to the stream's resolution:
    # a network pixel keeps the nearest of the readings it covers, and the nearest of many noisy
    # readings is pulled farther, so 0.08 becomes 0.041 on a 640x480 stream
    # (r3d_ros/runtime/depth_noise.py). A value set here is the camera's noise and applies as set.
    max_depth_noise: float = setting(
        -1.0,
        "depth frames whose estimated noise (std of a reading at 1 m, m) is above this go in as missing; "
        "-1 = the model's own limit, converted to the stream's resolution (none recorded: keep all), 0 = keep all",
        low=-1.0,
        high=1.0,
        live=True,
    )
    # The same for RGB, on frames whose depth is kept (a frame never loses both): noisy colour
    # (low light, high gain) misleads a fused model where depth alone would do
    # (docs/experiment.md, "Noisy RGB left out").
    max_rgb_noise: float = setting(
        -1.0,
        "RGB frames whose estimated noise (std at the network's input, 0-255) is above this go in as missing "
        "where the frame has depth; -1 = the model's own limit (none recorded: keep all), 0 = keep all",
        low=-1.0,
        high=255.0,
        live=True,
    )
    publish_rate_hz: float = setting(
        10.0, "anticipations per second of stream time (capped at the model's frame rate)", low=0.1, high=100.0,
        live=True,
    )  # fmt: skip
    depth_scale: float = setting(
        0.001, "metres per 16-bit depth unit for topic input (0.001 = millimetres)", low=1e-6, high=1.0, live=True
    )
    smoothing_alpha: float = setting(
        1.0, "EMA weight of the newest tick's probabilities (1 = no smoothing)", low=0.01, high=1.0, live=True
    )
    hold_s: float = setting(
        0.0, "hysteresis: minimum time the published next action is held (0 = off)", low=0.0, high=60.0, live=True
    )
    min_confidence: float = setting(
        0.0, "hysteresis: a new next action needs at least this confidence", low=0.0, high=1.0, live=True
    )

    def __post_init__(self) -> None:
        check_ranges(self)
        check(
            self.max_depth_noise == -1 or self.max_depth_noise >= 0,
            "max_depth_noise",
            f"must be -1 (the model's own limit) or >= 0, got {self.max_depth_noise}",
        )
        check(
            self.max_rgb_noise == -1 or self.max_rgb_noise >= 0,
            "max_rgb_noise",
            f"must be -1 (the model's own limit) or >= 0, got {self.max_rgb_noise}",
        )
        if self.sync_policy == "approximate":
            check(self.sync_slop_s > 0, "sync_slop_s", "must be > 0 for approximate sync")


@dataclass
class NodeConfig:
    """The anticipation node's own settings (inputs, outputs, diagnostics); the node's parameters.

    Not part of the tree a model is trained with: the node reads these from its
    ROS parameters, together with the StreamConfig and RuntimeConfig settings.
    Topic names are relative, so a namespace moves the node's inputs with it.
    """

    model_path: str = setting("", "model file (.safetensors); empty = the shipped default model")
    input_source: Literal["topics", "realsense"] = setting("topics", "where frames come from")
    color_topic: str = setting("camera/camera/color/image_raw", "color image topic (input_source=topics)")
    depth_topic: str = setting(
        "camera/camera/aligned_depth_to_color/image_raw", "depth image topic aligned to color (input_source=topics)"
    )
    color_transport: Literal["raw", "compressed"] = setting(
        "raw", "color input: raw sensor_msgs/Image on color_topic, or CompressedImage on color_topic/compressed"
    )
    depth_transport: Literal["raw", "compressedDepth"] = setting(
        "raw", "depth input: raw Image on depth_topic, or CompressedImage on depth_topic/compressedDepth"
    )
    qos_reliability: Literal["best_effort", "reliable"] = setting(
        "best_effort", "image subscription reliability (best_effort also matches reliable publishers)"
    )
    qos_depth: int = setting(10, "image subscription history depth", low=1, high=100)
    input_queue_size: int = setting(
        30, "frames waiting for the worker; the oldest (with its partner image) is dropped when full", low=2, high=1000
    )
    frame_id: str = setting("", "header.frame_id of the output; empty = the color image's frame_id", live=True)
    debug_image_depth: bool = setting(False, "show the depth frame beside the colour frame on ~/debug_image", live=True)
    diagnostics_period_s: float = setting(1.0, "period of /diagnostics messages (s)", low=0.1, high=60.0)
    rank_collapse_fraction: float = setting(
        0.5, "warn when the fused effective rank falls below this fraction of its calibrated median",
        low=0.0, high=1.0, live=True,
    )  # fmt: skip
    late_frame_warn_ms: float = setting(
        100.0, "warn when frame stamps differ from the node's clock by more than this at arrival (median; 0 = off)",
        low=0.0, high=60000.0, live=True,
    )  # fmt: skip
    rank_calibration_ticks: int = setting(
        50, "full-window ticks whose fused effective rank define the calibrated range", low=1, high=100000
    )
    autostart: bool = setting(True, "configure and activate on start (false = wait for lifecycle transitions)")
    realsense_serial: str = setting("", "camera serial number; empty = the first camera")
    realsense_width: int = setting(640, "color and depth width", low=160, high=1920)
    realsense_height: int = setting(480, "color and depth height", low=120, high=1080)
    realsense_fps: int = setting(30, "camera frame rate", low=5, high=90)
    realsense_playback_file: str = setting("", "play this RealSense .bag instead of a camera")
    realsense_loop: bool = setting(False, "loop the playback file")

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass
class R3DConfig:
    """Root of the configuration tree."""

    model: ModelConfig = field(default_factory=ModelConfig)
    anticipation: AnticipationConfig = field(default_factory=AnticipationConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        for name, knob in (("depth_limit", "depth_noise"), ("rgb_limit", "rgb_noise")):
            levels = getattr(self.train, name).levels
            check(
                not levels or self.data.source == "synthetic",
                f"train.{name}.levels",
                f"noise limits are measured on the synthetic benchmark, not on data.source {self.data.source!r}",
            )
            trained = getattr(self.data.synthetic, knob)
            check(
                not levels or levels[0] > trained,
                f"train.{name}.levels",
                f"must lie above the data.synthetic.{knob} {trained:g} the model is trained on, got {levels}",
            )
