r"""Do the per-frame tokens hold which way a person is moving at a change of action? Linear probes.

    scripts/with-env python scripts/probe_onset_motion.py --model models/r3d_default.safetensors \\
        --train-seeds 0 50 51 --test-seeds 52 53 54 --cache out/cache

The alpha 0.3 cells lose the newest frame's class when an action has just begun,
and weighting those frames in training did not read them sooner (docs/experiment.md,
"Frames near a change of action weighted twice in training"). Every synthetic
action ramps out to the neutral stance and the next ramps in from it, so around a
change one frame shows a pose near that stance; only the direction of movement
says whether the old action is ending or the new one beginning. The temporal
stacks see the window's tokens one after another: if the tokens hold that
direction, a linear read of a token and its change from the frame before tells
the two sides apart, and the live stack has the evidence and does not use it; if
they do not, the per-frame path must be given motion (the previous frame) before
any temporal model can read an onset sooner.

For the frames within ``--frames`` of every change of action in the test videos,
this fits multinomial logistic regressions on the fused tokens of the
``--train-seeds`` and scores them on the ``--test-seeds``, two targets, three inputs:

- side: the old action's last frames against the new one's first;
- class: the action going on at the frame;
- inputs: the frame's token; the token and its difference from the previous
  frame's; the tokens of the frame and the three before it.

Beside them, the model's own reading of each frame: the action its grammar filter
says is going on there, from the window of up to 64 frames ending at it, as the
node reads its newest frame.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

from r3d_ros.eval.anticipation import encode_video
from r3d_ros.eval.model_eval import test_videos
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import read_window

INPUTS = ("token", "token + change", "four tokens")
HISTORY = 3  # frames before the frame that "four tokens" reads


def boundary_samples(tokens: np.ndarray, labels: np.ndarray, frames: int) -> list[tuple[np.ndarray, ...]]:
    """(inputs for each of INPUTS, side, class, frame) of each frame within ``frames`` of a change of label."""
    samples = []
    for change in np.flatnonzero(np.diff(labels) != 0) + 1:
        if labels[change - 1] < 0 or labels[change] < 0:
            continue
        for frame in range(change - frames, change + frames):
            if frame - HISTORY < 0 or frame >= len(labels):
                continue
            token, previous = tokens[frame], tokens[frame - 1]
            inputs = (token, np.r_[token, token - previous], tokens[frame - HISTORY : frame + 1].reshape(-1))
            samples.append((*inputs, int(frame >= change), int(labels[frame]), frame))
    return samples


def model_reading(model: torch.nn.Module, tokens: torch.Tensor, frame: int) -> int:
    """The action the model says is going on at ``frame``, from the window ending there (as the node reads it)."""
    start = max(0, frame + 1 - model.config.anticipation.window)
    mask = torch.ones(1, frame + 1 - start, dtype=torch.bool)
    logits = model.forward_temporal(tokens[start : frame + 1][None], mask).segmentation_logits[0].numpy()
    horizon = model.config.anticipation.horizon_frames
    return read_window(logits, None, model.grammar, model.grammar_filter, horizon).current


@torch.no_grad()
def collect(model: torch.nn.Module, seeds: list[int], cache: str | None, frames: int) -> list[np.ndarray]:
    """Stacked :func:`boundary_samples` of every test video of ``seeds`` and the model's reading of each frame.

    One array per input, then the sides, the classes and the model's readings.
    """
    rows = []
    for seed in seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        for video in test_videos(sensor, model, cache):
            tokens = encode_video(model, video, torch.device("cpu")).fused
            for *sample, frame in boundary_samples(tokens.numpy(), np.asarray(video.labels), frames):
                rows.append((*sample, model_reading(model, tokens, frame)))
    return [np.stack(column) for column in zip(*rows, strict=True)]


def probe_predictions(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """Test predictions of an L2-regularised multinomial logistic regression on standardised inputs."""
    mean, scale = train_x.mean(0), train_x.std(0) + 1e-6
    x = torch.from_numpy((train_x - mean) / scale).float()
    y = torch.from_numpy(train_y).long()
    layer = torch.nn.Linear(x.shape[1], int(train_y.max()) + 1)
    optimiser = torch.optim.LBFGS(layer.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(x), y) + 1e-3 * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    with torch.no_grad():
        return layer(torch.from_numpy((test_x - mean) / scale).float()).argmax(1).numpy()


def main(argv: list[str] | None = None) -> int:
    """Print a table: for each target and input, the probe's accuracy on the test seeds' boundary frames."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="the model file")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 50, 51])
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[52, 53, 54])
    parser.add_argument("--frames", type=int, default=3, help="frames on each side of a change")
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model, _ = load_model(args.model)
    train = collect(model, args.train_seeds, args.cache, args.frames)
    test = collect(model, args.test_seeds, args.cache, args.frames)
    sides, classes = len(INPUTS), len(INPUTS) + 1
    print(f"\nfused tokens of the frames within {args.frames} of a change of action; probes fitted on seeds")
    fitted, scored = len(train[sides]), len(test[sides])
    print(f"{args.train_seeds} ({fitted} frames), scored on seeds {args.test_seeds} ({scored} frames)\n")
    print("| target | chance (most frequent) | " + " | ".join(INPUTS) + " | the model, window ending there |")
    print("|---|---:|" + "---:|" * (len(INPUTS) + 1))
    beginning = test[sides] == 1
    rows = (
        ("side: ending or beginning", sides, np.ones_like(beginning)),
        ("class going on", classes, np.ones_like(beginning)),
        ("class going on, the new action's first frames", classes, beginning),
    )
    for name, column, scored in rows:
        chance = float((test[column][scored] == np.bincount(train[column]).argmax()).mean())
        scores = []
        for i in range(len(INPUTS)):
            predicted = probe_predictions(train[i], train[column], test[i])
            scores.append(float((predicted[scored] == test[column][scored]).mean()))
        own = f"{(test[-1][scored] == test[classes][scored]).mean():.3f}" if column == classes else "-"
        print(f"| {name} | {chance:.3f} | " + " | ".join(f"{score:.3f}" for score in scores) + f" | {own} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
