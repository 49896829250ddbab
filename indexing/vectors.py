"""The FAISS part of an index: inner-product search over L2-normalised vectors with 64-bit
ids (one id per catalog image), exact or approximate.

- ``flat``: exact; search cost grows linearly with the catalog.
- ``hnsw``: graph search; near-exact recall, memory of the full vectors plus links.
- ``ivfpq``: inverted lists over product-quantised codes; far less memory, lower recall.
- ``auto``: ``flat`` below ``AUTO_APPROXIMATE_FROM`` images, ``hnsw`` from there (see the
  README's index-type table for the measurement behind the number).

Search parameters (efSearch, nprobe) are passed with each call, never set on the shared
index, so concurrent searches cannot change each other's settings.
"""

from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np

from shoptag.errors import IndexBuildError

METRIC = "inner_product"
INDEX_TYPES = ("auto", "flat", "hnsw", "ivfpq")
AUTO_APPROXIMATE_FROM = 10_000
IVFPQ_MIN_IMAGES = 1_000
_HNSW_LINKS = 32
_HNSW_EF_CONSTRUCTION = 80
_HNSW_EF_SEARCH = 64
_IVF_NPROBE = 16


def resolve_type(index_type: str, count: int) -> str:
    if index_type not in INDEX_TYPES:
        raise IndexBuildError(f"unknown index type {index_type!r}; use one of {', '.join(INDEX_TYPES)}")
    if index_type == "auto":
        return "flat" if count < AUTO_APPROXIMATE_FROM else "hnsw"
    return index_type


class VectorIndex:
    def __init__(self, index: faiss.Index) -> None:
        self._index = index
        inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
        self.kind = ("hnsw" if isinstance(inner, faiss.IndexHNSW) else
                     "ivfpq" if isinstance(inner, faiss.IndexIVF) else "flat")

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, kind: str = "flat") -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        count, dim = vectors.shape
        match resolve_type(kind, count):
            case "flat":
                inner = faiss.IndexFlatIP(dim)
            case "hnsw":
                inner = faiss.IndexHNSWFlat(dim, _HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
                inner.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
            case "ivfpq":
                if count < IVFPQ_MIN_IMAGES:
                    raise IndexBuildError(f"ivfpq needs at least {IVFPQ_MIN_IMAGES} images to train on; "
                                          f"this catalog has {count}: use flat or hnsw")
                inner = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, _ivf_lists(count), _pq_parts(dim),
                                         _pq_bits(count), faiss.METRIC_INNER_PRODUCT)
                inner.train(vectors)
        built = cls(faiss.IndexIDMap2(inner))
        built.add(vectors, ids)
        return built

    @classmethod
    def read(cls, path: Path) -> VectorIndex:
        return cls(faiss.read_index(str(path)))

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))

    def write(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @property
    def dim(self) -> int:
        return self._index.d

    @property
    def size(self) -> int:
        return self._index.ntotal

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(faiss.downcast_index(self._index).id_map).astype(np.int64)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n, k); missing neighbours have id -1."""
        k = max(1, min(k, self.size))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        match self.kind:
            case "hnsw":
                params = faiss.SearchParametersHNSW(efSearch=max(_HNSW_EF_SEARCH, 2 * k))
            case "ivfpq":
                params = faiss.SearchParametersIVF(nprobe=_IVF_NPROBE)
            case _:
                params = None
        return self._index.search(queries, k, params=params)


def _ivf_lists(count: int) -> int:
    # About 4·sqrt(n) lists, with at least ~39 training points per list (FAISS's guidance).
    return max(1, min(int(4 * math.sqrt(count)), count // 39))


def _pq_bits(count: int) -> int:
    # 2**bits centroids per sub-quantiser want ~39 training points each.
    return min(8, max(4, int(math.log2(count / 39))))


def _pq_parts(dim: int) -> int:
    """Sub-quantisers: the largest divisor of ``dim`` up to 64 (8-bit codes, ≥ 8 dims each)."""
    return max(m for m in range(1, 65) if dim % m == 0 and dim // m >= 8 or m == 1)
