"""The ``shoptag`` command. The only place that turns errors into exit codes:
0 success, 1 error (one line on stderr), 2 usage error."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from shoptag.cli.batch import tag_batch
from shoptag.cli.catalog import catalog_app
from shoptag.cli.common import (
    ModelOpt,
    ProfileOpt,
    ThreadsOpt,
    apply_threads,
    embedder_for,
    index_settings,
    new_or_old,
    settings_from,
)
from shoptag.cli.evaluate import bench_app, eval_compare, evaluate
from shoptag.cli.feedback import feedback_app
from shoptag.cli.index import index_app
from shoptag.errors import ConfigError, ShopTagError
from shoptag.indexing.data_folder import catalog_folder, catalog_names
from shoptag.settings import OFFLINE_MODEL_SPEC

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Suggest which catalog products appear in a video, and when.")

# `shoptag --help` groups the commands by who uses them, `tag` first. Help lists a panel's
# commands in the order they are registered here (commands before command groups), and the
# panels in the order of their first command, so the order below is the order of the help.
CREATORS = "Creators: tag videos"
MERCHANTS = "Merchants: catalogs, indexes and the service"
RESEARCHERS = "Researchers: accuracy and benchmarks"


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show progress logs.")] = False,
) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@app.command("tag", rich_help_panel=CREATORS)
def tag(
    video: Annotated[Path, typer.Argument(help="Video file (MP4/MOV, WebM/MKV, AVI).")],
    index: Annotated[Path, typer.Option("--index", help="Index folder from `shoptag index build`.")],
    fps: Annotated[Optional[float], typer.Option("--fps", help="Frames sampled per second.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Match threshold.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="Candidates per region.")] = None,
    include_uncertain: Annotated[Optional[bool], typer.Option(
        "--include-uncertain", help="Also print uncertain segments (weak evidence), marked uncertain.")] = None,
    profile: ProfileOpt = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Print suggested product tags with time segments as JSON."""
    from shoptag.indexing.store import CatalogIndex
    from shoptag.tagging import Tagger

    settings = index_settings(index, model, threads, tagging={"fps": fps, "threshold": threshold, "top_k": top_k,
                                                                "include_uncertain": include_uncertain,
                                                                "profile": profile})
    embedder = embedder_for(settings)
    tagger = Tagger(embedder, CatalogIndex.load(index, embedder), settings.tagging, settings.video)
    typer.echo(json.dumps(tagger.tag(video).model_dump(mode="json"), indent=2))


app.command("tag-batch", rich_help_panel=CREATORS)(tag_batch)


@app.command("schema", rich_help_panel=CREATORS)
def schema() -> None:
    """Print the JSON Schema of what `shoptag tag` prints (the service answers the same shape)."""
    from shoptag.tagging.results import tag_result_schema

    typer.echo(json.dumps(tag_result_schema(), indent=2))


@app.command("serve", rich_help_panel=MERCHANTS)
def serve(
    index: Annotated[Optional[Path], typer.Option(
        "--index", help="Index folder to serve, one catalog (default: SHOPTAG_SERVICE__INDEX).")] = None,
    data: Annotated[Optional[Path], typer.Option(
        "--data", help="Data folder of catalogs to serve instead, <data>/<catalog> each an index folder "
        "(default: SHOPTAG_SERVICE__DATA_DIR).")] = None,
    host: Annotated[Optional[str], typer.Option(
        "--host", help="Address to bind (default 127.0.0.1; others need API keys).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default 8000).")] = None,
    worker_threads: Annotated[Optional[int], typer.Option(
        "--worker-threads", min=1, help="Threads that decode and embed videos, in this one process "
        "(default: SHOPTAG_SERVICE__WORKERS, else 1).")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, hidden=True, help="Old spelling of --worker-threads.")] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Serve the tagging API (uvicorn). Settings also come from SHOPTAG_* variables."""
    from shoptag.api.server import serve as run_server

    workers = new_or_old(worker_threads, workers, "--worker-threads", "--workers")
    service = {"index": index, "data_dir": data, "host": host, "port": port, "workers": workers}
    settings = settings_from(None, threads, service=service)
    config = settings.service
    if config.served is None:
        raise ConfigError("nothing to serve: pass --index (one catalog) or --data (a folder of catalogs)")
    # The model: of one index, its own; of a data folder, SHOPTAG_MODEL__SPEC or its first catalog's.
    if config.index is not None:
        settings = index_settings(config.index, None, threads, service=service)
    elif "spec" not in settings.model.model_fields_set:
        first = next((catalog_folder(config.data_dir, name) for name in catalog_names(config.data_dir)), None)
        settings = index_settings(first, None, threads, service=service) if first else settings
    apply_threads(settings)
    run_server(settings)


@app.command("demo", rich_help_panel=CREATORS)
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the demo writes its files.")] = Path("shoptag-demo"),
    threads: ThreadsOpt = None,
) -> None:
    """Tag a real sample clip against a small real catalog, offline, with effnet-lite0."""
    from shoptag.demo import run_demo

    settings = settings_from(OFFLINE_MODEL_SPEC, threads)
    run = run_demo(out, embedder_for(settings), settings)
    console = Console()
    table = Table(title=f"Products found in {run.video_path} ({run.result.duration_s:.1f} s)")
    for column in ("product", "start–end (s)", "score", "box [x, y, w, h]", "truth (s)"):
        table.add_column(column)
    for product_tag in run.result.tags:
        truth = run.truth.get(product_tag.product_id)
        for segment in product_tag.segments:
            table.add_row(product_tag.title, f"{segment.start_s:.1f}–{segment.end_s:.1f}",
                          f"{segment.score:.2f}", str(list(segment.bbox)),
                          f"{truth.start_s:.1f}–{truth.end_s:.1f}" if truth else "not shown")
    console.print(table)
    if not run.result.tags:
        console.print("no products found")
    console.print(f"JSON written to {run.json_path}")


app.command("eval", rich_help_panel=RESEARCHERS)(evaluate)
app.command("eval-compare", rich_help_panel=RESEARCHERS)(eval_compare)
app.add_typer(index_app, name="index", rich_help_panel=MERCHANTS)
app.add_typer(catalog_app, name="catalog", rich_help_panel=MERCHANTS)
app.add_typer(bench_app, name="bench", rich_help_panel=RESEARCHERS)
app.add_typer(feedback_app, name="feedback", rich_help_panel=RESEARCHERS)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; usage errors exit 2 through typer, ShopTag errors are mapped here."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if not debug:
        # FFmpeg and OpenCV write their own notices to stderr; errors reach the user as our
        # one-line message instead. Must be set before cv2 is first imported.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        if "cv2" in sys.modules:  # imported already: its own level was read from the environment then
            sys.modules["cv2"].utils.logging.setLogLevel(sys.modules["cv2"].utils.logging.LOG_LEVEL_ERROR)
    try:
        app(args=argv, prog_name="shoptag")
    except SystemExit as exc:  # typer exits when a command ends; callers of main() get the code
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except ValidationError as exc:
        if debug:
            raise
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        print(f"shoptag: bad setting {where}: {first['msg']}", file=sys.stderr)
        return 2
    except ShopTagError as exc:
        if debug:
            raise
        print(f"shoptag: error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


