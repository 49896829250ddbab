"""Evaluation outputs: metrics.json, predictions (ShopTag's JSON and ActivityNet results), a
Markdown report and PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

# Figures are drawn with matplotlib's object API (no pyplot): no global backend or figure state.
# Names from the data (product ids, video names) are drawn as text, never as markup:
# ``parse_math=False`` on each, so that "$...$" in a name is not mathtext (which fails on an
# unknown command such as "$\foo$" and would end the run before report.md is written).
from matplotlib.figure import Figure

from shoptag.evaluation.activitynet import write_activitynet_results
from shoptag.evaluation.run import Evaluation, canonical_ids, predicted_intervals

SUMMARY_COLUMNS = (
    ("video F1", lambda m: m["video_level"]["f1"]),
    ("seg P@0.5", lambda m: m["segment@tIoU0.5"]["precision"]),
    ("seg R@0.5", lambda m: m["segment@tIoU0.5"]["recall"]),
    ("seg F1@0.3", lambda m: m["segment@tIoU0.3"]["f1"]),
    ("seg F1@0.5", lambda m: m["segment@tIoU0.5"]["f1"]),
    ("AP@0.5", lambda m: m["detection"]["AP@tIoU0.5"]),
    ("mAP@0.5:0.95", lambda m: m["detection"]["mAP@tIoU0.5:0.95"]),
    ("frame R@1", lambda m: m["frame_retrieval"]["recall@1"]),
    ("frame R@5", lambda m: m["frame_retrieval"]["recall@5"]),
    ("frame MRR", lambda m: m["frame_retrieval"]["MRR"]),
    ("false tags/min", lambda m: m["false_tags_per_minute"]),
    ("video s / s", lambda m: m["throughput_video_s_per_s"]),
)


ACTIVITYNET_RESULTS = "activitynet_results.json"


def summary_table(rows: list[tuple[str, dict]]) -> str:
    """A Markdown table: one row per (label, metrics)."""
    header = "| | " + " | ".join(name for name, _ in SUMMARY_COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(SUMMARY_COLUMNS) + 1)]
    for label, metrics in rows:
        cells = [_cell(get(metrics)) for _, get in SUMMARY_COLUMNS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def write_report(out: Path, main: Evaluation, curve: list[dict], sweep: list[dict] | None,
                 comparison: list[tuple[str, dict]] | None, truth_by_video: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {"settings": main.settings, "metrics": main.metrics, "per_product": main.per_product,
               "pr_curve": curve, "scorecard": main.scorecard.as_json()}  # for `shoptag eval-compare` later
    if sweep:
        payload["sweep"] = [{"settings": p["settings"], "metrics": p["metrics"]} for p in sweep]
    if comparison:
        payload["comparison"] = [{"label": label, "metrics": metrics} for label, metrics in comparison]
    (out / "metrics.json").write_text(json.dumps(payload, indent=2) + "\n")
    # Exactly what `shoptag tag` prints for each video at these settings.
    predictions = [result.model_dump(mode="json") for result in main.predictions]
    (out / "predictions.json").write_text(json.dumps(predictions, indent=2) + "\n")
    write_activitynet_results(
        out / ACTIVITYNET_RESULTS, main.videos, [predicted_intervals(result) for result in main.ranked],
        canonical_ids(main.videos),
        f"ShopTag at {json.dumps(main.settings, sort_keys=True)}, with the uncertain segments")
    _plot_curve(out / "pr_curve.png", curve, main.settings["threshold"])
    _plot_timelines(out / "timeline.png", main, truth_by_video)
    _plot_products(out / "per_product.png", main.per_product)
    lines = ["# ShopTag evaluation", "",
             f"Settings: fps {main.settings['fps']}, threshold {main.settings['threshold']}, "
             f"top_k {main.settings['top_k']}; {main.metrics['videos']} videos "
             f"({main.metrics['product_free_videos']} product-free).", "",
             summary_table([("this run", main.metrics)]), "",
             *_uncertainty(main), *_boxes(main.metrics),
             "Stage seconds: " + ", ".join(f"{k} {v}" for k, v in main.metrics["stage_seconds"].items()), "",
             "## Recall by size and kind (segments at tIoU 0.5)", "",
             "| appearances | count | recall |", "|---|---|---|",
             *[f"| {bucket} | {row['appearances']} | {row['recall']:.3f} |"
               for bucket, row in main.metrics["recall_by_bucket@tIoU0.5"].items()], "",
             "## Per product (segments at tIoU 0.5)", "",
             "| product | tp | fp | fn | precision | recall | AP@0.5 |", "|---|---|---|---|---|---|---|"]
    for product, c in main.per_product.items():
        ap = f"{c['AP@tIoU0.5']:.3f}" if "AP@tIoU0.5" in c else "–"  # no truth: no AP
        lines.append(f"| {product} | {c['tp']} | {c['fp']} | {c['fn']} | {c['precision']:.3f} | {c['recall']:.3f} "
                     f"| {ap} |")
    if sweep:
        lines += ["", "## Sweep", "", summary_table([(_label(p["settings"]), p["metrics"]) for p in sweep])]
    if comparison:
        lines += ["", "## Comparison", "", summary_table(comparison), "", *_differences(comparison)]
    if "retrieval" in main.metrics:
        lines += ["", *_retrieval(main.metrics["retrieval"])]
    lines += ["", "Plots: `pr_curve.png`, `timeline.png`, `per_product.png`. ActivityNet results: "
              f"`{ACTIVITYNET_RESULTS}` (the served segments and the uncertain ones, by score).", ""]
    (out / "report.md").write_text("\n".join(lines))


def _uncertainty(main: Evaluation) -> list[str]:
    if "intervals" not in main.metrics:
        return []
    boot = main.metrics["bootstrap"]
    values = main.scorecard.headline()  # the numbers the intervals are of
    return [f"{boot['level']:.0%} bootstrap intervals ({boot['resamples']} resamples of the videos, seed "
            f"{boot['seed']}). AP is ActivityNet's, over the served and uncertain segments by score:", "",
            "| | value | interval |", "|---|---|---|",
            *[f"| {name} | {values[name]:.3f} | {low:.3f}–{high:.3f} |"
              for name, (low, high) in main.metrics["intervals"].items()
              if None not in (low, high) and not math.isnan(values[name])], ""]


def _boxes(metrics: dict) -> list[str]:
    box = metrics["box@tIoU0.5"]
    if not box["scored"]:
        return []
    lines = [f"Boxes: of {box['segments']} segments matched at tIoU 0.5, {box['scored']} have a truth box at their "
             f"best frame; mean box IoU there {box['mean_iou']:.3f}, {box['share_iou>=0.5']:.1%} at IoU ≥ 0.5."]
    track = metrics.get("box_track@tIoU0.5")
    if track and track["rows"]:
        lines.append(f"Over their tracks ({track['rows']} rows, each a sampled frame where the product was seen and "
                     f"the truth has a box): mean box IoU {track['mean_iou']:.3f}, {track['share_iou>=0.5']:.1%} "
                     "at IoU ≥ 0.5.")
    return [*lines, ""]


def _differences(comparison: list[tuple[str, dict]]) -> list[str]:
    lines = []
    for label, metrics in comparison[1:]:
        lines += ["", f"{label} minus {metrics['paired_difference']['baseline']}, paired bootstrap:", "",
                  difference_table(metrics["paired_difference"])]
    return lines


def difference_table(difference: dict) -> str:
    """Each number's paired difference, its interval, and whether that excludes 0. Intervals
    are per number: several numbers at once are not corrected for multiple comparisons."""
    lines = ["| | difference | interval | |", "|---|---|---|---|"]
    for name, row in difference.items():
        if name != "baseline" and None not in (row["difference"], *row["interval"]):
            verdict = "outside the noise" if row["outside_noise"] else "within the noise"
            lines.append(f"| {name} | {row['difference']:+.3f} | {row['interval'][0]:+.3f} to "
                         f"{row['interval'][1]:+.3f} | {verdict} |")
    return "\n".join(lines)


def _retrieval(view: dict) -> list[str]:
    lines = [f"## Retrieval (catalog search alone, ranks up to {view['max_rank']}, frames at {view['fps']} fps)", "",
             "| query | of | queries | R@1 | R@5 | R@10 | MRR |", "|---|---|---|---|---|---|---|"]
    for kind in ("region", "frame"):
        for bucket, row in view[kind].items():
            lines.append(f"| {kind} | {bucket} | {row['queries']} | {row['recall@1']:.3f} | {row['recall@5']:.3f} | "
                         f"{row['recall@10']:.3f} | {row['MRR']:.3f} |")
    return lines


def _label(settings: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items())


def _plot_curve(path: Path, curve: list[dict], chosen: float) -> None:
    figure = Figure(figsize=(5, 4))
    axis = figure.subplots()
    axis.plot([p["recall"] for p in curve], [p["precision"] for p in curve], marker=".")
    for point in curve:
        if abs(point["threshold"] - chosen) < 1e-9:
            axis.scatter([point["recall"]], [point["precision"]], color="red", zorder=3,
                         label=f"threshold {chosen:.2f}")
    axis.set_xlabel("segment recall @ tIoU 0.5")
    axis.set_ylabel("segment precision @ tIoU 0.5")
    axis.set_xlim(0, 1.02)
    axis.set_ylim(0, 1.02)
    axis.set_title("Precision-recall over the threshold")
    axis.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _plot_timelines(path: Path, main: Evaluation, truth_by_video: dict) -> None:
    results = main.predictions
    figure = Figure(figsize=(8, 0.55 * len(results) + 1))
    axes = figure.subplots(len(results), 1, squeeze=False)
    for axis, result in zip(axes[:, 0], results, strict=True):
        for appearance in truth_by_video[result.video]:
            axis.barh(1, appearance.end_s - appearance.start_s, left=appearance.start_s, color="tab:green")
            axis.text(appearance.start_s, 1, appearance.product_id, fontsize=6, va="center", parse_math=False)
        for tag in result.tags:
            for segment in tag.segments:
                axis.barh(0, segment.end_s - segment.start_s, left=segment.start_s, color="tab:blue")
                axis.text(segment.start_s, 0, tag.product_id, fontsize=6, va="center", color="white",
                          parse_math=False)
        axis.set_xlim(0, max(result.duration_s, 0.1))
        axis.set_yticks([0, 1], ["pred", "truth"], fontsize=6)
        axis.set_ylabel(Path(result.video).name, rotation=0, ha="right", fontsize=6, parse_math=False)
        axis.tick_params(axis="x", labelsize=6)
    axes[-1, 0].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _plot_products(path: Path, per_product: dict) -> None:
    names = list(per_product) or ["(none)"]
    figure = Figure(figsize=(max(5, 0.5 * len(names) + 2), 4))
    axis = figure.subplots()
    positions = range(len(names))
    axis.bar([p - 0.2 for p in positions], [per_product.get(n, {}).get("precision", 0) for n in names], 0.4,
             label="precision")
    axis.bar([p + 0.2 for p in positions], [per_product.get(n, {}).get("recall", 0) for n in names], 0.4,
             label="recall")
    axis.set_xticks(list(positions), names, rotation=45, ha="right", fontsize=7, parse_math=False)
    axis.set_ylim(0, 1.05)
    axis.set_title("Per product, segments at tIoU 0.5")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
