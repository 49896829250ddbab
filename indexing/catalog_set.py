"""Several catalogs' loaded versions searched as one, for a creator who tags against every
shop they work with: products, image ids and vectors side by side, each part's own vector
and descriptor index asked and their answers merged (``indexing.joined``), so nothing is
rebuilt or retrained."""

from __future__ import annotations

import bisect
import dataclasses
import logging
from collections.abc import Sequence

import numpy as np

from shoptag.indexing.joined import JoinedRows, JoinedVectors, JoinedVotes, joined_background
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
        # A part's image ids run over its every stored vector, those of products its later
        # versions left out included (``len(embeddings)``, not its manifest's image count).
        image_starts = np.cumsum([0, *(len(p.embeddings) for p in parts)]).tolist()
        products = [product.model_copy(update={"images": tuple(
                        image.model_copy(update={"id": image.id + start}) for image in product.images)})
                    for part, start in zip(parts, image_starts, strict=False) for product in part.products]
        first = parts[0].manifest
        manifest = dataclasses.replace(
            first, version="+".join(f"{p.name}:{p.version}" for p in parts), parent=None, files={},
            created=max(p.manifest.created for p in parts), products=len(products),
            images=sum(p.manifest.images for p in parts))
        features = None
        if all(p.features is not None for p in parts):
            features = [f for p in parts for f in p.features]
        else:
            logger.warning("catalogs without local features (%s): the set is matched by embeddings alone",
                           ", ".join(p.name for p in parts if p.features is None))
        votes = JoinedVotes([(p.descriptors, np.arange(len(p.products)) + start)
                             for p, start in zip(parts, self._product_starts, strict=False)])
        super().__init__(parts[0].path.parent, parts[0].version_dir, manifest,
                         JoinedVectors([(p.nearest_images, start) for p, start in zip(parts, image_starts,
                                                                                         strict=False)]),
                         products, JoinedRows([p.embeddings for p in parts], first.dim), features,
                         joined_background([(p.background, len(p.embeddings)) for p in parts]),
                         votes if features is not None else None)

    def catalog_of(self, position: int) -> str:
        return self.parts[bisect.bisect_right(self._product_starts, position) - 1].name
