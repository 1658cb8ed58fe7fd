r"""Would a causal live frame help a bidirectional network? A decode-time probe with two trained models.

    scripts/with-env python scripts/probe_hybrid.py --model models/r3d_default.safetensors \\
        --causal runs/causal/causal_s0/model.safetensors --seeds 0 50 51 52 53 54 --cache out/cache

A bidirectional temporal encoder segments each observed frame with the frames
after it in view, but its newest frame, the one a robot acts on, has none, and
only one frame per training window trains that case. A causal encoder
(``model.temporal.causal``) trains every frame that way, at the cost of the
observed segmentation (docs/experiment.md, "A causal temporal encoder"). This
probe asks whether the two together would keep both: for each test video and
alpha it takes the bidirectional model's segmentation logits of the window and
replaces the newest frame's by the causal model's, then decodes with the
bidirectional model's grammar filter (its own evidence weights). It prints MoC
over the grammar oracle (ratio of the seeds' means) in every alpha/beta cell
and the observed segmentation, for the bidirectional model alone and for the
hybrid, on the models' own training sensor, both modalities present. Two models
cost two encoders per frame: a shipped hybrid would share one encoder.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.data.sampling import protocol_window
from r3d_ros.eval.anticipation import ClassAccuracy, encode_video, protocol_key
from r3d_ros.eval.model_eval import ALPHAS, BETAS, KEYS, test_videos
from r3d_ros.eval.reference import ReferenceScores, dataset_grammar
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import future_segments, read_window, recognised_labels, segments_to_frames
from r3d_ros.model.r3d import R3DModel

VARIANTS = ("bidirectional", "hybrid")


@torch.no_grad()
def score_seed(model: R3DModel, causal: R3DModel, videos: Sequence) -> dict[str, dict[str, float]]:
    """Per variant: model MoC and oracle MoC per cell, and the observed segmentation, on one seed's videos."""
    window = model.config.anticipation.window
    references, segmentation = new_scores(model, VARIANTS)
    device = torch.device("cpu")
    for video in videos:
        tokens = encode_video(model, video, device).fused
        causal_tokens = encode_video(causal, video, device).fused
        for alpha in ALPHAS:
            observed, _ = protocol_window(len(video), alpha, max(BETAS))
            start = max(0, observed - window)
            mask = torch.ones(1, observed - start, dtype=torch.bool)
            output = model.forward_temporal(tokens[start:observed][None], mask)
            live = causal.forward_temporal(causal_tokens[start:observed][None], mask).segmentation_logits[0, -1]
            own = output.segmentation_logits[0].numpy()
            hybrid = own.copy()
            hybrid[-1] = live.numpy()
            for variant, logits in (("bidirectional", own), ("hybrid", hybrid)):
                score_window(references[variant], segmentation[variant], logits, model, video, start, observed, alpha)
    return variant_scores(references, segmentation)


def new_scores(model: R3DModel, variants: Sequence[str]) -> tuple[dict, dict]:
    """Per variant: empty reference scores (against the benchmark's grammar oracle) and observed segmentation."""
    config = model.config
    reference_grammar = dataset_grammar(config.model.class_names, [], config.anticipation.fps)
    references = {v: ReferenceScores(reference_grammar, config.model.num_classes, KEYS) for v in variants}
    return references, {v: ClassAccuracy(config.model.num_classes) for v in variants}


def score_window(
    references: ReferenceScores,
    segmentation: ClassAccuracy,
    logits: np.ndarray,
    model: R3DModel,
    video: PreparedVideo,
    start: int,
    observed: int,
    alpha: float,
) -> None:
    """Decode one window's (T, K) segmentation logits with ``model``'s grammar filter and score it at every beta."""
    horizon = model.config.anticipation.horizon_frames
    seg = recognised_labels(logits, model.grammar_filter)
    segmentation.add(seg, video.labels[start:observed])
    reading = read_window(logits, None, model.grammar, model.grammar_filter, horizon)
    segments = future_segments(reading.future)
    remaining = round(segments[0].duration * horizon) if segments[0].class_id == reading.current else 0
    for beta in BETAS:
        _, predicted = protocol_window(len(video), alpha, beta)
        frames = segments_to_frames(segments, predicted, horizon)
        truth = video.labels[observed : observed + predicted]
        references.add(protocol_key(alpha, beta), truth, video.labels[:observed], seg, remaining, frames)


def variant_scores(
    references: dict[str, ReferenceScores], segmentation: dict[str, ClassAccuracy]
) -> dict[str, dict[str, float]]:
    """Per variant: model and oracle MoC per cell, and the observed segmentation."""
    out = {}
    for variant, reference in references.items():
        scores = reference.as_dict()
        out[variant] = {f"model/{k}": scores[f"reference/model/{k}"] for k in KEYS}
        out[variant] |= {f"oracle/{k}": scores[f"reference/oracle/{k}"] for k in KEYS}
        out[variant]["segmentation"] = segmentation[variant].mean_over_classes()
    return out


def masked_causal(path: str) -> R3DModel:
    """The model at ``path`` with its temporal encoder's view of later frames masked (weights as trained)."""
    model, _ = load_model(path)
    temporal = dataclasses.replace(model.config.model.temporal, causal=True)
    model.config = dataclasses.replace(model.config, model=dataclasses.replace(model.config.model, temporal=temporal))
    model.temporal.causal = True
    return model


def main(argv: list[str] | None = None) -> int:
    """Score both variants on every seed and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="the bidirectional model file")
    parser.add_argument(
        "--causal",
        required=True,
        help="the causal model file (model.temporal.causal true), or 'mask': --model's own weights with a causal mask",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 50, 51, 52, 53, 54])
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    args = parser.parse_args(argv)
    model, _ = load_model(args.model)
    if model.config.model.temporal.live_encoder:
        parser.error("--model already reads its newest frame causally (model.temporal.live_encoder)")
    causal = masked_causal(args.model) if args.causal == "mask" else load_model(args.causal)[0]
    if causal.config.model.class_names != model.config.model.class_names or not causal.config.model.temporal.causal:
        parser.error("--causal must be a causal model with the same classes as --model")
    per_seed = []
    for seed in args.seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        per_seed.append(score_seed(model, causal, test_videos(sensor, model, args.cache)))
    print("| variant | " + " | ".join(KEYS) + " | seg. |")
    print("|---|" + "---|" * (len(KEYS) + 1))
    for variant in VARIANTS:
        mean = {key: np.mean([s[variant][key] for s in per_seed]) for key in per_seed[0][variant]}
        ratios = [mean[f"model/{k}"] / mean[f"oracle/{k}"] for k in KEYS]
        print(f"| {variant} | " + " | ".join(f"{r:.3f}" for r in ratios) + f" | {mean['segmentation']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
