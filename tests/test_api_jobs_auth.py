"""Async jobs (idempotency, ownership) and API-key auth, through the real app."""


import pytest

from helpers.api import (
    API_KEYS,
    CREATOR_KEY,
    MERCHANT_KEY,
    OTHER_CREATOR_KEY,
    bearer,
    make_index,
    running_app,
    service_settings,
    wait_for_job,
)
from helpers.media import codec_of, write_test_video


@pytest.fixture(scope="module")
def client(tmp_path_factory, effnet):
    index = make_index(tmp_path_factory.mktemp("jobs"), effnet)
    # A 1 s sync limit turns the 3 s test clip into a job when it is sent to /v1/tags.
    settings = service_settings(index, api_keys=API_KEYS, sync_max_duration_s=1, queue_size=4)
    with running_app(settings, effnet) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("video") / "v.mp4").read_bytes()


def test_v1_routes_need_a_key(client, video):
    for method, url in [("post", "/v1/tags"), ("post", "/v1/jobs"), ("get", "/v1/jobs/x"),
                        ("get", "/v1/products/espresso-cup"), ("delete", "/v1/products/espresso-cup"),
                        ("post", "/v1/products")]:
        response = getattr(client, method)(url)
        assert response.status_code == 401, (method, url)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"
    wrong = client.post("/v1/tags", files={"file": ("v.mp4", video)}, headers=bearer("not-a-key-at-all"))
    assert wrong.status_code == 401
    assert client.get("/livez").status_code == 200 and client.get("/metrics").status_code == 200


def test_creators_tag_but_cannot_change_products(client):
    assert client.get("/v1/products/espresso-cup", headers=bearer(CREATOR_KEY)).status_code == 200
    response = client.delete("/v1/products/espresso-cup", headers=bearer(CREATOR_KEY))
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    response = client.post("/v1/products", data={"product_id": "x", "title": "X"},
                           headers=bearer(CREATOR_KEY))
    assert response.status_code == 403
    assert client.get("/v1/products/espresso-cup", headers=bearer(MERCHANT_KEY)).status_code == 200


def test_a_long_video_sent_to_tags_becomes_a_job(client, video):
    response = client.post("/v1/tags", files={"file": ("v.mp4", video)}, data={"fps": "2"},
                           headers=bearer(CREATOR_KEY))
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] in ("queued", "running") and response.headers["Location"] == f"/v1/jobs/{job['id']}"
    done = wait_for_job(client, job["id"], bearer(CREATOR_KEY))
    assert done["status"] == "succeeded", done
    assert done["result"]["frames_sampled"] == 6 and done["result"]["video"] == "v.mp4"
    # The stored video is kept for the creator's review, for its owner only, as a copy every
    # browser plays (the upload is MPEG-4 Part 2, which Chromium does not).
    played = client.get(f"/v1/jobs/{job['id']}/video", headers=bearer(CREATOR_KEY))
    assert played.status_code == 200 and played.headers["content-type"] == "video/mp4"
    assert codec_of(played.content) == "h264" and codec_of(video) == "mpeg4"
    assert client.get(f"/v1/jobs/{job['id']}/video", headers=bearer(OTHER_CREATOR_KEY)).status_code == 404


def test_a_job_is_visible_only_to_its_key(client, video):
    job = client.post("/v1/jobs", files={"file": ("v.mp4", video)}, headers=bearer(CREATOR_KEY)).json()
    assert client.get(f"/v1/jobs/{job['id']}", headers=bearer(CREATOR_KEY)).status_code == 200
    other = client.get(f"/v1/jobs/{job['id']}", headers=bearer(OTHER_CREATOR_KEY))
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    wait_for_job(client, job["id"], bearer(CREATOR_KEY))


def test_idempotency_key_returns_the_same_job(client, video):
    headers = {**bearer(CREATOR_KEY), "Idempotency-Key": "upload-42"}
    first = client.post("/v1/jobs", files={"file": ("v.mp4", video)}, headers=headers)
    again = client.post("/v1/jobs", files={"file": ("v.mp4", video)}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    # The same key from another caller is that caller's own key space: a new job.
    other = client.post("/v1/jobs", files={"file": ("v.mp4", video)},
                        headers={**bearer(OTHER_CREATOR_KEY), "Idempotency-Key": "upload-42"})
    assert other.json()["id"] != first.json()["id"]
    conflict = client.post("/v1/jobs", files={"file": ("v.mp4", video)}, data={"fps": "1"}, headers=headers)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    for job_id, key in ((first.json()["id"], CREATOR_KEY), (other.json()["id"], OTHER_CREATOR_KEY)):
        assert wait_for_job(client, job_id, bearer(key))["status"] == "succeeded"


def test_an_unauthenticated_upload_is_refused_before_its_body_is_read():
    import asyncio

    from shoptag.api.auth import Authenticate
    from shoptag.settings import ApiKey

    async def app(scope, receive, send):
        raise AssertionError("the app must not run")

    async def receive():
        raise AssertionError("the body must not be read")

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/tags", "headers": [(b"content-length", b"99999999")]}
    keys = (ApiKey(key=CREATOR_KEY, role="creator"),)
    asyncio.run(Authenticate(app, keys)(scope, receive, send))
    assert sent[0]["status"] == 401


def test_too_many_queued_jobs_answer_429_but_a_retry_still_gets_its_job(tmp_path, effnet, video):
    settings = service_settings(make_index(tmp_path, effnet), workers=1, queue_size=0, max_queued_jobs=1,
                                retry_after_s=9)
    with running_app(settings, effnet) as client:
        # One worker runs a job for seconds, one job may wait: of three quick submissions,
        # at least one finds the queue full.
        answers = [client.post("/v1/jobs", files={"file": ("v.mp4", video)}, headers={"Idempotency-Key": f"k{i}"})
                   for i in range(3)]
        statuses = [a.status_code for a in answers]
        assert statuses.count(202) >= 1 and 429 in statuses, statuses
        busy = next(a for a in answers if a.status_code == 429)
        assert busy.headers["Retry-After"] == "9" and busy.json()["error"]["code"] == "busy"
        accepted = next(i for i, a in enumerate(answers) if a.status_code == 202)
        retry = client.post("/v1/jobs", files={"file": ("v.mp4", video)}, headers={"Idempotency-Key": f"k{accepted}"})
        assert retry.status_code == 202 and retry.json()["id"] == answers[accepted].json()["id"]
        for answer in answers:
            if answer.status_code == 202:
                wait_for_job(client, answer.json()["id"])
