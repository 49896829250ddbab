"""``shoptag index ...``: build, update, roll back, verify and describe index folders."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from shoptag.cli.common import ModelOpt, ThreadsOpt, embedder_for, index_settings, settings_from
from shoptag.cli.progress import progress
from shoptag.errors import IndexBuildError, IndexLoadError
from shoptag.settings import Settings

index_app = typer.Typer(no_args_is_help=True, help="Build and maintain product indexes.")

CatalogArg = Annotated[Path, typer.Argument(help="Catalog: .jsonl or Shopify product .csv export (either dialect).")]
ShopUrlOpt = Annotated[Optional[str], typer.Option(
    "--shop-url", help="Storefront, e.g. https://shop.example: product url = SHOP/products/<handle>.")]
StatusOpt = Annotated[Optional[list[str]], typer.Option(
    "--status", help="Shopify statuses to index (repeatable; default: active).")]
AllowHostOpt = Annotated[Optional[list[str]], typer.Option(
    "--allow-host", help="Fetch images from this host even if it resolves to a private address.")]
CacheOpt = Annotated[Optional[Path], typer.Option(
    "--cache-dir", help="Image download cache (default: $XDG_CACHE_HOME/shoptag/downloads).")]
TypeOpt = Annotated[Optional[str], typer.Option("--index-type", help="auto, flat, hnsw or ivfpq.")]
ReportOpt = Annotated[Optional[Path], typer.Option("--report", help="Also write the report here (JSON).")]
KeepOpt = Annotated[Optional[int], typer.Option("--keep", min=1, help="Versions kept for rollback (default 3).")]


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "shoptag" / "downloads"


def _catalog_settings(model, threads, index_type, keep, allow_host, cache_dir, index: Path | None = None,
                      background: list[Path] | None = None) -> Settings:
    sections = {"index": {"type": index_type, "keep": keep,
                          "background_footage": tuple(background) if background else None},
                "fetch": {"allow_hosts": tuple(allow_host) if allow_host else None, "cache_dir": cache_dir}}
    settings = index_settings(index, model, threads, **sections) if index else settings_from(model, threads, **sections)
    if settings.fetch.cache_dir is None:
        fetch = settings.fetch.model_copy(update={"cache_dir": _default_cache()})
        settings = settings.model_copy(update={"fetch": fetch})
    return settings


def _read(catalog: Path, shop_url: str | None, status: list[str] | None):
    from shoptag.indexing.catalog import read_catalog
    from shoptag.indexing.shopify import DEFAULT_STATUSES

    return read_catalog(catalog, shop_url=shop_url, statuses=tuple(status) if status else DEFAULT_STATUSES)


def _echo(payload: dict, report_file: Path | None = None) -> None:
    text = json.dumps(payload, indent=2)
    if report_file:
        report_file.write_text(text + "\n")
    typer.echo(text)


@index_app.command("build")
def build(
    catalog: CatalogArg,
    out: Annotated[Path, typer.Option("--out", help="Index folder: a new version is written and made current.")],
    report_file: ReportOpt = None, model: ModelOpt = None, threads: ThreadsOpt = None,
    shop_url: ShopUrlOpt = None, status: StatusOpt = None,
    allow_host: AllowHostOpt = None, cache_dir: CacheOpt = None, index_type: TypeOpt = None, keep: KeepOpt = None,
    background: Annotated[Optional[list[Path]], typer.Option(
        "--background", help="Product-free video for the background bank (repeat for several; default: the "
        "bundled street clip). Footage like your creators' makes the calibration fit them.")] = None,
) -> None:
    """Embed every catalog image and write a new index version."""
    from shoptag.indexing.images import ImageReader
    from shoptag.indexing.writer import build_index
    from shoptag.tagging.calibration import background_bank

    settings = _catalog_settings(model, threads, index_type, keep, allow_host, cache_dir, background=background)
    products = _read(catalog, shop_url, status)
    embedder = embedder_for(settings)
    bank = background_bank(embedder, settings)
    with progress(sum(len(p.images) for p in products.products), "indexing images") as advance:
        report = build_index(products, embedder, out, ImageReader(settings.images, settings.fetch),
                             settings.index.type, settings.index.keep, on_image=advance, bank=bank)
    _echo({"index": str(report.path), "version": report.version, "type": report.index_type,
           "products": report.products, "images": report.images,
           "skipped": [{"where": s.where, "reason": s.reason} for s in report.skipped]}, report_file)


@index_app.command("update")
def update(
    catalog: CatalogArg,
    index: Annotated[Path, typer.Option("--index", help="Index folder to bring up to date.")],
    report_file: ReportOpt = None, threads: ThreadsOpt = None, shop_url: ShopUrlOpt = None, status: StatusOpt = None,
    allow_host: AllowHostOpt = None, cache_dir: CacheOpt = None, index_type: TypeOpt = None, keep: KeepOpt = None,
) -> None:
    """Re-index incrementally: embed new and changed images, reuse the rest, drop removed products."""
    from shoptag.indexing.images import ImageReader
    from shoptag.indexing.update import update_index

    settings = _catalog_settings(None, threads, index_type, keep, allow_host, cache_dir, index=index)
    products = _read(catalog, shop_url, status)
    embedder = embedder_for(settings)
    with progress(sum(len(p.images) for p in products.products), "checking images") as advance:
        report = update_index(products, embedder, index, ImageReader(settings.images, settings.fetch),
                              index_type, settings.index.keep, on_image=advance)
    _echo(report.as_json(), report_file)


@index_app.command("rollback")
def rollback(index: Annotated[Path, typer.Argument(help="Index folder.")]) -> None:
    """Make the previous version current again (it must still be kept)."""
    from shoptag.indexing.inspect import verify_index
    from shoptag.indexing.manifest import Manifest
    from shoptag.indexing.versions import IndexFolder

    folder = IndexFolder(index)
    with folder.locked():  # no writer may make a version current meanwhile
        current = Manifest.read(folder.current_dir())
        if not current.parent or not (folder.versions / current.parent).is_dir():
            raise IndexLoadError(f"index {index}: version {current.version} has no kept previous version")
        folder.point_to(current.parent)
        problems = verify_index(index)
        if problems:
            folder.point_to(current.version)
            raise IndexBuildError(f"previous version {current.parent} is damaged ({problems[0]}); stayed on "
                                  f"{current.version}")
    _echo({"index": str(index), "version": current.parent, "rolled_back_from": current.version})


@index_app.command("verify")
def verify(index: Annotated[Path, typer.Argument(help="Index folder.")]) -> None:
    """Check file hashes, counts, and that every FAISS id maps to a product and back."""
    from shoptag.indexing.inspect import verify_index

    problems = verify_index(index)
    _echo({"index": str(index), "ok": not problems, "problems": problems})
    if problems:
        raise IndexLoadError(f"index {index} failed verification: {problems[0]}")


@index_app.command("stats")
def stats(
    index: Annotated[Path, typer.Argument(help="Index folder.")],
    sample: Annotated[int, typer.Option("--sample", min=1, help="Queries for the recall measurement.")] = 200,
) -> None:
    """Sizes, versions, and search recall@10 against exact search (approximate indexes)."""
    from shoptag.indexing.inspect import index_stats

    _echo(index_stats(index, sample=sample))
