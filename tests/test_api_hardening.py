"""Attacks on the service through its real app, each as an outsider would make it: junk
methods against the metrics, cross-site and rebinding requests without keys, deep JSON,
awkward product ids, refused uploads, a failing job store, a second service on the same
state, and what a client may learn of the server's paths."""

import json
import shutil
import time

import pytest
from fastapi.testclient import TestClient

from shoptag.api import create_app
from shoptag.demo import media_path, write_demo_video
from shoptag.errors import ConfigError
from shoptag.indexing.writer import build_index

from api_support import make_index, running_app, service_settings, wait_for_job
from conftest import write_test_video

PHOTO = media_path("astronaut.jpg").read_bytes()


@pytest.fixture
def index(tmp_path, effnet):
    return make_index(tmp_path, effnet)


def product_images(client):
    return sorted(p.name for p in client.app.state.service.product_images.folder.iterdir())


def test_junk_methods_share_one_metrics_label(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        for number in range(300):
            client.request(f"JUNK{number}", "/livez")
        text = client.get("/metrics").text
    assert "JUNK" not in text
    assert 'shoptag_http_requests_total{method="other",route="/livez",status="405"} 300.0' in text
    assert len(text) < 20_000


def test_without_keys_cross_site_and_rebound_requests_are_refused(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        before = client.get("/readyz").json()["index_version"]
        form = {"product_id": "planted", "title": "Planted by a web page"}
        photo = {"images": ("p.jpg", PHOTO)}
        for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                        {"Host": "evil.example"}, {"Host": "rebound.example:8000", "Origin": "http://rebound.example:8000"}):
            response = client.post("/v1/products", data=form, files=photo, headers=headers)
            assert response.status_code == 403, (headers, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        assert client.get("/v1/products/planted").status_code == 404
        assert client.get("/readyz").json()["index_version"] == before
        # The page the service may serve itself, and local tools, are same-origin.
        same_site = client.post("/v1/products", data=form, files=photo, headers={"Origin": "http://127.0.0.1:8000"})
        assert same_site.status_code == 201
        assert client.get("/livez", headers={"Host": "localhost:8000"}).status_code == 200
        assert client.get("/livez", headers={"Host": "[::1]:8000"}).status_code == 200


@pytest.mark.parametrize("depth", [17, 300, 900, 50_000])
def test_deeply_nested_metadata_is_refused_and_nothing_is_stored(index, effnet, depth):
    with running_app(service_settings(index), effnet) as client:
        deep = '{"a": ' * depth + "1" + "}" * depth
        response = client.post("/v1/products", data={"product_id": "deep", "title": "Deep", "metadata": deep},
                               files={"images": ("p.jpg", PHOTO)})
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert "nested more than 16 levels" in message or "at most 100000 characters" in message
        assert client.get("/v1/products/deep").status_code == 404
        assert product_images(client) == []
        ok = client.post("/v1/products", data={"product_id": "ok", "title": "Ok",
                                               "metadata": '{"a": ' * 15 + "1" + "}" * 15},
                         files={"images": ("p.jpg", PHOTO)})
        assert ok.status_code == 201 and client.get("/v1/products/ok").status_code == 200


def test_metadata_at_the_depth_limit_is_kept_and_the_index_still_loads(index, effnet):
    deepest = '{"a": ' * 16 + "1" + "}" * 16
    with running_app(service_settings(index), effnet) as client:
        added = client.post("/v1/products", data={"product_id": "deepest", "title": "Deepest", "metadata": deepest},
                            files={"images": ("p.jpg", PHOTO)})
        assert added.status_code == 201, added.text
    with running_app(service_settings(index), effnet) as client:  # a restart loads the version written
        assert client.get("/v1/products/deepest").json()["product"]["metadata"] == json.loads(deepest)


def test_metadata_that_is_not_unicode_is_refused(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        response = client.post("/v1/products", data={"product_id": "s", "title": "S", "metadata": '{"a": "\\ud800"}'},
                               files={"images": ("p.jpg", PHOTO)})
        assert response.status_code == 422 and "lone surrogate" in response.json()["error"]["message"]


def test_a_product_id_with_a_slash_can_be_read_and_deleted(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        added = client.post("/v1/products", data={"product_id": "shirts/blue tee", "title": "Blue tee"},
                            files={"images": ("p.jpg", PHOTO)})
        assert added.status_code == 201
        assert client.get("/v1/products/shirts/blue tee").json()["product"]["product_id"] == "shirts/blue tee"
        assert client.get("/v1/products/shirts%2Fblue%20tee").status_code == 200
        assert client.delete("/v1/products/shirts/blue tee").status_code == 200
        assert client.get("/v1/products/shirts/blue tee").status_code == 404


def test_refused_product_photos_are_not_kept_and_used_ones_are(index, effnet):
    with running_app(service_settings(index, max_product_images=3), effnet) as client:
        kept = client.post("/v1/products", data={"product_id": "poster", "title": "Poster"},
                           files={"images": ("p.jpg", PHOTO)})
        assert kept.status_code == 201
        (photo,) = product_images(client)
        # The same photo with a broken one: refused; the photo the kept product needs stays.
        refused = client.post("/v1/products", data={"product_id": "pair", "title": "Pair"},
                              files=[("images", ("p.jpg", PHOTO)), ("images", ("bad.jpg", b"not an image"))])
        assert refused.status_code == 422
        other = client.post("/v1/products", data={"product_id": "other", "title": "Other"},
                            files=[("images", ("c.jpg", media_path("chelsea.jpg").read_bytes())),
                                   ("images", ("bad.jpg", b"\xff\xd8 broken"))])
        assert other.status_code == 422
        assert product_images(client) == [photo]
        too_many = client.post("/v1/products", data={"product_id": "many", "title": "Many"},
                               files=[("images", (f"{n}.jpg", PHOTO)) for n in range(4)])
        assert too_many.status_code == 400 and "Too many files" in too_many.json()["error"]["message"]
        refs_too = client.post("/v1/products", data={"product_id": "many", "title": "Many",
                                                     "image_refs": ["https://a.example/1.jpg"] * 3},
                               files={"images": ("p.jpg", PHOTO)})
        assert refs_too.status_code == 422 and "at most 3 images" in refs_too.json()["error"]["message"]
        assert product_images(client) == [photo]
    # Photos only pruned versions listed go when the service starts; those kept versions list stay.
    (client.app.state.service.product_images.folder / ("0" * 64)).write_bytes(PHOTO)
    with running_app(service_settings(index), effnet) as client:
        assert product_images(client) == [photo]


def test_clients_see_no_server_paths(index, effnet, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    shutil.copyfile(media_path("rocket.jpg"), root / "rocket.jpg")
    with running_app(service_settings(index, image_root=root), effnet) as client:
        service = client.app.state.service
        private = [str(service.state_dir.resolve()), str(root.resolve()), str(index.resolve())]
        uploaded = client.post("/v1/products", data={"product_id": "up", "title": "Up"},
                               files={"images": ("p.jpg", PHOTO)}).json()
        assert uploaded["product"]["images"][0]["ref"].startswith("upload:")
        rooted = client.post("/v1/products", data={"product_id": "rooted", "title": "Rooted",
                                                   "image_refs": "rocket.jpg"}).json()
        assert rooted["product"]["images"][0]["ref"] == "rocket.jpg"
        catalog = client.get("/v1/products/espresso-cup").json()
        assert catalog["product"]["images"][0]["ref"] == "coffee.jpg"
        missing = client.post("/v1/products", data={"product_id": "m", "title": "M", "image_refs": "missing.jpg"})
        tagged = client.post("/v1/tags", files={"file": ("v.mp4", write_test_video(tmp_path / "v.mp4").read_bytes())})
        assert tagged.status_code == 200 and "path" not in tagged.json()["index"]
        assert (tagged.json()["width"], tagged.json()["height"]) == (160, 120)
        answers = json.dumps([uploaded, rooted, catalog, missing.json(), tagged.json()])
        assert not any(folder in answers for folder in private), answers
        assert "<image-root>/missing.jpg: file not found" in missing.json()["error"]["message"]


def test_a_second_service_on_the_same_state_folder_is_refused_and_changes_nothing(index, effnet, tmp_path):
    settings = service_settings(index, sync_max_duration_s=0.1)
    video = write_test_video(tmp_path / "v.mp4").read_bytes()
    with running_app(settings, effnet) as client:
        queued = client.post("/v1/jobs", files={"file": ("v.mp4", video)}).json()
        with pytest.raises(ConfigError, match="in use by another ShopTag service"):
            create_app(settings, effnet)
        assert wait_for_job(client, queued["id"])["status"] == "succeeded"
    with running_app(settings, effnet) as client:  # released at shutdown
        assert client.get(f"/v1/jobs/{queued['id']}").json()["status"] == "succeeded"


def test_a_failing_job_store_makes_the_service_unready_then_it_recovers(index, effnet, tmp_path):
    settings = service_settings(index)
    video = write_test_video(tmp_path / "v.mp4").read_bytes()
    with running_app(settings, effnet, raise_server_exceptions=False) as client:
        database = client.app.state.service.state_dir / "jobs.sqlite3"
        saved = database.read_bytes()
        database.write_bytes(b"this is not a database at all, " * 200)
        deadline = time.monotonic() + 10
        while (ready := client.get("/readyz")).status_code == 200:
            assert time.monotonic() < deadline, "the failure was never reported"
            time.sleep(0.1)
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "jobs_unavailable"
        assert str(client.app.state.service.state_dir) not in ready.text
        broken = client.post("/v1/jobs", files={"file": ("v.mp4", video)})
        assert broken.status_code == 500 and broken.json()["error"]["code"] == "internal_error"
        assert list(client.app.state.service.uploads.iterdir()) == []
        database.write_bytes(saved)
        deadline = time.monotonic() + 15
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the runner did not recover"
            time.sleep(0.1)
        job = client.post("/v1/jobs", files={"file": ("v.mp4", video)}).json()
        assert wait_for_job(client, job["id"])["status"] == "succeeded"
        assert client.app.state.service.pool.depth == 0  # no worker slot was leaked


def test_a_model_without_a_threshold_fails_readiness(tmp_path):
    from shoptag.indexing import ImageReader, read_catalog
    from shoptag.model import create_embedder
    from shoptag.settings import ImageLimits, ModelSettings

    from test_openclip_hf import tiny_openclip_dir

    clip = create_embedder(ModelSettings(spec=f"openclip:local-dir:{tiny_openclip_dir(tmp_path / 'clip')}"))
    from shoptag.demo import write_demo_catalog

    build_index(read_catalog(write_demo_catalog(tmp_path / "catalog")), clip, tmp_path / "index",
                ImageReader(ImageLimits()))
    settings = service_settings(tmp_path / "index").model_copy(
        update={"model": ModelSettings(spec=clip.spec)})
    with TestClient(create_app(settings, clip), base_url="http://127.0.0.1") as client:
        from api_support import wait_ready

        wait_ready(client, ready=False)
        answer = client.get("/readyz").json()["error"]
        assert "no threshold has been measured" in answer["message"]


@pytest.mark.model
def test_a_long_video_sent_while_the_worker_is_busy_becomes_a_job(index, effnet, tmp_path):
    demo = tmp_path / "demo.mp4"
    write_demo_video(demo)
    settings = service_settings(index, workers=1, queue_size=0, sync_max_duration_s=5)
    with running_app(settings, effnet) as client:
        busy = client.post("/v1/jobs", files={"file": ("demo.mp4", demo.read_bytes())}).json()
        deadline = time.monotonic() + 30
        while client.get(f"/v1/jobs/{busy['id']}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        long_one = client.post("/v1/tags", files={"file": ("demo.mp4", demo.read_bytes())})
        assert long_one.status_code == 202, long_one.text  # 7.6 s: over the sync limit
        short = client.post("/v1/tags", files={"file": ("v.mp4", write_test_video(tmp_path / "v.mp4").read_bytes())})
        assert short.status_code == 429  # short enough to answer now, but the one worker is busy
        assert wait_for_job(client, long_one.json()["id"])["status"] == "succeeded"
