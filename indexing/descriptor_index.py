"""A FAISS index over the local descriptors of every catalog image, so a frame's own
descriptors can vote for the products they come from.

The embedding ranks products by how the whole region looks; at catalog scale the right
product is often not among its first few (a small product, a busy frame, hundreds of similar
looking ones). Descriptor votes look at the product's own details instead, and their cost
grows with the probed lists, not the catalog: an inverted file of 8-bit quantised
descriptors, about 4·√n lists of which a fixed number are probed, so a 10× larger catalog costs
about √10× more per frame (``scripts/benchmark_candidates.py``). Built when a version is
written and stored with it (``descriptors.faiss``): training it took over a second of every
start-up when it was built on load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from shoptag.indexing.local_features import LocalFeatures

# Per image, at most this many descriptors vote (taken evenly from every scale), so memory
# stays bounded at about 32 KB an image (10,000 products: 330 MB).
VOTING_DESCRIPTORS = 256
_PROBES = 8
_TRAINING_MIN = 100_000
_NEIGHBOURS = 4
# Lowe's ratio test, against the nearest descriptor of another product: a product's own
# descriptors at several scales are often each other's nearest neighbours.
_RATIO = 0.8


class DescriptorIndex:
    def __init__(self, index: faiss.Index | None, owners: np.ndarray) -> None:
        self._index = index
        self._owners = owners  # descriptor row -> product position

    @classmethod
    def build(cls, features: Sequence[LocalFeatures], image_products: Sequence[int]) -> DescriptorIndex:
        """``image_products[i]``: the position of the product that image ``i`` belongs to."""
        rows, owners = _voting_rows(features, image_products)
        if not len(owners):
            return cls(None, owners)
        data = np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)
        lists = int(min(16384, max(1, 4 * math.sqrt(len(data)))))
        lists = min(lists, max(1, len(data) // 39))  # FAISS wants ~39 training points per list
        index = faiss.index_factory(data.shape[1], f"IVF{lists},SQ8", faiss.METRIC_L2)
        # k-means on a sample: enough points per list, and bounded so a large catalog builds in seconds.
        size = min(len(data), max(_TRAINING_MIN, 64 * lists))
        sample = data if size == len(data) else data[np.random.default_rng(0).choice(len(data), size, replace=False)]
        index.train(sample)
        index.add(data)
        return cls(index, owners)

    @classmethod
    def read(cls, path: Path, features: Sequence[LocalFeatures], image_products: Sequence[int]) -> DescriptorIndex:
        """The index ``write`` saved for these features; ``ValueError`` where it does not fit them."""
        _, owners = _voting_rows(features, image_products)
        index = faiss.read_index(str(path)) if len(owners) else None
        if index is not None and (index.ntotal != len(owners) or index.d != 128):
            raise ValueError(f"descriptor index holds {index.ntotal} descriptors of dim {index.d}, "
                             f"the features give {len(owners)} of dim 128")
        return cls(index, owners)

    def write(self, path: Path) -> None:
        """An empty file where there is no descriptor to index (``read`` then expects none)."""
        if self._index is None:
            path.write_bytes(b"")
        else:
            faiss.write_index(self._index, str(path))

    def votes(self, descriptors: np.ndarray) -> dict[int, int]:
        """Product position -> how many of the frame's descriptors have their distinctive
        nearest catalog descriptor (ratio test) in that product's images."""
        if self._index is None or len(descriptors) == 0 or self._index.ntotal < 2:
            return {}
        distances, neighbours = self.nearest(descriptors, _NEIGHBOURS)
        found = neighbours[:, 0] >= 0
        distances, neighbours = distances[found], neighbours[found]
        owners = np.where(neighbours >= 0, self._owners[neighbours], -1)
        other = (owners != owners[:, :1]) & (neighbours >= 0)
        rival = np.where(other.any(axis=1), distances[np.arange(len(owners)), other.argmax(axis=1)], np.inf)
        distinctive = distances[:, 0] < _RATIO ** 2 * rival
        products, counts = np.unique(owners[distinctive, 0], return_counts=True)
        return dict(zip(products.tolist(), counts.tolist(), strict=True))

    def nearest(self, descriptors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(squared distances, descriptor rows), each (n, k), of the approximate nearest catalog
        descriptors (row -1 where fewer were found)."""
        return self._index.search(np.ascontiguousarray(descriptors, dtype=np.float32), k,
                                  params=faiss.SearchParametersIVF(nprobe=_PROBES))


def _voting_rows(features: Sequence[LocalFeatures],
                 image_products: Sequence[int]) -> tuple[list[np.ndarray], np.ndarray]:
    """The descriptors that vote, per image, and the product position of each."""
    rows, owners = [], []
    for image_features, product in zip(features, image_products, strict=True):
        descriptors = image_features.descriptors
        if len(descriptors) > VOTING_DESCRIPTORS:
            descriptors = descriptors[np.linspace(0, len(descriptors) - 1, VOTING_DESCRIPTORS).astype(int)]
        rows.append(descriptors)
        owners.append(np.full(len(descriptors), product, np.int64))
    return rows, np.concatenate(owners) if owners else np.zeros(0, np.int64)
