"""Several catalogs' loaded versions searched as one, for a creator who tags against every
shop they work with: the versions joined as any view is (``catalog_view.join_views``), so
nothing is rebuilt or retrained."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shoptag.indexing.catalog_view import CatalogView, join_views
from shoptag.indexing.store import CatalogIndex

logger = logging.getLogger(__name__)


class CatalogSet(CatalogView):
    """Immutable like its parts, and as a whole only as new as they are: callers build a new set
    when a part has a new version. Product ids may repeat across catalogs; positions do not,
    and ``catalog_of`` names a position's catalog (``product(id)`` is not for sets)."""

    def __init__(self, parts: Sequence[CatalogIndex]) -> None:
        if len(parts) < 2:
            raise ValueError("a catalog set joins at least two catalogs")
        self.parts = tuple(parts)
        self.path = parts[0].path.parent
        self.version = "+".join(f"{p.name}:{p.version}" for p in parts)
        self.created = max(p.created for p in parts)
        if any(p.features is None for p in parts):
            logger.warning("catalogs without local features (%s): the set is matched by embeddings alone",
                           ", ".join(p.name for p in parts if p.features is None))
        super().__init__(*join_views([(part, frozenset()) for part in parts], parts[0].manifest.dim)._parts())
