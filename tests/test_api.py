"""The service through its real app: readiness, tagging uploads, every input error as JSON,
size limits, metrics."""

import pytest
from fastapi.testclient import TestClient

from shoptag.api import create_app
from shoptag.settings import VideoLimits

from helpers.api import make_index, running_app, service_settings
from helpers.media import write_test_video

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
HTML = b"<!doctype html><html><body>not a video</body></html>"
RANDOM = bytes(range(256)) * 8
HLS = b"#EXTM3U\n#EXT-X-VERSION:3\nsegment0.ts\n"
EMPTY = b""
TRUNCATED_MP4 = b"\x00\x00\x00\x18ftypisom" + bytes(300)


@pytest.fixture(scope="module")
def index(tmp_path_factory, effnet):
    return make_index(tmp_path_factory.mktemp("api"), effnet)


@pytest.fixture(scope="module")
def client(index, effnet):
    settings = service_settings(index, max_upload_bytes=2_000_000, sync_max_duration_s=30,
                                queue_size=8)
    with running_app(settings, effnet) as test_client:
        yield test_client


def uploads_of(client):
    return list(client.app.state.service.folder.uploads.iterdir())


def test_health_and_readiness(client):
    assert client.get("/livez").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["products"] == 4 and ready["index_version"]


def test_not_ready_while_the_index_cannot_load(tmp_path, effnet):
    settings = service_settings(tmp_path / "no-such-index")
    with TestClient(create_app(settings, effnet), base_url="http://127.0.0.1") as client:
        assert client.get("/livez").status_code == 200
        for _ in range(100):
            body = client.get("/readyz").json()
            if body["error"]["code"] == "load_failed":
                break
        assert "does not exist" in body["error"]["message"]
        response = client.post("/v1/tags", files={"file": ("v.mp4", b"x")})
        assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready"


def test_tagging_an_upload_returns_the_cli_json(client, tmp_path):
    video = write_test_video(tmp_path / "v.mp4")
    response = client.post("/v1/tags", files={"file": ("../../etc/evil.mp4", video.read_bytes())},
                           data={"fps": "4"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["frames_sampled"] == 12 and body["tags"] == []
    assert body["model"].startswith("effnet-lite0:onnx-fp32@")
    assert body["video"] == "../../etc/evil.mp4"  # a label only: never a path
    assert body["index"]["version"] == client.get("/readyz").json()["index_version"]
    assert uploads_of(client) == []


@pytest.mark.parametrize("route", ["/v1/tags", "/v1/jobs"])
@pytest.mark.parametrize("content, declared_type, status, code", [
    (PNG, "image/png", 415, "unsupported_media"),
    (HTML, "video/mp4", 415, "unsupported_media"),
    (HLS, "application/vnd.apple.mpegurl", 415, "unsupported_media"),
    (RANDOM, "video/mp4", 415, "unsupported_media"),
    (EMPTY, "video/mp4", 422, "undecodable_video"),
    (TRUNCATED_MP4, "video/mp4", 422, "undecodable_video"),
])
def test_bad_uploads_get_json_errors_and_leave_no_file(client, route, content, declared_type, status, code):
    response = client.post(route, files={"file": ("clip.mp4", content, declared_type)})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert uploads_of(client) == []


def test_videos_over_the_limits_are_refused_before_decoding(index, effnet, tmp_path):
    limits = VideoLimits(max_width=100, max_height=100)
    settings = service_settings(index, state_dir=tmp_path / "state").model_copy(update={"video": limits})
    video = write_test_video(tmp_path / "v.mp4", size=(160, 120))
    with running_app(settings, effnet) as client:
        for route in ("/v1/tags", "/v1/jobs"):
            response = client.post(route, files={"file": ("v.mp4", video.read_bytes())})
            assert response.status_code == 422
            assert response.json()["error"] == {"code": "video_too_large",
                                                "message": "video is 160x120; the limit is 100x100"}


def test_long_video_is_refused_from_its_header(index, effnet, tmp_path):
    settings = service_settings(index, state_dir=tmp_path / "state").model_copy(
        update={"video": VideoLimits(max_duration_s=2)})
    video = write_test_video(tmp_path / "v.mp4", seconds=3)
    with running_app(settings, effnet) as client:
        response = client.post("/v1/jobs", files={"file": ("v.mp4", video.read_bytes())})
    assert response.status_code == 422 and "the limit is 2 s" in response.json()["error"]["message"]


@pytest.mark.parametrize("data, field", [
    ({"fps": "0"}, "fps"), ({"fps": "fast"}, "fps"), ({"threshold": "2"}, "threshold"),
    ({"top_k": "0"}, "top_k"),
])
def test_bad_parameters_are_422(client, tmp_path, data, field):
    video = write_test_video(tmp_path / "v.mp4")
    response = client.post("/v1/tags", files={"file": ("v.mp4", video.read_bytes())}, data=data)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "bad_request" and field in response.json()["error"]["message"]


def test_missing_file_is_422(client):
    response = client.post("/v1/tags", data={"fps": "2"})
    assert response.status_code == 422 and "file" in response.json()["error"]["message"]


def test_body_over_the_limit_is_413_with_content_length(client):
    response = client.post("/v1/tags", files={"file": ("big.mp4", bytes(2_100_000))})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert uploads_of(client) == []


def test_body_over_the_limit_is_413_without_content_length(client):
    def chunks():  # a generator body is sent chunked: no Content-Length at all
        for _ in range(30):
            yield bytes(100_000)

    response = client.post("/v1/tags", content=chunks(),
                           headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert uploads_of(client) == []


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/v1/nothing").json()["error"]["code"] == "not_found"
    response = client.put("/v1/tags")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    unknown_job = client.get("/v1/jobs/0123")
    assert unknown_job.status_code == 404 and unknown_job.json()["error"]["code"] == "not_found"


def test_metrics_count_requests_by_route_and_status(client, tmp_path):
    video = write_test_video(tmp_path / "v.mp4")
    client.post("/v1/tags", files={"file": ("v.mp4", video.read_bytes())}, data={"fps": "2"})
    client.get("/v1/products/nope")
    text = client.get("/metrics").text
    assert 'shoptag_http_requests_total{method="POST",route="/v1/tags",status="200"}' in text
    assert 'shoptag_http_requests_total{method="GET",route="/v1/products/{product_id:path}",status="404"}' in text
    assert 'shoptag_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/tags"}' in text
    assert 'shoptag_queue_depth{queue="workers"} 0.0' in text
    assert 'shoptag_queue_depth{queue="jobs"} 0.0' in text
    frames = next(line for line in text.splitlines() if line.startswith("shoptag_frames_processed_total"))
    assert float(frames.split()[-1]) >= 6
    assert 'shoptag_stage_seconds_total{stage="embed"}' in text


def test_body_over_the_limit_is_413_with_a_false_content_length():
    """The bytes received count, not the Content-Length the client declared."""
    import asyncio

    from shoptag.api.limits import BodyLimits

    async def app(scope, receive, send):  # reads everything, as the multipart parser would
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = [{"type": "http.request", "body": bytes(600), "more_body": True}] * 3
    sent = []

    async def receive():
        return chunks.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/tags",
             "headers": [(b"content-length", b"10")]}
    asyncio.run(BodyLimits(app, limit_of=lambda scope: 1000, idle_timeout_s=5, min_bytes_per_s=0)(
        scope, receive, send))
    assert sent[0]["status"] == 413
    assert b"too_large" in sent[1]["body"] and len(sent) == 2


@pytest.mark.parametrize("body, message", [
    # no closing boundary: the body stops as if the client had been cut off
    (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="v.mp4"\r\n\r\n'
     + b"\x00\x00\x00\x18ftypisom" + bytes(64), "ends before its closing boundary"),
    (b'--xyz\r\nContent-Disposition: form-data; name="fps"\r\n\r\n2\r\n'
     b'--xyz\r\nContent-Disposition: form-data; name="fps"\r\n\r\n3\r\n--xyz--\r\n', "given more than once"),
    (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8\'\'v.mp4\r\n\r\nabc\r\n--xyz--\r\n',
     "filename="),
    (b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n--xyz--\r\n', "must be a file part"),
    (b"".join(b'--xyz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n1\r\n' % n for n in range(40))
     + b"--xyz--\r\n", "more than 16 form fields"),
])
def test_malformed_video_forms_are_422_and_leave_no_file(client, body, message):
    response = client.post("/v1/tags", content=body, headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert uploads_of(client) == []


def test_unknown_form_fields_are_refused_not_ignored(client, tmp_path):
    video = write_test_video(tmp_path / "v.mp4")
    response = client.post("/v1/tags", files={"file": ("v.mp4", video.read_bytes())}, data={"top-k": "3"})
    assert response.status_code == 422 and "top-k" in response.json()["error"]["message"]
