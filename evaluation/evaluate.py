"""One evaluation run: the operating point with bootstrap intervals, its precision-recall
curve over the threshold, an optional sweep, optional comparison of other indexes (other
models, each against the first on the same resamples), the optional retrieval view, and the
report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shoptag.evaluation.annotations import VideoAnnotation, read_json
from shoptag.evaluation.bootstrap import Bootstrap
from shoptag.evaluation.metrics import Counts, match_segments
from shoptag.evaluation.report import write_report
from shoptag.evaluation.retrieval_view import retrieval_view
from shoptag.evaluation.run import (
    SIZE_BUCKETS,
    Evaluation,
    Evaluator,
    canonical_ids,
    predicted_intervals,
    truth_intervals,
)
from shoptag.evaluation.scorecard import Scorecard, ScorecardError
from shoptag.evaluation.sweep import best_point, grid
from shoptag.settings import TaggingSettings
from shoptag.tagging import Tagger

CURVE_THRESHOLDS = [round(0.30 + 0.01 * i, 2) for i in range(66)]


@dataclass
class RunOutcome:
    main: Evaluation
    best: dict | None
    comparison: list[tuple[str, dict]]


def run_evaluation(evaluators: list[tuple[str, Evaluator]], videos: list[VideoAnnotation],
                   settings: TaggingSettings, sweeps: list[str], out: Path, bootstrap: Bootstrap = Bootstrap(),
                   retrieval: bool = False) -> RunOutcome:
    """The first evaluator is the one reported in full; the others join the comparison table,
    each with its paired difference from the first."""
    label, evaluator = evaluators[0]
    main = evaluator.evaluate(videos, settings, bootstrap=bootstrap)
    if retrieval:
        main.metrics["retrieval"] = retrieval_view(videos, evaluator.index, evaluator.embedder, canonical_ids(videos),
                                                   settings.fps, evaluator.limits, SIZE_BUCKETS)
    tagger = evaluator.tagger(settings)
    curve = [_curve_point(evaluator, tagger, videos, settings, t) for t in CURVE_THRESHOLDS]
    points = None
    best = None
    if sweeps:
        points = []
        for values in grid(sweeps):
            point = evaluator.evaluate(videos, settings.model_copy(update=values), swept=values)
            points.append({"settings": point.settings, "metrics": point.metrics})
        best = best_point(points)
    comparison = [(label, main.metrics)]
    for other_label, other in evaluators[1:]:
        evaluated = other.evaluate(videos, settings, bootstrap=bootstrap)
        evaluated.metrics["paired_difference"] = {
            "baseline": label, **evaluated.scorecard.compared_with(main.scorecard, bootstrap)}
        comparison.append((other_label, evaluated.metrics))
    truth_by_video = {str(v.video): v.appearances for v in videos}
    write_report(out, main, curve, points, comparison if len(evaluators) > 1 else None, truth_by_video)
    return RunOutcome(main, best, comparison)


def _curve_point(evaluator: Evaluator, tagger: Tagger, videos: list[VideoAnnotation], settings: TaggingSettings,
                 threshold: float) -> dict:
    counts = Counts()
    canonical = canonical_ids(videos)
    for item in evaluator.scans(videos, settings):
        result = tagger.tag_scan(item.scan, item.annotation.video, threshold)
        counts += match_segments(truth_intervals(item.annotation, canonical), predicted_intervals(result, canonical),
                                 0.5)
    return {"threshold": threshold, "precision": round(counts.precision, 4), "recall": round(counts.recall, 4),
            "f1": round(counts.f1, 4)}


def compare_runs(baseline: Path, candidate: Path, bootstrap: Bootstrap) -> dict[str, dict]:
    """Candidate minus baseline for each headline number, from two runs' metrics.json on the
    same videos, with paired bootstrap intervals."""
    cards = []
    for run in (baseline, candidate):
        raw = read_json(Path(run) / "metrics.json", "evaluation run")
        if not isinstance(raw, dict) or "scorecard" not in raw:
            raise ScorecardError(f"{run}/metrics.json has no scorecard: rerun `shoptag eval` to write one")
        cards.append(Scorecard.from_json(raw["scorecard"]))
    return {"baseline": str(baseline), **cards[1].compared_with(cards[0], bootstrap)}
