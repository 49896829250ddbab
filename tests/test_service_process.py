"""A real `shoptag serve` process: start, refuse unsafe binds, answer 429 under load, and
keep jobs across a hard kill and restart."""

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shoptag.demo import write_demo_video

from helpers.api import make_index, served
from helpers.media import write_test_video

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def index(tmp_path_factory, effnet):
    return make_index(tmp_path_factory.mktemp("served"), effnet)


def test_it_says_it_has_no_auth_and_refuses_a_public_bind_without_keys(index, tmp_path):
    with served(index, tmp_path) as (base, _):
        assert httpx.get(f"{base}/livez").json() == {"status": "ok"}
    assert "no API keys configured" in next(tmp_path.glob("serve-*.log")).read_text()
    refused = subprocess.run([sys.executable, "-m", "shoptag.cli", "serve", "--index", str(index),
                              "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "refusing to serve on 0.0.0.0 without API keys" in refused.stderr


def test_a_full_pool_answers_429_with_retry_after(index, tmp_path):
    video = write_test_video(tmp_path / "v.mp4", seconds=3).read_bytes()
    with served(index, tmp_path, workers=1, queue_size=1, retry_after_s=7) as (base, _):
        def post(_):
            return httpx.post(f"{base}/v1/tags", files={"file": ("v.mp4", video)}, data={"fps": "4"},
                              timeout=120)

        with ThreadPoolExecutor(6) as threads:
            responses = list(threads.map(post, range(6)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) >= 2 and 429 in statuses and set(statuses) <= {200, 429}, statuses
        busy = next(r for r in responses if r.status_code == 429)
        assert busy.headers["Retry-After"] == "7" and busy.json()["error"]["code"] == "busy"
        # Refused work was never queued: once the others finish, the service is idle and answers.
        assert post(0).status_code == 200


def test_jobs_survive_a_hard_kill_and_restart(index, tmp_path):
    video = tmp_path / "demo.mp4"
    write_demo_video(video)
    # Videos are deleted once tagged (no retention for review), so none may be left behind.
    with served(index, tmp_path, job_video_retention_s=0) as (base, process):
        ids = [httpx.post(f"{base}/v1/jobs", files={"file": ("demo.mp4", video.read_bytes())},
                          timeout=60).json()["id"] for _ in range(2)]
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/v1/jobs/{ids[0]}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with served(index, tmp_path, job_video_retention_s=0) as (base, _):
        for job_id in ids:
            deadline = time.monotonic() + 120
            while (job := httpx.get(f"{base}/v1/jobs/{job_id}").json())["status"] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
            assert job["status"] == "succeeded", job
            assert {t["product_id"] for t in job["result"]["tags"]} == {"espresso-cup", "astronaut-poster"}
    assert list((tmp_path / "state" / "job-videos").iterdir()) == []
