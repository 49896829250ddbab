"""Catalogs in, searchable index folders out: readers, safe image loading, FAISS, manifests."""

from shoptag.indexing.catalog import Catalog, Product, Skipped, read_catalog
from shoptag.indexing.edits import remove_product, upsert_product
from shoptag.indexing.store import BuildReport, CatalogIndex, IndexedImage, IndexedProduct, build_index

__all__ = [
    "BuildReport", "Catalog", "CatalogIndex", "IndexedImage", "IndexedProduct", "Product", "Skipped",
    "build_index", "read_catalog", "remove_product", "upsert_product",
]
