"""The catalogs a service answers from, and who may use which.

A service serves one index folder (``--index``: one catalog, named by its folder) or a data
folder of named catalogs (``--data``: ``<data>/<catalog>``, each an index folder). A data
folder's catalogs load on first use and at most ``max_loaded_catalogs`` stay loaded, the least
recently used let go first: a request keeps the snapshot it took, so letting a catalog go never
disturbs one, and a catalog built or synced while the service runs is found on its first use.

Access: a key names its catalogs (``ApiKey.catalogs``, ``*`` for all); a catalog a key may not
use is answered exactly like one that does not exist (404), so keys learn nothing of other
merchants' catalogs.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shoptag.api.auth import Principal
from shoptag.api.live_index import LiveIndex
from shoptag.api.product_images import ProductImages
from shoptag.api.uploads import private_folder
from shoptag.errors import ConfigError, NotFoundError
from shoptag.indexing.catalog_set import CatalogSet
from shoptag.indexing.data_folder import catalog_folder, catalog_names, valid_catalog_name
from shoptag.indexing.images import ImageReader
from shoptag.indexing.store import CatalogIndex
from shoptag.model.base import Embedder
from shoptag.settings import Settings

logger = logging.getLogger(__name__)

_SETS_CACHED = 8


@dataclass(frozen=True)
class Catalog:
    name: str
    live: LiveIndex
    photos: ProductImages  # the photos uploaded for its products


class Catalogs:
    def __init__(self, settings: Settings, embedder: Embedder, reader: ImageReader, photos_folder: Path) -> None:
        """``photos_folder``: where uploaded product photos are kept (one subfolder per catalog
        of a data folder)."""
        config = settings.service
        self._settings = settings
        self._embedder = embedder
        self._reader = reader
        self._photos_folder = photos_folder
        self.data_dir = config.data_dir
        self._single = None if config.index is None else config.index
        self._limit = config.max_loaded_catalogs
        self._lock = threading.Lock()  # guards the two caches and the per-name load locks
        self._loaded: OrderedDict[str, Catalog] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        # Photo bookkeeping outlives a catalog let go: a request may still hold its photos.
        self._photos: dict[str, ProductImages] = {}
        self._sets: OrderedDict[tuple[tuple[str, str], ...], CatalogSet] = OrderedDict()

    @property
    def single(self) -> str | None:
        """The one catalog's name, for a service of one index; None for a data folder."""
        return None if self._single is None else self._single.name

    def names(self) -> list[str]:
        """Every catalog served now (blocking: lists the data folder)."""
        return [self.single] if self.single is not None else catalog_names(self.data_dir)

    def loaded(self) -> list[Catalog]:
        with self._lock:
            return list(self._loaded.values())

    def get(self, name: str) -> Catalog:
        """The catalog ``name``, loaded first if it is not (blocking); ``NotFoundError`` when
        there is none."""
        with self._lock:
            catalog = self._loaded.get(name)
            if catalog is not None:
                self._loaded.move_to_end(name)
                return catalog
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:  # one load per catalog at a time; others wait for it
            with self._lock:
                catalog = self._loaded.get(name)
            if catalog is None:
                catalog = self._load(name)
            with self._lock:
                self._loaded[name] = catalog
                self._loaded.move_to_end(name)
                while len(self._loaded) > self._limit:
                    evicted, _ = self._loaded.popitem(last=False)
                    logger.info("catalog %s let go (more than %d loaded)", evicted, self._limit)
                self._loading.pop(name, None)
            return catalog

    def _load(self, name: str) -> Catalog:
        folder = self._folder(name)
        index = CatalogIndex.load(folder, self._embedder)
        with self._lock:
            photos = self._photos.get(name)
        if photos is None:
            photos_folder = self._photos_folder if self.single is not None else self._photos_folder / name
            photos = ProductImages(private_folder(photos_folder), folder)
            photos.remove_unlisted()
            with self._lock:
                photos = self._photos.setdefault(name, photos)
        logger.info("catalog %s loaded: %d products, index version %s", name, len(index.products), index.version)
        return Catalog(name, LiveIndex(index, self._embedder, self._reader, self._settings.index.keep), photos)

    def _folder(self, name: str) -> Path:
        if self.single is not None:
            if name != self.single:
                raise NotFoundError(f"catalog {name[:80]!r} not found")
            return self._single
        if not valid_catalog_name(name) or not (catalog_folder(self.data_dir, name) / "current").exists():
            raise NotFoundError(f"catalog {name[:80]!r} not found")
        return catalog_folder(self.data_dir, name)

    def snapshot(self, names: Sequence[str]) -> CatalogIndex:
        """One consistent view of the named catalogs (blocking): the one catalog's snapshot, or
        the set of theirs (built once per combination of their versions)."""
        parts = [self.get(name).live.snapshot() for name in names]
        if len(parts) == 1:
            return parts[0]
        key = tuple((part.name, part.version) for part in parts)
        with self._lock:
            joined = self._sets.get(key)
            if joined is not None:
                self._sets.move_to_end(key)
                return joined
        joined = CatalogSet(parts)
        with self._lock:
            self._sets[key] = joined
            while len(self._sets) > _SETS_CACHED:
                self._sets.popitem(last=False)
        return joined

    # Who may use which

    def usable(self, principal: Principal) -> list[str]:
        """The catalogs served now that ``principal`` may use (blocking)."""
        served = self.names()
        return served if principal.catalogs is None else [name for name in served if name in principal.catalogs]

    def one(self, principal: Principal, name: str | None) -> Catalog:
        """The catalog a product request names (``name``), or without a name the one catalog the
        key may use (blocking)."""
        if name is None:
            usable = self.usable(principal)
            if len(usable) != 1:
                raise (NotFoundError("this API key may use no catalog") if not usable else ConfigError(
                    f"this API key may use {len(usable)} catalogs: name one, /v1/catalogs/{{catalog}}/..."))
            name = usable[0]
        elif principal.catalogs is not None and name not in principal.catalogs:
            raise NotFoundError(f"catalog {name[:80]!r} not found")
        return self.get(name)

    def chosen(self, principal: Principal, requested: Sequence[str] | None) -> list[str]:
        """The catalogs a tagging request or a search asks for (default: every one the key may
        use), each checked (blocking)."""
        limit = self._settings.service.max_catalogs_per_request
        if requested is None:
            names = self.usable(principal)
            if not names:
                raise NotFoundError("this API key may use no catalog")
            if len(names) > limit:
                raise ConfigError(f"this API key may use {len(names)} catalogs; name at most {limit} with 'catalogs'")
            return names
        names = list(dict.fromkeys(requested))
        if len(names) > limit:
            raise ConfigError(f"at most {limit} catalogs may be searched at once ({len(names)} named)")
        for name in names:
            if principal.catalogs is not None and name not in principal.catalogs:
                raise NotFoundError(f"catalog {name[:80]!r} not found")
            self._folder(name)
        return names


def check_keys(settings: Settings) -> None:
    """A service of many catalogs refuses keys that name none: every key is scoped on purpose."""
    config = settings.service
    if config.data_dir is None:
        return
    unscoped = [key.name or f"#{number}" for number, key in enumerate(config.api_keys, 1) if not key.catalogs]
    if unscoped:
        raise ConfigError(f"API key {unscoped[0]} names no catalogs: a service of many catalogs needs each key's "
                          "catalogs (\"catalogs\": [\"NAME\", ...], or [\"*\"] for every one)")


def catalog_of_shop(settings: Settings, shop: str) -> str | None:
    """The catalog that a shop's webhooks change: of a data folder, the one ``shop_catalogs``
    maps it to; of one index, that one, for the configured ``shop`` or, without one, any shop.
    None: the shop's webhooks are ignored. (Known before the catalogs load: webhooks are queued
    meanwhile.)"""
    shopify, shop = settings.shopify, shop.lower()
    if settings.service.index is None:
        return shopify.shop_catalogs.get(shop)
    return settings.service.index.name if shopify.shop in (None, shop) else None
