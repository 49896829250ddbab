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

from shoptag.errors import ConfigError, ShopTagError
from shoptag.settings import OFFLINE_MODEL_SPEC, Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Suggest which catalog products appear in a video, and when.")
index_app = typer.Typer(no_args_is_help=True, help="Build product indexes from catalogs.")
app.add_typer(index_app, name="index")

ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Model spec (default: SHOPTAG_MODEL__SPEC).")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", min=0, help="Torch CPU threads.")]


def _settings(model: str | None = None, threads: int | None = None, **tagging) -> Settings:
    base = Settings()
    model_settings = base.model.model_copy(
        update={k: v for k, v in {"spec": model, "threads": threads}.items() if v is not None})
    tagging_settings = base.tagging.model_copy(update={k: v for k, v in tagging.items() if v is not None})
    # Re-validate so that flag values meet the same bounds as environment values.
    return Settings.model_validate(
        {**base.model_dump(), "model": model_settings.model_dump(), "tagging": tagging_settings.model_dump()})


def _index_settings(index: Path, model: str | None, threads: int | None, **tagging) -> Settings:
    """Settings for commands that use an index: without --model, the index's own model."""
    from shoptag.indexing.manifest import Manifest

    settings = _settings(model, threads, **tagging)  # validate flags and env before touching disk
    if model is None:
        settings = _settings(Manifest.read(index).model_spec, threads, **tagging)
    return settings


def _apply_threads(settings: Settings) -> None:
    if settings.model.threads:
        import torch

        torch.set_num_threads(settings.model.threads)


def _embedder(settings: Settings):
    from shoptag.model import create_embedder

    _apply_threads(settings)
    return create_embedder(settings.model)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show progress logs.")] = False,
) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@index_app.command("build")
def index_build(
    catalog: Annotated[Path, typer.Argument(help="Catalog: .jsonl or Shopify product .csv export.")],
    out: Annotated[Path, typer.Option("--out", help="Index folder to write (replaced atomically).")],
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Embed every catalog image and write a FAISS index folder."""
    from shoptag.indexing.catalog import read_catalog
    from shoptag.indexing.store import build_index

    settings = _settings(model, threads)
    products = read_catalog(catalog)
    report = build_index(products, _embedder(settings), out, settings.images)
    typer.echo(json.dumps({
        "index": str(report.path), "products": report.products, "images": report.images,
        "skipped": [{"where": s.where, "reason": s.reason} for s in report.skipped],
    }, indent=2))


@app.command("tag")
def tag(
    video: Annotated[Path, typer.Argument(help="Video file (MP4/MOV, WebM/MKV, AVI).")],
    index: Annotated[Path, typer.Option("--index", help="Index folder from `shoptag index build`.")],
    fps: Annotated[Optional[float], typer.Option("--fps", help="Frames sampled per second.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Match threshold.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="Candidates per region.")] = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Print suggested product tags with time segments as JSON."""
    from shoptag.indexing.store import CatalogIndex
    from shoptag.tagging import Tagger

    settings = _index_settings(index, model, threads, fps=fps, threshold=threshold, top_k=top_k)
    embedder = _embedder(settings)
    tagger = Tagger(embedder, CatalogIndex.load(index, embedder), settings.tagging, settings.video)
    typer.echo(json.dumps(tagger.tag(video).as_json(), indent=2))


@app.command("serve")
def serve(
    index: Annotated[Optional[Path], typer.Option(
        "--index", help="Index folder to serve (default: SHOPTAG_SERVICE__INDEX).")] = None,
    host: Annotated[Optional[str], typer.Option(
        "--host", help="Address to bind (default 127.0.0.1; others need API keys).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default 8000).")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, help="Threads that decode and embed videos.")] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Serve the tagging API (uvicorn). Settings also come from SHOPTAG_* variables."""
    from shoptag.api.server import serve as run_server

    base = Settings().service
    flags = {"index": index, "host": host, "port": port, "workers": workers}
    service = {**base.model_dump(), **{k: v for k, v in flags.items() if v is not None}}
    if service["index"] is None:
        raise ConfigError("no index to serve: pass --index or set SHOPTAG_SERVICE__INDEX")
    settings = _index_settings(Path(service["index"]), None, threads)
    settings = Settings.model_validate({**settings.model_dump(), "service": service})
    _apply_threads(settings)
    run_server(settings)


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the demo writes its files.")] = Path("shoptag-demo"),
    threads: ThreadsOpt = None,
) -> None:
    """Tag a real sample clip against a small real catalog, offline, with effnet-lite0."""
    from shoptag.demo import run_demo

    settings = _settings(OFFLINE_MODEL_SPEC, threads)
    run = run_demo(out, _embedder(settings), settings)
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; usage errors exit 2 through typer, ShopTag errors are mapped here."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if not debug:
        # FFmpeg and OpenCV write their own notices to stderr; errors reach the user as our
        # one-line message instead. Must be set before cv2 is first imported.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    try:
        app(args=argv, prog_name="shoptag")
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


if __name__ == "__main__":
    run()
