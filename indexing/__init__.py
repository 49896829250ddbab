"""Catalogs in, searchable index folders out: readers, safe image loading, FAISS, manifests."""

from shoptag.indexing.catalog import Catalog, Product, Skipped, read_catalog
from shoptag.indexing.store import BuildReport, CatalogIndex, build_index

__all__ = ["BuildReport", "Catalog", "CatalogIndex", "Product", "Skipped", "build_index", "read_catalog"]
