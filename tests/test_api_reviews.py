"""What the review page needs of the service, through the real app: job progress, the job's
video, saved review decisions (revisions, ownership, refusals), the catalog's title search
and thumbnails, the page itself, and the export of reviews as annotations."""

import json
import time

import cv2
import numpy as np
import pytest

from shoptag.api.jobs import Job
from shoptag.api.reviews import ReviewIn, check_decisions
from shoptag.cli.main import main
from shoptag.demo import write_demo_video
from shoptag.errors import JobNotFinishedError
from shoptag.evaluation.annotations import load_annotations

from helpers import REPO
from helpers.api import API_KEYS, CREATOR_KEY, OTHER_CREATOR_KEY, bearer, make_index, running_app, service_settings
from helpers.api import wait_for_job as wait_for
from helpers.media import codec_of

CREATOR = bearer(CREATOR_KEY)
OTHER = bearer(OTHER_CREATOR_KEY)


@pytest.fixture(scope="module")
def served_index(tmp_path_factory, effnet):
    return make_index(tmp_path_factory.mktemp("reviews"), effnet)


@pytest.fixture(scope="module")
def client(served_index, effnet):
    # The demo catalog's image paths are relative to its folder: thumbnails are read from there.
    settings = service_settings(served_index, api_keys=API_KEYS, image_root=served_index.parent / "catalog")
    with running_app(settings, effnet) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def demo_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.mp4"
    write_demo_video(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def finished_job(client, demo_video):
    answer = client.post("/v1/jobs", files={"file": ("demo.mp4", demo_video)}, headers=CREATOR)
    assert answer.status_code == 202, answer.text
    assert answer.json()["progress"]["stage"] in ("queued", "tagging")
    job = wait_for(client, answer.json()["id"], CREATOR)
    assert job["status"] == "succeeded", job
    return job


def test_a_finished_job_reports_its_frames_and_serves_its_video(client, finished_job, demo_video):
    sampled = finished_job["result"]["frames_sampled"]
    assert finished_job["progress"] == {"stage": "done", "frames_done": sampled, "frames_total": sampled}
    assert {t["product_id"] for t in finished_job["result"]["tags"]} == {"espresso-cup", "astronaut-poster"}
    url = f"/v1/jobs/{finished_job['id']}/video"
    # Played from the copy every browser plays: H.264, where the upload is MPEG-4 Part 2.
    served = client.get(url, headers=CREATOR).content
    assert codec_of(demo_video) == "mpeg4" and codec_of(served) == "h264"
    demo_video = served
    part = client.get(url, headers={**CREATOR, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == demo_video[10:20]
    # Ranges that cannot be served get this service's JSON errors, not the framework's text.
    for bad, status in (("bytes=abc", 400), ("bytes=20-10", 400), ("items=0-1", 400), ("bytes=-", 400),
                        (f"bytes={len(demo_video)}-", 416), ("bytes=-0", 416), (f"bytes=1{'0' * 5000}-", 416)):
        refused = client.get(url, headers={**CREATOR, "Range": bad})
        assert refused.status_code == status and refused.json()["error"]["message"], bad
    assert refused.headers["Content-Range"] == f"bytes */{len(demo_video)}"
    # A last byte or suffix of more digits than int() takes reaches to the end of the video.
    to_the_end = client.get(url, headers={**CREATOR, "Range": f"bytes=10-{'9' * 5000}"})
    assert to_the_end.status_code == 206 and to_the_end.content == demo_video[10:]
    assert client.get(url, headers={**CREATOR, "Range": f"bytes=-{'9' * 5000}"}).content == demo_video
    assert client.get(url, headers=OTHER).status_code == 404


def _decisions(end_s: float = 3.0) -> list[dict]:
    return [{"product_id": "espresso-cup", "verdict": "accepted", "segments": [{"start_s": 0.5, "end_s": end_s}]},
            {"product_id": "astronaut-poster", "verdict": "rejected", "segments": []},
            {"product_id": "rocket-poster", "verdict": "added", "segments": [
                {"start_s": 1.0, "end_s": 2.5, "box": {"time_s": 1.5, "x": 40, "y": 30, "w": 120, "h": 90}}]}]


def test_a_review_is_saved_by_revision_and_only_its_owner_sees_it(client, finished_job):
    url = f"/v1/jobs/{finished_job['id']}/review"
    assert client.get(url, headers=CREATOR).json() == {"job_id": finished_job["id"], "revision": 0, "updated": None,
                                                       "decisions": []}
    first = client.put(url, json={"revision": 0, "decisions": _decisions()}, headers=CREATOR)
    assert first.status_code == 200, first.text
    saved = first.json()
    assert saved["revision"] == 1 and [d["verdict"] for d in saved["decisions"]] == ["accepted", "rejected", "added"]
    (owner,) = {d["decided_by"] for d in saved["decisions"]}
    assert owner.startswith("key-")
    # A save built from an older revision is refused and changes nothing.
    stale = client.put(url, json={"revision": 0, "decisions": []}, headers=CREATOR)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "conflict"
    assert client.get(url, headers=CREATOR).json() == saved
    # Another key sees neither the job nor its review, and cannot write one.
    assert client.get(url, headers=OTHER).status_code == 404
    assert client.put(url, json={"revision": 1, "decisions": []}, headers=OTHER).status_code == 404
    # Changing one decision restamps that one only.
    second = client.put(url, json={"revision": 1, "decisions": _decisions(end_s=3.4)}, headers=CREATOR).json()
    assert second["revision"] == 2
    assert second["decisions"][0]["decided_at"] == second["updated"] != saved["decisions"][0]["decided_at"]
    assert second["decisions"][1]["decided_at"] == saved["decisions"][1]["decided_at"]


@pytest.mark.parametrize(("decisions", "reason"), [
    ([{"product_id": "espresso-cup", "verdict": "accepted", "segments": [{"start_s": 1, "end_s": 2}]}] * 2,
     "decided twice"),
    ([{"product_id": "rocket-poster", "verdict": "accepted", "segments": [{"start_s": 1, "end_s": 2}]}],
     "was not suggested"),
    ([{"product_id": "espresso-cup", "verdict": "added", "segments": [{"start_s": 1, "end_s": 2}]}],
     "was suggested"),
    ([{"product_id": "no-such-product", "verdict": "added", "segments": [{"start_s": 1, "end_s": 2}]}],
     "not in the catalog"),
    ([{"product_id": "espresso-cup", "verdict": "rejected", "segments": [{"start_s": 1, "end_s": 2}]}],
     "has no segments"),
    ([{"product_id": "espresso-cup", "verdict": "accepted", "segments": []}], "needs at least one segment"),
    ([{"product_id": "espresso-cup", "verdict": "accepted", "segments": [{"start_s": 2, "end_s": 1}]}],
     "must end after it starts"),
    ([{"product_id": "espresso-cup", "verdict": "accepted", "segments": [{"start_s": 1, "end_s": 99}]}],
     "past the video's end"),
    ([{"product_id": "espresso-cup", "verdict": "accepted", "segments": [{"start_s": 7.9, "end_s": 8.0}]}],
     "past the video's end"),
    ([{"product_id": "espresso-cup", "verdict": "accepted", "segments": [{"start_s": 1, "end_s": 1.001}]}],
     "must end after it starts"),
    ([{"product_id": "rocket-poster", "verdict": "added", "segments": [
        {"start_s": 1, "end_s": 2, "box": {"time_s": 3, "x": 0, "y": 0, "w": 10, "h": 10}}]}], "outside its segment"),
    ([{"product_id": "rocket-poster", "verdict": "added", "segments": [
        {"start_s": 1, "end_s": 2, "box": {"time_s": 1.5, "x": 600, "y": 0, "w": 100, "h": 10}}]}],
     "outside the 640x360 frame"),
    ([{"product_id": "espresso-cup", "verdict": "accepted", "segments": [{"start_s": True, "end_s": 2}]}],
     "valid number"),
    ([{"product_id": "espresso-cup", "verdict": "maybe", "segments": []}], "verdict"),
])
def test_bad_decisions_are_refused_with_the_reason(client, finished_job, decisions, reason):
    url = f"/v1/jobs/{finished_job['id']}/review"
    before = client.get(url, headers=CREATOR).json()
    answer = client.put(url, json={"revision": before["revision"], "decisions": decisions}, headers=CREATOR)
    assert answer.status_code == 422 and reason in json.dumps(answer.json()), answer.text
    assert client.get(url, headers=CREATOR).json() == before


def test_too_many_decisions_or_bytes_are_refused(client, finished_job):
    url = f"/v1/jobs/{finished_job['id']}/review"
    many = [{"product_id": f"p{i}", "verdict": "rejected", "segments": []} for i in range(501)]
    assert client.put(url, json={"revision": 0, "decisions": many}, headers=CREATOR).status_code == 422
    # A JSON body is read into memory: it may not be large, whatever the upload limit, and
    # whatever type it claims, sent whole or in chunks.
    huge = b'{"revision": 0, "decisions": [' + b" " * (2 << 20) + b"]}"
    for content_type in ("application/json", "multipart/form-data; boundary=x"):
        for body in (huge, iter([huge[:1000], huge[1000:]])):
            answer = client.put(url, content=body, headers={**CREATOR, "Content-Type": content_type})
            assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"
    # Two Content-Types, which parsers would read differently, are refused.
    twice = client.put(url, content=b"{}", headers=[("Authorization", f"Bearer {CREATOR_KEY}"),
                                                     ("Content-Type", "application/json"),
                                                     ("Content-Type", "multipart/form-data; boundary=x")])
    assert twice.status_code == 400 and twice.json()["error"]["code"] == "bad_request"


def test_a_job_without_result_cannot_be_reviewed():
    job = Job(id="j", owner="o", status="running", video_name="v.mp4", upload=None, params={}, created="", updated="")
    with pytest.raises(JobNotFinishedError, match="only a finished job"):
        check_decisions(ReviewIn(revision=0, decisions=[]), job, ["index"], lambda *_: True)


def test_reviews_export_as_annotations_that_eval_reads(client, finished_job, served_index, demo_video, tmp_path,
                                                      capsys):
    url = f"/v1/jobs/{finished_job['id']}/review"
    out = tmp_path / "feedback.json"
    state = served_index.parent / "state"  # as service_settings puts it
    # A review that leaves a suggestion undecided would call that product absent: left out.
    revision = client.get(url, headers=CREATOR).json()["revision"]
    partial = client.put(url, json={"revision": revision, "decisions": _decisions()[:1]}, headers=CREATOR).json()
    assert main(["feedback", "export", "--state-dir", str(state), "--out", str(out)]) == 1
    assert "with undecided suggestions: 1" in capsys.readouterr().err and not out.exists()
    full = client.put(url, json={"revision": partial["revision"], "decisions": _decisions()}, headers=CREATOR)
    assert full.status_code == 200
    assert main(["feedback", "export", "--state-dir", str(state), "--out", str(out)]) == 0
    assert "1 reviewed video(s), 2 appearance(s)" in capsys.readouterr().out
    (video,) = load_annotations(out)
    assert video.video.read_bytes() == demo_video  # the upload that was tagged, not the copy played
    assert [(a.product_id, a.start_s, a.end_s) for a in video.appearances] == [
        ("espresso-cup", 0.5, 3.0), ("rocket-poster", 1.0, 2.5)]
    assert video.appearances[1].track == ((1.5, 40, 30, 120, 90),)  # the box the creator placed
    assert json.loads(out.read_text())["videos"][0]["job_id"] == finished_job["id"]


def test_export_without_a_state_folder_says_so(tmp_path, capsys):
    assert main(["feedback", "export", "--state-dir", str(tmp_path), "--out", str(tmp_path / "f.json")]) == 1
    assert "no job database" in capsys.readouterr().err


def test_the_catalog_is_searched_by_title_and_shows_thumbnails(client):
    found = client.get("/v1/products", params={"q": "POSTER"}, headers=CREATOR).json()
    assert [p["product_id"] for p in found["products"]] == ["astronaut-poster", "rocket-poster"]
    assert [p["product_id"] for p in client.get("/v1/products", params={"q": "launch falcon"},
                                                headers=CREATOR).json()["products"]] == ["rocket-poster"]
    # Words match by their start, as a shopper types: a fragment inside a word finds nothing.
    assert client.get("/v1/products", params={"q": "ster"}, headers=CREATOR).json()["products"] == []
    assert len(client.get("/v1/products", params={"limit": 2}, headers=CREATOR).json()["products"]) == 2
    assert client.get("/v1/products", params={"limit": 51}, headers=CREATOR).status_code == 422
    unknown = client.get("/v1/products", params={"title": "poster"}, headers=CREATOR)
    assert unknown.status_code == 422 and "unknown query parameter" in unknown.text
    image = client.get("/v1/product-images/rocket-poster", headers=CREATOR)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    pixels = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
    assert max(pixels.shape[:2]) == 256
    missing = client.get("/v1/product-images/no-such-product", headers=CREATOR)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/v1/product-images/rocket-poster").status_code == 401


def test_a_product_added_then_removed_from_the_catalog_keeps_the_review_editable(tmp_path, effnet, demo_video):
    index = make_index(tmp_path, effnet)
    merchant = bearer(API_KEYS[0]["key"])
    with running_app(service_settings(index, api_keys=API_KEYS), effnet) as local:
        job = wait_for(local, local.post("/v1/jobs", files={"file": ("demo.mp4", demo_video)},
                                         headers=CREATOR).json()["id"], CREATOR)
        url = f"/v1/jobs/{job['id']}/review"
        assert local.put(url, json={"revision": 0, "decisions": _decisions()}, headers=CREATOR).status_code == 200
        assert local.delete("/v1/products/rocket-poster", headers=merchant).status_code == 200
        # The rest of the review can still change while the added product stays as saved...
        changed = _decisions(end_s=3.2)
        assert local.put(url, json={"revision": 1, "decisions": changed}, headers=CREATOR).status_code == 200
        # ... but it cannot be added anew or moved.
        changed[2]["segments"] = [{"start_s": 1.5, "end_s": 2.5}]
        moved = local.put(url, json={"revision": 2, "decisions": changed}, headers=CREATOR)
        assert moved.status_code == 422 and "not in the catalog" in moved.text
        strings = local.put(url, json={"revision": "2", "decisions": []}, headers=CREATOR)
        assert strings.status_code == 422


def test_a_video_past_its_retention_is_not_served(served_index, effnet, demo_video, tmp_path):
    settings = service_settings(served_index, state_dir=tmp_path / "state", job_video_retention_s=1)
    with running_app(settings, effnet) as local:
        job = wait_for(local, local.post("/v1/jobs", files={"file": ("demo.mp4", demo_video)}).json()["id"])
        time.sleep(1.2)  # no other job finishes meanwhile: the route itself must know
        gone = local.get(f"/v1/jobs/{job['id']}/video")
        assert gone.status_code == 404 and "no longer kept" in gone.json()["error"]["message"]


def test_videos_over_the_kept_bytes_go_oldest_first(served_index, effnet, demo_video, tmp_path):
    budget = len(demo_video) * 3 // 2  # room for one video (no copy for browsers: only the uploads count)
    settings = service_settings(served_index, state_dir=tmp_path / "state", job_video_max_bytes=budget,
                                review_video_side=0)
    with running_app(settings, effnet) as local:
        older, newer = (wait_for(local, local.post("/v1/jobs", files={"file": ("demo.mp4", demo_video)}).json()["id"])
                        for _ in range(2))
        assert local.get(f"/v1/jobs/{newer['id']}/video").status_code == 200
        assert local.get(f"/v1/jobs/{older['id']}/video").status_code == 404
        assert len(list(local.app.state.service.folder.job_videos.iterdir())) == 1


def test_the_page_is_served_with_a_strict_content_security_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe-inline" not in policy
    script = client.get("/static/review.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    # Every module the entry imports is preloaded, so the browser fetches them at once.
    modules = {f.name for f in (REPO / "api" / "static").glob("*.js")} - {"review.js"}
    assert all(f'<link rel="modulepreload" href="/static/{name}">' in page.text for name in modules)
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/nothing.js").json()["error"]["code"] == "not_found"
    icon = client.get("/favicon.ico")  # asked for on every load: no 404 in the console
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml" and b"<svg" in icon.content
    assert client.get("/v1/me", headers=CREATOR).json() == {"role": "creator", "keys_required": True}
    assert client.get("/v1/me").status_code == 401


def test_without_retention_a_video_is_deleted_once_tagged(served_index, effnet, demo_video, tmp_path):
    settings = service_settings(served_index, state_dir=tmp_path / "state", job_video_retention_s=0)
    with running_app(settings, effnet) as local:
        job = wait_for(local, local.post("/v1/jobs", files={"file": ("demo.mp4", demo_video)}).json()["id"])
        assert job["status"] == "succeeded"
        gone = local.get(f"/v1/jobs/{job['id']}/video")
        assert gone.status_code == 404 and "no longer kept" in gone.json()["error"]["message"]
        assert list(local.app.state.service.folder.job_videos.iterdir()) == []
        assert list(local.app.state.service.folder.review_videos.iterdir()) == []
        assert local.get("/v1/me").json() == {"role": "merchant", "keys_required": False}
        # No image root, and the catalog's paths are relative: the index serves its own thumbnails.
        stored = local.get("/v1/product-images/rocket-poster")
        assert stored.status_code == 200 and stored.headers["content-type"] == "image/jpeg"


def test_the_products_nearest_to_a_frame_are_offered_first(client, finished_job):
    url = f"/v1/jobs/{finished_job['id']}/nearest-products"
    cup = client.get(url, params={"time_s": 2.0, "limit": 3}, headers=CREATOR)
    assert cup.status_code == 200, cup.text
    assert cup.json()["products"][0]["product_id"] == "espresso-cup" and len(cup.json()["products"]) == 3
    ranked = [p["similarity"] for p in cup.json()["products"]]
    assert ranked == sorted(ranked, reverse=True)
    poster = client.get(url, params={"time_s": 5.5}, headers=CREATOR).json()["products"]
    assert poster[0]["product_id"] == "astronaut-poster" and poster[0]["catalog"]
    past_the_end = client.get(url, params={"time_s": 3600}, headers=CREATOR)
    assert past_the_end.status_code == 422 and "no frame at" in past_the_end.json()["error"]["message"]
    assert client.get(url, params={"time_s": 2.0}, headers=OTHER).status_code == 404
    assert client.get(url, params={"time_s": -1}, headers=CREATOR).status_code == 422

