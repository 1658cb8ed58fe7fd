"""Write models/README.md, the shipped model's card, from the files that measured it.

    scripts/with-env python scripts/model_card.py          # rewrite the card
    scripts/with-env python scripts/model_card.py --check  # exit 1 if it is stale

Every number in the card is read from a committed file: the architecture and
recipe from the config embedded in models/r3d_default.safetensors, the training
time from the run's timing.json (or metrics.jsonl's ``train_seconds``) and from any reproduction
under docs/experiment/reproduce/ whose train.log wrote the same model id, and the held-out scores,
references and target checks from r3d-eval-model's results.json. So the card
changes only when the model or its evaluation does, and cannot drift from them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from r3d_ros.config import config_from_dict
from r3d_ros.config.loader import read_yaml, to_dict
from r3d_ros.model.checkpoint import load_model
from r3d_ros.runtime.preprocess import model_depth_limit

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "r3d_default.safetensors"
EXPERIMENT = ROOT / "docs" / "experiment" / "model"
HELDOUT = EXPERIMENT / "heldout" / "results.json"
RUN = EXPERIMENT / "runs" / "fused-seed0"
REPRODUCTIONS = ROOT / "docs" / "experiment" / "reproduce"
# The same recipe from other training seeds (config/experiment/model_seeds.yaml) and their evaluations.
SEEDS = ROOT / "docs" / "experiment" / "model_seeds"
# Settings a training seed's run may differ in from the shipped one and still be the same recipe.
PER_RUN = ("train.seed", "train.depth_limit.levels", "train.rgb_limit.levels", "data.cache_dir",
           "model.max_depth_noise", "model.max_rgb_noise")  # fmt: skip
# Settings written into a finished file that change only how its outputs are decoded (set_model_setting.py):
# a draw decoded with others is still the same training recipe, and the card says how each draw was decoded.
DECODING = ("model.filter_evidence_weight", "model.filter_newest_weight", "model.temporal.live_frames",
            "model.filter_remaining_weight")  # fmt: skip
CARD = ROOT / "models" / "README.md"
# How a training run's log names the model it wrote.
WRITTEN_ID = re.compile(r"model written to .* \(id ([0-9a-f]{12})\)")
CELLS = ("a0.2_b0.1", "a0.2_b0.5", "a0.3_b0.1", "a0.3_b0.5")
ROWS = (  # (summary entry, what the row is)
    ("fused/trained/both", "this model"),
    ("fused/trained/depth_absent", "this model, depth absent on every frame"),
    ("rgb_only/trained/depth_absent", "RGB-only baseline (depth absent)"),
    ("fused/trained/rgb_absent", "this model, RGB absent on every frame"),
    ("depth_only/trained/rgb_absent", "depth-only baseline (RGB absent)"),
    ("fused/trained/depth_missing_30", "this model, depth missing on 30 % of frames"),
)


def describe_variant(name: str, variants: dict[str, dict[str, Any]]) -> str:
    """'far (min_distance_m 3.2, trained 2.4; ...)': what a sensor variant changed."""
    changed = [
        f"{key} {setting(value)}, trained {setting(variants['trained'][key])}"
        for key, value in variants[name].items()
        if key not in ("num_train", "num_test", "seed") and value != variants["trained"][key]
    ]
    return f"this model, sensor {name} ({'; '.join(changed)})"


def setting(value: Any) -> str:
    """A renderer setting as the config writes it (true/false, not 1/0)."""
    return str(value).lower() if isinstance(value, bool) else f"{value:g}"


def cell(entry: dict[str, Any], key: str) -> str:
    """Mean ± std of one metric of a summary entry."""
    return f"{entry[key]['mean']:.3f} ± {entry[key]['std']:.3f}"


def metrics_table(results: dict[str, Any]) -> list[str]:
    """Rows of the held-out table: the model, its references, missing modalities, baselines, sensor variants."""
    summary, variants = results["summary"], results["variants"]
    rows = [(k, v) for k, v in ROWS if k in summary]
    rows += [(f"fused/{name}/both", describe_variant(name, variants)) for name in variants if name != "trained"]
    lines = ["| | " + " | ".join(c.replace("_", " ") for c in CELLS) + " | observed seg. acc. | interior frames |"]
    lines.append("|---|" + "---|" * (len(CELLS) + 2))
    both = summary["fused/trained/both"]
    for key, label in rows:
        entry = summary[key]
        segmentation = [cell(entry, "segmentation_accuracy")]
        interior = entry.get("segmentation_interior_accuracy")
        segmentation.append(f"{interior['mean']:.3f}" if interior else "")
        lines.append(f"| {label} | " + " | ".join([*(cell(entry, f"moc/{c}") for c in CELLS), *segmentation]) + " |")
        if key == "fused/trained/both":
            for reference, name in (("oracle", "grammar oracle (true observed labels)"),
                                    ("oracle_sensed", "grammar oracle told only what the sensors show"),
                                    ("continue_recognised", "continue the recognised action")):  # fmt: skip
                if f"reference/{reference}/{CELLS[0]}" not in both:
                    continue
                values = [f"{both[f'reference/{reference}/{c}']['mean']:.3f}" for c in CELLS]
                lines.append(f"| {name} | " + " | ".join(values) + " | | |")
    return lines


def oracle_fractions(results: dict[str, Any], oracle: str = "oracle") -> tuple[float, float] | None:
    """Lowest and highest MoC / ``oracle`` MoC over the protocol cells (both modalities); None if not scored."""
    both = results["summary"]["fused/trained/both"]
    keys = [k[len("moc/") :] for k in both if k.startswith("moc/")]
    if not all(f"reference/{oracle}/{k}" in both for k in keys):
        return None
    fractions = [both[f"moc/{k}"]["mean"] / both[f"reference/{oracle}/{k}"]["mean"] for k in keys]
    return min(fractions), max(fractions)


def minutes(timing_json: Path) -> dict[str, float]:
    """A run's ``timing.json`` clocks, in minutes."""
    return {k: v / 60 for k, v in json.loads(timing_json.read_text()).items() if k.endswith("seconds")}


def timing_line(run: Path) -> str:
    """Where the run's wall time went, by its own clocks (``timing.json``, else ``train_seconds``)."""
    where = run.relative_to(ROOT)
    conditions = "the conditions of that run (threads, other jobs on the machine) are in docs/experiment.md."
    if (run / "timing.json").is_file():
        timing = minutes(run / "timing.json")
        return (
            f"`r3d-train` took {timing['total_seconds']:.1f} minutes of wall time in all: "
            f"{timing['data_seconds']:.1f} rendering and preparing the videos (or reading them from a cache), "
            f"{timing['train_seconds']:.1f} pretraining and training (evaluations included), "
            f"{timing['limit_seconds']:.1f} measuring the noise "
            f"limits (`{where}/timing.json`); {conditions}"
        )
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    if "train_seconds" not in rows[-1]:
        return "The run's log predates the training clock (`train_seconds`), so its training time is not stated here."
    return (
        f"Training took {rows[-1]['train_seconds'] / 60:.0f} minutes of wall time by the run's own clock "
        f"(`train_seconds` in `{where}/metrics.jsonl`, evaluations included, data preparation and noise limits "
        f"not); {conditions}"
    )


def reproduction_lines(model_id: str, shipped: dict[str, Any]) -> list[str]:
    """Reruns of the shipped recipe under docs/experiment/reproduce/, with their clocks, fastest first.

    A rerun that wrote this model id (its own train.log says so) gave these very weights. A rerun
    of the very same settings, seed included, that wrote another id ran on a machine whose CPU or
    software sums differently (training is bit for bit only on the same ones): it times the recipe
    and is another draw of it, and the card says so rather than quote it as these weights' time.
    Each rerun ran the code of its day (docs/experiment.md says which), so the clocks differ.
    """
    same, other = [], []
    for log in sorted(REPRODUCTIONS.glob("*/train.log")):
        run = log.parent
        written = WRITTEN_ID.findall(log.read_text())
        if not written or not (run / "timing.json").is_file():
            continue
        if written[-1] != model_id and not rerun_of(shipped, run / "config.yaml"):
            continue
        timing = minutes(run / "timing.json")
        text = (
            f"{timing['total_seconds']:.1f} minutes in all ({timing['data_seconds']:.1f} data, "
            f"{timing['train_seconds']:.1f} training, {timing['limit_seconds']:.1f} limits; "
            f"`{run.relative_to(ROOT)}/timing.json`"
        )
        if written[-1] == model_id:
            same.append((timing["total_seconds"], text + ")"))
        else:
            other.append((timing["total_seconds"], text + f", id `{written[-1]}`)"))
    lines = []
    if same:
        clocks = "; ".join(text for _, text in sorted(same))
        lines.append(f"Trained again from its config, it gave the same model id each time: {clocks}.")
    if other:
        clocks = "; ".join(text for _, text in sorted(other))
        lines.append(
            "Trained again from its config, seed included, on a machine whose CPU sums differently, it gave "
            f"other weights, another draw of the recipe: {clocks}."
        )
    return lines


def rerun_of(shipped: dict[str, Any], run_config: Path) -> bool:
    """Whether a run's config.yaml is the shipped one's in every setting but where its videos were cached.

    The noise limits are compared as levels: the values in the shipped file were measured after its run;
    the decoding weights may have been set in the file after it too, and do not reach training.
    """
    free = ("data.cache_dir", "model.max_depth_noise", "model.max_rgb_noise", *DECODING)
    return run_config.is_file() and not recipe_differences(shipped, run_config, free)


def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a.b": value} for a nested config dict."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def recipe(run_config: Path) -> dict[str, Any]:
    """A run's config.yaml as flat settings, read through the schema.

    So a setting added after the run was trained reads its default there, as it does
    in the shipped model's embedded config.
    """
    return flat(to_dict(config_from_dict(read_yaml(run_config))))


def recipe_differences(shipped: dict[str, Any], run_config: Path, free: tuple[str, ...]) -> list[str]:
    """The settings, ``free`` ones aside, where a run's config.yaml is not the shipped recipe."""
    other = recipe(run_config)
    return sorted(k for k in set(shipped) | set(other) if k not in free and shipped.get(k) != other.get(k))


def same_recipe(shipped: dict[str, Any], run_config: Path) -> None:
    """Raise ValueError naming the settings where a training seed's run is not the shipped recipe.

    The decoding weights are free: they do not reach the weights (training_seed_lines shows them).
    """
    differ = recipe_differences(shipped, run_config, PER_RUN + DECODING)
    if differ:
        where = run_config.relative_to(ROOT) if run_config.is_relative_to(ROOT) else run_config
        raise ValueError(f"{where} is not the shipped recipe (differs in {', '.join(differ)})")


def protocol_cells(entry: dict[str, Any]) -> list[str]:
    """Every alpha/beta cell an evaluation scored, in its order."""
    return [key.removeprefix("moc/") for key in entry if key.startswith("moc/")]


def ratios(entry: dict[str, Any]) -> list[float]:
    """Model / grammar oracle (ratio of the test seeds' means) at every protocol cell, then segmentation."""
    cells = [entry[f"moc/{c}"]["mean"] / entry[f"reference/oracle/{c}"]["mean"] for c in protocol_cells(entry)]
    return [*cells, entry["segmentation_accuracy"]["mean"]]


def helped_throughout(modality: str) -> bool:
    """Whether the run's limit measurement found the modality helping at every level (its limit a lower bound)."""
    measured = RUN / f"{modality}_limit.json"
    return measured.is_file() and bool(json.loads(measured.read_text()).get("every_level_helped"))


def training_seed_lines(config: dict[str, Any]) -> list[str]:
    """The shipped recipe's spread over training seeds on the held-out seeds (a sentence when not measured).

    Each other seed's run must be the shipped recipe but for its seed (its config.yaml says so),
    so the card cannot quote another recipe's draws.
    """
    evaluations = [name for name in ("heldout10", "heldout") if (SEEDS / name / "results.json").is_file()]
    if not evaluations:
        return ["Training seeds: one; the spread above is over test seeds only."]
    shipped = flat(config)
    cells = protocol_cells(
        json.loads((EXPERIMENT / "heldout" / "results.json").read_text())["summary"]["fused/trained/both"]
    )
    lines = [
        "The same recipe from other training seeds (`train.seed`; `config/experiment/model_seeds.yaml`, the noise "
        "limits not measured and the shipped model's applied): model / grammar oracle, the ratio of the test seeds' "
        "means, and the observed segmentation accuracy, from `r3d-eval-model` "
        f"(`docs/experiment/model_seeds/heldout*/results.json`; seed {shipped['train.seed']} is this model).",
        "",
        "| test seeds | training seed | decoded with: filter weights (older / newest frame); live frames; "
        "remaining-frames weight | " + " | ".join(c.replace("_", " ") for c in cells) + " | observed seg. acc. |",
        "|---|---|---|" + "---|" * (len(cells) + 1),
    ]
    mixed = False
    for name in evaluations:
        ours = json.loads((EXPERIMENT / name / "results.json").read_text())
        theirs = json.loads((SEEDS / name / "results.json").read_text())
        if ours["seeds"] != theirs["seeds"]:
            raise ValueError(f"{name}: the other training seeds were scored on test seeds {theirs['seeds']}, "
                             f"this model on {ours['seeds']}")  # fmt: skip
        seeds = ours["seeds"]
        label = (
            f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))
        )
        our_decoding, their_decoding = ours.get("decoding", {}), theirs.get("decoding", {})
        ours, theirs = ours["summary"], theirs["summary"]
        draws = {shipped["train.seed"]: ratios(ours["fused/trained/both"])}
        weights = {shipped["train.seed"]: decoded_with(our_decoding.get("fused", shipped))}
        for key in sorted(k for k in theirs if k.endswith("/trained/both")):
            name = key.split("/")[0]
            seed = int(name.removeprefix("seed"))
            run_config = SEEDS / "runs" / f"fused-seed{seed}" / "config.yaml"
            same_recipe(shipped, run_config)
            draws[seed] = ratios(theirs[key])
            weights[seed] = decoded_with(their_decoding.get(name, recipe(run_config)))
        for seed, values in draws.items():
            lines.append(f"| {label} | {seed} | {weights[seed]} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
        if len(set(weights.values())) > 1:
            mixed = True
            continue
        table = np.array(list(draws.values()))
        spread = [f"{m:.3f} ± {s:.3f}" for m, s in zip(table.mean(0), table.std(0), strict=True)]
        lines.append(f"| {label} | mean ± std over {len(draws)} | | " + " | ".join(spread) + " |")
    if mixed:
        lines += [
            "",
            "The draws were decoded differently (`model.filter_evidence_weight`, `model.filter_newest_weight`, "
            "`model.temporal.live_frames`, `model.filter_remaining_weight`: set after training, the network's "
            "weights do not depend on them), so no spread over them is given; decoding them alike (`r3d-eval-model "
            "--evidence-weight / --newest-weight / --live-frames / --remaining-weight`) would give one.",
        ]
    return lines


def decoded_with(settings: dict[str, Any]) -> str:
    """How a draw was decoded: filter exponents (older / newest frame), live frames, remaining-frames exponent.

    The newest frame's exponent is the older frames' when it is empty. ``settings`` is an evaluation's
    record of the draw (r3d-eval-model's ``decoding``) or, for evaluations written before it kept one,
    the draw's config; an evaluation recorded before the remaining-frames weight existed shows "-" there.
    """
    older, newest = settings["model.filter_evidence_weight"], settings["model.filter_newest_weight"]
    remaining = settings.get("model.filter_remaining_weight")
    return f"{older:g} / {older if newest is None else newest:g}; {settings['model.temporal.live_frames']}; " + (
        "-" if remaining is None else f"{remaining:g}"
    )


def live_rows(temporal: Any) -> str:
    """Which window frames the live stack reads at run time."""
    if temporal.live_frames == 1:
        return "the window's newest frame"
    return (
        f"the window's newest {temporal.live_frames} frames (`model.temporal.live_frames`; the older ones keep "
        "the bidirectional stack's reading)"
    )


def band_when(temporal: Any) -> str:
    """When the live stack's band applies: a network trained with it reads as it learned."""
    return "in training as at run time" if temporal.live_history_in_training else "at run time only"


def render(model_path: Path, results: dict[str, Any], run: Path) -> str:
    """The card's Markdown."""
    model, metadata = load_model(model_path)
    config = model.config
    net, timing, data, train = config.model, config.anticipation, config.data.synthetic, config.train
    parameters = sum(p.numel() for p in model.parameters())
    low, high = oracle_fractions(results) or (float("nan"), float("nan"))  # every report has the oracle
    sensed = oracle_fractions(results, "oracle_sensed")
    fuser = net.fuser
    fusion = (
        f"the rank-enhancing token fuser ({fuser.score} rule, {fuser.blend_fraction:.0%} of channels blended)"
        if fuser.kind == "r3d"
        else f"{fuser.kind} fusion"
    )
    lines = [
        "# Model card: `r3d_default.safetensors`",
        "",
        "<!-- Generated by scripts/model_card.py from the model file, its run's metrics and its held-out",
        "     evaluation; edit the script, not this file. -->",
        "",
        "The model the node loads when `model_path` is empty. Model id "
        f"`{metadata['model_id']}` (the content hash recorded in the file; `/anticipated_action` messages carry it).",
        "",
        "## What it is",
        "",
        f"- R3D network with {fusion}, EBR {'on' if net.ebr.enabled else 'off'}: per-frame CNN encoders "
        f"(RGB {'/'.join(map(str, net.rgb_encoder.channels))} channels, depth "
        f"{'/'.join(map(str, net.depth_encoder.channels))}), {net.token_dim}-d tokens; a transformer "
        f"{net.temporal.dim} wide ({net.temporal.encoder_layers} encoder + "
        f"{net.temporal.decoder_layers} decoder layers) segments the "
        f"observed window and anticipates the future"
        + (
            f", and a second, causal stack of {net.temporal.encoder_layers} encoder layers "
            "(`model.temporal.live_encoder`) reads "
            + live_rows(net.temporal)
            + " from the past alone, as it is read live"
            + (
                f", each frame attending to its last {net.temporal.live_history} frames only "
                f"(`model.temporal.live_history`, {band_when(net.temporal)})"
                if net.temporal.live_history
                else ""
            )
            if net.temporal.live_encoder
            else ""
        )
        + f". {parameters:,} parameters, {model_path.stat().st_size / 1e6:.1f} MB.",
        f"- Decoding (`model.future_decoder: {net.future_decoder}`): "
        + {
            "grammar": "the future is read out through the action grammar (transitions and per-class durations) "
            "estimated from the training labels and stored in the file, applied to the recognised current "
            "action and how long it has lasted (`r3d_ros/model/grammar.py`).",
            "grammar_filter": "the action grammar (transitions and per-class durations) estimated from the "
            "training labels and stored in the file is run as a hidden semi-Markov filter over the window's "
            "per-frame class probabilities (evidence weight "
            f"{net.filter_evidence_weight:g}"
            + (
                f", the newest frame's {net.filter_newest_weight:g}"
                if net.filter_newest_weight not in (None, net.filter_evidence_weight)
                else ""
            )
            + "): the current action, its age and the future come from "
            "P(class, age | window), and the observed frames are labelled by forward-backward smoothing "
            "(`GrammarFilter` in `r3d_ros/model/grammar.py`)."
            + (
                f" When the current action ends comes from the chain's durations given its age times the live "
                f"stack's remaining-frames head for the newest frame ({net.temporal.remaining_frames} bins, "
                f"`model.temporal.remaining_frames`; weight {net.filter_remaining_weight:g}, "
                "`model.filter_remaining_weight`)."
                if net.temporal.remaining_frames and net.filter_remaining_weight > 0
                else ""
            ),
        }.get(net.future_decoder, "the learned future head."),
        f"- Inputs: {net.input.height}x{net.input.width} RGB and depth (centre crop, metres / "
        f"{net.input.max_depth_m:g} m with a valid mask, depth downsampled by `{net.input.depth_downsample}`) at "
        f"{timing.fps:g} frames/s; observed window {timing.window} frames; anticipates the next "
        f"{timing.horizon_s:g} s. The full config is embedded in the file (`config/train/default.yaml` is its "
        "source).",
        f"- Classes ({len(net.class_names)}): {', '.join(net.class_names)}.",
        "",
        "## How it was trained",
        "",
        "```bash",
        "scripts/with-env r3d-experiment --config config/experiment/model.yaml --out docs/experiment/model --jobs 2",
        "cp docs/experiment/model/runs/fused-seed0/model.safetensors models/r3d_default.safetensors",
        *(
            [
                "scripts/with-env python scripts/set_model_setting.py "
                f"{MODEL.relative_to(ROOT)} max_depth_noise {net.max_depth_noise:g}"
            ]
            if net.max_depth_noise and not train.depth_limit.enabled
            else []
        ),
        *(
            [
                "scripts/with-env python scripts/set_model_setting.py "
                f"{MODEL.relative_to(ROOT)} max_rgb_noise {net.max_rgb_noise:g}"
            ]
            if net.max_rgb_noise and not train.rgb_limit.enabled
            else []
        ),
        "scripts/with-env python scripts/model_card.py",
        "```",
        "",
        "That trains this model (`fused`, exactly `config/train/default.yaml`"
        + (
            f"; after training, `r3d-train` measured on development seeds {train.depth_limit.seeds} that this model "
            + (
                f"segments better with depth than without at every noise level measured, up to {net.max_depth_noise:g} "
                "m at 1 m (`train.depth_limit`), and recorded that highest level in the file as its limit (the "
                "limit is at least that)"
                if helped_throughout("depth")
                else f"segments better without depth than with depth noisier than {net.max_depth_noise:g} m at 1 m "
                "(`train.depth_limit`), and recorded that limit in the file"
            )
            + f", at the renderer's {data.width}x{data.height}; the node converts it to the stream's resolution "
            f"({model_depth_limit(config, 480, 640):.2g} m on a 640x480 stream, `docs/limitations.md`)"
            if net.max_depth_noise and train.depth_limit.enabled
            else f"; `set_model_setting.py` then records in the file that depth noisier than {net.max_depth_noise:g} m "
            "at 1 m is left out, where this model segments development seeds better without depth "
            "(`scripts/measure_noise_limit.py` measures it and `--write` records it)"
            if net.max_depth_noise
            else ""
        )
        + (
            (
                "; likewise, on the same seeds, that given depth it segments better with RGB than without at every "
                f"RGB noise level measured, up to {net.max_rgb_noise:g} at the network's input (0-255; "
                "`train.rgb_limit`), recorded as its RGB limit (at least that)"
                if helped_throughout("rgb")
                else "; likewise, on the same seeds, that given depth it segments better without RGB than with RGB "
                f"noisier than {net.max_rgb_noise:g} at the network's input (0-255; `train.rgb_limit`), recorded too"
            )
            if net.max_rgb_noise and train.rgb_limit.enabled
            else f"; `set_model_setting.py` (`max_rgb_noise`) records that RGB noisier than {net.max_rgb_noise:g} at "
            "the network's input (0-255) is left out where the frame has depth (measured by "
            "`scripts/measure_noise_limit.py --modality rgb`)"
            if net.max_rgb_noise
            else ""
        )
        + ") and its two single-modality "
        "baselines with the same recipe (`rgb_only`: depth never seen; `depth_only`: RGB never seen). "
        f"Synthetic benchmark (`docs/synthetic_benchmark.md`), {data.num_train} training videos of "
        f"{data.seconds:g} s, seed {data.seed}"
        + (
            f" ({data.ir_absorbing_sleeves:.0%} of them with IR-absorbing sleeves: the arms return no depth"
            + (", the holes filled with the depth behind them" if data.sleeve_holes_filled else "")
            + ")"
            if data.ir_absorbing_sleeves
            else ""
        )
        + ", "
        + (f"{train.pretrain.epochs} epochs of per-frame encoder pretraining, then " if train.pretrain.epochs else "")
        + f"{train.epochs} epochs; per-video modality dropout "
        f"({train.modality_dropout_depth_video:.0%} of training videos without depth, "
        f"{train.modality_dropout_rgb_video:.0%} without RGB), {train.modality_dropout_depth:.0%} per-frame depth "
        "dropout"
        + (
            f", colour jitter of training RGB (channel gains 1 ± {train.rgb_jitter.gain:g}, offsets "
            f"± {train.rgb_jitter.bias:g})"
            if train.rgb_jitter.enabled
            else ""
        )
        + (
            f", Gaussian blur of training RGB ({train.rgb_blur.probability:.0%} of videos and pretraining "
            f"frames, sigma 0.5-{train.rgb_blur.max_sigma:g} input pixels)"
            if train.rgb_blur.enabled
            else ""
        )
        + (
            f", zooming out of training frames ({train.zoom_out.probability:.0%} of videos and pretraining "
            f"frames shrunk by {train.zoom_out.min_scale:g}-1 with depth divided by the same factor)"
            if train.zoom_out.enabled
            else ""
        )
        + (
            f", wrong depth in training ({train.depth_corruption.probability:.0%} of videos and pretraining "
            f"frames with the depth scale off by up to {train.depth_corruption.max_gain_change:.0%} and "
            f"per-reading noise up to {train.depth_corruption.max_relative_noise:.0%}"
            + (
                f", plus the camera's stereo noise up to {train.depth_corruption.max_noise_at_1m:g} m at 1 m "
                f"before the nearest of {train.depth_corruption.readings_per_pixel} readings is kept"
                if train.depth_corruption.max_noise_at_1m > 0
                else ""
            )
            + ", labels unchanged)"
            if train.depth_corruption.probability > 0
            else ""
        )
        + (", an auxiliary per-frame classifier on each modality's tokens." if train.rsc.enabled else "."),
        "",
        " ".join([timing_line(run), *reproduction_lines(metadata["model_id"], flat(to_dict(config)))]),
        "",
        "## Metrics on held-out benchmark seeds",
        "",
        f"Test splits of benchmark seeds {', '.join(map(str, results['seeds']))} (48 videos each, rendered with "
        "the training's settings"
        + (f", so about {data.ir_absorbing_sleeves:.0%} of them sleeved" if data.ir_absorbing_sleeves else "")
        + f"; the model trained on seed {data.seed}), mean ± std over the seeds, from "
        "`docs/experiment/model/heldout/results.json` (`r3d-eval-model`; command in "
        '`config/experiment/model.yaml`). MoC per alpha/beta; "interior frames" is the segmentation '
        "accuracy more than two frames from a label change, where the actions' ramps do not make the two "
        "sides of a change look alike."
        + (
            f" As in the node, depth frames whose estimated noise is above {limit:g} m at 1 m (the model's "
            "`max_depth_noise`) count as missing."
            if (limit := results.get("depth_limits", {}).get("fused", results.get("max_depth_noise", 0.0))) > 0
            else ""
        )
        + (
            f" RGB whose estimated noise at the network's input is above {rgb_limit:g} (`max_rgb_noise`) counts as "
            "missing on frames with depth."
            if (rgb_limit := results.get("rgb_limits", {}).get("fused", 0.0)) > 0
            else ""
        ),
        "",
        *metrics_table(results),
        "",
        f"The model reaches {low:.0%}-{high:.0%} of the grammar oracle's MoC (chance is "
        f"1/{len(net.class_names)} = {1 / len(net.class_names):.3f})"
        + (
            f", and {sensed[0]:.0%}-{sensed[1]:.0%} of the oracle told only what the sensors show (push and pull "
            "differ only in the arms' depth, which the sleeves take away: on a sleeved video no model can tell them "
            "apart until the next action shows which it was)"
            if sensed
            else ""
        )
        + ". Every cell, the gap split, next-action "
        "accuracy and the remaining-time error are in `docs/experiment/model/heldout/report.md`.",
        "",
        "Targets of issue 9, as `r3d-eval-model` checks them:",
        "",
        "| target | value | needs | met |",
        "|---|---:|---:|---|",
        *(
            f"| {t['target']} | {t['value']:.3f} | {t['threshold']:g} | {'yes' if t['passed'] else 'NO'} |"
            for t in results["targets"]
        ),
        "",
        "## Other training seeds",
        "",
        *training_seed_lines(to_dict(config)),
        "",
        "## Intended use and limits",
        "",
        "A working default that recognises and anticipates the synthetic benchmark's actions, for the demo, the "
        "tests and for trying the pipeline. It has never seen a real person: for a robot, record your camera "
        "with `ros2 bag record`, label the recordings and train on them (`data.source: rosbag`, see the README).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write or check the card; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed card differs")
    args = parser.parse_args(argv)
    text = render(MODEL, json.loads(HELDOUT.read_text()), RUN)
    if args.check:
        if CARD.read_text() != text:
            print(f"{CARD.relative_to(ROOT)} is stale: run scripts/with-env python scripts/model_card.py")
            return 1
        return 0
    CARD.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
