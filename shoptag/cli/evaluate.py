"""``shoptag eval`` and ``shoptag bench make``: measure matching accuracy on labelled videos."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from shoptag.cli.common import ProfileOpt, ThreadsOpt, embedder_for, index_settings, settings_from
from shoptag.errors import ConfigError

bench_app = typer.Typer(no_args_is_help=True, help="Labelled benchmarks for evaluation.")


def evaluate(
    annotations: Annotated[Path, typer.Option("--annotations", help="Annotation JSON (see shoptag.evaluation).")],
    index: Annotated[Optional[list[Path]], typer.Option(
        "--index", help="Index to evaluate; repeat to compare several (e.g. one per model).")] = None,
    catalog: Annotated[Optional[Path], typer.Option(
        "--catalog", help="With --model: build one index per model from this catalog, then compare.")] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", help="Model spec to compare (with --catalog).")]
    = None,
    out: Annotated[Path, typer.Option("--out", help="Where metrics.json, report.md and plots go.")] = Path("eval-out"),
    fps: Annotated[Optional[float], typer.Option("--fps")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k")] = None,
    profile: ProfileOpt = None,
    sweep: Annotated[Optional[list[str]], typer.Option(
        "--sweep", help="threshold=0.5:0.9:0.05, fps=1,2 or top_k=5,10; repeat for a grid.")] = None,
    retrieval: Annotated[bool, typer.Option(
        "--retrieval", help="Also score catalog retrieval alone (region and frame queries: Recall@k, MRR).")] = False,
    videos_dir: Annotated[Optional[Path], typer.Option(
        "--videos-dir", help="ActivityNet ground truth: the folder of VIDEO_ID.mp4 files (default: its own).")]
    = None,
    subset: Annotated[Optional[str], typer.Option(
        "--subset", help="ActivityNet ground truth: evaluate this subset only (e.g. validation).")] = None,
    resamples: Annotated[int, typer.Option(
        "--bootstrap", min=10, max=100_000, help="Bootstrap resamples of the videos for the intervals.")] = 1000,
    seed: Annotated[int, typer.Option("--bootstrap-seed", help="Seed of the bootstrap resamples.")] = 0,
    threads: ThreadsOpt = None,
) -> None:
    """Tag every annotated video and report accuracy (with bootstrap intervals), speed and plots.
    Reads ShopTag annotations or ActivityNet ground truth; writes ActivityNet results too."""
    from shoptag.evaluation.annotations import load_annotations
    from shoptag.evaluation.bootstrap import Bootstrap
    from shoptag.evaluation.evaluate import run_evaluation
    from shoptag.evaluation.run import Evaluator
    from shoptag.evaluation.sweep import grid
    from shoptag.indexing import CatalogIndex
    from shoptag.indexing.data_folder import catalog_name_of

    grid(sweep or [])  # a malformed --sweep fails before any work
    tagging = {"fps": fps, "threshold": threshold, "top_k": top_k, "profile": profile}
    indexes = list(index or []) + _build_model_indexes(catalog, model or [], out, threads)
    if not indexes:
        raise ConfigError("nothing to evaluate: pass --index, or --catalog with --model")
    # The truth of the reported index's catalog: products another catalog has under the same ids are not its.
    videos = load_annotations(annotations, videos_dir, subset, catalog_name_of(indexes[0]))
    evaluators = []
    for path in indexes:
        settings = index_settings(path, None, threads, tagging=tagging)
        embedder = embedder_for(settings)
        evaluators.append((f"{path.name} ({embedder.spec})",
                           Evaluator(embedder, CatalogIndex.load(path, embedder), settings.video)))
    outcome = run_evaluation(evaluators, videos, settings_from(None, threads, tagging=tagging).tagging,
                             sweep or [], out, Bootstrap(resamples=resamples, seed=seed), retrieval)
    from shoptag.evaluation.report import summary_table

    typer.echo(summary_table(outcome.comparison))
    if outcome.best:
        typer.echo(f"best operating point: {json.dumps(outcome.best['settings'])} "
                   f"(segment F1@0.5 {outcome.best['metrics']['segment@tIoU0.5']['f1']:.3f})")
    typer.echo(f"report: {out / 'report.md'}")


def eval_compare(
    baseline: Annotated[Path, typer.Argument(help="An earlier `shoptag eval --out` folder: the baseline.")],
    candidate: Annotated[Path, typer.Argument(help="The run to compare with it, on the same videos.")],
    resamples: Annotated[int, typer.Option("--bootstrap", min=10, max=100_000, help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option("--bootstrap-seed")] = 0,
) -> None:
    """Compare two evaluation runs on the same videos: each headline number's difference, with
    its paired bootstrap interval and whether that is outside the noise."""
    from shoptag.evaluation.bootstrap import Bootstrap
    from shoptag.evaluation.evaluate import compare_runs
    from shoptag.evaluation.report import difference_table

    difference = compare_runs(baseline, candidate, Bootstrap(resamples=resamples, seed=seed))
    typer.echo(f"{candidate} minus {baseline}:")
    typer.echo(difference_table(difference))


def _build_model_indexes(catalog: Path | None, models: list[str], out: Path, threads) -> list[Path]:
    if not models:
        return []
    if catalog is None:
        raise ConfigError("--model needs --catalog to build an index for each model")
    from shoptag.indexing import ImageReader, build_index, read_catalog
    from shoptag.tagging.calibration import background_bank

    paths = []
    for spec in models:
        settings = settings_from(spec, threads)
        path = out / "indexes" / re.sub(r"[^A-Za-z0-9_.-]+", "_", spec)
        embedder = embedder_for(settings)
        bank = background_bank(embedder, settings)
        build_index(read_catalog(catalog), embedder, path, ImageReader(settings.images, settings.fetch), bank=bank)
        paths.append(path)
    return paths


@bench_app.command("make")
def bench_make(
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog whose products appear in the videos.")],
    backgrounds: Annotated[Path, typer.Option("--backgrounds", help="Folder of real footage (videos or photos).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the videos and annotations.json.")],
    videos: Annotated[int, typer.Option("--videos", min=1)] = 24,
    duration: Annotated[float, typer.Option("--duration", min=4.0, help="Seconds per video.")] = 8.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    min_width: Annotated[float, typer.Option(
        "--min-width", min=0.02, max=1.0, help="Smallest on-screen product width, as a fraction of the frame's.")]
    = 0.22,
    max_width: Annotated[float, typer.Option("--max-width", min=0.02, max=1.0, help="Largest, likewise.")] = 0.36,
) -> None:
    """Generate labelled videos: catalog photos moving through real footage for known intervals."""
    from shoptag.evaluation.bench import BenchSpec, make_benchmark

    if min_width > max_width:
        raise ConfigError(f"--min-width {min_width} is larger than --max-width {max_width}")
    from shoptag.indexing import ImageReader, read_catalog

    settings = settings_from()
    annotations = make_benchmark(read_catalog(catalog), backgrounds, out, ImageReader(settings.images, settings.fetch),
                                 BenchSpec(videos=videos, duration_s=duration, seed=seed, min_width=min_width,
                                           max_width=max_width))
    typer.echo(str(annotations))
