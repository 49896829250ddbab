"""``shoptag index ...``: build, update, roll back, verify and describe index folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

from shoptag.cli.batch import EngineOpt, check_engine
from shoptag.cli.common import (
    ModelOpt,
    ThreadsOpt,
    catalog_settings,
    echo_report,
    embedder_for,
    new_or_old,
)
from shoptag.cli.progress import progress
from shoptag.errors import ConfigError, IndexBuildError, IndexLoadError
from shoptag.indexing.data_folder import catalog_folder

index_app = typer.Typer(no_args_is_help=True, help="Build and maintain product indexes.")

CatalogArg = Annotated[Path, typer.Argument(help="Catalog: .jsonl or Shopify product .csv export (either dialect).")]
ShopUrlOpt = Annotated[Optional[str], typer.Option(
    "--shop-url", help="Storefront, e.g. https://shop.example: product url = SHOP/products/<handle>.")]
StatusOpt = Annotated[Optional[list[str]], typer.Option(
    "--status", help="Shopify statuses to index (repeatable; default: active).")]
AllowHostOpt = Annotated[Optional[list[str]], typer.Option(
    "--allow-host", help="Fetch images from this host even if it resolves to a private address.")]
CacheOpt = Annotated[Optional[Path], typer.Option(
    "--cache-dir", help="Image download cache (default: SHOPTAG_FETCH__CACHE_DIR, else the user cache folder's "
    "shoptag/downloads, e.g. $XDG_CACHE_HOME/shoptag/downloads).")]
TypeOpt = Annotated[Optional[str], typer.Option("--index-type", help="auto, flat, hnsw or ivfpq (default: "
                                                 "SHOPTAG_INDEX__TYPE, else auto; update: else the current type).")]
ReportOpt = Annotated[Optional[Path], typer.Option("--report", help="Also write the report here (JSON).")]
KeepOpt = Annotated[Optional[int], typer.Option("--keep", min=1, help="Versions kept for rollback (default 3).")]
# Every index command names its folder with --index, like `shoptag tag` and `serve`. The old
# spellings (`build --out`, a positional folder for rollback/verify/stats) still work, hidden,
# for one release.
IndexOpt = Annotated[Optional[Path], typer.Option(
    "--index", show_default=False, help="Index folder (or --data and --name).")]
# A catalog of a data folder that `shoptag serve --data` serves: <data>/<name>.
DataOpt = Annotated[Optional[Path], typer.Option(
    "--data", show_default=False, help="Data folder of catalogs, with --name: the index folder <data>/<name>.")]
NameOpt = Annotated[Optional[str], typer.Option(
    "--name", show_default=False, help="The catalog's name in the --data folder.")]
OldIndexArg = Annotated[Optional[Path], typer.Argument(
    hidden=True, show_default=False, help="Old spelling of --index (deprecated).")]


class _Command(TyperCommand):
    """A command whose usage line leaves out hidden arguments (the old positional index folder)."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if not getattr(param, "hidden", False):
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def index_folder(index: Path | None, data: Path | None, name: str | None, old: Path | None = None,
                 old_spelling: str = "") -> Path:
    """The folder from --index (or its old spelling), or from --data and --name."""
    folder = new_or_old(index, old, "--index", old_spelling)
    if data is not None or name is not None:
        if folder is not None:
            raise typer.BadParameter("give --index, or --data and --name, not both", param_hint="'--index'")
        if data is None or name is None:
            raise typer.BadParameter("--data and --name go together", param_hint="'--data'")
        try:
            return catalog_folder(data, name)
        except ConfigError as exc:
            raise typer.BadParameter(exc.message, param_hint="'--name'") from None
    if folder is None:
        raise typer.BadParameter("no index folder given (--index, or --data and --name)", param_hint="'--index'")
    return folder


def entry_embedder(engine: str, settings):
    """How catalog images become vectors: in process, or on Ray (``batch.ray_engine``)."""
    from shoptag.indexing.embedding import embed_entries

    if engine == "process":
        return embed_entries
    from shoptag.batch.ray_engine import RayEmbedding

    return RayEmbedding(settings).embed_entries


def _read(catalog: Path, shop_url: str | None, status: list[str] | None):
    from shoptag.indexing.catalog import read_catalog
    from shoptag.indexing.shopify import DEFAULT_STATUSES

    return read_catalog(catalog, shop_url=shop_url, statuses=tuple(status) if status else DEFAULT_STATUSES)


@index_app.command("build")
def build(
    catalog: CatalogArg,
    index: Annotated[Optional[Path], typer.Option(
        "--index", show_default=False,
        help="Index folder (or --data and --name): a new version is written and made current.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", hidden=True, help="Old spelling of --index.")] = None,
    data: DataOpt = None, name: NameOpt = None, engine: EngineOpt = "process",
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

    folder = index_folder(index, data, name, out, "--out")
    settings = catalog_settings(model, threads, index_type, keep, allow_host, cache_dir, background=background)
    products = _read(catalog, shop_url, status)
    embedder = embedder_for(settings)
    bank = background_bank(embedder, settings)
    with progress(sum(len(p.images) for p in products.products), "indexing images") as advance:
        report = build_index(products, embedder, folder, ImageReader(settings.images, settings.fetch),
                             settings.index.type, settings.index.keep, on_image=advance, bank=bank,
                             embed=entry_embedder(check_engine(engine), settings))
    echo_report({"index": str(report.path), "version": report.version, "type": report.index_type,
           "products": report.products, "images": report.images,
           "skipped": [{"where": s.where, "reason": s.reason} for s in report.skipped]}, report_file)


@index_app.command("update")
def update(
    catalog: CatalogArg,
    index: Annotated[Optional[Path], typer.Option(
        "--index", show_default=False, help="Index folder to bring up to date (or --data and --name).")] = None,
    data: DataOpt = None, name: NameOpt = None, engine: EngineOpt = "process",
    report_file: ReportOpt = None, threads: ThreadsOpt = None, shop_url: ShopUrlOpt = None, status: StatusOpt = None,
    allow_host: AllowHostOpt = None, cache_dir: CacheOpt = None, index_type: TypeOpt = None, keep: KeepOpt = None,
) -> None:
    """Re-index incrementally: embed new and changed images, reuse the rest, drop removed products."""
    from shoptag.indexing.images import ImageReader
    from shoptag.indexing.update import update_index

    index = index_folder(index, data, name)
    settings = catalog_settings(None, threads, index_type, keep, allow_host, cache_dir, index=index)
    # --index-type or SHOPTAG_INDEX__TYPE when given, like `build`; neither keeps the current type.
    kind = settings.index.type if "type" in settings.index.model_fields_set else None
    products = _read(catalog, shop_url, status)
    embedder = embedder_for(settings)
    with progress(sum(len(p.images) for p in products.products), "checking images") as advance:
        report = update_index(products, embedder, index, ImageReader(settings.images, settings.fetch),
                              kind, settings.index.keep, on_image=advance,
                              embed=entry_embedder(check_engine(engine), settings))
    echo_report(report.as_json(), report_file)


@index_app.command("rollback", cls=_Command)
def rollback(old_index: OldIndexArg = None, index: IndexOpt = None, data: DataOpt = None, name: NameOpt = None) -> None:
    """Make the previous version current again (it must still be kept)."""
    from shoptag.indexing.inspect import verify_index
    from shoptag.indexing.manifest import Manifest
    from shoptag.indexing.versions import IndexFolder

    index = index_folder(index, data, name, old_index, "the index folder as an argument")
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
    echo_report({"index": str(index), "version": current.parent, "rolled_back_from": current.version})


@index_app.command("compact")
def compact(index: IndexOpt = None, data: DataOpt = None, name: NameOpt = None, keep: KeepOpt = None) -> None:
    """Rewrite the current version as one segment: what edits removed is dropped, and the search
    index is built over the whole catalog (as a build does, without embedding anything)."""
    from shoptag.indexing.store import CatalogIndex
    from shoptag.indexing.writer import compact_index

    index = index_folder(index, data, name)
    settings = catalog_settings(None, None, None, keep, None, None, index=index)
    before = CatalogIndex.read(index)
    after = compact_index(before, settings.index.keep)
    echo_report({"index": str(index), "version": after.version, "previous_version": before.version,
                 "type": after.manifest.index_type, "segments": {"before": len(before.placed), "after": 1},
                 "products": after.manifest.products, "images": after.manifest.images})


@index_app.command("verify", cls=_Command)
def verify(old_index: OldIndexArg = None, index: IndexOpt = None, data: DataOpt = None, name: NameOpt = None) -> None:
    """Check file hashes, counts, and that every FAISS id maps to a product and back."""
    from shoptag.indexing.inspect import verify_index

    index = index_folder(index, data, name, old_index, "the index folder as an argument")
    problems = verify_index(index)
    echo_report({"index": str(index), "ok": not problems, "problems": problems})
    if problems:
        raise IndexLoadError(f"index {index} failed verification: {problems[0]}")


@index_app.command("stats", cls=_Command)
def stats(
    old_index: OldIndexArg = None, index: IndexOpt = None, data: DataOpt = None, name: NameOpt = None,
    sample: Annotated[int, typer.Option("--sample", min=1, help="Queries for the recall measurement.")] = 200,
) -> None:
    """Sizes, versions, and search recall@10 against exact search (approximate indexes)."""
    from shoptag.indexing.inspect import index_stats

    echo_report(index_stats(index_folder(index, data, name, old_index, "the index folder as an argument"),
                            sample=sample))
