"""The R3D network: shapes, padding, streaming equals batch, missing modalities, losses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import CLASSES, small_config
from safetensors.torch import save_file

from r3d_ros.config import ConfigError, R3DConfig
from r3d_ros.model import IGNORE, AnticipationTargets, R3DModel, anticipation_losses
from r3d_ros.model.checkpoint import load_model, save_model
from r3d_ros.model.encoders import small_cnn
from r3d_ros.model.grammar import ActionGrammar

K = len(CLASSES)


def frames(batch: int, length: int, config: R3DConfig) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = config.model.input.height, config.model.input.width
    rgb = torch.rand(batch, length, 3, h, w)
    depth = torch.rand(batch, length, 2, h, w)
    depth[:, :, 1] = (depth[:, :, 1] > 0.1).float()
    return rgb, depth


def test_forward_shapes(config: R3DConfig) -> None:
    model = R3DModel(config)
    rgb, depth = frames(3, 12, config)
    mask = torch.ones(3, 12, dtype=torch.bool)
    out = model(rgb, depth, mask)
    future = config.anticipation.horizon_frames
    assert out.temporal.segmentation_logits.shape == (3, 12, K)
    assert out.temporal.future_logits.shape == (3, future, K)
    assert out.temporal.next_logits.shape == (3, K)
    assert out.fused_tokens.shape == (3, 12, config.model.token_dim)


def test_padding_does_not_change_the_real_frames_outputs(config: R3DConfig) -> None:
    model = R3DModel(config).eval()
    rgb, depth = frames(1, 12, config)
    short = torch.ones(1, 7, dtype=torch.bool)
    padded_mask = torch.zeros(1, 12, dtype=torch.bool)
    padded_mask[:, :7] = True
    rgb[:, 7:] = 1e4  # garbage in padded frames must not leak anywhere
    with torch.no_grad():
        alone = model(rgb[:, :7], depth[:, :7], short).temporal
        padded = model(rgb, depth, padded_mask).temporal
    torch.testing.assert_close(padded.segmentation_logits[:, :7], alone.segmentation_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded.future_logits, alone.future_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded.next_logits, alone.next_logits, atol=1e-5, rtol=1e-5)


def test_padding_never_enters_batchnorm_statistics(config: R3DConfig) -> None:
    rgb, depth = frames(2, 12, config)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 5:] = False
    stats = []
    for padding_value in (0.0, 1e4):
        torch.manual_seed(0)
        model = R3DModel(config).train()
        rgb[1, 5:] = padding_value
        model(rgb, depth, mask)
        stats.append(torch.cat([b for n, b in model.named_buffers() if "running_mean" in n]))
    torch.testing.assert_close(stats[0], stats[1])


@pytest.mark.parametrize(
    "overrides",
    [(), ("model.ebr.enabled=true",), ("model.fuser.kind=concat",), ("model.fuser.pool=concat",),
     ("model.fuser.pool=gated",), ("model.temporal.causal=true",), ("model.temporal.live_encoder=true",),
     ("model.temporal.live_encoder=true", "model.temporal.live_history=3"),
     ("model.temporal.live_encoder=true", "model.temporal.live_history=3", "model.temporal.live_frames=4")],
)  # fmt: skip
def test_streaming_one_frame_at_a_time_equals_batch_forward(overrides: tuple[str, ...]) -> None:
    config = small_config(*overrides)
    model = R3DModel(config).eval()
    rgb, depth = frames(1, 12, config)
    with torch.no_grad():
        batch = model(rgb, depth, torch.ones(1, 12, dtype=torch.bool)).temporal
        cache = [model.encode_frames(rgb[0, t : t + 1], depth[0, t : t + 1]).fused for t in range(12)]
        tokens = torch.cat(cache)[None]
        streamed = model.forward_temporal(tokens, torch.ones(1, 12, dtype=torch.bool))
    torch.testing.assert_close(streamed.future_logits, batch.future_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(streamed.segmentation_logits, batch.segmentation_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(streamed.next_logits, batch.next_logits, atol=1e-5, rtol=1e-5)


def logits_with_the_last_frames_changed(model: R3DModel, field: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A temporal output field for a 12-frame window, before and after its last 4 tokens change."""
    tokens = torch.randn(1, 12, model.config.model.token_dim)
    changed = tokens.clone()
    changed[:, 8:] = torch.randn(1, 4, model.config.model.token_dim)
    mask = torch.ones(1, 12, dtype=torch.bool)
    with torch.no_grad():
        before, after = model.forward_temporal(tokens, mask), model.forward_temporal(changed, mask)
    return getattr(before, field), getattr(after, field)


def test_a_causal_encoder_segments_each_frame_from_the_past_alone() -> None:
    model = R3DModel(small_config("model.temporal.causal=true")).eval()
    before, after = logits_with_the_last_frames_changed(model, "segmentation_logits")
    torch.testing.assert_close(after[:, :8], before[:, :8])
    assert not torch.allclose(after[:, 8:], before[:, 8:])


LIVE = ("model.temporal.live_encoder=true", "model.temporal.dropout=0")


def test_the_live_encoder_reads_only_each_windows_newest_frame_in_eval_mode() -> None:
    model = R3DModel(small_config(*LIVE))
    tokens = torch.randn(2, 12, model.config.model.token_dim)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 7:] = False  # the second window has 7 real frames
    with torch.no_grad():
        trained = model.train().forward_temporal(tokens, mask)  # no dropout: the same numbers as eval but the swap
        live = model.eval().forward_temporal(tokens, mask)
    newest = torch.zeros(2, 12, dtype=torch.bool)
    newest[0, 11], newest[1, 6] = True, True
    torch.testing.assert_close(live.segmentation_logits[~newest], trained.segmentation_logits[~newest])
    torch.testing.assert_close(live.segmentation_logits[newest], trained.live_logits[newest])
    assert not torch.allclose(trained.segmentation_logits[newest], trained.live_logits[newest])


def test_live_frames_reads_each_windows_newest_frames_from_the_live_encoder() -> None:
    band = ("model.temporal.live_history=3", "model.temporal.live_history_in_training=true")
    model = R3DModel(small_config(*LIVE, *band, "model.temporal.live_frames=4"))
    tokens = torch.randn(3, 12, model.config.model.token_dim)
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[1, 7:] = False  # 7 real frames
    mask[2, 2:] = False  # 2 real frames: fewer than live_frames
    with torch.no_grad():
        trained = model.train().forward_temporal(tokens, mask)  # every row's live logits (no dropout)
        read = model.eval().forward_temporal(tokens, mask)
    live = torch.zeros(3, 12, dtype=torch.bool)
    live[0, 8:], live[1, 3:7], live[2, :2] = True, True, True
    torch.testing.assert_close(read.segmentation_logits[live], trained.live_logits[live], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(read.segmentation_logits[~live], trained.segmentation_logits[~live])


def test_live_frames_without_a_live_encoder_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="live_frames"):
        small_config("model.temporal.live_frames=2")


def test_the_live_encoder_reads_each_frame_from_the_past_alone() -> None:
    model = R3DModel(small_config(*LIVE)).train()  # every row's live logits (no dropout)
    before, after = logits_with_the_last_frames_changed(model, "live_logits")
    torch.testing.assert_close(after[:, :8], before[:, :8])


def test_a_live_history_keeps_frames_past_its_reach_out_of_the_newest_reading() -> None:
    history = 3
    model = R3DModel(small_config(*LIVE, f"model.temporal.live_history={history}")).eval()
    reach = model.config.model.temporal.encoder_layers * (history - 1)  # each layer looks history - 1 frames back
    tokens = torch.randn(1, 12, model.config.model.token_dim)
    changed = tokens.clone()
    changed[:, : 11 - reach] = torch.randn(1, 11 - reach, model.config.model.token_dim)
    changed_in_reach = changed.clone()
    changed_in_reach[:, 11 - reach] += 1.0
    mask = torch.ones(1, 12, dtype=torch.bool)
    with torch.no_grad():
        before, after, within = (
            model.forward_temporal(x, mask).segmentation_logits[0, -1] for x in (tokens, changed, changed_in_reach)
        )
    torch.testing.assert_close(after, before)
    assert not torch.allclose(within, after)


def test_a_live_history_does_not_change_training() -> None:
    tokens = torch.randn(2, 12, 32)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 5:] = False
    outputs = []
    for history in (0, 3):
        torch.manual_seed(0)
        model = R3DModel(small_config(*LIVE, f"model.temporal.live_history={history}")).train()
        with torch.no_grad():
            outputs.append(model.forward_temporal(tokens, mask))
    torch.testing.assert_close(outputs[1].segmentation_logits, outputs[0].segmentation_logits, rtol=0, atol=0)
    torch.testing.assert_close(outputs[1].live_logits, outputs[0].live_logits, rtol=0, atol=0)


def test_a_live_history_in_training_trains_every_frame_from_its_band_alone() -> None:
    history = 3
    band = (*LIVE, f"model.temporal.live_history={history}", "model.temporal.live_history_in_training=true")
    model = R3DModel(small_config(*band)).train()  # every row's live logits (no dropout)
    reach = model.config.model.temporal.encoder_layers * (history - 1)
    tokens = torch.randn(1, 12, model.config.model.token_dim)
    changed = tokens.clone()
    changed[:, :2] = torch.randn(1, 2, model.config.model.token_dim)  # the first two frames only
    mask = torch.ones(1, 12, dtype=torch.bool)
    with torch.no_grad():
        before, after = (model.forward_temporal(x, mask).live_logits[0] for x in (tokens, changed))
    torch.testing.assert_close(after[2 + reach :], before[2 + reach :])
    assert not torch.allclose(after[2:], before[2:])


def test_live_history_in_training_without_a_history_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="live_history_in_training"):
        small_config(*LIVE, "model.temporal.live_history_in_training=true")


def test_a_window_padded_far_past_the_live_history_reads_as_its_real_frames_alone() -> None:
    model = R3DModel(small_config(*LIVE, "model.temporal.live_history=3")).eval()
    tokens = torch.randn(1, 12, model.config.model.token_dim)
    padded = torch.zeros(1, 12, dtype=torch.bool)
    padded[0, :4] = True  # 4 real frames, then 8 padded ones: more than the history
    with torch.no_grad():
        read = model.forward_temporal(tokens, padded).segmentation_logits[0, 3]
        alone = model.forward_temporal(tokens[:, :4], torch.ones(1, 4, dtype=torch.bool)).segmentation_logits[0, 3]
    assert torch.isfinite(read).all()
    torch.testing.assert_close(read, alone, atol=1e-5, rtol=1e-5)


def test_a_negative_live_history_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="live_history"):
        small_config(*LIVE, "model.temporal.live_history=-1")


def test_a_live_encoder_beside_a_causal_encoder_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="live_encoder"):
        small_config("model.temporal.live_encoder=true", "model.temporal.causal=true")


def test_window_longer_than_trained_is_refused(config: R3DConfig) -> None:
    model = R3DModel(config).eval()
    with pytest.raises(ValueError, match="exceeds the model's maximum"):
        model.forward_temporal(torch.zeros(1, 13, config.model.token_dim), torch.ones(1, 13, dtype=torch.bool))


def test_missing_depth_without_ebr_is_zeroed_not_invented(config: R3DConfig) -> None:
    model = R3DModel(config).eval()
    rgb, depth = frames(1, 4, config)
    absent = torch.zeros(4, dtype=torch.bool)
    with torch.no_grad():
        a = model.encode_frames(rgb[0], depth[0], depth_present=absent)
        b = model.encode_frames(rgb[0], torch.rand_like(depth[0]), depth_present=absent)
    assert not model.can_substitute
    assert torch.count_nonzero(a.depth) == 0
    torch.testing.assert_close(a.fused, b.fused)


def test_missing_depth_with_ebr_is_decoded_from_the_rgb_projection() -> None:
    model = R3DModel(small_config("model.ebr.enabled=true")).eval()
    rgb, depth = frames(1, 4, model.config)
    absent = torch.zeros(4, dtype=torch.bool)
    with torch.no_grad():
        substituted = model.encode_frames(rgb[0], depth[0], depth_present=absent)
        other_depth = model.encode_frames(rgb[0], torch.rand_like(depth[0]), depth_present=absent)
        z_rgb, _ = model.ebr.project(model.rgb_encoder(rgb[0]), model.depth_encoder(depth[0]))
        expected = model.ebr.decoders[1](z_rgb)
        zeroed = model.encode_frames(rgb[0], depth[0], depth_present=absent, substitute=False)
    assert model.can_substitute
    torch.testing.assert_close(substituted.depth, expected)
    torch.testing.assert_close(substituted.fused, other_depth.fused)
    assert torch.count_nonzero(substituted.depth) > 0
    assert torch.count_nonzero(zeroed.depth) == 0  # the control: substitution switched off


def test_losses_ignore_padding_and_unknown_future(config: R3DConfig) -> None:
    model = R3DModel(config)
    rgb, depth = frames(2, 12, config)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 6:] = False
    segmentation = torch.randint(0, K, (2, 12))
    segmentation[~mask] = IGNORE
    future = torch.randint(0, K, (2, config.anticipation.horizon_frames))
    future[:, 5:] = IGNORE  # the recording ended five frames after the window
    targets = AnticipationTargets(segmentation, future, torch.tensor([1, IGNORE]))
    out = model(rgb, depth, mask)
    for logits in (out.temporal.segmentation_logits, out.temporal.future_logits, out.temporal.next_logits):
        logits.retain_grad()
    losses = anticipation_losses(out.temporal, targets)
    losses["total"].backward()
    assert torch.isfinite(losses["total"])
    assert set(losses) == {"segmentation", "future", "next", "total"}
    assert torch.count_nonzero(out.temporal.segmentation_logits.grad[1, 6:]) == 0
    assert torch.count_nonzero(out.temporal.future_logits.grad[:, 5:]) == 0
    assert torch.count_nonzero(out.temporal.next_logits.grad[1]) == 0


def test_the_live_encoder_is_trained_on_every_labelled_frame() -> None:
    config = small_config("model.temporal.live_encoder=true")
    model = R3DModel(config).train()
    rgb, depth = frames(2, 12, config)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 6:] = False
    segmentation = torch.randint(0, K, (2, 12))
    segmentation[~mask] = IGNORE
    targets = AnticipationTargets(segmentation, torch.randint(0, K, (2, config.anticipation.horizon_frames)),
                                  torch.tensor([1, 2]))  # fmt: skip
    out = model(rgb, depth, mask)
    out.temporal.live_logits.retain_grad()
    losses = anticipation_losses(out.temporal, targets)
    losses["total"].backward()
    parts = sum(losses[k] for k in ("segmentation", "future", "next", "live_segmentation"))
    torch.testing.assert_close(losses["total"].detach(), parts.detach())
    assert torch.count_nonzero(out.temporal.live_logits.grad[0]) > 0
    assert torch.count_nonzero(out.temporal.live_logits.grad[1, 6:]) == 0


REMAINING = (*LIVE, "model.temporal.remaining_frames=6")


def test_the_remaining_head_is_trained_on_every_frame_whose_remaining_time_is_known() -> None:
    config = small_config(*REMAINING)
    model = R3DModel(config).train()
    rgb, depth = frames(2, 12, config)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 6:] = False
    segmentation = torch.randint(0, K, (2, 12))
    segmentation[~mask] = IGNORE
    remaining = torch.randint(0, 6, (2, 12))
    remaining[~mask] = IGNORE
    remaining[0, 10:] = IGNORE  # the recording ends inside that action
    targets = AnticipationTargets(segmentation, torch.randint(0, K, (2, config.anticipation.horizon_frames)),
                                  torch.tensor([1, 2]), remaining=remaining)  # fmt: skip
    out = model(rgb, depth, mask)
    assert out.temporal.remaining_logits.shape == (2, 12, 6)
    out.temporal.remaining_logits.retain_grad()
    losses = anticipation_losses(out.temporal, targets)
    losses["total"].backward()
    parts = sum(losses[k] for k in ("segmentation", "future", "next", "live_segmentation", "remaining"))
    torch.testing.assert_close(losses["total"].detach(), parts.detach())
    grad = out.temporal.remaining_logits.grad
    assert torch.count_nonzero(grad[0, :10]) > 0
    assert torch.count_nonzero(grad[0, 10:]) == 0 and torch.count_nonzero(grad[1, 6:]) == 0


def test_the_remaining_head_reads_each_windows_newest_frame_in_eval_mode() -> None:
    model = R3DModel(small_config(*REMAINING, "model.temporal.live_frames=3"))
    tokens = torch.randn(2, 12, model.config.model.token_dim)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 7:] = False
    with torch.no_grad():
        trained = model.train().forward_temporal(tokens, mask)  # every row's (no dropout)
        read = model.eval().forward_temporal(tokens, mask)
    assert read.remaining_logits.shape == (2, 6)
    expected = torch.stack([trained.remaining_logits[0, 11], trained.remaining_logits[1, 6]])
    torch.testing.assert_close(read.remaining_logits, expected, atol=1e-5, rtol=1e-5)


def test_a_remaining_head_without_a_live_encoder_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="remaining_frames"):
        small_config("model.temporal.remaining_frames=6")


def test_positions_count_back_from_the_last_real_frame(config: R3DConfig) -> None:
    model = R3DModel(config)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    assert model.temporal.frame_ages(mask).tolist() == [[2, 1, 0, 0, 0], [4, 3, 2, 1, 0]]


def test_each_future_query_covers_future_stride_frames() -> None:
    config = small_config("model.temporal.future_stride=3", "anticipation.horizon_s=2.2", "anticipation.fps=5")
    model = R3DModel(config).eval()
    tokens, mask = torch.randn(2, 6, config.model.token_dim), torch.ones(2, 6, dtype=torch.bool)
    future = model.forward_temporal(tokens, mask).future_logits
    assert future.shape[1] == 11 and model.temporal.queries.shape[0] == 1 + 4  # 11 frames = 3 + 3 + 3 + 2
    for block in range(4):
        covered = future[:, 3 * block : 3 * block + 3]
        torch.testing.assert_close(covered, covered[:, :1].expand_as(covered))


def test_training_skips_encoding_dropped_frames_without_changing_their_tokens(config: R3DConfig) -> None:
    model = R3DModel(config).train()
    rgb, depth = frames(1, 6, config)
    present = torch.tensor([True, False, True, True, False, True])
    features = model.encode_frames(rgb[0], depth[0], depth_present=present)
    assert torch.count_nonzero(features.depth_encoded[~present]) == 0
    assert torch.count_nonzero(features.depth_encoded[present]) > 0


def test_user_backbone_weights_load_from_safetensors(tmp_path: Path) -> None:
    backbone = small_cnn(3, [8, 16])
    for parameter in backbone.parameters():
        torch.nn.init.constant_(parameter, 0.123)
    path = tmp_path / "rgb_backbone.safetensors"
    save_file(backbone.state_dict(), str(path))
    model = R3DModel(small_config(f"model.rgb_encoder.weights={path}"))
    assert torch.all(model.rgb_encoder.backbone[0].weight == 0.123)


def test_user_backbone_weights_refuse_pickled_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"

    class Payload:
        def __reduce__(self) -> tuple:
            return (print, ("executed",))

    torch.save({"x": Payload()}, path)
    with pytest.raises(Exception, match=r"[Ww]eights only load failed|Unsupported"):
        R3DModel(small_config(f"model.rgb_encoder.weights={path}"))


def test_input_size_that_does_not_fit_the_token_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="token grid"):
        R3DModel(small_config("model.input.height=20"))


def test_grammar_decoder_travels_in_the_model_file(tmp_path: Path) -> None:
    model = R3DModel(small_config("model.future_decoder=grammar"))
    durations = torch.zeros(K, 9)
    durations[:, 4] = 1.0
    transitions = (torch.ones(K, K) - torch.eye(K)) / (K - 1)
    model.set_grammar(ActionGrammar(transitions.double().numpy(), durations.double().numpy()))
    save_model(tmp_path / "model.safetensors", model)
    loaded, _ = load_model(tmp_path / "model.safetensors")
    assert loaded.grammar.duration_pmf[:, 4].tolist() == [1.0] * K
    assert loaded.grammar.transitions == pytest.approx(transitions.double().numpy())


def test_grammar_decoder_without_a_grammar_is_refused(config: R3DConfig) -> None:
    model = R3DModel(small_config("model.future_decoder=grammar"))
    with pytest.raises(RuntimeError, match="set_grammar"):
        model.grammar  # noqa: B018
