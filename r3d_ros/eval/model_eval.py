r"""``r3d-eval-model``: score trained models on held-out synthetic seeds beside what is possible.

    r3d-eval-model --model fused=models/r3d_default.safetensors \\
        --model rgb_only=runs/rgb_only/model.safetensors --model depth_only=runs/depth_only/model.safetensors \\
        --seeds 100 101 102 --variant rgb_noise_20:rgb_noise=20 --out docs/model_eval

Every model is evaluated on the test split of the synthetic benchmark rendered
with each seed (the sensor settings of the first model's training config, or
of ``--sensor-from NAME``'s, or of a named ``--variant`` that overrides some of
them), under four input conditions: both modalities, depth absent on every frame, RGB absent on every
frame, and depth missing on 30 % of frames (baselines named ``rgb_only`` /
``depth_only`` only without the modality they never saw; sensor variants only
the primary model with both modalities, or every model but the baselines with
``--variants-for-all``; the baselines too with ``--baselines-on-variants``,
which also checks the primary model against them on each variant). Depth frames
noisier than ``--max-depth-noise`` (default -1, as the node's: each model's own
limit) count as missing, as in the node. The same windows score the
reference anticipators (:mod:`r3d_ros.eval.reference`). It writes
``results.json`` (every number per seed), ``report.md`` (mean +- std over seeds,
the references, the gap split) and checks the targets of the primary model
(the first ``--model``) against the oracle and the single-modality baselines
named ``rgb_only`` / ``depth_only``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, get_args, get_type_hints

import numpy as np
import torch

from r3d_ros.config import ConfigError, ModelConfig, StreamConfig, SyntheticConfig
from r3d_ros.config.loader import from_dict, to_dict
from r3d_ros.config.schema import MAX_NEWEST_WEIGHT
from r3d_ros.data.prepared import PreparedVideo, iter_prepared, prepare_dataset
from r3d_ros.data.synthetic import DEPTH_ONLY_CLASSES, arms_in_depth, generate_synthetic
from r3d_ros.eval.anticipation import evaluate_anticipation, protocol_key
from r3d_ros.eval.reference import ReferenceScores, dataset_grammar, dataset_twins, reference_table
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.r3d import R3DModel
from r3d_ros.runtime.depth_noise import limit_in_force, too_noisy
from r3d_ros.runtime.preprocess import model_depth_limit

LOG = logging.getLogger("r3d_ros.model_eval")
ALPHAS, BETAS = (0.2, 0.3), (0.1, 0.2, 0.3, 0.5)
KEYS = [protocol_key(a, b) for a in ALPHAS for b in BETAS]
MAIN = protocol_key(0.3, 0.5)
DECODERS = get_args(get_type_hints(ModelConfig)["future_decoder"])
CONDITIONS = ("both", "depth_absent", "rgb_absent", "depth_missing_30")
DEPTH_MISSING_FRACTION = 0.3


def depth_kept(videos: Sequence[PreparedVideo], max_depth_noise: float) -> list[np.ndarray]:
    """Per video, the frames whose depth the node would keep under ``max_depth_noise`` (0 = all)."""
    return [np.array([not too_noisy(float(n), max_depth_noise) for n in v.depth_noise], dtype=bool) for v in videos]


def rgb_kept(
    videos: Sequence[PreparedVideo], depth_present: Sequence[np.ndarray], max_rgb_noise: float
) -> list[np.ndarray] | None:
    """Per video, the frames whose RGB the node would keep: all but those noisier than ``max_rgb_noise`` with depth.

    None when every frame keeps its RGB.
    """
    kept = [
        ~(v.depth_present & present & np.array([too_noisy(float(n), max_rgb_noise) for n in v.rgb_noise], dtype=bool))
        for v, present in zip(videos, depth_present, strict=True)
    ]
    return None if all(k.all() for k in kept) else kept


def presence(
    condition: str,
    videos: Sequence[PreparedVideo],
    seed: int,
    max_depth_noise: float = 0.0,
    max_rgb_noise: float = 0.0,
) -> dict[str, list[np.ndarray] | None]:
    """Per-video rgb/depth presence masks of an input condition (depth missing frames drawn from ``seed``).

    Depth noisier than ``max_depth_noise`` is absent too, and so is RGB noisier
    than ``max_rgb_noise`` on a frame that keeps its depth, as the node leaves them out.
    """
    kept = depth_kept(videos, max_depth_noise)
    absent = [np.zeros(len(v), dtype=bool) for v in videos]
    if condition == "depth_absent":
        return {"rgb_present": None, "depth_present": absent}
    if condition == "rgb_absent":
        return {"rgb_present": absent, "depth_present": kept}
    if condition != "both":
        rng = np.random.default_rng([seed, 30])
        kept = [(rng.random(len(v)) >= DEPTH_MISSING_FRACTION) & k for v, k in zip(videos, kept, strict=True)]
    return {"rgb_present": rgb_kept(videos, kept, max_rgb_noise), "depth_present": kept}


def test_videos(sensor: SyntheticConfig, model: R3DModel, cache: str | Path | None) -> list[PreparedVideo]:
    """The rendered and preprocessed test split of ``sensor`` at the model's input size and rate."""
    dataset = generate_synthetic(dataclasses.replace(sensor, num_train=0))
    config = model.config
    return prepare_dataset(dataset, config.model.input, config.anticipation.fps, cache, progress=False)


def test_video_sets(
    sensors: Sequence[SyntheticConfig], model: R3DModel, cache: str | Path | None
) -> list[list[PreparedVideo]]:
    """:func:`test_videos` of each of ``sensors``, each video's variants prepared together.

    Sensors that differ only in the sensor effects (noise, holes, occluding
    boxes, flicker: :data:`~r3d_ros.data.synthetic.SENSOR_KNOBS`) then
    ray-cast each scene once; the result is that of rendering them one by one.
    """
    sets: list[list[PreparedVideo]] = [[] for _ in sensors]
    for index, video in iter_test_video_sets(sensors, model, cache):
        sets[index].append(video)
    return sets


def iter_test_video_sets(
    sensors: Sequence[SyntheticConfig], model: R3DModel, cache: str | Path | None
) -> Iterator[tuple[int, PreparedVideo]]:
    """:func:`test_video_sets` one video at a time: (index of its sensor, video), each video's variants in a row."""
    datasets = [generate_synthetic(dataclasses.replace(sensor, num_train=0)) for sensor in sensors]
    counts = {len(dataset.videos) for dataset in datasets}
    if len(counts) != 1:
        raise ValueError(f"the sensors' test splits differ in size: {sorted(counts)}")
    interleaved = [video for videos in zip(*(d.videos for d in datasets), strict=True) for video in videos]
    combined = dataclasses.replace(datasets[0], videos=interleaved, splits={})
    config = model.config
    prepared = iter_prepared(combined, config.model.input, config.anticipation.fps, cache, group=len(datasets))
    for position, video in enumerate(prepared):
        yield position % len(datasets), video


def variant_test_sets(
    sensors: dict[str, SyntheticConfig], model: R3DModel, cache: str | Path | None
) -> dict[str, list[PreparedVideo]]:
    """:func:`test_video_sets` of the named ``sensors``, those whose test splits have one size prepared together.

    Why: the robustness variants of one seed mostly change only the sensor
    effects, so preparing them together ray-casts each scene once.
    """
    sizes: dict[int, list[str]] = {}
    for name, sensor in sensors.items():
        sizes.setdefault(sensor.num_test, []).append(name)
    prepared: dict[str, list[PreparedVideo]] = {}
    for names in sizes.values():
        sets = test_video_sets([sensors[name] for name in names], model, cache)
        prepared.update(zip(names, sets, strict=True))
    return {name: prepared[name] for name in sensors}


def test_arms_in_depth(sensor: SyntheticConfig) -> list[bool]:
    """Per test video of ``sensor`` (in :func:`test_videos`' order): its person's arms return depth (no sleeves)."""
    dataset = generate_synthetic(dataclasses.replace(sensor, num_train=0))
    return [arms_in_depth(sensor, video) for video in dataset.videos]


BASELINE_CONDITIONS = {"rgb_only": ("depth_absent",), "depth_only": ("rgb_absent",)}


BASELINE_MODALITIES = {"rgb_only": ("rgb",), "depth_only": ("depth",)}


def baseline_name_mismatch(name: str, trained: Sequence[str]) -> str:
    """Why ``name`` does not fit a model trained on ``trained`` ('' when it fits).

    The baselines' targets find them by name, so a single-modality model under
    another name would silently anchor nothing, and a fused model named as a
    baseline would be scored on one modality.
    """
    role = next((role for role, modalities in BASELINE_MODALITIES.items() if tuple(trained) == modalities), None)
    if role is not None and name != role:
        return f"a model trained on {trained[0]} alone is the {role} baseline: name it {role}"
    if role is None and name in BASELINE_MODALITIES:
        alone = BASELINE_MODALITIES[name][0]
        return f"{name} names the baseline trained on {alone} alone; this model was trained on {', '.join(trained)}"
    return ""


def conditions_for(
    name: str, primary: str, variant: str, variants_for_all: bool = False, baselines_on_variants: bool = False
) -> tuple[str, ...]:
    """The input conditions ``name`` is scored under on ``variant``'s test sets.

    A single-modality baseline only without the other modality (the only input
    it was trained on), the primary model under every condition, and on a
    changed sensor (a robustness variant) only the primary model with both, or
    with ``variants_for_all`` every model that is not a baseline; the baselines
    too, in their one condition, with ``baselines_on_variants``.
    """
    if variant != "trained":
        if name in BASELINE_CONDITIONS:
            return BASELINE_CONDITIONS[name] if baselines_on_variants else ()
        return ("both",) if name == primary or variants_for_all else ()
    return BASELINE_CONDITIONS.get(name, CONDITIONS)


def evaluate_model(
    model: R3DModel,
    videos: list[PreparedVideo],
    seed: int,
    conditions: Sequence[str] = CONDITIONS,
    max_depth_noise: float = 0.0,
    max_rgb_noise: float = 0.0,
    arms_in_depth: Sequence[bool] | None = None,
) -> dict[str, dict[str, float]]:
    """Scores of one model on one test set under ``conditions`` (with the references).

    Each condition's scores include ``depth_too_noisy``, the fraction of frames
    with depth whose depth was left out for noise, and ``rgb_too_noisy``, the
    fraction of frames whose RGB was. ``arms_in_depth`` (per video, default all):
    what the sensed oracle is told of IR-absorbing sleeves.
    """
    config = model.config
    grammar = dataset_grammar(config.model.class_names, [], config.anticipation.fps)
    twins = dataset_twins(config.model.class_names)
    subset = [config.model.class_names.index(name) for name in DEPTH_ONLY_CLASSES]
    with_depth = np.concatenate([v.depth_present for v in videos])
    kept = np.concatenate(depth_kept(videos, max_depth_noise))
    dropped = float(np.mean(~kept[with_depth])) if with_depth.any() else 0.0
    out = {}
    for condition in conditions:
        reference = ReferenceScores(grammar, config.model.num_classes, KEYS, twins)
        masks = presence(condition, videos, seed, max_depth_noise, max_rgb_noise)
        scores = evaluate_anticipation(
            model, videos, ALPHAS, BETAS, torch.device("cpu"), subset, reference=reference,
            arms_in_depth=arms_in_depth, **masks
        )  # fmt: skip
        rgb = masks["rgb_present"]
        rgb_dropped = 0.0 if rgb is None or condition == "rgb_absent" else float(np.mean(~np.concatenate(rgb)))
        out[condition] = scores.as_dict() | {"depth_too_noisy": dropped, "rgb_too_noisy": rgb_dropped}
    return out


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean, population std and the values, NaNs ignored."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    mean, std = (float(finite.mean()), float(finite.std())) if len(finite) else (float("nan"), float("nan"))
    return {"mean": mean, "std": std, "values": array.tolist()}


def ratio(numerator: float, denominator: float) -> float:
    """The quotient, NaN when the denominator is not positive (the check is then not reported)."""
    return numerator / denominator if denominator > 0 else float("nan")


def summarise(per_seed: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean and std over seeds of every metric of each (model/variant/condition) entry."""
    return {name: {key: mean_std([row[key] for row in rows]) for key in rows[0]} for name, rows in per_seed.items()}


def mean_of(summary: dict[str, dict[str, Any]], entry: str, key: str) -> float:
    """The mean over seeds of ``key`` in ``entry`` (model/variant/condition), NaN when it was not scored."""
    scores = summary.get(entry, {})
    return scores[key]["mean"] if key in scores else float("nan")


def target_checks(summary: dict[str, dict[str, Any]], primary: str, variant: str) -> list[dict[str, Any]]:
    """The targets of ``primary`` on ``variant``'s test sets: against the oracle, the baselines, missing depth."""

    def value(model: str, condition: str, key: str) -> float:
        return mean_of(summary, f"{model}/{variant}/{condition}", key)

    checks = []

    def check(what: str, measured: float, threshold: float) -> None:
        passed = bool(measured >= threshold)
        checks.append({"target": what, "value": measured, "threshold": threshold, "passed": passed})

    for key in KEYS:
        oracle = value(primary, "both", f"reference/oracle/{key}")
        check(f"MoC {key} / oracle", ratio(value(primary, "both", f"moc/{key}"), oracle), 0.9)
        recognised = value(primary, "both", f"reference/continue_recognised/{key}")
        check(f"MoC {key} - continue recognised", value(primary, "both", f"moc/{key}") - recognised, 0.0)
    check("observed segmentation accuracy", value(primary, "both", "segmentation_accuracy"), 0.95)
    for condition, baseline in (("depth_absent", "rgb_only"), ("rgb_absent", "depth_only")):
        for key, label in (("segmentation_accuracy", "seg. acc."), (f"moc/{MAIN}", f"MoC {MAIN}")):
            measured = ratio(value(primary, condition, key), value(baseline, condition, key))
            check(f"{condition}: {label} / {baseline} baseline", measured, 0.9)
    checks += fusion_checks(summary, primary, variant)
    for key in KEYS:
        measured = ratio(value(primary, "depth_missing_30", f"moc/{key}"), value(primary, "both", f"moc/{key}"))
        check(f"depth missing on 30 % of frames: MoC {key} / all depth", measured, 0.9)
    return [c for c in checks if np.isfinite(c["value"])]


def fusion_checks(
    summary: dict[str, dict[str, Any]], primary: str, variant: str, label: str = ""
) -> list[dict[str, Any]]:
    """With both modalities ``primary`` beats each single-modality baseline on ``variant``'s test sets.

    On a sensor setting that weakens one modality (noisy depth, noisy RGB) this
    is the test of fusion: a model that reads both should lose less than the
    baseline that has only the weakened one. ``label`` prefixes each target's name.
    """
    checks = []
    for baseline, condition in (("rgb_only", "depth_absent"), ("depth_only", "rgb_absent")):
        fused = mean_of(summary, f"{primary}/{variant}/both", f"moc/{MAIN}")
        alone = mean_of(summary, f"{baseline}/{variant}/{condition}", f"moc/{MAIN}")
        checks.append({"target": f"{label}both present: MoC {MAIN} - {baseline} baseline", "value": fused - alone,
                       "threshold": 0.0, "passed": bool(fused - alone >= 0.0)})  # fmt: skip
    return [c for c in checks if np.isfinite(c["value"])]


def robustness_checks(
    summary: dict[str, dict[str, Any]], model: str, variant: str, label: str = ""
) -> list[dict[str, Any]]:
    """Under changed sensor settings ``model`` keeps at least 85 % of its MoC (every cell) and segmentation.

    ``label`` prefixes each target's name (the model's, for models other than the primary).
    """
    checks = []
    for key in (*(f"moc/{k}" for k in KEYS), "segmentation_accuracy"):
        changed = summary[f"{model}/{variant}/both"][key]["mean"]
        measured = ratio(changed, summary[f"{model}/trained/both"][key]["mean"])
        checks.append({"target": f"{label}{variant}: {key} / trained sensor", "value": measured, "threshold": 0.85,
                       "passed": bool(measured >= 0.85)})  # fmt: skip
    return [c for c in checks if np.isfinite(c["value"])]


def seed_range_row(entry: dict[str, Any]) -> str:
    """A reference-table row: the lowest and highest per-seed model / oracle ratio of each cell.

    The table's ratios are of means over seeds; on 48 videos a cell's ratio moves between test
    seeds by as much as a target's margin, so the report shows how far.
    """
    cells = []
    for key in KEYS:
        values = np.asarray(entry.get(f"reference/model_fraction_of_oracle/{key}", {}).get("values", []), dtype=float)
        finite = values[np.isfinite(values)]
        cells.append(f"{finite.min():.3f}-{finite.max():.3f}" if len(finite) else "")
    return "| model / oracle, lowest-highest test seed | " + " | ".join(cells) + " |"


def write_report(
    summary: dict[str, dict[str, Any]],
    checks: list[dict[str, Any]],
    seeds: list[int],
    path: Path,
    depth_limits: dict[str, float] | None = None,
    rgb_limits: dict[str, float] | None = None,
) -> None:
    """report.md: per entry MoC per protocol cell and segmentation (mean +- std), references, targets."""
    lines = [f"Synthetic test splits of seeds {seeds}, 48 videos each unless configured otherwise; mean ± std."]
    notes = (
        (depth_limits, "depth_too_noisy", "Depth noisier than a model's limit (std at 1 m, m; {}) counts as missing, "
         "as in the node; share of depth frames left out: {}."),
        (rgb_limits, "rgb_too_noisy", "RGB noisier than a model's limit (std at the network's input, 0-255; {}) "
         "counts as missing on frames with depth, as in the node; share of frames whose RGB was left out: {}."),
    )  # fmt: skip
    for limits, key, text in notes:
        if limits and any(limits.values()):
            named = ", ".join(f"{name} {limit:g}" if limit > 0 else f"{name} none" for name, limit in limits.items())
            dropped = {name: e[key]["mean"] for name, e in summary.items() if key in e}
            shares = ", ".join(f"{name} {fraction:.1%}" for name, fraction in dropped.items() if fraction > 0)
            lines.append(text.format(named, shares or "none"))
    lines.append("")
    header = " | ".join(["| model / sensor / inputs", *KEYS, "seg. acc.", "seg. acc. interior", "seg. acc. boundary"])
    lines += [header + " | next action | remaining err. (s) |", "|---|" + "---:|" * (len(KEYS) + 5)]
    for name, entry in summary.items():
        cells = [f"{entry[f'moc/{k}']['mean']:.3f} ± {entry[f'moc/{k}']['std']:.3f}" for k in KEYS]
        seg = ("segmentation_accuracy", "segmentation_interior_accuracy", "segmentation_boundary_accuracy")
        cells += [f"{entry[k]['mean']:.3f}" if k in entry else "" for k in (*seg, "next_action_accuracy")]
        cells.append(f"{entry['remaining_error_s']['mean']:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, entry in summary.items():
        if name.endswith("/both"):
            lines += ["", f"References and gap split for {name} (means over seeds):", ""]
            lines.append(reference_table({k: v["mean"] for k, v in entry.items()}, KEYS))
            lines.append(seed_range_row(entry))
    lines += ["", "| target | value | threshold | met |", "|---|---:|---:|---|"]
    for c in checks:
        lines.append(f"| {c['target']} | {c['value']:.3f} | {c['threshold']:g} | {'yes' if c['passed'] else 'NO'} |")
    path.write_text("\n".join(lines) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line of ``r3d-eval-model``."""
    parser = argparse.ArgumentParser(
        prog="r3d-eval-model", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", action="append", required=True, metavar="NAME=PATH", help="a model file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102], help="benchmark seeds to test on")
    parser.add_argument("--num-test", type=int, default=48, help="test videos per seed")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="also test with these synthetic sensor settings changed (e.g. far:min_distance_m=3.2,max_distance_m=3.6)",
    )
    parser.add_argument(
        "--variants-for-all",
        action="store_true",
        help="score every model except the rgb_only/depth_only baselines on the --variant sensors\n"
        "(default: only the first model), each with its own robustness checks",
    )
    parser.add_argument(
        "--baselines-on-variants",
        action="store_true",
        help="also score the rgb_only/depth_only baselines on the --variant sensors (each without the modality\n"
        "it never saw) and check the first model against them there: the test of fusion when one modality is weak",
    )
    parser.add_argument(
        "--decoder",
        action="append",
        default=[],
        metavar="NAME=DECODER",
        help="decode model NAME with another future_decoder (head, grammar, grammar_filter) than it was saved with;\n"
        "the same file under two names compares decoders on the same weights",
    )
    parser.add_argument(
        "--evidence-weight",
        action="append",
        default=[],
        metavar="NAME=W",
        help="decode model NAME with another filter_evidence_weight (in (0, 1]) than it was saved with;\n"
        "the same file under two names compares weights on the same network outputs",
    )
    parser.add_argument(
        "--newest-weight",
        action="append",
        default=[],
        metavar="NAME=W",
        help=f"decode model NAME with another filter_newest_weight (in (0, {MAX_NEWEST_WEIGHT:g}]: the exponent\n"
        "on the window's newest frame) than it was saved with",
    )
    parser.add_argument(
        "--remaining-weight",
        action="append",
        default=[],
        metavar="NAME=W",
        help="decode model NAME with another filter_remaining_weight (>= 0: the exponent on its remaining-frames\n"
        "head's distribution, 0 = the chain's durations alone) than it was saved with",
    )
    parser.add_argument(
        "--live-history",
        action="append",
        default=[],
        metavar="NAME=L",
        help="read model NAME's live stack with another model.temporal.live_history (frames each frame attends\n"
        "to at run time, 0 = all) than it was saved with",
    )
    parser.add_argument(
        "--live-frames",
        action="append",
        default=[],
        metavar="NAME=N",
        help="read model NAME's newest N window frames from its live stack (model.temporal.live_frames, 1 = the\n"
        "newest alone) instead of the number it was saved with",
    )
    parser.add_argument(
        "--max-depth-noise",
        type=float,
        default=StreamConfig().max_depth_noise,
        help="depth frames whose estimated std at 1 m (m) is above this count as missing, as in the node\n"
        "(default %(default)g, as the node's: each model's own limit, model.max_depth_noise; 0 = keep all)",
    )
    parser.add_argument(
        "--max-rgb-noise",
        type=float,
        default=StreamConfig().max_rgb_noise,
        help="RGB frames whose estimated noise at the network's input (0-255) is above this count as missing\n"
        "where they have depth, as in the node\n"
        "(default %(default)g: each model's own limit, model.max_rgb_noise; 0 = keep all)",
    )
    parser.add_argument(
        "--sensor-from",
        metavar="NAME",
        help="the model whose training renderer settings are the 'trained' test setting and the base of every\n"
        "--variant (default: the first --model, whose targets are checked)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--cache", type=Path, help="cache of rendered test sets (default OUT/cache)")
    return parser.parse_args(argv)


def parse_variant(text: str, base: SyntheticConfig) -> tuple[str, SyntheticConfig]:
    """``name:key=value,...`` -> (name, sensor settings); unknown keys and bad values raise ConfigError."""
    name, _, assignments = text.partition(":")
    values = dict(to_dict(base))
    for assignment in filter(None, assignments.split(",")):
        key, _, raw = assignment.partition("=")
        if key not in values:
            raise ConfigError(f"--variant {name}: unknown synthetic setting {key!r}")
        values[key] = _variant_value(name, key, raw, values[key])
    return name, from_dict(SyntheticConfig, values)


def _variant_value(name: str, key: str, raw: str, current: object) -> object:
    """``raw`` as the type of the setting's current value (bool("false") would be True, so booleans are spelled out)."""
    if isinstance(current, bool):
        if raw.lower() not in ("true", "false"):
            raise ConfigError(f"--variant {name}: {key} must be true or false, got {raw!r}")
        return raw.lower() == "true"
    try:
        return type(current)(raw) if current is not None else float(raw)
    except ValueError:
        raise ConfigError(f"--variant {name}: {key} must be a {type(current).__name__}, got {raw!r}") from None


def with_decoder(model: R3DModel, decoder: str) -> R3DModel:
    """``model`` decoding its future with ``decoder``; the weights (and the grammar it carries) are unchanged."""
    if decoder not in DECODERS:
        raise ConfigError(f"--decoder: unknown future_decoder {decoder!r} (one of {', '.join(DECODERS)})")
    if decoder != "head" and not model.config.model.uses_grammar:
        raise ConfigError(f"--decoder: {decoder!r} needs the action grammar, and this model was saved without one")
    settings = dataclasses.replace(model.config.model, future_decoder=decoder)
    model.config = dataclasses.replace(model.config, model=settings)
    return model


def live_override(option: str, setting: str) -> Callable[[R3DModel, str], R3DModel]:
    """An override that reads a model's live stack with another whole-number ``setting``; the weights are unchanged."""

    def apply(model: R3DModel, text: str) -> R3DModel:
        try:
            frames = int(text)
        except ValueError:
            raise ConfigError(f"{option}: expected a whole number of frames, got {text!r}") from None
        try:
            getattr(model, f"set_{setting}")(frames)
        except ConfigError as error:
            raise ConfigError(f"{option}: {error}") from None
        return model

    return apply


def filter_override(option: str, field: str) -> Callable[[R3DModel, str], R3DModel]:
    """An override that decodes a model's grammar filter with another number ``field``; the weights are unchanged."""

    def apply(model: R3DModel, text: str) -> R3DModel:
        try:
            weight = float(text)
        except ValueError:
            raise ConfigError(f"{option}: expected a number, got {text!r}") from None
        if model.config.model.future_decoder != "grammar_filter":
            raise ConfigError(f"{option}: the model does not decode with grammar_filter (see --decoder)")
        try:
            settings = dataclasses.replace(model.config.model, **{field: weight})
        except ConfigError as error:
            raise ConfigError(f"{option}: {error}") from None
        model.config = dataclasses.replace(model.config, model=settings)
        return model

    return apply


# How a model was read after its network: set after training (scripts/set_model_setting.py) or by this
# command's options, so an evaluation records them beside its numbers; the model file alone may say otherwise.
DECODING = (
    "model.future_decoder",
    "model.filter_evidence_weight",
    "model.filter_newest_weight",
    "model.filter_remaining_weight",
    "model.temporal.live_history",
    "model.temporal.live_frames",
)


def decoding(model: R3DModel) -> dict[str, object]:
    """The :data:`DECODING` settings ``model`` was scored with, by their config paths."""
    out = {}
    for path in DECODING:
        value: object = model.config
        for part in path.split("."):
            value = getattr(value, part)
        out[path] = value
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``r3d-eval-model``."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    models = {}
    for item in args.model:
        name, _, path = item.partition("=")
        if not path:
            LOG.error("--model expects NAME=PATH, got %r", item)
            return 2
        models[name], _ = load_model(path)
        mismatch = baseline_name_mismatch(name, models[name].config.train.trained_modalities)
        if mismatch:
            LOG.error("--model %s: %s", item, mismatch)
            return 2
    overrides = [("--decoder", item, with_decoder) for item in args.decoder]
    for option, field, items in (
        ("--evidence-weight", "filter_evidence_weight", args.evidence_weight),
        ("--newest-weight", "filter_newest_weight", args.newest_weight),
        ("--remaining-weight", "filter_remaining_weight", args.remaining_weight),
    ):
        overrides += [(option, item, filter_override(option, field)) for item in items]
    for option, setting, items in (
        ("--live-history", "live_history", args.live_history),
        ("--live-frames", "live_frames", args.live_frames),
    ):
        overrides += [(option, item, live_override(option, setting)) for item in items]
    for option, item, apply in overrides:
        name, _, value = item.partition("=")
        if name not in models:
            LOG.error("%s %r names no --model", option, item)
            return 2
        try:
            apply(models[name], value)
        except ConfigError as error:
            LOG.error("%s: %s", name, error)
            return 2
    try:
        StreamConfig(max_depth_noise=args.max_depth_noise, max_rgb_noise=args.max_rgb_noise)
    except ConfigError as error:
        LOG.error("%s", error)
        return 2
    if args.sensor_from is not None and args.sensor_from not in models:
        LOG.error("--sensor-from %r names no --model", args.sensor_from)
        return 2
    first = models[args.sensor_from] if args.sensor_from else next(iter(models.values()))
    if first.config.data.source != "synthetic":
        LOG.error("r3d-eval-model scores models trained on the synthetic benchmark")
        return 2
    base = dataclasses.replace(first.config.data.synthetic, num_test=args.num_test)
    try:
        variants = dict([("trained", base), *(parse_variant(v, base) for v in args.variant)])
    except (ConfigError, ValueError) as error:
        LOG.error("%s", error)
        return 2
    primary = next(iter(models))
    own = {name: model.config.model.max_depth_noise for name, model in models.items()}
    limits = {name: limit_in_force(args.max_depth_noise, limit) for name, limit in own.items()}
    # As the node does, each model's own limit is converted to a variant rendered at another resolution.
    variant_limits = {
        variant: {
            name: limit_in_force(args.max_depth_noise, model_depth_limit(model.config, sensor.height, sensor.width))
            for name, model in models.items()
        }
        for variant, sensor in variants.items()
    }
    rgb_limits = {name: limit_in_force(args.max_rgb_noise, m.config.model.max_rgb_noise) for name, m in models.items()}
    cache = args.cache or args.out / "cache"
    per_seed: dict[str, list[dict[str, float]]] = {}
    for seed in args.seeds:
        LOG.info("rendering the test sets of seed %d (%s)", seed, ", ".join(variants))
        seeded = {variant: dataclasses.replace(sensor, seed=seed) for variant, sensor in variants.items()}
        prepared = variant_test_sets(seeded, first, cache)
        for variant, sensor in seeded.items():
            LOG.info("scoring the %s test set of seed %d", variant, seed)
            videos, arms = prepared.pop(variant), test_arms_in_depth(sensor)
            for name, model in models.items():
                conditions = conditions_for(name, primary, variant, args.variants_for_all, args.baselines_on_variants)
                depth_limit = variant_limits[variant][name]
                scored = evaluate_model(model, videos, seed, conditions, depth_limit, rgb_limits[name], arms)
                for condition, scores in scored.items():
                    per_seed.setdefault(f"{name}/{variant}/{condition}", []).append(scores)
    summary = summarise(per_seed)
    checks = target_checks(summary, primary, "trained")
    checks += [check for variant in list(variants)[1:] for check in robustness_checks(summary, primary, variant)]
    if args.baselines_on_variants:
        checks += [check for v in list(variants)[1:] for check in fusion_checks(summary, primary, v, label=f"{v}: ")]
    if args.variants_for_all:
        others = [name for name in models if name != primary and name not in BASELINE_CONDITIONS]
        checks += [
            check
            for name in others
            for variant in list(variants)[1:]
            for check in robustness_checks(summary, name, variant, label=f"{name}: ")
        ]
    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        "seeds": args.seeds,
        "max_depth_noise": args.max_depth_noise,
        "depth_limits": limits,
        "depth_limits_by_variant": variant_limits,
        "max_rgb_noise": args.max_rgb_noise,
        "rgb_limits": rgb_limits,
        "variants": {k: to_dict(v) for k, v in variants.items()},
        "decoding": {name: decoding(model) for name, model in models.items()},
        "summary": summary,
    }
    (args.out / "results.json").write_text(json.dumps(results | {"targets": checks}, indent=1))
    write_report(summary, checks, args.seeds, args.out / "report.md", limits, rgb_limits)
    print((args.out / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
