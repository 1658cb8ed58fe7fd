r"""How far two ``r3d-eval-model`` results agree, number for number: the model's rows and the references apart.

    scripts/with-env python scripts/compare_results.py A/results.json B/results.json [--rename fused_s3=fused]

Every number of A's ``summary`` that B also has (same row, metric and seed) is compared. The model's
own numbers, the oracles (which read only the true labels) and the references that read the model
(the chain on recognised labels, the gap split) are counted apart: they differ for different
reasons (weights and inputs, against the references' tie choice). ``--rename``
reads A's model NAME as B's OTHER, to compare the model-free references of two evaluations of
different models on the same test videos.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def numbers(summary: dict, rename: dict[str, str]) -> dict[tuple[str, str, int], float]:
    """(row, metric, index) -> value for every per-seed value of ``summary``."""
    out = {}
    for row, metrics in summary.items():
        model, _, rest = row.partition("/")
        row = f"{rename.get(model, model)}/{rest}"
        for metric, entry in metrics.items():
            for index, value in enumerate(entry["values"]):
                out[(row, metric, index)] = float(value)
    return out


KINDS = ("model", "model-free references", "references that read the model")


def kind_of(metric: str) -> str:
    """The model's own number, an oracle (reads only the true labels), or a reference that reads the model."""
    if not metric.startswith("reference/"):
        return "model"
    return KINDS[1] if metric.split("/")[1].startswith("oracle") else KINDS[2]


def main(argv: list[str] | None = None) -> int:
    """Print, per kind of number, how many per-seed values differ and by how much at most."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rename", action="append", default=[], help="A's model NAME=B's model name")
    args = parser.parse_args(argv)
    rename = dict(item.split("=", 1) for item in args.rename)
    a = numbers(json.loads(args.a.read_text())["summary"], rename)
    b = numbers(json.loads(args.b.read_text())["summary"], {})
    for kind in KINDS:
        keys = [key for key in a if key in b and kind_of(key[1]) == kind]
        differ = [key for key in keys if a[key] != b[key]]
        largest = max((abs(a[key] - b[key]) for key in differ), default=0.0)
        cells = Counter(key[1].rsplit("/", 1)[-1] for key in differ)
        print(f"{kind}: {len(differ)} of {len(keys)} per-seed values differ, largest by {largest:.4f}; {dict(cells)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
