"""The catalogs a service answers from, and who may use which.

A service serves one index folder (``--index``: one catalog, named by its folder) or a data
folder of named catalogs (``--data``: ``<data>/<catalog>``, each an index folder). A data
folder's catalogs load on first use and at most ``max_loaded_catalogs`` stay loaded, the least
recently used let go first (with every set of catalogs searched together that holds it): a
request keeps the snapshot it took, so letting a catalog go never disturbs one. A catalog built
or synced while the service runs is found on its first use; one removed is no longer served. A
catalog that cannot be loaded (damaged, another model) is unavailable (503) until its current
version changes, and is left out of requests that did not name it, so one merchant's catalog
never stops the others'.

Access: a key names its catalogs (``ApiKey.catalogs``, ``*`` for all); a catalog a key may not
use is answered exactly like one that does not exist (404), so keys learn nothing of other
merchants' catalogs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from shoptag.api.auth import Principal
from shoptag.api.live_index import LiveIndex
from shoptag.api.product_images import ProductImages
from shoptag.api.uploads import private_folder
from shoptag.errors import (
    CatalogUnavailableError,
    ConfigError,
    IndexLoadError,
    InvalidRequestError,
    NotFoundError,
    ServiceBusyError,
)
from shoptag.files import VerifiedFiles
from shoptag.indexing.catalog_set import CatalogSet
from shoptag.indexing.data_folder import catalog_folder, catalog_name_of, catalog_names, is_catalog, valid_catalog_name
from shoptag.indexing.images import ImageReader
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.versions import IndexFolder
from shoptag.model.base import Embedder
from shoptag.settings import Settings

logger = logging.getLogger(__name__)

_SETS_CACHED = 8
# Catalogs a request names: ``a,b`` (each name checked as a catalog's when it is looked up).
CATALOG_LIST_PATTERN = r"^[a-z0-9][a-z0-9_-]*(,[a-z0-9][a-z0-9_-]*)*$"


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
        self._data = config.data_dir
        self._index = config.index
        self.single = None if config.index is None else catalog_name_of(config.index)
        self._limit = config.max_loaded_catalogs
        self._max_loads = config.max_catalog_loads
        self._loader = ThreadPoolExecutor(config.catalog_load_threads, thread_name_prefix="catalog-load")
        self._verified = VerifiedFiles()
        self._lock = threading.Lock()  # guards every dict below
        self._loaded: OrderedDict[str, Catalog] = OrderedDict()
        self._loading: dict[str, Future[Catalog]] = {}  # running or waiting for a load thread
        self._held: Counter[str] = Counter()  # requests using each catalog now: never let go while held
        self._room = threading.Condition(self._lock)  # notified when a load ends or a catalog is let go of
        self._unloadable: dict[str, tuple[str | None, str]] = {}  # name -> (its current version, why)
        # Photo bookkeeping outlives a catalog let go: a request may still hold its photos.
        self._photos: dict[str, ProductImages] = {}
        self._sets: OrderedDict[tuple[tuple[str, str], ...], CatalogSet] = OrderedDict()

    def close(self) -> None:
        """Stops loading catalogs (a load under way finishes on its thread)."""
        self._loader.shutdown(wait=False, cancel_futures=True)

    def names(self) -> list[str]:
        """Every catalog served now (blocking: lists the data folder)."""
        return [self.single] if self.single is not None else catalog_names(self._data)

    def loaded(self) -> list[Catalog]:
        with self._lock:
            return list(self._loaded.values())

    def unavailable(self) -> dict[str, str]:
        """The catalogs found unloadable so far (by a request that needed them), each with why."""
        with self._lock:
            return {name: why for name, (_, why) in self._unloadable.items()}

    def get(self, name: str) -> Catalog:
        """The catalog ``name`` for a moment's use, loaded first if it is not (blocking);
        ``NotFoundError`` when there is none, ``CatalogUnavailableError`` when it cannot be
        loaded, ``ServiceBusyError`` when it cannot be loaded now (``_start``)."""
        return self._start(name, hold=False).result()

    @asynccontextmanager
    async def held(self, names: Sequence[str], skip_unavailable: bool = False) -> AsyncIterator[list[Catalog]]:
        """The named catalogs, loaded, and held until the block ends: none is let go meanwhile,
        so the catalogs in memory are never more than may stay loaded. A load is awaited without
        holding a thread. ``ServiceBusyError`` (429) at once when one cannot be loaded now; with
        ``skip_unavailable``, catalogs that do not exist or cannot be loaded are left out."""
        started: list[str] = []
        catalogs: list[Catalog] = []
        try:
            for name in names:
                try:
                    future = await asyncio.to_thread(self._start, name, True)
                except NotFoundError:
                    if skip_unavailable:
                        continue
                    raise
                started.append(name)
                try:
                    # Shielded: a request cancelled while it waits (its client gone) must not cancel
                    # the load that other requests wait for too.
                    catalogs.append(await asyncio.shield(asyncio.wrap_future(future)))
                except (NotFoundError, CatalogUnavailableError):
                    if not skip_unavailable:
                        raise
            yield catalogs
        finally:
            self._release(started)

    @contextmanager
    def holding(self, names: Sequence[str], wait_s: float) -> Iterator[list[Catalog]]:
        """As ``held``, blocking, for work that may wait its turn (a queued job): while the
        catalogs cannot all be loaded now, none is held and it waits for room, up to ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while True:
            started: list[str] = []
            try:
                futures = []
                for name in names:
                    futures.append(self._start(name, hold=True))
                    started.append(name)
                catalogs = [future.result() for future in futures]
                break
            except ServiceBusyError:
                self._release(started)
                with self._room:
                    if time.monotonic() >= deadline:
                        raise
                    self._room.wait(min(1.0, deadline - time.monotonic()))
            except BaseException:
                self._release(started)
                raise
        try:
            yield catalogs
        finally:
            self._release(started)

    def _start(self, name: str, hold: bool) -> Future[Catalog]:
        """The loaded catalog ``name`` (a done future), or its load, started if no other request
        started it (blocking only to check its folder); with ``hold``, held until ``_release``.
        A new load is refused (``ServiceBusyError``) when ``max_catalog_loads`` are under way, or
        when every catalog that may stay loaded is held or being loaded."""
        folder = self._folder(name)
        with self._lock:
            catalog = self._loaded.get(name)
            loading = self._loading.get(name)
            if loading is not None and loading.cancelled():  # never started (the service is stopping)
                del self._loading[name]
                loading = None
            if catalog is None and loading is None:
                if len(self._loading) >= self._max_loads:
                    raise ServiceBusyError(f"{len(self._loading)} catalogs are being loaded; try again shortly")
                staying = len(self._loading) + sum(1 for loaded in self._loaded if self._held[loaded])
                if staying >= self._limit:
                    raise ServiceBusyError(f"all {self._limit} catalogs that may stay loaded are in use; "
                                           "try again shortly")
                loading = self._loading[name] = self._loader.submit(self._load_and_keep, name, folder)
            if hold:
                self._held[name] += 1
            if catalog is None:
                return loading
            self._loaded.move_to_end(name)
            done: Future[Catalog] = Future()
            done.set_result(catalog)
            return done

    def _release(self, names: Sequence[str]) -> None:
        with self._lock:
            for name in names:
                self._held[name] -= 1
                if self._held[name] <= 0:
                    del self._held[name]
            self._let_go_over_limit()
            self._room.notify_all()

    def _load_and_keep(self, name: str, folder: Path) -> Catalog:
        """(On a load thread.) Loads the catalog and keeps it, letting the least recently used go."""
        try:
            catalog = self._load(name, folder)
            with self._lock:
                self._loaded[name] = catalog
                self._let_go_over_limit()
            return catalog
        finally:
            with self._lock:
                self._loading.pop(name, None)
                self._room.notify_all()

    def _let_go_over_limit(self) -> None:
        """(Under the lock.) Lets the least recently used catalogs that no request holds go
        while more than the limit are loaded (a held one goes once it is let go of)."""
        for name in [name for name in self._loaded if not self._held[name]]:
            if len(self._loaded) <= self._limit:
                break
            del self._loaded[name]
            self._let_go(name, f"more than {self._limit} loaded")

    def _let_go(self, name: str, why: str) -> None:
        """(Under the lock.) The sets that hold a catalog let go hold its memory too."""
        for key in [key for key in self._sets if any(part == name for part, _ in key)]:
            del self._sets[key]
        logger.info("catalog %s let go (%s)", name, why)

    def _load(self, name: str, folder: Path) -> Catalog:
        version = None
        try:
            version = IndexFolder(folder).current_name()
            with self._lock:
                failed = self._unloadable.get(name)
            if failed is not None and failed[0] == version:
                raise CatalogUnavailableError(failed[1])
            index = CatalogIndex.load(folder, self._embedder, verified=self._verified)
        except IndexLoadError as exc:
            why = f"catalog {name!r} cannot be loaded: {exc.message}"
            logger.error("%s", why)
            with self._lock:
                self._unloadable[name] = (version, why)
            raise CatalogUnavailableError(why) from None
        with self._lock:
            self._unloadable.pop(name, None)
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
        """The index folder of a catalog served now, or ``NotFoundError`` (forgetting a loaded
        catalog whose folder is gone)."""
        if self.single is not None:
            if name != self.single:
                raise NotFoundError(f"catalog {name[:80]!r} not found")
            return self._index
        folder = catalog_folder(self._data, name) if valid_catalog_name(name) else None
        if folder is None or not is_catalog(folder):
            with self._lock:
                if self._loaded.pop(name, None) is not None:
                    self._let_go(name, "its folder is gone")
                self._unloadable.pop(name, None)
            raise NotFoundError(f"catalog {name[:80]!r} not found")
        return folder

    def view(self, catalogs: Sequence[Catalog]) -> CatalogIndex:
        """One consistent view of loaded catalogs (blocking: each may reload a new version): the
        one catalog's snapshot, or the set of theirs (built once per combination of their versions)."""
        parts = [catalog.live.snapshot() for catalog in catalogs]
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
            if all(catalog.name in self._loaded for catalog in catalogs):  # none let go meanwhile
                self._sets[key] = joined
                while len(self._sets) > _SETS_CACHED:
                    self._sets.popitem(last=False)
        return joined

    # Who may use which

    def usable(self, principal: Principal) -> list[str]:
        """The catalogs served now that ``principal`` may use (blocking)."""
        served = self.names()
        return served if principal.catalogs is None else [name for name in served if name in principal.catalogs]

    @asynccontextmanager
    async def one(self, principal: Principal, name: str | None) -> AsyncIterator[Catalog]:
        """The catalog a product request names (``name``), or without a name the one catalog the
        key may use, loaded and held (``held``)."""
        if name is None:
            usable = await asyncio.to_thread(self.usable, principal)
            if len(usable) != 1:
                raise (NotFoundError("this API key may use no catalog") if not usable else InvalidRequestError(
                    f"this API key may use {len(usable)} catalogs: name one, /v1/catalogs/{{catalog}}/..."))
            name = usable[0]
        elif principal.catalogs is not None and name not in principal.catalogs:
            raise NotFoundError(f"catalog {name[:80]!r} not found")
        async with self.held([name]) as (catalog,):
            yield catalog

    @asynccontextmanager
    async def chosen(self, principal: Principal, requested: Sequence[str] | None) -> AsyncIterator[list[Catalog]]:
        """The catalogs a tagging request or a search asks for, each checked, loaded and held
        (``held``). Without ``requested``: every one the key may use that can be loaded (one
        removed meanwhile, or broken, is left out). At most ``max_catalogs_per_request``, and
        never more than may stay loaded at once."""
        limit = min(self._settings.service.max_catalogs_per_request, self._limit)
        if requested is None:
            names = await asyncio.to_thread(self.usable, principal)
            if len(names) > limit:
                raise InvalidRequestError(
                    f"this API key may use {len(names)} catalogs; name at most {limit} with 'catalogs'")
        else:
            names = list(dict.fromkeys(requested))
            if len(names) > limit:
                raise InvalidRequestError(f"at most {limit} catalogs may be searched at once ({len(names)} named)")
            for name in names:
                if principal.catalogs is not None and name not in principal.catalogs:
                    raise NotFoundError(f"catalog {name[:80]!r} not found")
        async with self.held(names, skip_unavailable=requested is None) as catalogs:
            if not catalogs:
                raise NotFoundError("this API key may use no catalog")
            yield catalogs


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
    return catalog_name_of(settings.service.index) if shopify.shop in (None, shop) else None


def storefront_of_shop(settings: Settings, shop: str) -> str | None:
    """Where a webhook product's page is (``STOREFRONT/products/<handle>``): of one index, the
    configured ``storefront_url``; of a data folder, each shop's own domain (Shopify sends a
    visitor on to the shop's primary domain)."""
    return settings.shopify.storefront_url if settings.service.index is not None else f"https://{shop.lower()}"
