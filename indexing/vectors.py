"""The FAISS part of an index: inner-product search over L2-normalised vectors with 64-bit
ids (one id per catalog image), exact or approximate.

- ``flat``: exact; search cost grows linearly with the catalog.
- ``hnsw``: graph search; near-exact recall, memory of the full vectors plus links.
- ``ivfpq``: inverted lists over product-quantised codes; far less memory, lower recall.
- ``auto``: ``flat`` below ``AUTO_APPROXIMATE_FROM`` images, ``hnsw`` from there (see the
  index-type table in docs/indexes.md for the measurement behind the number).

Each kind is built from its ``faiss.index_factory`` string (``factory_string``), and a loaded
index's kind is told by the string FAISS's ``reverse_index_factory`` gives for it.

Search parameters (efSearch, nprobe, the ids a search must skip) are passed with each call,
never set on the shared index, so concurrent searches cannot change each other's settings.

An ``ivfpq`` index is read with its inverted lists memory-mapped (FAISS's
``OnDiskInvertedLists``): a catalog's compressed codes stay on disk, and only the lists that
searches probe are paged in, so it serves catalogs whose vectors do not fit in memory.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import faiss
import numpy as np
from faiss.contrib.factory_tools import reverse_index_factory

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


# ``faiss.index_factory`` strings. IDMap2 maps FAISS ids to image ids, with the reverse map
# (``ids``); a bare HNSW stores the vectors flat; "np": no polysemous training of the PQ codes
# (search never uses the polysemous filter, so it would only cost training time).
_FACTORY = {"flat": "IDMap2,Flat", "hnsw": "IDMap2,HNSW{links}", "ivfpq": "IDMap2,IVF{lists},PQ{parts}x{bits}np"}
# What ``reverse_index_factory`` says of each kind's index, read back or built.
_KINDS = (("flat", re.compile(r"IDMap2?,Flat")), ("hnsw", re.compile(r"IDMap2?,HNSW\d+(,Flat)?")),
          ("ivfpq", re.compile(r"IDMap2?,IVF\d+,PQ\d+x\d+")))


def factory_string(kind: str, count: int, dim: int) -> str:
    """The ``faiss.index_factory`` string of a ``kind`` index over ``count`` vectors of ``dim``."""
    return _FACTORY[kind].format(links=_HNSW_LINKS, lists=_ivf_lists(count), parts=_pq_parts(dim),
                                 bits=_pq_bits(count))


def kind_of(index: faiss.Index) -> str:
    """The kind (flat, hnsw, ivfpq) of a built or loaded index, from its factory string;
    ValueError for an index none of the kinds builds."""
    try:
        key = reverse_index_factory(index)
    except NotImplementedError:
        key = type(index).__name__
    for kind, pattern in _KINDS:
        if pattern.fullmatch(key):
            return kind
    raise ValueError(f"unsupported FAISS index {key!r}: not one of the kinds {', '.join(_FACTORY)}")


class ExcludedIds:
    """Ids a search must not return (a segment's products that a later version left out)."""

    def __init__(self, ids: list[int]) -> None:
        self._ids = np.asarray(sorted(set(ids)), dtype=np.int64)
        # FAISS keeps pointers only: the batch (and its ids) must live as long as the selector.
        self._batch = faiss.IDSelectorBatch(len(self._ids), faiss.swig_ptr(self._ids))
        self.selector = faiss.IDSelectorNot(self._batch)

    def __len__(self) -> int:
        return len(self._ids)


class VectorIndex:
    def __init__(self, index: faiss.Index) -> None:
        self._index = index
        self.kind = kind_of(index)

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, kind: str = "flat") -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        count, dim = vectors.shape
        kind = resolve_type(kind, count)
        if kind == "ivfpq" and count < IVFPQ_MIN_IMAGES:
            raise IndexBuildError(f"ivfpq needs at least {IVFPQ_MIN_IMAGES} images to train on; "
                                  f"this catalog has {count}: use flat or hnsw")
        index = faiss.index_factory(dim, factory_string(kind, count, dim), faiss.METRIC_INNER_PRODUCT)
        if kind == "hnsw":
            faiss.ParameterSpace().set_index_parameters(index, f"efConstruction={_HNSW_EF_CONSTRUCTION}")
        if not index.is_trained:
            index.train(_training_sample(vectors, _ivf_lists(count)))
        built = cls(index)
        built.add(vectors, ids)
        return built

    @classmethod
    def read(cls, path: Path) -> VectorIndex:
        # IO_FLAG_MMAP maps an IVF index's inverted lists from the file; other kinds are read whole.
        return cls(faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY))

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

    def search(self, queries: np.ndarray, k: int,
               excluded: ExcludedIds | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n, k); missing neighbours have id -1."""
        k = max(1, min(k, self.size))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        selector = excluded.selector if excluded is not None else None
        match self.kind:
            case "hnsw":
                params = faiss.SearchParametersHNSW(efSearch=max(_HNSW_EF_SEARCH, 2 * k), sel=selector)
            case "ivfpq":
                params = faiss.SearchParametersIVF(nprobe=_IVF_NPROBE, sel=selector)
            case _:
                params = faiss.SearchParameters(sel=selector) if selector is not None else None
        return self._index.search(queries, k, params=params)


def _ivf_lists(count: int) -> int:
    # About sqrt(n) lists, with at least ~39 training points per list (FAISS's guidance). 4·sqrt(n)
    # lists trained on every vector would take most of an hour of k-means at 1M on 2 cores; with
    # sqrt(n) and a sample the measured build is in docs/indexes.md's million-vector table.
    return max(1, min(int(math.sqrt(count)), count // 39))


def _training_sample(vectors: np.ndarray, lists: int) -> np.ndarray:
    """What k-means (coarse lists and PQ codebooks) trains on: 64 points per list, at least
    65,536 (the PQ codebooks' 256 centroids each want a few hundred), drawn evenly at random."""
    size = max(64 * lists, 65_536)
    if len(vectors) <= size:
        return vectors
    return vectors[np.sort(np.random.default_rng(0).choice(len(vectors), size, replace=False))]


def _pq_bits(count: int) -> int:
    # 2**bits centroids per sub-quantiser want ~39 training points each.
    return min(8, max(4, int(math.log2(count / 39))))


def _pq_parts(dim: int) -> int:
    """Sub-quantisers: the largest divisor of ``dim`` up to 64 (8-bit codes, ≥ 8 dims each)."""
    return max(m for m in range(1, 65) if dim % m == 0 and dim // m >= 8 or m == 1)
