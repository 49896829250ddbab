"""Several loaded parts searched as one: the segments of one index version (``indexing.segments``)
or several catalogs' versions (``indexing.catalog_set``). Image ids of the parts are laid side
by side (a part's ids moved past the parts before it); each part's own vector and descriptor
index answers and the answers are merged, so nothing is rebuilt, retrained or copied.

A part may have left-out products (a segment's products that later versions removed or
replaced): their images are never found, and their votes are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from shoptag.indexing.records import Background

# (scores, ids), each (n, k), of a part's ``k`` nearest images to each query; id -1: none.
ImageSearch = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


class JoinedVectors:
    """Each part's top ``k`` images, their ids moved past the parts before, best ``k`` kept."""

    def __init__(self, parts: Sequence[tuple[ImageSearch, int]]) -> None:
        self._parts = tuple(parts)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = [], []
        for search, start in self._parts:
            found_scores, found_ids = search(queries, k)
            scores.append(found_scores)
            ids.append(np.where(found_ids >= 0, found_ids + start, -1))
        scores, ids = np.concatenate(scores, axis=1), np.concatenate(ids, axis=1)
        scores = np.where(ids >= 0, scores, -np.inf)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, best, axis=1), np.take_along_axis(ids, best, axis=1)


class JoinedRows:
    """The parts' image vectors by joined image id, read from each part's own (memory-mapped)
    rows when asked for: joining costs no copy of the vectors."""

    def __init__(self, parts: Sequence[np.ndarray], dim: int) -> None:
        self._parts = tuple(parts)
        self._starts = tuple(np.cumsum([0, *(len(rows) for rows in parts)]).tolist())
        self._dim = dim

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, ids) -> np.ndarray:
        if isinstance(ids, (int, np.integer)):
            return self[[ids]][0]
        ids = np.asarray(ids, dtype=np.int64)
        part_of = np.searchsorted(self._starts, ids, side="right") - 1
        rows = np.empty((len(ids), self._dim), np.float32)
        for part in np.unique(part_of):
            chosen = part_of == part
            rows[chosen] = self._parts[part][ids[chosen] - self._starts[part]]
        return rows


class Voter(Protocol):
    """What a descriptor index offers a joined one: product position -> votes."""

    def votes(self, descriptors: np.ndarray) -> dict[int, int]: ...


class JoinedVotes:
    """Each part's descriptor votes (a descriptor is distinctive within its own part), their
    product positions mapped to joined ones (``positions[local]``; -1: left out)."""

    def __init__(self, parts: Sequence[tuple[Voter | None, np.ndarray]]) -> None:
        self._parts = tuple(parts)

    def votes(self, descriptors: np.ndarray) -> dict[int, int]:
        joined: dict[int, int] = {}
        for voter, positions in self._parts:
            for product, count in (voter.votes(descriptors) if voter is not None else {}).items():
                if positions[product] >= 0:
                    joined[int(positions[product])] = count
        return joined


def joined_background(parts: Sequence[tuple[Background | None, int]]) -> Background | None:
    """Each image's background score, from (background, images) per part; an image of a part
    built without a bank has none (-inf: no bar beyond the threshold, as for that part alone)."""
    if all(background is None for background, _ in parts):
        return None
    bank = next(background.bank for background, _ in parts if background is not None)
    scores = [background.image_scores if background is not None else np.full(images, -np.inf, np.float32)
              for background, images in parts]
    return Background(bank, np.concatenate(scores).astype(np.float32))
