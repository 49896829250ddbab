"""``shoptag tag-batch``: tag many videos into a results file, in process or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from shoptag.cli.common import ThreadsOpt, echo_report, index_settings
from shoptag.cli.progress import progress

EngineOpt = Annotated[str, typer.Option(
    "--engine", help="process: on this machine; ray: a local Ray, or the cluster SHOPTAG_RAY__ADDRESS names.")]


def check_engine(engine: str) -> str:
    if engine not in ("process", "ray"):
        raise typer.BadParameter(f"{engine!r} is not an engine (process, ray)", param_hint="'--engine'")
    return engine


def tag_batch(
    source: Annotated[Path, typer.Argument(help="A folder of videos, or a manifest: one path or http(s) URL a line.")],
    index: Annotated[Path, typer.Option("--index", help="Index folder from `shoptag index build`.")],
    out: Annotated[Path, typer.Option("--out", help="Results (JSON lines); a run started again goes on from it.")],
    engine: EngineOpt = "process",
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, help="Processes (process: default one per core) or actors (ray: default 2), each "
        "with the model and index loaded once.")] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Tag every video of SOURCE: one line per video, the JSON `shoptag tag` prints or its error."""
    from shoptag.batch.tag_batch import plan_batch, run_batch

    engine = check_engine(engine)
    section = "ray" if engine == "ray" else "batch"
    settings = index_settings(index, None, threads, **{section: {"workers": workers}})
    plan = plan_batch(source, out, settings)
    with progress(len(plan.todo), "tagging videos") as advance:
        report = run_batch(plan, index, settings, engine, lambda _: advance())
    echo_report({"out": str(out), "videos": report.videos, "already_done": report.already_done,
                 "tagged": report.tagged, "failed": report.failed, "seconds": round(report.seconds, 1),
                 "video_seconds_per_second": round(report.video_seconds / max(report.seconds, 1e-9), 3)})
