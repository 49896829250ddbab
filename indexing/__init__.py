"""Catalogs in, searchable index folders out: readers (JSONL, Shopify CSV), safe image
fetching and loading, FAISS, versioned index folders, incremental updates, verification."""

from shoptag.indexing.catalog import Catalog, read_catalog
from shoptag.indexing.edits import remove_product, upsert_product
from shoptag.indexing.images import ImageReader
from shoptag.indexing.inspect import index_stats, verify_index
from shoptag.indexing.records import IndexedImage, IndexedProduct, Product, Skipped
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.update import UpdateReport, update_index
from shoptag.indexing.writer import BuildReport, build_index

__all__ = [
    "BuildReport", "Catalog", "CatalogIndex", "ImageReader", "IndexedImage", "IndexedProduct", "Product",
    "Skipped", "UpdateReport", "build_index", "index_stats", "read_catalog", "remove_product", "update_index",
    "upsert_product", "verify_index",
]
