"""Accuracy against training time, from a run folder's metrics.jsonl (docs/experiment.md).

    scripts/with-env python scripts/training_curve.py runs/curve40 --out docs/experiment/curve40

Writes ``curve.md`` (one row per evaluation: epoch, cumulative training minutes,
segmentation accuracy, MoC at alpha 0.3 with the grammar oracle and the fraction
of it, per modality condition) and ``curve.png``; copies ``metrics.jsonl`` beside
them so the figures can be checked against the run.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BETAS = (0.1, 0.2, 0.3, 0.5)


def read(metrics: Path) -> list[dict]:
    """Evaluated epochs with their training minutes.

    The trainer logs a record only at evaluations, with that epoch's duration, so the
    training time up to an evaluation is estimated as epochs x that duration
    (evaluation time not included).
    """
    rows = []
    for line in metrics.read_text().splitlines():
        record = json.loads(line)
        if "segmentation_accuracy" in record:
            rows.append({**record, "minutes": record["epoch"] * record["epoch_seconds"] / 60})
    return rows


def table(rows: list[dict]) -> str:
    """The markdown table."""
    head = ["epoch", "≈ train min", "seg", "seg depth absent", "seg RGB absent"]
    head += [f"MoC a0.3/b{b} (oracle, fraction)" for b in BETAS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["epoch"]), f"{r['minutes']:.0f}", f"{r['segmentation_accuracy']:.3f}",
                 f"{r.get('segmentation_accuracy/rgb_only', float('nan')):.3f}",
                 f"{r.get('segmentation_accuracy/depth_only', float('nan')):.3f}"]  # fmt: skip
        for b in BETAS:
            key = f"a0.3_b{b}"
            model, oracle = r[f"reference/model/{key}"], r[f"reference/oracle/{key}"]
            cells.append(f"{model:.3f} ({oracle:.3f}, {model / oracle:.2f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], path: Path) -> None:
    """Segmentation accuracy and fraction of the oracle against training minutes."""
    minutes = [r["minutes"] for r in rows]
    fig, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(minutes, [r["segmentation_accuracy"] for r in rows], "o-", label="segmentation accuracy")
    for b in (0.1, 0.5):
        key = f"a0.3_b{b}"
        values = [r[f"reference/model/{key}"] / r[f"reference/oracle/{key}"] for r in rows]
        axis.plot(minutes, values, "s--", label=f"MoC / oracle, alpha 0.3 beta {b}")
    axis.axhline(0.9, color="grey", linewidth=0.8, linestyle=":")
    axis.set_xlabel("training time (minutes, one core)")
    axis.set_ylim(0.3, 1.0)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    """Read the run, write the table, the figure and a copy of the metrics."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = read(args.run_dir / "metrics.jsonl")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curve.md").write_text(table(rows))
    figure(rows, args.out / "curve.png")
    shutil.copy(args.run_dir / "metrics.jsonl", args.out / "metrics.jsonl")
    print(table(rows))


if __name__ == "__main__":
    main()
