"""Many merchants' catalogs in one service (a data folder): each merchant key reads and changes
its own catalog only, and another's answers exactly as a catalog that does not exist (404);
creators tag against the catalogs their key may use, and each tag names its catalog; catalogs
load on first use, at most the configured number stay loaded; each shop's webhooks change its
own catalog."""

import json
import shutil
import time

import httpx
import pytest

from shoptag.demo import media_path, write_demo_video
from shoptag.errors import ConfigError
from shoptag.settings import ModelSettings, Settings

from helpers.api import bearer, make_index, running_app, served, wait_for_job
from helpers.fake_shopify import PHOTOS, SECRET, delivery, product, running_shop
from helpers.media import write_test_video

MERCHANT_A, MERCHANT_B = "merchant-a-key-0123456789", "merchant-b-key-0123456789"
CREATOR_AB, CREATOR_A = "creator-ab-key-0123456789", "creator-a-key-0123456789"
OPERATOR = "operator-key-0123456789abc"
KEYS = [{"key": MERCHANT_A, "role": "merchant", "catalogs": ["shop-a"]},
        {"key": MERCHANT_B, "role": "merchant", "catalogs": ["shop-b"]},
        {"key": CREATOR_AB, "role": "creator", "catalogs": ["shop-a", "shop-b"]},
        {"key": CREATOR_A, "role": "creator", "catalogs": ["shop-a"]},
        {"key": OPERATOR, "role": "merchant", "catalogs": ["*"]}]
A, B, AB, ONLY_A = bearer(MERCHANT_A), bearer(MERCHANT_B), bearer(CREATOR_AB), bearer(CREATOR_A)
PHOTO = media_path("rocket.jpg").read_bytes()


@pytest.fixture(scope="module")
def data(tmp_path_factory, effnet):
    """shop-a: the demo catalog without the astronaut poster; shop-b: without the espresso cup.
    Both have the rocket poster and the cat print, under the same ids."""
    root = tmp_path_factory.mktemp("catalogs")
    (root / "data").mkdir()
    for name, left_out in (("shop-a", "astronaut-poster"), ("shop-b", "espresso-cup")):
        built = make_index(root / name, effnet, leave_out=(left_out,))
        built.rename(root / "data" / name)
    return root / "data"


def settings_for(data, **service) -> Settings:
    return Settings(model=ModelSettings(spec="effnet-lite0"),
                    service={"data_dir": data, "state_dir": data.parent / "state", "api_keys": KEYS, **service},
                    shopify={"webhook_secret": SECRET, "storefront_url": "https://shop.example",
                             "shop_catalogs": {"shop-a.myshopify.com": "shop-a"}},
                    fetch={"allow_hosts": ("127.0.0.1",)})


@pytest.fixture
def copied(data, tmp_path):
    """A copy of the data folder, for tests that change catalogs."""
    shutil.copytree(data, tmp_path / "data", symlinks=True)
    return tmp_path / "data"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "demo.mp4"
    write_demo_video(path)  # the espresso cup, then the astronaut poster
    return path.read_bytes()


def version_of(client, catalog, headers):
    return client.get(f"/v1/catalogs/{catalog}/products/rocket-poster", headers=headers).json()["index_version"]


def test_a_merchant_key_reads_and_changes_only_its_own_catalog(copied, effnet):
    with running_app(settings_for(copied), effnet) as client:
        assert client.get("/readyz").json()["catalogs"] == 2
        assert client.get("/v1/catalogs", headers=A).json() == {"catalogs": ["shop-a"], "unavailable": {}}
        assert client.get("/v1/catalogs", headers=AB).json() == {"catalogs": ["shop-a", "shop-b"], "unavailable": {}}
        assert client.get("/v1/catalogs", headers=bearer(OPERATOR)).json() == {"catalogs": ["shop-a", "shop-b"],
                                                                               "unavailable": {}}
        # Its own catalog, named or (its one catalog) not.
        assert client.get("/v1/catalogs/shop-a/products/espresso-cup", headers=A).status_code == 200
        assert client.get("/v1/products/espresso-cup", headers=A).status_code == 200
        assert client.get("/v1/products/astronaut-poster", headers=B).status_code == 200
        b_version = version_of(client, "shop-b", B)

        # Another merchant's catalog is answered as one that does not exist, whatever the verb.
        photo = {"images": ("p.jpg", PHOTO)}
        for catalog in ("shop-b", "shop-z"):
            for method, path, options in (
                    ("GET", "products/astronaut-poster", {}), ("GET", "product-images/astronaut-poster", {}),
                    ("GET", "products?q=poster", {}), ("DELETE", "products/astronaut-poster", {}),
                    ("PUT", "products/intruder", {"data": {"title": "Intruder"}, "files": photo}),
                    ("POST", "products", {"data": {"product_id": "intruder", "title": "Intruder"}, "files": photo})):
                answer = client.request(method, f"/v1/catalogs/{catalog}/{path}", headers=A, **options)
                assert answer.status_code == 404, (method, path, answer.text)
                assert answer.json()["error"]["message"] == f"catalog {catalog!r} not found"
        assert client.get("/v1/products/astronaut-poster", headers=B).status_code == 200
        assert version_of(client, "shop-b", B) == b_version
        assert not list((copied.parent / "state" / "product-images" / "shop-b").iterdir())

        # A change to its own catalog stays there: the same id in the other is another product.
        added = client.put("/v1/products/new-mug", headers=A, data={"title": "New mug"},
                           files={"images": ("p.jpg", PHOTO)})
        assert added.status_code == 201, added.text
        assert client.get("/v1/catalogs/shop-a/products/new-mug", headers=A).status_code == 200
        assert client.get("/v1/products/new-mug", headers=B).status_code == 404
        assert version_of(client, "shop-b", B) == b_version

        # A key of several catalogs names one; a creator key changes none.
        unnamed = client.get("/v1/products/rocket-poster", headers=AB)
        assert unnamed.status_code == 422 and "name one" in unnamed.json()["error"]["message"]
        assert client.delete("/v1/catalogs/shop-a/products/new-mug", headers=AB).status_code == 403


def test_title_search_covers_the_catalogs_asked_for_and_names_each_results_catalog(data, effnet):
    with running_app(settings_for(data), effnet) as client:
        found = client.get("/v1/products?q=poster", headers=AB).json()["products"]
        assert sorted((p["catalog"], p["product_id"]) for p in found) == [
            ("shop-a", "rocket-poster"), ("shop-b", "astronaut-poster"), ("shop-b", "rocket-poster")]
        only_b = client.get("/v1/products?q=poster&catalogs=shop-b", headers=AB).json()["products"]
        assert {p["catalog"] for p in only_b} == {"shop-b"}
        scoped = client.get("/v1/catalogs/shop-a/products?q=poster", headers=AB).json()["products"]
        assert [(p["catalog"], p["product_id"]) for p in scoped] == [("shop-a", "rocket-poster")]
        assert client.get("/v1/products?q=poster&catalogs=shop-b", headers=ONLY_A).status_code == 404
        assert client.get("/v1/products?q=poster&catalogs=Shop_B", headers=AB).status_code == 422


def test_catalogs_load_on_first_use_and_at_most_the_limit_stay_loaded(copied, effnet):
    with running_app(settings_for(copied, max_loaded_catalogs=1), effnet) as client:
        catalogs = client.app.state.service.catalogs
        assert client.get("/v1/catalogs/shop-b/products/astronaut-poster", headers=B).status_code == 200
        assert [c.name for c in catalogs.loaded()] == ["shop-b"]
        assert client.get("/v1/catalogs/shop-a/products/espresso-cup", headers=A).status_code == 200
        assert [c.name for c in catalogs.loaded()] == ["shop-a"]
        assert client.get("/v1/catalogs/shop-b/products/astronaut-poster", headers=B).status_code == 200
        # A catalog written while the service runs is served on its first use.
        shutil.copytree(copied / "shop-b", copied / "shop-c", symlinks=True)
        operator = bearer(OPERATOR)
        assert client.get("/v1/catalogs", headers=operator).json()["catalogs"] == ["shop-a", "shop-b", "shop-c"]
        assert client.get("/v1/catalogs/shop-c/products/cat-print", headers=operator).status_code == 200


def test_a_service_of_many_catalogs_refuses_a_key_that_names_none(data, effnet):
    settings = settings_for(data, api_keys=[*KEYS, {"key": "unscoped-key-0123456789", "role": "creator",
                                                    "name": "unscoped"}])
    with pytest.raises(ConfigError, match="API key unscoped names no catalogs"):
        with running_app(settings, effnet):
            pass
    with pytest.raises(ValueError, match="not both"):
        Settings(service={"data_dir": data, "index": data / "shop-a"})
    with pytest.raises(ValueError, match="catalogs"):
        Settings(service={"api_keys": [{"key": MERCHANT_A, "role": "merchant", "catalogs": ["../shop-a"]}]})


@pytest.mark.model
def test_a_creator_tags_against_the_catalogs_its_key_may_use_and_each_tag_names_its_catalog(data, effnet, video):
    with running_app(settings_for(data), effnet) as client:
        def tags(headers, **form):
            answer = client.post("/v1/tags", files={"file": ("demo.mp4", video)}, data=form, headers=headers)
            assert answer.status_code == 200, answer.text
            return {(t["catalog"], t["product_id"]) for t in answer.json()["tags"]}

        both = tags(AB)
        assert {("shop-a", "espresso-cup"), ("shop-b", "astronaut-poster")} <= both
        assert tags(AB, catalogs="shop-a") == {t for t in both if t[0] == "shop-a"}
        assert tags(AB, catalogs="shop-b") == {t for t in both if t[0] == "shop-b"}
        assert tags(ONLY_A) == {t for t in both if t[0] == "shop-a"}
        for headers, catalogs in ((ONLY_A, "shop-b"), (AB, "shop-a,shop-z")):
            refused = client.post("/v1/tags", files={"file": ("demo.mp4", video)}, data={"catalogs": catalogs},
                                  headers=headers)
            assert refused.status_code == 404, refused.text
        assert not list(client.app.state.service.folder.uploads.iterdir())

        # A job searches the catalogs it was given, and its review may add products of those only.
        job = client.post("/v1/jobs", files={"file": ("demo.mp4", video)}, data={"catalogs": "shop-a"}, headers=AB)
        assert job.status_code == 202 and job.json()["catalogs"] == ["shop-a"]
        done = wait_for_job(client, job.json()["id"], AB)
        assert {t["catalog"] for t in done["result"]["tags"]} == {"shop-a"}
        review = f"/v1/jobs/{done['id']}/review"
        other = {"product_id": "astronaut-poster", "catalog": "shop-b", "verdict": "added",
                 "segments": [{"start_s": 4.0, "end_s": 6.0}]}
        refused = client.put(review, json={"revision": 0, "decisions": [other]}, headers=AB)
        assert refused.status_code == 422 and "did not search catalog 'shop-b'" in refused.text
        cup = next(t for t in done["result"]["tags"] if t["product_id"] == "espresso-cup")
        accepted = {"product_id": "espresso-cup", "verdict": "accepted", "segments": [
            {"start_s": s["start_s"], "end_s": s["end_s"]} for s in cup["segments"]]}
        saved = client.put(review, json={"revision": 0, "decisions": [accepted]}, headers=AB)
        assert saved.status_code == 200, saved.text
        assert saved.json()["decisions"][0]["catalog"] == "shop-a"  # the job's one catalog, filled in


def test_each_shops_webhooks_change_its_own_catalog_only(copied, effnet):
    with running_shop([], PHOTOS) as images, running_app(settings_for(copied), effnet) as client:
        payload = product(images, 9001, "hooked-rocket", "Hooked rocket", "2026-12-01T10:00:00Z")
        for shop, webhook_id in (("shop-a.myshopify.com", "w-a"), ("shop-b.myshopify.com", "w-b")):
            body, headers = delivery("products/create", payload, webhook_id, shop=shop)
            answer = client.post("/v1/webhooks/shopify", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == ("queued" if shop.startswith("shop-a") else "ignored")
        deadline = time.monotonic() + 60
        while client.get("/v1/products/hooked-rocket", headers=A).status_code != 200:
            assert time.monotonic() < deadline, "the webhook was not applied"
            time.sleep(0.1)
        assert client.get("/v1/products/hooked-rocket", headers=B).status_code == 404
        # Its page is on its own shop (Shopify sends visitors on to the shop's primary domain).
        hooked = client.get("/v1/products/hooked-rocket", headers=A).json()["product"]
        assert hooked["url"] == "https://shop-a.myshopify.com/products/hooked-rocket"


def test_shoptag_serve_serves_a_data_folder_with_the_model_of_its_catalogs(data, tmp_path):
    with served(data, tmp_path, "--data", api_keys=json.dumps(KEYS)) as (base, _):
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["catalogs"] == 2 and ready["model"].startswith("effnet-lite0")
        assert httpx.get(f"{base}/v1/products/espresso-cup", headers=A).status_code == 200
        assert httpx.get(f"{base}/v1/catalogs/shop-a/products/espresso-cup", headers=B).status_code == 404


def test_a_link_in_the_data_folder_is_no_catalog_and_nothing_is_written_through_it(copied, effnet, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(copied / "shop-b", outside, symlinks=True)
    (copied / "evil").symlink_to(outside, target_is_directory=True)
    versions = sorted(p.name for p in (outside / "versions").iterdir())
    operator = bearer(OPERATOR)
    with running_app(settings_for(copied), effnet) as client:
        assert client.get("/v1/catalogs", headers=operator).json()["catalogs"] == ["shop-a", "shop-b"]
        assert client.get("/v1/catalogs/evil/products/rocket-poster", headers=operator).status_code == 404
        assert client.get("/v1/products?q=poster&catalogs=evil", headers=operator).status_code == 404
        put = client.put("/v1/catalogs/evil/products/new-thing", headers=operator, data={"title": "New"},
                         files={"images": ("p.jpg", PHOTO)})
        assert put.status_code == 404, put.text
    assert sorted(p.name for p in (outside / "versions").iterdir()) == versions


def test_a_catalog_that_cannot_be_loaded_is_unavailable_and_the_others_serve_on(copied, effnet):
    shutil.copytree(copied / "shop-b", copied / "aa-broken", symlinks=True)
    manifest = copied / "aa-broken" / "current" / "manifest.json"  # sorts first: the service must not care
    manifest.write_text(manifest.read_text().replace('"model_identity": "', '"model_identity": "other-'))
    operator = bearer(OPERATOR)
    with running_app(settings_for(copied), effnet) as client:
        assert client.get("/readyz").status_code == 200
        for _ in range(2):  # and again, without loading it again
            broken = client.get("/v1/catalogs/aa-broken/products/rocket-poster", headers=operator)
            assert broken.status_code == 503 and broken.json()["error"]["code"] == "catalog_unavailable"
            assert "<data>" in broken.json()["error"]["message"] and str(copied) not in broken.text
        # Left out where no request named it; refused where one did.
        found = client.get("/v1/products?q=poster", headers=operator).json()["products"]
        assert {p["catalog"] for p in found} == {"shop-a", "shop-b"}
        assert client.get("/v1/products?q=poster&catalogs=aa-broken,shop-a", headers=operator).status_code == 503
        assert client.get("/v1/products/espresso-cup", headers=A).status_code == 200


def test_sets_of_catalogs_answer_whole_and_a_request_loads_no_more_catalogs_than_may_stay_loaded(data, effnet):
    with running_app(settings_for(data, max_loaded_catalogs=2), effnet) as client:
        for _ in range(2):
            found = client.get("/v1/products?q=poster", headers=AB).json()["products"]
            assert {(p["catalog"], p["product_id"]) for p in found} == {
                ("shop-a", "rocket-poster"), ("shop-b", "astronaut-poster"), ("shop-b", "rocket-poster")}
            assert len(client.app.state.service.catalogs.loaded()) == 2
    # With one catalog loaded at most, a request for two would hold both: refused, naming the limit.
    with running_app(settings_for(data, max_loaded_catalogs=1), effnet) as client:
        for query in ("/v1/products?q=poster", "/v1/products?q=poster&catalogs=shop-a,shop-b"):
            refused = client.get(query, headers=AB)
            assert refused.status_code == 422 and "at most 1" in refused.json()["error"]["message"]
        scoped = client.get("/v1/products?q=poster&catalogs=shop-b", headers=AB).json()["products"]
        assert {p["product_id"] for p in scoped} == {"astronaut-poster", "rocket-poster"}
        assert len(client.app.state.service.catalogs.loaded()) == 1


def test_a_catalog_removed_while_served_is_no_longer_served(copied, effnet, tmp_path):
    with running_app(settings_for(copied), effnet) as client:
        assert client.get("/v1/products/astronaut-poster", headers=B).status_code == 200
        (copied / "shop-b").rename(tmp_path / "shop-b-gone")
        assert client.get("/v1/products/astronaut-poster", headers=B).status_code == 404
        put = client.put("/v1/catalogs/shop-b/products/x", headers=B, data={"title": "X"},
                         files={"images": ("p.jpg", PHOTO)})
        assert put.status_code == 404
        assert not (copied / "shop-b").exists()
        assert "shop-b" not in [catalog.name for catalog in client.app.state.service.catalogs.loaded()]


def test_a_service_of_one_index_names_its_catalog_by_the_folder_and_takes_that_name(data, effnet, tmp_path):
    index = tmp_path / "My.Index"
    shutil.copytree(data / "shop-a", index, symlinks=True)
    settings = Settings(model=ModelSettings(spec="effnet-lite0"),
                        service={"index": index, "state_dir": tmp_path / "state"})
    with running_app(settings, effnet) as client:
        assert client.get("/v1/catalogs").json() == {"catalogs": ["my-index"], "unavailable": {}}
        found = client.get("/v1/products?q=poster&catalogs=my-index").json()["products"]
        assert [(p["catalog"], p["product_id"]) for p in found] == [("my-index", "rocket-poster")]
        assert client.get("/v1/catalogs/my-index/products/rocket-poster").status_code == 200
        assert client.get("/v1/catalogs/My.Index/products/rocket-poster").status_code == 404

        job = client.post("/v1/jobs", files={"file": ("t.mp4", write_test_video(tmp_path / "t.mp4").read_bytes())})
        done = wait_for_job(client, job.json()["id"])
        assert done["catalogs"] == ["my-index"]
        added = {"product_id": "rocket-poster", "catalog": "my-index", "verdict": "added",
                 "segments": [{"start_s": 0.5, "end_s": 1.5}]}
        saved = client.put(f"/v1/jobs/{done['id']}/review", json={"revision": 0, "decisions": [added]})
        assert saved.status_code == 200, saved.text


def test_a_job_queued_before_jobs_named_catalogs_fails_in_a_service_of_many(copied, effnet, tmp_path):
    with running_app(settings_for(copied), effnet) as client:
        service = client.app.state.service
        video = service.folder.job_videos / "legacy.mp4"
        write_test_video(video)
        job, _ = service.jobs.create("key-legacy", None, "fingerprint", "legacy.mp4", video, {"fps": 2})
        client.app.state.runner.wake()
        deadline = time.monotonic() + 60
        while (stored := service.jobs.get(job.id, "key-legacy")).status in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert stored.status == "failed" and "submit it again" in stored.error_message
