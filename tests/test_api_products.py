"""Product changes through the service: visible to the next request, never half-applied."""

import shutil

import pytest

from shoptag.api.live_index import LiveIndex
from shoptag.demo import media_path, write_demo_video
from shoptag.indexing.images import ImageReader
from shoptag.indexing.records import Product
from shoptag.indexing.store import CatalogIndex
from shoptag.settings import ImageLimits

from helpers.api import make_index, running_app, service_settings
from helpers.media import bundled_rgb


@pytest.fixture
def index(tmp_path, effnet):
    # The demo clip shows the espresso cup and the astronaut poster; the index starts without
    # the poster.
    return make_index(tmp_path, effnet, leave_out=("astronaut-poster",))


def tagged_products(client, video) -> tuple[set[str], str]:
    response = client.post("/v1/tags", files={"file": ("demo.mp4", video.read_bytes())})
    assert response.status_code == 200, response.text
    body = response.json()
    return {t["product_id"] for t in body["tags"]}, body["index"]["version"]


@pytest.mark.model
def test_a_product_added_is_found_and_once_deleted_never_returned(index, effnet, tmp_path):
    video = tmp_path / "demo.mp4"
    truth = write_demo_video(video)
    with running_app(service_settings(index), effnet) as client:
        found, first_version = tagged_products(client, video)
        assert found == {"espresso-cup"}

        added = client.post("/v1/products", data={"product_id": "astronaut-poster", "title": "Astronaut"},
                            files=[("images", ("poster.jpg", media_path("astronaut.jpg").read_bytes()))])
        assert added.status_code == 201, added.text
        assert added.json()["index_version"] != first_version
        response = client.post("/v1/tags", files={"file": ("demo.mp4", video.read_bytes())}).json()
        poster = next(t for t in response["tags"] if t["product_id"] == "astronaut-poster")
        segment = poster["segments"][0]
        assert abs(segment["start_s"] - truth["astronaut-poster"].start_s) < 0.6
        assert abs(segment["end_s"] - truth["astronaut-poster"].end_s) < 0.6
        assert response["index"]["version"] == added.json()["index_version"]

        deleted = client.delete("/v1/products/astronaut-poster")
        assert deleted.status_code == 200 and deleted.json()["deleted"]
        found, _ = tagged_products(client, video)
        assert found == {"espresso-cup"}
        assert client.get("/v1/products/astronaut-poster").status_code == 404

    # The changes were written: a restarted service has them.
    with running_app(service_settings(index), effnet) as client:
        assert client.get("/readyz").json()["index_version"] == deleted.json()["index_version"]
        assert client.get("/v1/products/astronaut-poster").status_code == 404


def test_bad_product_input_changes_nothing(index, effnet, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    shutil.copyfile(media_path("rocket.jpg"), root / "rocket.jpg")
    (tmp_path / "secret.jpg").write_bytes(media_path("rocket.jpg").read_bytes())
    with running_app(service_settings(index, image_root=root), effnet) as client:
        version = client.get("/readyz").json()["index_version"]
        cases = [
            ({"product_id": "p", "title": "P"}, [], "at least one image"),
            ({"product_id": "p", "title": "P"}, [("images", ("x.jpg", b"not an image"))], "not a decodable image"),
            ({"product_id": "p", "title": "P", "image_refs": "../secret.jpg"}, [], "inside the service's image root"),
            ({"product_id": "p", "title": "P", "image_refs": "missing.jpg"}, [], "file not found"),
            ({"product_id": "p", "title": "P", "image_refs": "rocket.jpg", "metadata": "[1]"}, [], "JSON object"),
            ({"product_id": "p", "title": "P", "image_refs": "rocket.jpg", "metadata": "{"}, [], "not valid JSON"),
            ({"product_id": " p", "title": "P", "image_refs": "rocket.jpg"}, [], "product_id"),
            ({"product_id": "p", "title": "P", "image_refs": "rocket.jpg", "url": "javascript:x"}, [], "url"),
            ({"product_id": "p", "title": "P", "image_refs": "http://127.0.0.1/x.jpg"}, [], "non-public"),
        ]
        for data, files, message in cases:
            response = client.post("/v1/products", data=data, files=files or None)
            assert response.status_code == 422, (data, response.text)
            assert message in response.json()["error"]["message"], (data, response.json())
        assert client.get("/readyz").json()["index_version"] == version
        assert client.get("/v1/products/p").status_code == 404

        added = client.post("/v1/products", data={"product_id": "p", "title": "P", "image_refs": "rocket.jpg",
                                                  "metadata": '{"sku": "R-1"}'})
        assert added.status_code == 201 and added.json()["product"]["metadata"] == {"sku": "R-1"}
        replaced = client.post("/v1/products", data={"product_id": "p", "title": "P v2", "image_refs": "rocket.jpg"})
        assert replaced.status_code == 200 and replaced.json()["product"]["title"] == "P v2"
        assert client.get("/readyz").json()["products"] == 4


def test_paths_are_refused_without_an_image_root(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        response = client.post("/v1/products", data={"product_id": "p", "title": "P",
                                                      "image_refs": str(media_path("rocket.jpg"))})
    assert response.status_code == 422 and "image paths are disabled" in response.json()["error"]["message"]


def test_the_last_product_cannot_be_deleted(tmp_path, effnet):
    keep_one = ("rocket-poster", "cat-print", "astronaut-poster")
    with running_app(service_settings(make_index(tmp_path, effnet, keep_one)), effnet) as client:
        response = client.delete("/v1/products/espresso-cup")
        assert response.status_code == 409
        assert client.get("/v1/products/espresso-cup").status_code == 200


def test_a_search_keeps_the_index_version_it_started_with(index, effnet):
    live = LiveIndex(CatalogIndex.load(index, effnet), effnet, ImageReader(ImageLimits()), keep=3)
    before = live.current
    _, after, created = live.upsert(Product("poster", "Poster", (str(media_path("astronaut.jpg")),)), index)
    assert created and live.current is after and after.version != before.version
    assert "poster" in after and "poster" not in before
    query = effnet.embed_images([bundled_rgb("astronaut.jpg")])
    assert after.products[after.search(query, 1)[0][0][0]].product_id == "poster"
    assert before.products[before.search(query, 1)[0][0][0]].product_id != "poster"


def test_a_version_switched_outside_is_served_and_kept_by_later_changes(index, effnet, tmp_path):
    from shoptag.indexing import read_catalog, update_index

    with running_app(service_settings(index), effnet) as client:
        assert client.get("/v1/products/cat-print").status_code == 200
        # cron runs `shoptag index update` with a catalog that no longer has the cat print
        catalog = index.parent / "catalog" / "catalog.jsonl"
        lines = [line for line in catalog.read_text().splitlines() if "cat-print" not in line]
        catalog.write_text("\n".join(lines) + "\n")
        external = update_index(read_catalog(catalog), effnet, index, ImageReader(ImageLimits()))
        assert external.removed == 1
        assert client.get("/v1/products/cat-print").status_code == 404
        added = client.post("/v1/products", data={"product_id": "poster", "title": "Poster"},
                            files=[("images", ("p.jpg", media_path("astronaut.jpg").read_bytes()))])
        assert added.status_code == 201
        assert client.get("/v1/products/cat-print").status_code == 404  # the external removal is kept
    assert [p.product_id for p in CatalogIndex.load(index, effnet).products] == [
        "espresso-cup", "rocket-poster", "poster"]


def test_put_names_the_product_in_its_path_and_post_still_works(index, effnet):
    photo = [("images", ("cup.jpg", media_path("coffee.jpg").read_bytes()))]
    with running_app(service_settings(index), effnet) as client:
        added = client.put("/v1/products/shirts/blue-tee", data={"title": "Blue tee"}, files=photo)
        assert added.status_code == 201, added.text
        assert added.json()["product"]["product_id"] == "shirts/blue-tee"
        replaced = client.put("/v1/products/shirts/blue-tee", data={"title": "Blue tee, v2"}, files=photo)
        assert replaced.status_code == 200 and replaced.json()["product"]["title"] == "Blue tee, v2"
        assert client.get("/v1/products/shirts/blue-tee").json()["product"]["title"] == "Blue tee, v2"
        # The id belongs to the path in PUT; POST (existing clients) still takes it from the form.
        assert client.put("/v1/products/x", data={"title": "X", "product_id": "y"}, files=photo).status_code == 422
        assert client.post("/v1/products", data={"title": "No id"}, files=photo).status_code == 422
        posted = client.post("/v1/products", data={"product_id": "mug-2", "title": "Mug"}, files=photo)
        assert posted.status_code == 201 and posted.json()["product"]["images"][0]["ref"].startswith("upload:")
