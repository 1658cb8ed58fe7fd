"""The trainer end to end on a tiny synthetic benchmark: outputs, resume after a kill, divergence, DDP."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from train_configs import write_config

from r3d_ros.config import ConfigError, MonitorConfig, SyntheticConfig, load_config
from r3d_ros.config.loader import to_dict
from r3d_ros.data.synthetic import dark_sleeves
from r3d_ros.eval import model_eval
from r3d_ros.eval.anticipation import encode_video
from r3d_ros.eval.noise_limit import input_scale, limit_from, measure_noise_limit, segmentation_under
from r3d_ros.model import load_model, save_model
from r3d_ros.runtime.preprocess import model_depth_limit
from r3d_ros.train.distributed import convert_batchnorm
from r3d_ros.train.experiment import train_run
from r3d_ros.train.monitor import RankMonitor
from r3d_ros.train.state import CheckpointError
from r3d_ros.train.substitution import ridge_map
from r3d_ros.train.trainer import Trainer, TrainingDiverged, train

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "r3d_ros.train.cli", "--no-progress", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or os.environ.copy(), **kwargs,
    )  # fmt: skip


def checkpoint_epoch(path: Path) -> int:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return int(handle.metadata()["epoch"])
    except Exception:
        return 0


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    limit = {
        "train.depth_limit": {"levels": [0.01, 0.1], "seeds": [7], "num_test": 2},
        "train.rgb_limit": {"levels": [10.0, 100.0], "seeds": [7], "num_test": 2},
    }
    train(load_config(write_config(folder / "tiny.yaml", **limit)), folder / "out", progress=False)
    return folder / "out"


@pytest.fixture(scope="module")
def baseline_files(finished_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The finished run's weights saved as an RGB-only and a depth-only baseline (what r3d-eval-model checks)."""
    folder = tmp_path_factory.mktemp("baselines")
    files = {}
    for name, never_seen in (("rgb_only", "depth"), ("depth_only", "rgb")):
        model, _ = load_model(finished_run / "model.safetensors")
        train_config = dataclasses.replace(model.config.train, **{f"modality_dropout_{never_seen}_video": 1.0})
        model.config = dataclasses.replace(model.config, train=train_config)
        save_model(folder / f"{name}.safetensors", model)
        files[name] = str(folder / f"{name}.safetensors")
    return files


def test_training_writes_model_checkpoint_metrics_and_plots(finished_run: Path) -> None:
    for name in ("config.yaml", "checkpoint.safetensors", "model.safetensors", "metrics.csv", "metrics.jsonl",
                 "rank_curves.png", "spectra.png", "train.log"):  # fmt: skip
        assert (finished_run / name).is_file(), name
    assert any((finished_run / "tensorboard").iterdir())
    rows = [json.loads(line) for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for key in ("rank/rgb", "rank/depth", "rank/fused", "cka/rgb_depth", "contribution/rgb", "contribution/depth",
                "moc/a0.3_b0.5", "moc_depth_missing", "segmentation_accuracy", "train/discriminator_ce"):  # fmt: skip
        assert key in rows[-1], key
    assert set(rows[-1]["spectra"]) == {"rgb", "depth", "fused"}
    header = (finished_run / "metrics.csv").read_text().splitlines()[0]
    assert "rank/fused" in header


def test_training_time_accumulates_over_epochs(finished_run: Path) -> None:
    rows = [json.loads(line) for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    seconds = [r["train_seconds"] for r in rows]
    assert seconds[0] > 0 and seconds == sorted(set(seconds))  # strictly increasing
    assert seconds[-1] >= sum(r["epoch_seconds"] for r in rows)


def test_training_runs_on_the_configured_number_of_torch_threads(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        Trainer(load_config(write_config(tmp_path / "tiny.yaml", **{"train.threads": 1})), tmp_path / "out")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_negative_thread_count_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="threads"):
        load_config(write_config(tmp_path / "tiny.yaml", **{"train.threads": -1}))


def test_a_finished_run_says_where_its_wall_time_went(finished_run: Path) -> None:
    timing = json.loads((finished_run / "timing.json").read_text())
    rows = [json.loads(line) for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    assert timing["data_seconds"] > 0 and timing["limit_seconds"] > 0 and not timing["resumed"]
    assert timing["train_seconds"] >= rows[-1]["train_seconds"]
    parts = timing["data_seconds"] + timing["train_seconds"] + timing["limit_seconds"]
    assert timing["total_seconds"] == pytest.approx(parts)


def test_final_model_carries_substitution_statistics_and_classes(finished_run: Path) -> None:
    model, _ = load_model(finished_run / "model.safetensors")
    assert bool(model.ebr.substitution_fitted)
    assert model.config.model.class_names[0] == "idle" and len(model.config.model.class_names) == 11


def test_resume_after_a_kill_matches_an_uninterrupted_run(finished_run: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "tiny.yaml")
    run = tmp_path / "killed"
    process = cli("--config", str(config), "--run-dir", str(run))
    deadline = time.monotonic() + 240
    while checkpoint_epoch(run / "checkpoint.safetensors") < 2 and time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint_epoch(run / "checkpoint.safetensors") == 2
    with safe_open(str(run / "checkpoint.safetensors"), framework="pt") as handle:
        seconds_before_kill = float(handle.metadata()["train_seconds"])
    resumed = cli("--run-dir", str(run), "--resume")
    output, _ = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, output
    assert "resuming after epoch 2" in output
    last_row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last_row["train_seconds"] > seconds_before_kill > 0  # the clock resumes too
    uninterrupted = load_file(str(finished_run / "model.safetensors"))
    after_resume = load_file(str(run / "model.safetensors"))
    assert uninterrupted.keys() == after_resume.keys()
    for name, tensor in uninterrupted.items():
        torch.testing.assert_close(after_resume[name], tensor, rtol=0, atol=1e-6, msg=name)


def test_a_fresh_run_into_a_folder_holding_a_checkpoint_is_refused_and_leaves_the_folder_as_it_was(
    finished_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "earlier"
    shutil.copytree(finished_run, run)
    before = {name: (run / name).read_bytes() for name in ("checkpoint.safetensors", "config.yaml")}
    with pytest.raises(CheckpointError, match="--resume"):
        Trainer(load_config(run / "config.yaml"), run, progress=False)
    assert {name: (run / name).read_bytes() for name in before} == before


def test_an_experiment_run_killed_after_its_last_checkpoint_resumes_and_writes_the_same_model(
    finished_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "killed_before_the_model"
    shutil.copytree(finished_run, run)
    (run / "model.safetensors").unlink()
    config = to_dict(load_config(run / "config.yaml"))
    train_run((config, run, 1))
    assert "resuming after epoch" in (run / "train.log").read_text()
    expected, written = load_file(str(finished_run / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert expected.keys() == written.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(written[name], tensor, rtol=0, atol=0, msg=name)


def test_the_saved_model_is_the_moving_average_of_the_weights(finished_run: Path) -> None:
    checkpoint = load_file(str(finished_run / "checkpoint.safetensors"))
    model, _ = load_model(finished_run / "model.safetensors")
    differs_from_last_step = False
    for name, tensor in model.named_parameters():
        torch.testing.assert_close(tensor.detach(), checkpoint[f"module.average.{name}"], rtol=0, atol=0, msg=name)
        differs_from_last_step |= not torch.equal(tensor.detach(), checkpoint[f"module.step.model.{name}"])
    assert differs_from_last_step


def test_non_finite_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "bad.yaml", **{"train.lr": 1e30, "train.warmup_epochs": 0,
                                                                "train.grad_clip": 0.0}))  # fmt: skip
    with pytest.raises(TrainingDiverged, match="non-finite terms") as error:
        train(config, tmp_path / "run", progress=False)
    assert "last good checkpoint" in str(error.value)
    saved = checkpoint_epoch(tmp_path / "run" / "checkpoint.safetensors")
    message = str(error.value)
    failed_epoch = int(message.split("at epoch ")[1].split(",")[0])
    assert saved == failed_epoch - 1


def test_bad_config_exits_with_the_field_named(tmp_path: Path) -> None:
    config = write_config(tmp_path / "typo.yaml", **{"train.epoch": 3})
    output, _ = cli("--config", str(config), "--run-dir", str(tmp_path / "run")).communicate(timeout=60)
    assert "unknown key(s) train.epoch" in output


@pytest.mark.timeout(700)  # its own subprocess limit is 600 s: on a busy 2-core machine it outlasts the default 300
def test_two_process_ddp_matches_single_process_training(finished_run: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "tiny.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29561"]
    trainer = ["-m", "r3d_ros.train.cli", "--no-progress", "--config", str(config), "--run-dir", str(tmp_path / "ddp")]
    command = launcher + trainer
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    # Same data, same per-video randomness, global BatchNorm statistics and global loss
    # normalisation: only the order of float additions differs, which Adam's first,
    # sign-like steps amplify a little. Compare the runs, not the bits.
    single = load_file(str(finished_run / "model.safetensors"))
    distributed = load_file(str(tmp_path / "ddp" / "model.safetensors"))
    names = [n for n, t in single.items() if t.is_floating_point() and "selection" not in n]
    difference = torch.cat([(distributed[n] - single[n]).flatten() for n in names]).norm()
    assert difference / torch.cat([single[n].flatten() for n in names]).norm() < 1e-2
    rows = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    for ours, theirs in zip(rows, reference, strict=True):
        assert ours["train/total"] == pytest.approx(theirs["train/total"], rel=1e-2)


def test_cross_process_batchnorm_keeps_the_parameters_the_optimizer_holds() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4))
    before = [id(p) for p in model.parameters()]
    convert_batchnorm(model, torch.device("cpu"))
    assert type(model[1]).__name__ == "AllReduceBatchNorm"
    assert [id(p) for p in model.parameters()] == before


def test_collapse_warning_fires_when_a_modality_loses_rank(tmp_path: Path) -> None:
    monitor = RankMonitor(tmp_path, MonitorConfig(collapse_fraction=0.5, reference_epoch=1))
    spectra = {"rgb": [1.0], "depth": [1.0], "fused": [1.0]}
    base = {"rank/rgb": 20.0, "rank/depth": 18.0, "contribution/rgb": 0.6, "contribution/depth": 0.4}
    assert monitor.record({"epoch": 1, **base}, spectra) == []
    assert monitor.record({"epoch": 2, **base, "rank/depth": 12.0}, spectra) == []
    warnings = monitor.record({"epoch": 3, **base, "rank/depth": 5.0, "contribution/depth": 0.1}, spectra)
    assert len(warnings) == 2 and all("depth" in w for w in warnings)
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["collapse_warnings"] == warnings
    monitor.close()


def test_affine_substitution_recovers_a_linear_map() -> None:
    rng = np.random.default_rng(0)
    source = torch.from_numpy(rng.standard_normal((500, 6))).float()
    weight = torch.from_numpy(rng.standard_normal((6, 6))).float()
    target = source @ weight + 0.5
    fitted_weight, fitted_bias = ridge_map(source, target, ridge=1e-8)
    torch.testing.assert_close(fitted_weight, weight, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(fitted_bias, torch.full((6,), 0.5), atol=1e-3, rtol=1e-3)


def test_model_evaluation_reports_references_conditions_and_targets(
    finished_run: Path, baseline_files: dict[str, str], tmp_path: Path
) -> None:
    model = str(finished_run / "model.safetensors")
    arguments = ["--model", f"fused={model}"]
    arguments += [
        "--model",
        f"rgb_only={baseline_files['rgb_only']}",
        "--model",
        f"depth_only={baseline_files['depth_only']}",
    ]
    arguments += ["--seeds", "7", "8", "--num-test", "2", "--variant", "noisy:rgb_noise=30", "--out", str(tmp_path)]
    assert model_eval.main(arguments) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    both = results["summary"]["fused/trained/both"]
    assert len(both["moc/a0.3_b0.5"]["values"]) == 2
    oracle = both["reference/oracle/a0.3_b0.1"]["mean"]
    noisy = results["summary"]["fused/noisy/both"]["reference/oracle/a0.3_b0.1"]
    assert 0 < oracle <= 1 and both["reference/oracle/a0.3_b0.1"] == noisy  # labels only: noise leaves them
    assert "rgb_only/trained/depth_absent" in results["summary"]  # a baseline sees only its own modality
    assert "rgb_only/trained/both" not in results["summary"] and "rgb_only/noisy/both" not in results["summary"]
    gaps = sum(both[f"reference/gap_{part}/a0.3_b0.5"]["mean"] for part in ("recognition", "duration", "order"))
    assert gaps == pytest.approx(both["reference/oracle/a0.3_b0.5"]["mean"] - both["moc/a0.3_b0.5"]["mean"])
    assert set(results["summary"]) >= {f"fused/trained/{c}" for c in model_eval.CONDITIONS}
    assert "observed segmentation accuracy" in {t["target"] for t in results["targets"]}
    assert "grammar oracle" in (tmp_path / "report.md").read_text()
    assert 0 <= both["segmentation_interior_accuracy"]["mean"] <= 1
    assert "seg. acc. interior" in (tmp_path / "report.md").read_text()


def test_model_evaluation_refuses_a_grammar_decoder_for_a_model_saved_without_grammar(
    finished_run: Path, tmp_path: Path
) -> None:
    arguments = ["--model", f"fused={finished_run / 'model.safetensors'}", "--decoder", "fused=grammar_filter"]
    assert model_eval.main([*arguments, "--out", str(tmp_path)]) == 2


def test_a_decoder_override_changes_only_how_the_future_is_read() -> None:
    shipped, _ = load_model(ROOT / "models" / "r3d_default.safetensors")
    weights = {k: v.clone() for k, v in shipped.state_dict().items()}
    argmax = model_eval.with_decoder(shipped, "grammar")
    assert argmax.grammar_filter is None and argmax.grammar is not None
    assert all(torch.equal(weights[k], v) for k, v in argmax.state_dict().items())
    with pytest.raises(ConfigError, match="future_decoder"):
        model_eval.with_decoder(shipped, "viterbi")


@pytest.mark.parametrize(
    ("option", "field", "attribute"),
    [("--evidence-weight", "filter_evidence_weight", "evidence_weight"),
     ("--newest-weight", "filter_newest_weight", "newest_weight")],
)  # fmt: skip
def test_a_filter_weight_override_changes_only_how_the_filter_weighs_frames(
    option: str, field: str, attribute: str
) -> None:
    shipped, _ = load_model(ROOT / "models" / "r3d_default.safetensors")
    weights = {k: v.clone() for k, v in shipped.state_dict().items()}
    reweighted = model_eval.filter_override(option, field)(shipped, "0.8")
    assert getattr(reweighted.grammar_filter, attribute) == 0.8
    assert all(torch.equal(weights[k], v) for k, v in reweighted.state_dict().items())


@pytest.mark.parametrize(
    ("option", "field", "bad"),
    [("--evidence-weight", "filter_evidence_weight", "1.5"), ("--newest-weight", "filter_newest_weight", "4.5"),
     ("--remaining-weight", "filter_remaining_weight", "-1")],
)  # fmt: skip
def test_model_evaluation_names_a_bad_filter_weight(option: str, field: str, bad: str, tmp_path: Path, caplog) -> None:
    arguments = ["--model", f"fused={ROOT / 'models' / 'r3d_default.safetensors'}", option, f"fused={bad}"]
    assert model_eval.main([*arguments, "--out", str(tmp_path)]) == 2
    assert field in caplog.text


@pytest.mark.parametrize(("option", "field", "bad"), [("--live-history", "live_history", "-1"),
                                                     ("--live-frames", "live_frames", "0")])  # fmt: skip
def test_model_evaluation_names_a_bad_live_reading(option: str, field: str, bad: str, tmp_path: Path, caplog) -> None:
    arguments = ["--model", f"fused={ROOT / 'models' / 'r3d_default.safetensors'}", option, f"fused={bad}"]
    assert model_eval.main([*arguments, "--out", str(tmp_path)]) == 2
    assert field in caplog.text


def test_model_evaluation_records_how_each_model_was_decoded_options_included(tmp_path: Path) -> None:
    shipped = ROOT / "models" / "r3d_default.safetensors"
    arguments = ["--model", f"as_saved={shipped}", "--model", f"read={shipped}", "--live-frames", "read=3"]
    arguments += ["--newest-weight", "read=1", "--remaining-weight", "read=0.5"]
    arguments += ["--seeds", "7", "--num-test", "1", "--out", str(tmp_path)]
    assert model_eval.main(arguments) == 0
    decoding = json.loads((tmp_path / "results.json").read_text())["decoding"]
    saved = load_model(shipped)[0].config.model
    assert decoding["as_saved"]["model.temporal.live_frames"] == saved.temporal.live_frames
    assert decoding["as_saved"]["model.filter_newest_weight"] == saved.filter_newest_weight
    assert decoding["read"]["model.temporal.live_frames"] == 3 and decoding["read"]["model.filter_newest_weight"] == 1
    assert decoding["read"]["model.future_decoder"] == saved.future_decoder
    assert decoding["read"]["model.filter_remaining_weight"] == 0.5


def test_model_evaluation_names_an_unknown_sensor_setting(finished_run: Path, tmp_path: Path) -> None:
    arguments = ["--model", f"fused={finished_run / 'model.safetensors'}", "--variant", "bad:rgb_nois=3"]
    assert model_eval.main([*arguments, "--out", str(tmp_path)]) == 2


def test_a_sensor_variant_sets_numbers_and_spelled_out_booleans() -> None:
    name, sensor = model_eval.parse_variant("dark:ir_absorbing_sleeves=1,sleeve_holes_filled=false", SyntheticConfig())
    assert (name, sensor.ir_absorbing_sleeves, sensor.sleeve_holes_filled) == ("dark", 1.0, False)
    assert model_eval.parse_variant("filled:sleeve_holes_filled=True", SyntheticConfig())[1].sleeve_holes_filled


@pytest.mark.parametrize("assignment", ["sleeve_holes_filled=0", "rgb_noise=loud"])
def test_a_sensor_variant_names_a_value_of_the_wrong_type(assignment: str) -> None:
    with pytest.raises(ConfigError, match=assignment.split("=")[0]):
        model_eval.parse_variant(f"bad:{assignment}", SyntheticConfig())


def test_model_evaluation_refuses_a_fused_model_named_as_a_baseline(finished_run: Path, tmp_path: Path, caplog) -> None:
    arguments = ["--model", f"depth_only={finished_run / 'model.safetensors'}", "--out", str(tmp_path)]
    assert model_eval.main(arguments) == 2
    assert "depth_only names the baseline trained on depth alone" in caplog.text


@pytest.mark.parametrize(
    ("trained", "name", "fits"),
    [(("depth",), "depth_only", True), (("depth",), "depth", False), (("rgb",), "rgb_only", True),
     (("rgb",), "baseline", False), (("rgb", "depth"), "fused", True), (("rgb", "depth"), "rgb_only", False)],
)  # fmt: skip
def test_a_single_modality_model_must_carry_its_baseline_name(trained: tuple, name: str, fits: bool) -> None:
    assert (model_eval.baseline_name_mismatch(name, trained) == "") is fits


def test_model_evaluation_names_a_bad_depth_noise_limit(finished_run: Path, tmp_path: Path, caplog) -> None:
    arguments = ["--model", f"fused={finished_run / 'model.safetensors'}", "--max-depth-noise", "-0.1"]
    assert model_eval.main([*arguments, "--out", str(tmp_path)]) == 2
    assert "max_depth_noise" in caplog.text


@pytest.mark.parametrize("never_seen", ["rgb", "depth"])
def test_a_single_modality_baseline_is_scored_without_the_modality_it_never_saw(
    finished_run: Path, never_seen: str
) -> None:
    fused, _ = load_model(finished_run / "model.safetensors")
    baseline, _ = load_model(finished_run / "model.safetensors")
    train_config = dataclasses.replace(baseline.config.train, **{f"modality_dropout_{never_seen}_video": 1.0})
    baseline.config = dataclasses.replace(baseline.config, train=train_config)
    sensor = dataclasses.replace(fused.config.data.synthetic, seed=7, num_test=1)
    video = model_eval.test_videos(sensor, fused, None)[0]
    absent = {f"{never_seen}_present": np.zeros(len(video), dtype=bool)}
    cpu = torch.device("cpu")
    assert not torch.equal(encode_video(fused, video, cpu).fused, encode_video(fused, video, cpu, **absent).fused)
    assert torch.equal(encode_video(baseline, video, cpu).fused, encode_video(baseline, video, cpu, **absent).fused)


def test_a_single_modality_ebr_baseline_trains_and_reports_its_own_modality_as_its_metrics(tmp_path: Path) -> None:
    overrides = {"train.modality_dropout_depth_video": 1.0, "train.modality_dropout_depth": 0.0, "train.epochs": 1}
    last = train(load_config(write_config(tmp_path / "rgb_only.yaml", **overrides)), tmp_path / "out", progress=False)
    assert last["moc_main"] == last["contribution/rgb"]
    assert last["segmentation_accuracy"] == last["segmentation_accuracy/rgb_only"]
    assert "substitution_error" not in last  # nothing to substitute from: no frame ever had both


def test_the_depth_limit_is_measured_on_noisy_depth_and_written_into_the_model(
    finished_run: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model.safetensors"
    shutil.copy(finished_run / "model.safetensors", model)
    script = ROOT / "scripts" / "measure_noise_limit.py"
    arguments = ["--model", str(model), "--seeds", "7", "--levels", "0.01", "0.1", "--num-test", "2"]
    result = subprocess.run(
        [sys.executable, str(script), *arguments, "--cache", str(tmp_path / "cache"), "--write"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no depth: segmentation" in result.stdout and "depth_noise 0.1: segmentation" in result.stdout
    limit = float(result.stdout.split("max_depth_noise: ")[1].split()[0])
    trained = load_model(finished_run / "model.safetensors")[0].config.data.synthetic.depth_noise
    assert any(limit == pytest.approx(value) for value in ((trained + 0.01) / 2, 0.055, 0.1))
    assert load_model(model)[0].config.model.max_depth_noise == pytest.approx(limit)


def test_sensor_variants_prepared_together_equal_each_prepared_alone(finished_run: Path) -> None:
    model = load_model(finished_run / "model.safetensors")[0]
    base = dataclasses.replace(model.config.data.synthetic, seed=7, num_test=3)
    sensors = [base, dataclasses.replace(base, depth_noise=0.05), dataclasses.replace(base, rgb_noise=20.0)]
    for together, sensor in zip(model_eval.test_video_sets(sensors, model, None), sensors, strict=True):
        alone = model_eval.test_videos(sensor, model, None)
        assert [v.name for v in together] == [v.name for v in alone]
        for a, b in zip(together, alone, strict=True):
            for field in ("rgb", "depth", "depth_present", "labels", "depth_noise", "rgb_noise"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_evaluation_variants_with_test_splits_of_another_size_are_prepared_apart(finished_run: Path) -> None:
    model = load_model(finished_run / "model.safetensors")[0]
    base = dataclasses.replace(model.config.data.synthetic, seed=7, num_test=2)
    noisy, more = dataclasses.replace(base, rgb_noise=20.0), dataclasses.replace(base, num_test=3)
    sensors = {"trained": base, "noisy": noisy, "more": more}
    prepared = model_eval.variant_test_sets(sensors, model, None)
    assert list(prepared) == list(sensors)
    for name, sensor in sensors.items():
        alone = model_eval.test_videos(sensor, model, None)
        assert [v.name for v in prepared[name]] == [v.name for v in alone]
        np.testing.assert_array_equal(prepared[name][-1].rgb, alone[-1].rgb)


@pytest.mark.parametrize("condition", model_eval.CONDITIONS)
def test_segmentation_alone_equals_the_evaluation_s_segmentation(finished_run: Path, condition: str) -> None:
    model = load_model(finished_run / "model.safetensors")[0]
    sensor = dataclasses.replace(model.config.data.synthetic, seed=7, num_test=3)
    videos = model_eval.test_videos(sensor, model, None)
    scored = model_eval.evaluate_model(model, videos, 7, (condition,))[condition]["segmentation_accuracy"]
    assert segmentation_under(model, videos, 7, condition) == scored


def test_limits_measured_together_equal_each_measured_alone(finished_run: Path) -> None:
    model = load_model(finished_run / "model.safetensors")[0]
    for modality in ("depth", "rgb"):
        together = json.loads((finished_run / f"{modality}_limit.json").read_text())  # measured by the trainer at once
        settings = getattr(model.config.train, f"{modality}_limit")
        alone = measure_noise_limit(model, modality, settings.levels, settings.seeds, settings.num_test, None)
        assert dataclasses.asdict(alone) == together


def test_a_limit_scores_each_set_as_the_evaluation_scores_it_whole(finished_run: Path) -> None:
    model = load_model(finished_run / "model.safetensors")[0]
    settings = model.config.train.depth_limit
    measured = measure_noise_limit(model, "depth", settings.levels, settings.seeds, settings.num_test, None)
    base = dataclasses.replace(model.config.data.synthetic, num_test=settings.num_test)

    def evaluated(condition: str, **sensor: float) -> float:
        scores = []
        for seed in settings.seeds:
            videos = model_eval.test_videos(dataclasses.replace(base, seed=seed, **sensor), model, None)
            scored = model_eval.evaluate_model(model, videos, seed, (condition,))
            scores.append(scored[condition]["segmentation_accuracy"])
        return sum(scores) / len(scores)

    assert measured.without == evaluated("depth_absent")
    assert measured.with_noise == [evaluated("both", depth_noise=level) for level in settings.levels]


def test_the_limit_is_the_midpoint_after_the_last_level_where_the_modality_helps() -> None:
    assert limit_from([0.02, 0.03, 0.04], [0.95, 0.90, 0.70], 0.85, trained=0.01) == pytest.approx(0.035)
    assert limit_from([0.02, 0.03], [0.95, 0.90], 0.85, trained=0.01) == 0.03


def test_when_the_first_level_does_not_help_the_limit_lies_above_the_trained_noise() -> None:
    assert limit_from([0.02, 0.03], [0.80, 0.90], 0.85, trained=0.01) == pytest.approx(0.015)


def test_a_modality_that_costs_less_than_the_tolerance_still_helps() -> None:
    assert limit_from([4.0, 8.0], [0.966, 0.950], 0.968, trained=2.0, tolerance=0.005) == pytest.approx(6.0)


def test_limit_levels_at_or_below_the_trained_noise_are_refused_by_name(tmp_path: Path) -> None:
    path = write_config(tmp_path / "low.yaml", **{"data.synthetic.rgb_noise": 5.0, "train.rgb_limit.levels": [4.0]})
    with pytest.raises(ConfigError, match=r"train\.rgb_limit\.levels"):
        load_config(path)


def test_training_measures_the_depth_limit_and_writes_it_into_the_model(finished_run: Path) -> None:
    measured = json.loads((finished_run / "depth_limit.json").read_text())
    assert measured["levels"] == [0.01, 0.1] and measured["seeds"] == [7] and len(measured["with_noise"]) == 2
    trained = load_model(finished_run / "model.safetensors")[0].config.data.synthetic.depth_noise
    assert measured["limit"] == pytest.approx(limit_from(measured["levels"], measured["with_noise"],
                                                         measured["without"], trained))  # fmt: skip
    assert load_model(finished_run / "model.safetensors")[0].config.model.max_depth_noise == pytest.approx(
        measured["limit"]
    )


def test_training_measures_the_rgb_limit_at_the_network_input_and_writes_it_into_the_model(finished_run: Path) -> None:
    measured = json.loads((finished_run / "rgb_limit.json").read_text())
    model = load_model(finished_run / "model.safetensors")[0]
    scale = input_scale(model.config.data.synthetic, model)
    assert 0 < scale < 1  # the renderer's frames are larger than the network's input
    trained = model.config.data.synthetic.rgb_noise
    at_renderer = limit_from(measured["levels"], measured["with_noise"], measured["without"], trained)
    assert measured["modality"] == "rgb" and measured["limit"] == pytest.approx(at_renderer * scale)
    assert model.config.model.max_rgb_noise == pytest.approx(measured["limit"])


@pytest.mark.parametrize(("modality", "level"), [("depth", 0.02), ("rgb", 10.0)])
def test_a_noise_limit_cannot_be_measured_on_recorded_data(tmp_path: Path, modality: str, level: float) -> None:
    path = write_config(
        tmp_path / "bag.yaml",
        **{
            "data.source": "rosbag",
            "data.train_recordings": [{"bag": "take1", "labels": "take1.csv"}],
            f"train.{modality}_limit.levels": [level],
        },
    )
    with pytest.raises(ConfigError, match=rf"train\.{modality}_limit\.levels"):
        load_config(path)


def test_targets_compare_the_fused_model_with_each_single_modality_baseline() -> None:
    def entry(moc: float, seg: float) -> dict:
        values = {f"moc/{key}": moc for key in model_eval.KEYS} | {"segmentation_accuracy": seg}
        values |= {
            f"reference/{name}/{key}": 0.5 for name in ("oracle", "continue_recognised") for key in model_eval.KEYS
        }
        return {key: {"mean": value} for key, value in values.items()}

    summary = {
        "fused/trained/both": entry(0.46, 0.96),
        "fused/trained/depth_absent": entry(0.30, 0.70),
        "fused/trained/rgb_absent": entry(0.40, 0.90),
        "fused/trained/depth_missing_30": entry(0.44, 0.95),
        "rgb_only/trained/depth_absent": entry(0.40, 0.72),
        "depth_only/trained/rgb_absent": entry(0.41, 0.91),
    }
    checks = {c["target"]: c for c in model_eval.target_checks(summary, "fused", "trained")}
    assert (
        checks["MoC a0.3_b0.5 / oracle"]["value"] == pytest.approx(0.92) and checks["MoC a0.3_b0.5 / oracle"]["passed"]
    )
    assert not checks["MoC a0.3_b0.5 - continue recognised"]["passed"]
    assert checks["depth_absent: seg. acc. / rgb_only baseline"]["passed"]
    assert not checks["depth_absent: MoC a0.3_b0.5 / rgb_only baseline"]["passed"]  # 0.30 / 0.40
    assert checks["rgb_absent: MoC a0.3_b0.5 / depth_only baseline"]["passed"]
    assert checks["both present: MoC a0.3_b0.5 - depth_only baseline"]["passed"]
    assert checks["depth missing on 30 % of frames: MoC a0.3_b0.5 / all depth"]["passed"]
    assert {f"depth missing on 30 % of frames: MoC {key} / all depth" for key in model_eval.KEYS} <= set(checks)


def test_report_shows_the_range_of_the_oracle_ratio_over_test_seeds() -> None:
    entry = {f"reference/model_fraction_of_oracle/{key}": {"values": [0.91, 0.78, 0.99]} for key in model_eval.KEYS}
    row = model_eval.seed_range_row(entry)
    assert row.startswith("| model / oracle, lowest-highest test seed |")
    assert row.count("0.780-0.990") == len(model_eval.KEYS)


def test_robustness_is_checked_on_every_protocol_cell() -> None:
    def entry(moc: float) -> dict:
        return {f"moc/{key}": {"mean": moc} for key in model_eval.KEYS} | {"segmentation_accuracy": {"mean": 0.9}}

    summary = {"fused/trained/both": entry(0.5), "fused/far/both": entry(0.5)}
    summary["fused/far/both"]["moc/a0.2_b0.1"] = {"mean": 0.4}  # one cell drops 20 %
    checks = {c["target"]: c for c in model_eval.robustness_checks(summary, "fused", "far")}
    assert not checks["far: moc/a0.2_b0.1 / trained sensor"]["passed"]
    assert checks["far: moc/a0.3_b0.5 / trained sensor"]["passed"]
    assert len(checks) == len(model_eval.KEYS) + 1


def test_sensor_variants_score_only_the_first_model_unless_asked_for_all() -> None:
    assert model_eval.conditions_for("fused", "fused", "far") == ("both",)
    assert model_eval.conditions_for("seed1", "fused", "far") == ()
    assert model_eval.conditions_for("seed1", "fused", "far", variants_for_all=True) == ("both",)
    assert model_eval.conditions_for("rgb_only", "fused", "far", variants_for_all=True) == ()  # baselines never


def test_baselines_are_scored_on_the_variants_only_in_their_own_condition_when_asked() -> None:
    assert model_eval.conditions_for("depth_only", "fused", "noisy_depth", baselines_on_variants=True) == (
        "rgb_absent",
    )
    assert model_eval.conditions_for("rgb_only", "fused", "noisy_depth", baselines_on_variants=True) == (
        "depth_absent",
    )
    assert model_eval.conditions_for("seed1", "fused", "noisy_depth", baselines_on_variants=True) == ()


def test_fusion_is_checked_against_each_baseline_on_a_variant() -> None:
    def entry(moc: float) -> dict:
        return {f"moc/{model_eval.MAIN}": {"mean": moc}}

    summary = {
        "fused/noisy_depth/both": entry(0.30),
        "depth_only/noisy_depth/rgb_absent": entry(0.20),
        "rgb_only/noisy_depth/depth_absent": entry(0.32),
    }
    checks = {c["target"]: c for c in model_eval.fusion_checks(summary, "fused", "noisy_depth", "noisy_depth: ")}
    assert checks[f"noisy_depth: both present: MoC {model_eval.MAIN} - depth_only baseline"]["passed"]
    rgb = checks[f"noisy_depth: both present: MoC {model_eval.MAIN} - rgb_only baseline"]
    assert rgb["value"] == pytest.approx(-0.02) and not rgb["passed"]


def test_robustness_checks_of_another_model_carry_its_name() -> None:
    entry = {f"moc/{key}": {"mean": 0.5} for key in model_eval.KEYS} | {"segmentation_accuracy": {"mean": 0.9}}
    summary = {"seed1/trained/both": entry, "seed1/far/both": entry}
    checks = model_eval.robustness_checks(summary, "seed1", "far", label="seed1: ")
    assert {c["target"] for c in checks} == {f"seed1: far: moc/{k} / trained sensor" for k in model_eval.KEYS} | {
        "seed1: far: segmentation_accuracy / trained sensor"
    }


def test_model_evaluation_converts_each_models_depth_limit_to_a_variant_rendered_finer(
    finished_run: Path, tmp_path: Path
) -> None:
    path = finished_run / "model.safetensors"
    config = load_model(path)[0].config
    fine = (2 * config.data.synthetic.height, 2 * config.data.synthetic.width)
    arguments = [
        "--model",
        f"fused={path}",
        "--seeds",
        "7",
        "--num-test",
        "2",
        "--variant",
        f"fine:height={fine[0]},width={fine[1]}",
    ]
    assert model_eval.main([*arguments, "--out", str(tmp_path)]) == 0
    limits = json.loads((tmp_path / "results.json").read_text())["depth_limits_by_variant"]
    assert limits["trained"]["fused"] == config.model.max_depth_noise > 0
    assert limits["fine"]["fused"] == pytest.approx(model_depth_limit(config, *fine))
    assert limits["fine"]["fused"] != limits["trained"]["fused"]


def test_model_evaluation_scores_every_model_on_the_variants_when_asked(
    finished_run: Path, baseline_files: dict[str, str], tmp_path: Path
) -> None:
    model = str(finished_run / "model.safetensors")
    arguments = [
        "--model",
        f"seed0={model}",
        "--model",
        f"seed1={model}",
        "--model",
        f"depth_only={baseline_files['depth_only']}",
    ]
    arguments += ["--seeds", "7", "--num-test", "2", "--variant", "noisy:rgb_noise=30", "--variants-for-all"]
    assert model_eval.main([*arguments, "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"seed0/noisy/both", "seed1/noisy/both"} <= set(results["summary"])
    assert "depth_only/noisy/both" not in results["summary"]
    targets = [t["target"] for t in results["targets"]]
    assert any(t.startswith("noisy: ") for t in targets)
    assert any(t.startswith("seed1: noisy: ") for t in targets)


def test_model_evaluation_checks_fusion_on_a_variant_against_the_baselines(
    finished_run: Path, baseline_files: dict[str, str], tmp_path: Path
) -> None:
    model = str(finished_run / "model.safetensors")
    arguments = ["--model", f"fused={model}", "--model", f"depth_only={baseline_files['depth_only']}"]
    arguments += ["--seeds", "7", "--num-test", "2"]
    arguments += ["--variant", "noisy_depth:depth_noise=0.03", "--baselines-on-variants"]
    assert model_eval.main([*arguments, "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"fused/noisy_depth/both", "depth_only/noisy_depth/rgb_absent"} <= set(results["summary"])
    targets = [t["target"] for t in results["targets"]]
    assert f"noisy_depth: both present: MoC {model_eval.MAIN} - depth_only baseline" in targets


def test_model_evaluation_tells_the_sensed_oracle_which_test_videos_wear_sleeves() -> None:
    sensor = SyntheticConfig(seed=3, num_train=0, num_test=12, ir_absorbing_sleeves=0.5)
    arms = model_eval.test_arms_in_depth(sensor)
    assert arms == [not dark_sleeves(sensor, "test", index) for index in range(12)]
    assert 0 < sum(arms) < 12
    assert all(model_eval.test_arms_in_depth(dataclasses.replace(sensor, ir_absorbing_sleeves=0.0)))


def test_the_sensed_oracle_is_the_oracle_when_every_frame_had_depth_and_no_sleeves(
    finished_run: Path, tmp_path: Path
) -> None:
    model = str(finished_run / "model.safetensors")
    arguments = ["--model", f"fused={model}", "--seeds", "7", "--num-test", "2", "--out", str(tmp_path)]
    assert model_eval.main(arguments) == 0
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]["fused/trained/both"]
    for key in model_eval.KEYS:
        assert summary[f"reference/oracle_sensed/{key}"]["mean"] == summary[f"reference/oracle/{key}"]["mean"]


def test_the_trainer_tells_its_sensed_oracle_which_test_videos_wear_sleeves(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "tiny.yaml", **{"data.synthetic.ir_absorbing_sleeves": 1.0}))
    trainer = Trainer(config, tmp_path / "out")
    assert trainer.test_arms_in_depth == [False] * len(trainer.test_videos)
    row, _ = trainer.evaluate(0)
    assert "reference/model_fraction_of_oracle_sensed/a0.3_b0.5" in row


def test_model_evaluation_takes_the_test_setting_from_the_model_named_by_sensor_from(
    finished_run: Path, tmp_path: Path
) -> None:
    other, _ = load_model(finished_run / "model.safetensors")
    sensor = dataclasses.replace(other.config.data.synthetic, rgb_noise=7.0)
    other.config = dataclasses.replace(other.config, data=dataclasses.replace(other.config.data, synthetic=sensor))
    save_model(tmp_path / "other.safetensors", other)
    arguments = [
        "--model",
        f"fused={finished_run / 'model.safetensors'}",
        "--model",
        f"other={tmp_path / 'other.safetensors'}",
    ]
    arguments += ["--seeds", "7", "--num-test", "2"]
    assert model_eval.main([*arguments, "--sensor-from", "other", "--out", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "results.json").read_text())["variants"]["trained"]["rgb_noise"] == 7.0
    assert model_eval.main([*arguments, "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "results.json").read_text())["variants"]["trained"]["rgb_noise"] != 7.0
    assert model_eval.main([*arguments, "--sensor-from", "absent", "--out", str(tmp_path / "c")]) == 2


def test_a_second_run_in_the_same_process_does_not_write_into_the_first_runs_log(
    finished_run: Path, tmp_path: Path
) -> None:
    before = (finished_run / "train.log").read_text()
    second = Trainer(load_config(write_config(tmp_path / "tiny.yaml")), tmp_path / "second")
    logging.getLogger("r3d_ros.train").info("a line of the second run")
    second.close_log()
    assert (finished_run / "train.log").read_text() == before
    assert "a line of the second run" in (second.run_dir / "train.log").read_text()


def test_a_run_that_stopped_with_an_error_leaves_its_log_to_the_next_run(tmp_path: Path) -> None:
    first = Trainer(load_config(write_config(tmp_path / "tiny.yaml")), tmp_path / "first")  # never closed
    second = Trainer(load_config(write_config(tmp_path / "tiny.yaml")), tmp_path / "second")
    logging.getLogger("r3d_ros.train").info("a line of the second run")
    second.close_log()
    assert "a line of the second run" not in (first.run_dir / "train.log").read_text()
    assert "a line of the second run" in (second.run_dir / "train.log").read_text()
