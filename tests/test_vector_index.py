"""The FAISS part of an index, built from factory strings and recognised by them. Versions
written before the factory strings (hand-assembled IndexIDMap2 indexes, saved with
faiss.write_index) must read back as the same kind, and the factory must build exactly what
that code built (same parameters, same bytes)."""

import math

import faiss
import numpy as np
import pytest

from shoptag.errors import IndexLoadError
from shoptag.indexing.records import Entry, ImageVector, Product
from shoptag.indexing.segment_files import VECTORS_NAME
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.vectors import VectorIndex, factory_string
from shoptag.indexing.writer import ModelRef, write_version

from helpers.index_files import craft

COUNT, DIM = 1200, 32  # enough images for ivfpq


def vectors() -> np.ndarray:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(COUNT, DIM)).astype(np.float32)
    faiss.normalize_L2(data)
    return data


def hand_built(kind: str, data: np.ndarray) -> faiss.Index:
    """The index as ShopTag assembled it class by class before factory strings."""
    count, dim = data.shape
    if kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 80
    else:
        lists = max(1, min(int(4 * math.sqrt(count)), count // 39))
        bits = min(8, max(4, int(math.log2(count / 39))))
        parts = max(m for m in range(1, 65) if dim % m == 0 and dim // m >= 8 or m == 1)
        inner = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, lists, parts, bits, faiss.METRIC_INNER_PRODUCT)
        inner.train(data)
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(data, np.arange(count, dtype=np.int64))
    return index


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_the_factory_builds_what_the_hand_built_index_was(tmp_path, kind):
    data = vectors()
    built = VectorIndex.build(data, np.arange(COUNT, dtype=np.int64), kind)
    assert built.kind == kind
    path = tmp_path / "new.faiss"
    built.write(path)
    assert np.array_equal(np.fromfile(path, np.uint8), faiss.serialize_index(hand_built(kind, data)))


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_indexes_saved_before_factory_strings_read_back_as_their_kind(tmp_path, kind):
    data = vectors()
    faiss.write_index(hand_built(kind, data), str(tmp_path / VECTORS_NAME))
    loaded = VectorIndex.read(tmp_path / VECTORS_NAME)
    assert loaded.kind == kind and (loaded.size, loaded.dim) == (COUNT, DIM)
    assert np.array_equal(np.sort(loaded.ids()), np.arange(COUNT))
    scores, ids = loaded.search(data[:5], 3)
    assert ids.shape == (5, 3) and (kind == "ivfpq" or ids[:, 0].tolist() == list(range(5)))


def test_factory_strings_follow_the_catalog_size():
    assert factory_string("flat", 50, 1280) == "IDMap2,Flat"
    assert factory_string("hnsw", 50_000, 1280) == "IDMap2,HNSW32"
    assert factory_string("ivfpq", 100_000, 1280) == "IDMap2,IVF316,PQ64x8np"
    assert factory_string("ivfpq", 1_000, 512) == "IDMap2,IVF25,PQ64x4np"


def scalar_quantised(data: np.ndarray) -> faiss.Index:
    index = faiss.index_factory(data.shape[1], "IDMap2,SQ8", faiss.METRIC_INNER_PRODUCT)
    index.train(data)
    index.add_with_ids(data, np.arange(len(data), dtype=np.int64))
    return index


def bare_flat(data: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(data.shape[1])  # no id map
    index.add(data)
    return index


@pytest.mark.parametrize("make", [bare_flat, scalar_quantised])
def test_an_index_of_no_known_kind_is_refused_on_load(tmp_path, make):
    data = vectors()[:30]
    entries = [Entry(Product(f"p{i}", f"P{i}", (f"p{i}.jpg",)), (ImageVector(f"p{i}.jpg", f"{i:064x}", v),))
               for i, v in enumerate(data)]
    write_version(tmp_path / "index", ModelRef("synthetic", "synthetic@0", DIM), entries, "flat")
    faiss.write_index(make(data), str(tmp_path / VECTORS_NAME))
    with pytest.raises(IndexLoadError, match="unsupported FAISS index"):
        craft(tmp_path / "index", VECTORS_NAME, (tmp_path / VECTORS_NAME).read_bytes())
        CatalogIndex.read(tmp_path / "index")
