"""Several catalogs' loaded versions searched as one, for a creator who tags against every
shop they work with: products, image ids and vectors side by side, each part's own vector
and descriptor index asked and their answers merged, so nothing is rebuilt or retrained."""

from __future__ import annotations

import bisect
import dataclasses
import logging
from collections.abc import Sequence

import numpy as np

from shoptag.indexing.records import Background
from shoptag.indexing.store import CatalogIndex

logger = logging.getLogger(__name__)


class CatalogSet(CatalogIndex):
    """Immutable like its parts, and as a whole only as new as they are: callers build a new set
    when a part has a new version. Product ids may repeat across catalogs; positions do not,
    and ``catalog_of`` names a position's catalog (``product(id)`` is not for sets)."""

    def __init__(self, parts: Sequence[CatalogIndex]) -> None:
        if len(parts) < 2:
            raise ValueError("a catalog set joins at least two catalogs")
        self.parts = tuple(parts)
        self._product_starts = np.cumsum([0, *(len(p.products) for p in parts)]).tolist()
        image_starts = np.cumsum([0, *(p.manifest.images for p in parts)]).tolist()
        products = [product.model_copy(update={"images": tuple(
                        image.model_copy(update={"id": image.id + start}) for image in product.images)})
                    for part, start in zip(parts, image_starts, strict=False) for product in part.products]
        first = parts[0].manifest
        manifest = dataclasses.replace(
            first, version="+".join(f"{p.name}:{p.version}" for p in parts), parent=None, files={},
            created=max(p.manifest.created for p in parts), products=len(products), images=image_starts[-1])
        features = None
        if all(p.features is not None for p in parts):
            features = [f for p in parts for f in p.features]
        else:
            logger.warning("catalogs without local features (%s): the set is matched by embeddings alone",
                           ", ".join(p.name for p in parts if p.features is None))
        super().__init__(parts[0].path.parent, parts[0].version_dir, manifest,
                         _JoinedVectors(parts, image_starts), products, _JoinedRows(parts, image_starts), features,
                         _joined_background(parts),
                         _JoinedVotes(parts, self._product_starts) if features is not None else None)

    def catalog_of(self, position: int) -> str:
        return self.parts[bisect.bisect_right(self._product_starts, position) - 1].name


class _JoinedVectors:
    """Each part's top ``k`` images, their ids moved past the parts before, best ``k`` kept."""

    def __init__(self, parts: Sequence[CatalogIndex], image_starts: Sequence[int]) -> None:
        self._parts = tuple(zip(parts, image_starts, strict=False))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = [], []
        for part, start in self._parts:
            found_scores, found_ids = part.nearest_images(queries, k)
            scores.append(found_scores)
            ids.append(np.where(found_ids >= 0, found_ids + start, -1))
        scores, ids = np.concatenate(scores, axis=1), np.concatenate(ids, axis=1)
        scores = np.where(ids >= 0, scores, -np.inf)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, best, axis=1), np.take_along_axis(ids, best, axis=1)


class _JoinedRows:
    """The parts' image vectors by joined image id, read from each part's own (memory-mapped)
    rows when asked for: a set costs no copy of its catalogs' vectors."""

    def __init__(self, parts: Sequence[CatalogIndex], image_starts: Sequence[int]) -> None:
        self._parts = tuple(parts)
        self._starts = tuple(image_starts)

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, ids) -> np.ndarray:
        if isinstance(ids, (int, np.integer)):
            return self[[ids]][0]
        ids = np.asarray(ids, dtype=np.int64)
        part_of = np.searchsorted(self._starts, ids, side="right") - 1
        rows = np.empty((len(ids), self._parts[0].manifest.dim), np.float32)
        for part in np.unique(part_of):
            chosen = part_of == part
            rows[chosen] = self._parts[part].embeddings[ids[chosen] - self._starts[part]]
        return rows


class _JoinedVotes:
    """Each part's descriptor votes (a descriptor is distinctive within its own catalog), their
    product positions moved past the parts before."""

    def __init__(self, parts: Sequence[CatalogIndex], product_starts: Sequence[int]) -> None:
        self._parts = tuple(zip(parts, product_starts, strict=False))

    def votes(self, descriptors: np.ndarray) -> dict[int, int]:
        joined: dict[int, int] = {}
        for part, start in self._parts:
            votes = part.descriptors.votes(descriptors) if part.descriptors is not None else {}
            joined.update((product + start, count) for product, count in votes.items())
        return joined


def _joined_background(parts: Sequence[CatalogIndex]) -> Background | None:
    """Each image's background score; an image of a catalog built without a bank has none
    (-inf: no bar beyond the threshold, as for that catalog alone)."""
    if all(p.background is None for p in parts):
        return None
    bank = next(p.background.bank for p in parts if p.background is not None)
    scores = [p.background.image_scores if p.background is not None else np.full(p.manifest.images, -np.inf, np.float32)
              for p in parts]
    return Background(bank, np.concatenate(scores).astype(np.float32))
