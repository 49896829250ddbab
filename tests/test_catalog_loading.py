"""Loading a data folder's catalogs under attack: a special file in one catalog's segment, a
`current` pointer leading outside, a load that does not end, more loads than the bound. One
catalog's trouble is answered 503 in one line, said in the catalog listing and readiness, and
never takes the threads that other catalogs, health checks and metrics answer on."""

import asyncio
import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shoptag.errors import IndexLoadError
from shoptag.files import VerifiedFiles
from shoptag.indexing.store import CatalogIndex
from shoptag.settings import ModelSettings, Settings

from helpers.api import bearer, make_index, running_app, served
from helpers.index_files import segment_of

OPERATOR = "operator-key-0123456789abc"
KEYS = [{"key": OPERATOR, "role": "merchant", "catalogs": ["*"]}]
HEADERS = bearer(OPERATOR)
NAMES = ("shop-a", "shop-b", "shop-c", "shop-d")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, effnet):
    root = tmp_path_factory.mktemp("catalog-loading")
    return make_index(root / "one", effnet)


@pytest.fixture
def data(pristine, tmp_path):
    for name in NAMES:
        shutil.copytree(pristine, tmp_path / "data" / name, symlinks=True)
    return tmp_path / "data"


def settings_for(data, **service) -> Settings:
    return Settings(model=ModelSettings(spec="effnet-lite0"),
                    service={"data_dir": data, "state_dir": data.parent / "state", "api_keys": KEYS, **service})


@pytest.mark.parametrize("special", ["fifo", "dev-zero"])
def test_a_special_file_in_one_catalogs_segment_is_refused_and_the_service_answers_on(data, tmp_path, special):
    """The attack: products.jsonl made a FIFO (or a link to /dev/zero) in one catalog, then
    parallel requests for it. Before, every request, readiness and metrics hung past 15 s."""
    products = segment_of(data / "shop-b") / "products.jsonl"
    products.unlink()
    if special == "fifo":
        os.mkfifo(products)
    else:
        products.symlink_to("/dev/zero")
    with served(data, tmp_path, "--data", api_keys=json.dumps(KEYS), max_loaded_catalogs=4) as (base, _):
        def get(path):
            return httpx.get(base + path, headers=HEADERS, timeout=15)

        with ThreadPoolExecutor(12) as parallel:
            broken = list(parallel.map(get, ["/v1/catalogs/shop-b/products/cat-print"] * 8))
            others = list(parallel.map(get, ["/v1/catalogs/shop-a/products/cat-print", "/v1/catalogs",
                                             "/readyz", "/metrics"]))
        for answer in broken:
            assert answer.status_code == 503 and answer.json()["error"]["code"] == "catalog_unavailable"
            assert "products.jsonl" in answer.text and "not a regular file" in answer.text
        assert [answer.status_code for answer in others] == [200, 200, 200, 200]
        assert "not a regular file" in others[1].json()["unavailable"]["shop-b"]
        assert others[2].json()["catalogs_unavailable"] == 1
        # Left out of a search that did not name it, however often it is asked for.
        found = get("/v1/products?q=poster").json()["products"]
        assert {p["catalog"] for p in found} == {"shop-a", "shop-c", "shop-d"}


def test_a_current_pointer_leading_outside_leaves_its_catalog_out_of_searches_that_do_not_name_it(data, effnet):
    current = data / "shop-c" / "current"
    current.unlink()
    current.symlink_to("/etc")
    with running_app(settings_for(data), effnet) as client:
        found = client.get("/v1/products?q=poster", headers=HEADERS)
        assert found.status_code == 200, found.text
        assert {p["catalog"] for p in found.json()["products"]} == {"shop-a", "shop-b", "shop-d"}
        named = client.get("/v1/products?q=poster&catalogs=shop-c", headers=HEADERS)
        assert named.status_code == 503 and named.json()["error"]["code"] == "catalog_unavailable"
        assert "refusing to follow it" in client.get("/v1/catalogs", headers=HEADERS).json()["unavailable"]["shop-c"]


def test_a_load_that_does_not_end_holds_no_thread_and_loads_beyond_the_bound_get_429(data, effnet, monkeypatch):
    """Requests waiting for a stuck load hold no thread of the default pool (6 on 2 cores): health,
    metrics, listing and loaded catalogs answer meanwhile; more loads than max_catalog_loads get 429."""
    release = threading.Event()
    load = CatalogIndex.load

    def stuck_for_some(path, *args, **kwargs):
        if path.name in ("shop-c", "shop-d"):  # a disk that stopped answering, for these two
            release.wait(60)
        return load(path, *args, **kwargs)

    monkeypatch.setattr(CatalogIndex, "load", stuck_for_some)
    with running_app(settings_for(data, max_catalog_loads=2, catalog_load_threads=1), effnet) as client:
        assert client.get("/v1/catalogs/shop-a/products/cat-print", headers=HEADERS).status_code == 200
        with ThreadPoolExecutor(16) as parallel:
            waiting = [parallel.submit(client.get, f"/v1/catalogs/shop-{name}/products/cat-print", headers=HEADERS)
                       for name in "cd" * 6]
            time.sleep(1)  # every waiting request has asked for its catalog by now
            started = time.monotonic()
            for path in ("/readyz", "/metrics", "/v1/catalogs", "/v1/catalogs/shop-a/products/cat-print"):
                assert client.get(path, headers=HEADERS).status_code == 200, path
            assert time.monotonic() - started < 5
            # shop-c and shop-d take both load places: a third catalog's load is refused, not queued.
            busy = client.get("/v1/catalogs/shop-b/products/cat-print", headers=HEADERS)
            assert busy.status_code == 429 and busy.headers["Retry-After"]
            release.set()
            assert [future.result(timeout=60).status_code for future in waiting] == [200] * 12
        assert client.get("/v1/catalogs/shop-b/products/cat-print", headers=HEADERS).status_code == 200


def test_a_checksum_is_remembered_only_while_its_file_is_unchanged(tmp_path):
    path = tmp_path / "embeddings.npy"
    path.write_bytes(b"a" * 100)
    verified = VerifiedFiles()
    first = verified.sha256(path, IndexLoadError, path.name)
    status = path.stat()
    path.write_bytes(b"b" * 100)  # the same size, and the same modification time put back
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert verified.sha256(path, IndexLoadError, path.name) != first
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(IndexLoadError, match="not a regular file"):
        verified.sha256(tmp_path / "fifo", IndexLoadError, "fifo")


def test_a_catalog_in_use_is_never_let_go_and_another_waits_for_room(data, effnet):
    """max_loaded_catalogs bounds the catalogs in memory, those requests hold included: while a
    request holds the only place, a request for another catalog gets 429, and a queued job waits
    for the place instead."""
    with running_app(settings_for(data, max_loaded_catalogs=1), effnet) as client:
        catalogs = client.app.state.service.catalogs
        waited = {}

        def queued_job():
            started = time.monotonic()
            with catalogs.holding(["shop-b"], wait_s=30) as (catalog,):
                waited["seconds"], waited["catalog"] = time.monotonic() - started, catalog.name

        with catalogs.holding(["shop-a"], wait_s=1):
            busy = client.get("/v1/catalogs/shop-b/products/cat-print", headers=HEADERS)
            assert busy.status_code == 429 and "in use" in busy.json()["error"]["message"]
            assert client.get("/v1/catalogs/shop-a/products/cat-print", headers=HEADERS).status_code == 200
            job = threading.Thread(target=queued_job)
            job.start()
            time.sleep(1.5)
            assert [c.name for c in catalogs.loaded()] == ["shop-a"]
        job.join(30)
        assert waited["catalog"] == "shop-b" and waited["seconds"] >= 1.5
        assert [c.name for c in catalogs.loaded()] == ["shop-b"]
        assert client.get("/v1/catalogs/shop-a/products/cat-print", headers=HEADERS).status_code == 200
        assert [c.name for c in catalogs.loaded()] == ["shop-a"]


def test_a_request_cancelled_while_it_waits_does_not_cancel_the_load_others_wait_for(data, effnet, monkeypatch):
    """A client that goes away while its catalog's load waits for a load thread: the others
    waiting for the same load still get it, and the catalog is not left "loading" for good."""
    release = threading.Event()
    load = CatalogIndex.load

    def stuck_for_shop_c(path, *args, **kwargs):
        if path.name == "shop-c":
            release.wait(60)
        return load(path, *args, **kwargs)

    monkeypatch.setattr(CatalogIndex, "load", stuck_for_shop_c)
    with running_app(settings_for(data, catalog_load_threads=1), effnet) as client:
        catalogs = client.app.state.service.catalogs
        outcome = {}

        async def use(names):
            async with catalogs.held(names) as held:
                return [catalog.name for catalog in held]

        async def scenario():
            blocker = asyncio.create_task(use(["shop-c"]))  # takes the one load thread
            await asyncio.sleep(0.3)
            gone, staying = asyncio.create_task(use(["shop-a"])), asyncio.create_task(use(["shop-a"]))
            await asyncio.sleep(0.3)  # shop-a's load waits for the thread
            gone.cancel()
            await asyncio.sleep(0.2)
            release.set()
            outcome["staying"] = await asyncio.wait_for(staying, 60)
            outcome["blocker"] = await asyncio.wait_for(blocker, 60)
            outcome["gone"] = gone.cancelled()

        # Its own thread: another test's event loop may be running in this one.
        runner = threading.Thread(target=lambda: asyncio.run(scenario()))
        runner.start()
        runner.join(90)
        assert outcome == {"staying": ["shop-a"], "blocker": ["shop-c"], "gone": True}
        assert client.get("/v1/catalogs/shop-a/products/cat-print", headers=HEADERS).status_code == 200
