"""The service through its real app: readiness, tagging an upload, JSON errors."""

import pytest
from fastapi.testclient import TestClient

from shoptag.api import create_app
from shoptag.demo import write_demo_catalog
from shoptag.indexing.catalog import read_catalog
from shoptag.indexing.store import build_index
from shoptag.settings import ModelSettings, Settings

from conftest import write_test_video


@pytest.fixture(scope="module")
def client(tmp_path_factory, effnet):
    folder = tmp_path_factory.mktemp("api")
    settings = Settings(model=ModelSettings(spec="effnet-lite0"))
    build_index(read_catalog(write_demo_catalog(folder / "catalog")), effnet, folder / "index", settings.images)
    with TestClient(create_app(settings, folder / "index")) as test_client:
        yield test_client


def test_health_and_readiness(client):
    assert client.get("/livez").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"


def test_tagging_an_upload_returns_the_cli_json(client, tmp_path):
    video = write_test_video(tmp_path / "v.mp4")
    response = client.post("/v1/tags", files={"file": ("../../etc/evil.mp4", video.read_bytes())},
                           data={"fps": "4"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["frames_sampled"] == 12 and body["tags"] == []
    assert body["model"].startswith("effnet-lite0@")
    assert list(client.app.state.uploads.iterdir()) == []


@pytest.mark.parametrize("content, status, code", [
    (b"\x89PNG\r\n\x1a\n" + bytes(64), 415, "unsupported_media"),
    (b"#EXTM3U\n", 415, "unsupported_media"),
    (b"", 422, "undecodable_video"),
    (b"\x00\x00\x00\x18ftypisom" + bytes(300), 422, "undecodable_video"),
])
def test_bad_uploads_get_json_errors(client, content, status, code):
    response = client.post("/v1/tags", files={"file": ("x.mp4", content)})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_bad_parameters_are_422(client, tmp_path):
    video = write_test_video(tmp_path / "v.mp4")
    response = client.post("/v1/tags", files={"file": ("v.mp4", video.read_bytes())}, data={"fps": "0"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "bad_request"
