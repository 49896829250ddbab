"""``shoptag catalog sync``: bring an index up to date with a Shopify shop, through the Admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from shoptag.cli.common import ModelOpt, ThreadsOpt, catalog_settings, echo_report, embedder_for
from shoptag.cli.index import (
    AllowHostOpt,
    CacheOpt,
    DataOpt,
    KeepOpt,
    NameOpt,
    ReportOpt,
    ShopUrlOpt,
    StatusOpt,
    index_folder,
)
from shoptag.cli.progress import progress

catalog_app = typer.Typer(no_args_is_help=True, help="Catalogs read from a shop.")


@catalog_app.command("sync")
def sync(
    shop: Annotated[str, typer.Option("--shop", help="The shop's SHOP.myshopify.com domain.")],
    index: Annotated[Optional[Path], typer.Option(
        "--index", show_default=False, help="Index folder: updated, or built when it has no version (or --data "
        "and --name).")] = None,
    data: DataOpt = None, name: NameOpt = None,
    shop_url: ShopUrlOpt = None, status: StatusOpt = None, report_file: ReportOpt = None,
    model: ModelOpt = None, threads: ThreadsOpt = None, allow_host: AllowHostOpt = None, cache_dir: CacheOpt = None,
    keep: KeepOpt = None,
) -> None:
    """Read the shop's products (SHOPTAG_SHOPIFY__ACCESS_TOKEN) and re-index what changed; an
    interrupted sync goes on where it stopped. Product ids are handles, as in the CSV import."""
    from shoptag.indexing.images import ImageReader
    from shoptag.indexing.shopify import DEFAULT_STATUSES
    from shoptag.indexing.shopify_admin import AdminClient
    from shoptag.indexing.shopify_sync import read_shop
    from shoptag.indexing.update import update_index
    from shoptag.indexing.versions import IndexFolder
    from shoptag.indexing.writer import build_index
    from shoptag.tagging.calibration import background_bank

    index = index_folder(index, data, name)
    exists = index.is_dir() and IndexFolder(index).current_name() is not None
    settings = catalog_settings(None if exists else model, threads, None, keep, allow_host, cache_dir,
                                 index=index if exists else None)
    with AdminClient(shop, settings.shopify) as client:
        shop_catalog = read_shop(client, index, settings.shopify.bulk_above,
                                 tuple(status) if status else DEFAULT_STATUSES, shop_url)
    products = shop_catalog.catalog
    embedder = embedder_for(settings)
    reader = ImageReader(settings.images, settings.fetch)
    with progress(sum(len(p.images) for p in products.products), "checking images") as advance:
        if exists:
            written = update_index(products, embedder, index, reader, None, settings.index.keep, on_image=advance,
                                   keep_on_failure=True).as_json()
        else:
            report = build_index(products, embedder, index, reader, settings.index.type, settings.index.keep,
                                 on_image=advance, bank=background_bank(embedder, settings))
            written = {"index": str(report.path), "version": report.version, "built": True,
                       "products": report.products, "images": report.images,
                       "skipped": [{"where": s.where, "reason": s.reason} for s in report.skipped]}
    shop_catalog.written()
    echo_report({"shop": client.shop, "read": {"mode": shop_catalog.mode, "resumed": shop_catalog.resumed,
                                         "products": len(products.products), "seconds": round(shop_catalog.read_s, 3)},
           **written}, report_file)
