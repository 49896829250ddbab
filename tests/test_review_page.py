"""The creator review page (api/static), end to end: a real `shoptag serve`, Debian's chromium
driven by Playwright, the demo clip (as VP8 WebM, which chromium plays).

One realistic review (upload, progress, suggestions over the video, accept / reject / adjust /
add, save, reload, the stored review), then what must hold around it: product fields are shown
as text and never run, API keys are asked for and keep jobs apart, the page reaches no other
origin and is served with its CSP, and a save that lost a race reloads and says so.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import httpx
import pytest

from shoptag.demo import write_demo_catalog
from shoptag.indexing.catalog import read_catalog
from shoptag.indexing.images import ImageReader
from shoptag.indexing.writer import build_index
from shoptag.settings import Settings

from helpers import REPO
from helpers.api import API_KEYS, CREATOR_KEY, OTHER_CREATOR_KEY, bearer, make_index, served
from helpers.browser import (
    by_id,
    card,
    current_time,
    drag_edge,
    drag_playhead,
    fail_first,
    job_id_of,
    open_review,
    progress_seen,
    record_progress,
    screenshot,
    seek,
    segment_times,
    text_is,
    track_box_at,
    track_x,
    wait_for_review,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser")]  # no browser: skip before any setup

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; media-src 'self' blob:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
CUP, ASTRONAUT, ROCKET = "espresso-cup", "astronaut-poster", "rocket-poster"
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
HOSTILE_ID = 'cup/<script>alert("id")</script>?x=1#frag'
TWIN_TITLE = "<svg onload=alert(4)>"
TWIN_ID = "cup/twin?<svg onload=alert(5)>"
ROCKET_TITLE = "<b onmouseover=alert(3)>Falcon</b> poster"


@pytest.fixture(scope="module")
def service(tmp_path_factory, effnet):
    """A service on the demo catalog, without API keys (loopback only). Its photos' paths are
    relative to the catalog folder: the service's image root, where thumbnails are read."""
    folder = tmp_path_factory.mktemp("review-page")
    with served(make_index(folder, effnet), folder, image_root=folder / "catalog") as (base, _):
        yield base, folder


def tag_with_api(base: str, clip, headers: dict | None = None) -> dict:
    """Submit ``clip`` as a job over HTTP and wait for its result."""
    with httpx.Client(base_url=base, headers=headers or {}, timeout=30) as client:
        answer = client.post("/v1/jobs", files={"file": (clip.name, clip.read_bytes(), "video/webm")})
        assert answer.status_code == 202, answer.text
        deadline = time.monotonic() + 120
        while (job := client.get(f"/v1/jobs/{answer.json()['id']}").json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
        return job


@pytest.fixture(scope="module")
def tagged_job(service, demo_webm):
    return tag_with_api(service[0], demo_webm)


def box_in_video_pixels(page, product_id: str, result: dict) -> list[float]:
    """Where the page drew a product's box, mapped back to the video's pixels."""
    video = by_id(page, "video").bounding_box()
    box = by_id(page, "box", product_id).bounding_box()
    # The video element letterboxes the picture: the same contain-fit the page computes.
    scale = min(video["width"] / result["width"], video["height"] / result["height"])
    left = video["x"] + (video["width"] - result["width"] * scale) / 2
    top = video["y"] + (video["height"] - result["height"] * scale) / 2
    return [(box["x"] - left) / scale, (box["y"] - top) / scale, box["width"] / scale, box["height"] / scale]


def test_a_creator_reviews_a_clip_and_the_decisions_are_kept(service, demo_webm, new_page):
    base, folder = service
    watched = new_page()
    page = watched.page
    page.goto(base + "/")
    by_id(page, "drop-zone").wait_for()
    assert by_id(page, "key-dialog").is_hidden()  # no keys: nothing to ask

    # Upload through the file input; both progress bars are seen moving.
    record_progress(page)
    by_id(page, "file-input").set_input_files(str(demo_webm))
    wait_for_review(page, count=2)
    job_id = job_id_of(page)
    seen = progress_seen(page)
    assert seen["upload"] and max(seen["upload"]) == 100, seen
    assert any(re.fullmatch(r"\d+% of [\d.]+ MB", text) for text in seen["uploadText"]), seen
    frames = [re.fullmatch(r"Frames (\d+) of (\d+)", text) for text in seen["processing"]]
    frames = [(int(m[1]), int(m[2])) for m in frames if m]
    assert frames and all(0 <= done <= total for done, total in frames), seen
    job = httpx.get(f"{base}/v1/jobs/{job_id}").json()
    result = job["result"]
    tags = {tag["product_id"]: tag for tag in result["tags"]}
    assert set(tags) == {CUP, ASTRONAUT}

    # The suggestions: title, score, thumbnail, storefront link; one lane each on the timeline.
    cup = card(page, CUP)
    assert by_id(cup, "suggestion-title").inner_text() == "Espresso cup, white porcelain"
    assert by_id(cup, "suggestion-score").get_attribute("data-score") == f"{tags[CUP]['score']:.2f}"
    assert by_id(cup, "suggestion-link").get_attribute("href") == "https://demo.shoptag.invalid/products/espresso-cup"
    wait_until(page, "[...document.querySelectorAll('[data-testid=\"suggestion-thumb\"]')]"
                     ".filter((img) => img.complete && img.naturalWidth > 0).length === 2")
    assert by_id(page, "lane").count() == 2
    uncertain = any(s["uncertain"] for s in tags[CUP]["segments"])
    assert by_id(cup, "suggestion-uncertain").count() == int(uncertain)

    # Inside its segment the cup's box is drawn where the tagger found it, scaled to the display.
    cup_segment = tags[CUP]["segments"][0]
    seek(page, cup_segment["best_frame_s"])
    assert by_id(page, "box", CUP).is_visible() and by_id(page, "box", ASTRONAUT).is_hidden()
    drawn = box_in_video_pixels(page, CUP, result)
    assert drawn == pytest.approx(cup_segment["bbox"], abs=3), (drawn, cup_segment["bbox"])
    screenshot(page, "review-page.jpg")

    # Clicking a suggestion seeks to its segment's start.
    by_id(card(page, ASTRONAUT), "suggestion-title").click()
    assert current_time(page) == pytest.approx(tags[ASTRONAUT]["segments"][0]["start_s"], abs=0.05)

    # Accept the cup with its button; the astronaut: N selects the next suggestion, R rejects.
    by_id(cup, "accept-button").click()
    assert cup.get_attribute("data-verdict") == "accepted"
    # Space plays and pauses, even with focus on the button just clicked (which it must not press).
    page.keyboard.press(" ")
    wait_until(page, "!document.getElementById('video').paused")
    page.keyboard.press(" ")
    wait_until(page, "document.getElementById('video').paused")
    assert cup.get_attribute("data-verdict") == "accepted"
    page.keyboard.press("P")  # back to the first: the cup
    page.keyboard.press("N")
    page.keyboard.press("r")
    assert card(page, ASTRONAUT).get_attribute("data-verdict") == "rejected"
    assert cup.get_attribute("data-verdict") == "accepted"

    # Fix the cup's segment: drag its start to 1.2 s, then seek to 3.0 s and "End here".
    duration = result["duration_s"]
    page.keyboard.press("ArrowUp")  # select the cup again
    drag_edge(page, CUP, "start", 1.2, duration)
    ((start, _),) = segment_times(page, CUP)
    assert start == pytest.approx(1.2, abs=0.05)
    seek(page, 3.0)
    by_id(page, "end-here").click()
    assert segment_times(page, CUP) == [(start, 3.0)]

    # Add a product the tagger did not suggest: from the product sheet's title search, at 6.5 s
    # (its 2 s segment is clipped to the video's end), then "[" moves its start to 6.0 s.
    rocket_end = round(duration, 2)
    assert duration < 6.5 + 2
    seek(page, 6.5)
    by_id(page, "add-product").click()
    by_id(page, "add-search-input").press_sequentially("falcon poster")  # keys typed into a field are no shortcuts
    by_id(page, "add-search-input").press("Enter")
    wait_until(page, "document.querySelectorAll('[data-testid=\"add-result\"]').length === 1")
    assert [card(page, p).get_attribute("data-verdict") for p in (CUP, ASTRONAUT)] == ["accepted", "rejected"]
    assert current_time(page) == pytest.approx(6.5)
    by_id(by_id(page, "add-result", ROCKET), "add-result-button").click()
    assert by_id(page, "lane", ROCKET).count() == 1
    assert segment_times(page, ROCKET) == [(6.5, rocket_end)]
    page.keyboard.press("Escape")  # no box this time: it is asked for, and skipped
    assert by_id(page, "place-prompt").is_hidden()
    seek(page, 6.0)
    page.keyboard.press("[")
    assert segment_times(page, ROCKET) == [(6.0, rocket_end)]

    assert by_id(page, "save-status").inner_text() == "Unsaved changes"
    by_id(page, "save-button").click()
    text_is(page, "save-status", "Saved")

    # A reload shows the same job with its saved decisions.
    page.reload()
    wait_for_review(page, count=3)
    assert job_id_of(page) == job_id
    assert card(page, CUP).get_attribute("data-verdict") == "accepted"
    assert card(page, ASTRONAUT).get_attribute("data-verdict") == "rejected"
    assert card(page, ROCKET).get_attribute("data-verdict") == "added"
    assert by_id(card(page, ROCKET), "suggestion-title").inner_text() == "Falcon 9 launch poster"
    assert segment_times(page, CUP) == [(start, 3.0)]
    assert segment_times(page, ROCKET) == [(6.0, rocket_end)]
    assert by_id(page, "save-status").inner_text() == ""

    # The service holds exactly those decisions.
    review = httpx.get(f"{base}/v1/jobs/{job_id}/review").json()
    assert review["revision"] == 1
    decided = {d["product_id"]: (d["verdict"], [(s["start_s"], s["end_s"]) for s in d["segments"]])
               for d in review["decisions"]}
    assert decided == {CUP: ("accepted", [(pytest.approx(start, abs=0.006), 3.0)]),
                       ASTRONAUT: ("rejected", []),
                       ROCKET: ("added", [(6.0, pytest.approx(duration, abs=0.001))])}

    # And `shoptag feedback export` turns them into annotations of the kept video.
    out = folder / "feedback.json"
    exported = subprocess.run([sys.executable, "-m", "shoptag.cli", "feedback", "export", "--out", str(out),
                               "--state-dir", str(folder / "state")], capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    (video,) = [v for v in json.loads(out.read_text())["videos"] if v["job_id"] == job_id]
    assert {a["product_id"] for a in video["appearances"]} == {CUP, ROCKET}
    watched.assert_clean()


def hostile_index(folder, embedder):
    """The demo catalog with the espresso cup (which the clip shows) renamed to markup, under an
    id full of URL syntax, with a javascript: url, and a twin with the same photo (so that one
    is the other's alternative); and the rocket titled with markup too."""
    catalog = write_demo_catalog(folder / "catalog")
    rows = [json.loads(line) for line in catalog.read_text().splitlines()]
    for row in rows:
        if row["product_id"] == CUP:
            twin = {**row, "product_id": TWIN_ID, "title": TWIN_TITLE}
            row.update(product_id=HOSTILE_ID, title=HOSTILE_TITLE, url="javascript:alert(2)")
        if row["product_id"] == ROCKET:
            row.update(title=ROCKET_TITLE)
    catalog.write_text("".join(json.dumps(row) + "\n" for row in rows + [twin]))
    build_index(read_catalog(catalog), embedder, folder / "index", ImageReader(Settings().images))
    return folder / "index"


def test_product_fields_are_shown_as_text_and_never_run(tmp_path, effnet, demo_webm, new_page):
    with served(hostile_index(tmp_path, effnet), tmp_path, image_root=tmp_path / "catalog") as (base, _):
        job = tag_with_api(base, demo_webm)
        titles = {HOSTILE_ID: HOSTILE_TITLE, TWIN_ID: TWIN_TITLE}
        (cup,) = [tag for tag in job["result"]["tags"] if tag["product_id"] in titles]
        (other,) = set(titles) - {cup["product_id"]}
        assert [alternative["product_id"] for alternative in cup["alternatives"]] == [other]
        watched = new_page()
        page = watched.page
        page.goto(f"{base}/#job={job['id']}")
        wait_for_review(page)
        shown = card(page, cup["product_id"])
        assert by_id(shown, "suggestion-title").inner_text() == titles[cup["product_id"]]
        assert by_id(shown, "suggestion-alternatives").inner_text() == "Could also be: " + titles[other]
        assert by_id(page, "lane", cup["product_id"]).inner_text() == titles[cup["product_id"]]
        if cup["product_id"] == HOSTILE_ID:
            assert by_id(shown, "suggestion-link").count() == 0  # a javascript: url is no link
        # Its thumbnail loads although the id holds '/', '?', '#' and markup.
        by_id(shown, "suggestion-thumb").wait_for()
        segment = cup["segments"][0]
        seek(page, segment["best_frame_s"])
        assert by_id(page, "box", cup["product_id"]).inner_text() == titles[cup["product_id"]]

        by_id(page, "add-product").click()
        by_id(page, "add-search-input").fill("falcon")
        by_id(page, "add-search-input").press("Enter")
        by_id(page, "add-result", ROCKET).wait_for()
        assert ROCKET_TITLE in by_id(page, "add-result", ROCKET).inner_text()
        by_id(by_id(page, "add-result", ROCKET), "add-result-button").click()
        assert by_id(page, "lane", ROCKET).inner_text() == ROCKET_TITLE
        by_id(page, "lane", ROCKET).hover()

        # No markup of the data became elements, and nothing ran.
        assert page.locator('img[src="x"], b, svg, script:not([src])').count() == 0
        page.wait_for_timeout(300)
        watched.assert_clean()


def test_api_keys_are_asked_for_and_keep_each_creators_jobs_apart(tmp_path, effnet, demo_webm, new_page):
    with served(make_index(tmp_path, effnet), tmp_path, image_root=tmp_path / "catalog",
                api_keys=json.dumps(API_KEYS)) as (base, _):
        watched = new_page()
        page = watched.page
        page.goto(base + "/")
        by_id(page, "key-dialog").wait_for()
        assert by_id(page, "drop-zone").is_hidden()

        # A wrong key is refused and asked for again; the creator's key opens the page.
        by_id(page, "key-input").fill("not-a-key")
        by_id(page, "key-submit").click()
        wait_until(page, "document.querySelector('[data-testid=\"key-error\"]').textContent !== ''")
        assert "refused" in by_id(page, "key-error").inner_text()
        by_id(page, "key-input").fill(CREATOR_KEY)
        by_id(page, "key-submit").click()
        by_id(page, "drop-zone").wait_for()
        assert by_id(page, "key-dialog").is_hidden()
        assert page.evaluate("sessionStorage.getItem('shoptag.apiKey')") == CREATOR_KEY
        assert page.evaluate("localStorage.length") == 0

        by_id(page, "file-input").set_input_files(str(demo_webm))
        wait_for_review(page, count=2)  # the video and thumbnails came with the key too
        wait_until(page, "document.querySelectorAll('[data-testid=\"suggestion-thumb\"]').length === 2")
        job_id = job_id_of(page)
        by_id(card(page, CUP), "accept-button").click()
        by_id(page, "save-button").click()
        text_is(page, "save-status", "Saved")
        review = httpx.get(f"{base}/v1/jobs/{job_id}/review", headers=bearer(CREATOR_KEY)).json()
        assert [d["verdict"] for d in review["decisions"]] == ["accepted"]
        assert not any(CREATOR_KEY in url for url in watched.requests)

        # A stored key that the service now refuses is forgotten and asked for again; the reload
        # keeps the job (#job=) and shows its saved review.
        page.evaluate("sessionStorage.setItem('shoptag.apiKey', 'a-revoked-key')")
        page.reload()
        by_id(page, "key-dialog").wait_for()
        assert "refused" in by_id(page, "key-error").inner_text()
        by_id(page, "key-input").fill(CREATOR_KEY)
        by_id(page, "key-input").press("Enter")
        wait_for_review(page, count=2)
        assert job_id_of(page) == job_id and card(page, CUP).get_attribute("data-verdict") == "accepted"
        watched.assert_clean()

        # Another creator, in another tab, does not see that job: the page says so.
        other = new_page()
        other.page.goto(f"{base}/#job={job_id}")
        by_id(other.page, "key-input").fill(OTHER_CREATOR_KEY)
        by_id(other.page, "key-submit").click()
        by_id(other.page, "error-banner").wait_for()
        expected = httpx.get(f"{base}/v1/jobs/{job_id}", headers=bearer(OTHER_CREATOR_KEY))
        assert expected.status_code == 404
        assert expected.json()["error"]["message"] in by_id(other.page, "error-banner").inner_text()
        assert by_id(other.page, "review").is_hidden()
        other.assert_clean()


def test_the_page_reaches_only_its_service_and_is_served_with_its_csp(service, tagged_job, new_page):
    base, _ = service
    static = [f"/static/{f.name}" for f in (REPO / "api" / "static").iterdir()]
    for path in ("/", *static):
        assert httpx.get(base + path).headers["content-security-policy"] == CSP, path
    watched = new_page()
    page = watched.page
    page.goto(f"{base}/#job={tagged_job['id']}")
    wait_for_review(page, count=2)
    wait_until(page, "document.querySelectorAll('[data-testid=\"suggestion-thumb\"]').length === 2")
    page.keyboard.press(" ")  # play a moment: boxes come and go
    wait_until(page, "document.getElementById('video').currentTime > 1")
    page.keyboard.press(" ")
    assert page.evaluate("document.getElementById('video').paused")
    by_id(page, "add-product").click()
    by_id(page, "add-search-input").fill("poster")
    by_id(page, "add-search-input").press("Enter")
    by_id(page, "add-result", ROCKET).wait_for()
    assert any("/nearest-products?" in url for url in watched.requests)

    # blob: URLs are the fetched video and thumbnails, played from memory under this origin.
    foreign = [url for url in watched.requests
               if not (url.startswith(base + "/") or url.startswith(f"blob:{base}/"))]
    assert foreign == []
    assert any("/product-images/" in url for url in watched.requests)
    watched.assert_clean()


def test_a_save_that_lost_a_race_reloads_the_review_and_says_so(service, tagged_job, new_page):
    base, _ = service
    watched = open_review(new_page, base, tagged_job["id"], count=2)
    page = watched.page
    url = f"{base}/v1/jobs/{tagged_job['id']}/review"
    loaded = httpx.get(url).json()["revision"]

    page.keyboard.press("a")  # the first suggestion (selected on load) is accepted
    first = by_id(page, "suggestion").first.get_attribute("data-product-id")
    assert card(page, first).get_attribute("data-verdict") == "accepted"
    # Someone else saves first, rejecting it.
    assert httpx.put(url, json={"revision": loaded, "decisions": [
        {"product_id": first, "verdict": "rejected", "segments": []}]}).status_code == 200
    by_id(page, "save-button").click()
    by_id(page, "notice-banner").wait_for()
    assert "saved this review in the meantime" in by_id(page, "notice-banner").inner_text()
    assert card(page, first).get_attribute("data-verdict") == "rejected"  # their version, reloaded
    assert httpx.get(url).json()["revision"] == loaded + 1

    # Deciding again on top of it saves.
    page.keyboard.press("a")
    by_id(page, "save-button").click()
    text_is(page, "save-status", "Saved")
    stored = httpx.get(url).json()
    assert stored["revision"] == loaded + 2 and stored["decisions"][0]["verdict"] == "accepted"
    watched.assert_clean()


def test_a_dropped_file_is_uploaded_and_the_services_refusal_is_shown(service, new_page):
    base, _ = service
    watched = new_page()
    page = watched.page
    page.goto(base + "/")
    by_id(page, "drop-zone").wait_for()
    # What a drop of a file from the desktop delivers: a DataTransfer holding it.
    page.evaluate("""() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(["not a video at all"], "notes.txt", {type: "text/plain"}));
        const zone = document.querySelector('[data-testid="drop-zone"]');
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""")
    by_id(page, "error-banner").wait_for()
    refused = httpx.post(f"{base}/v1/jobs", files={"file": ("notes.txt", b"not a video at all")})
    assert refused.status_code in (415, 422)
    expected = refused.json()["error"]["message"]
    if refused.status_code == 415:  # said in plain words
        expected = "This file is not a video. Choose an MP4, MOV or WebM video."
    assert by_id(page, "error-banner").inner_text() == expected
    assert "#job=" not in page.url and by_id(page, "drop-zone").is_visible()
    watched.assert_clean()


def test_leaving_unsaved_decisions_by_the_address_takes_a_second_try(service, tagged_job, new_page):
    base, _ = service
    watched = open_review(new_page, base, tagged_job["id"], count=2)
    page = watched.page
    first = by_id(page, "suggestion").first.get_attribute("data-product-id")
    page.keyboard.press("r")  # an unsaved decision
    page.evaluate("() => { location.hash = 'job=another-job'; }")
    by_id(page, "notice-banner").wait_for()
    assert "unsaved changes" in by_id(page, "notice-banner").inner_text()
    assert job_id_of(page) == tagged_job["id"] and card(page, first).get_attribute("data-verdict") == "rejected"
    # The second try leaves (and the unknown job is reported as the service reports it).
    page.evaluate("() => { location.hash = 'job=another-job'; }")
    by_id(page, "error-banner").wait_for()
    assert job_id_of(page) == "another-job" and "does not exist" in by_id(page, "error-banner").inner_text()
    watched.assert_clean()


def test_a_creator_of_two_catalogs_reviews_products_of_both(tmp_path, effnet, demo_webm, new_page):
    """A service of many catalogs: the suggestions of each catalog show their own photos, the
    search names each result's catalog (the rocket poster is in both), and the decisions keep
    which catalog each product is from."""
    data = tmp_path / "data"
    for name, left_out in (("shop-a", ASTRONAUT), ("shop-b", CUP)):
        catalog = write_demo_catalog(tmp_path / name)
        rows = [json.loads(line) for line in catalog.read_text().splitlines()]
        catalog.write_text("".join(json.dumps({**row, "images": [str(tmp_path / name / row["images"][0])]}) + "\n"
                                   for row in rows if row["product_id"] != left_out))
        build_index(read_catalog(catalog), effnet, data / name, ImageReader(Settings().images))
    keys = [{"key": CREATOR_KEY, "role": "creator", "catalogs": ["shop-a", "shop-b"]}]
    with served(data, tmp_path, "--data", api_keys=json.dumps(keys)) as (base, _):
        watched = new_page()
        page = watched.page
        page.goto(base + "/")
        by_id(page, "key-input").fill(CREATOR_KEY)
        by_id(page, "key-submit").click()
        by_id(page, "file-input").set_input_files(str(demo_webm))
        wait_for_review(page, count=2)
        assert card(page, CUP).get_attribute("data-catalog") == "shop-a"
        assert card(page, ASTRONAUT).get_attribute("data-catalog") == "shop-b"
        wait_until(page, "[...document.querySelectorAll('[data-testid=\"suggestion-thumb\"]')]"
                         ".filter((img) => img.complete && img.naturalWidth > 0).length === 2")
        thumbnails = sorted(url.removeprefix(base) for url in watched.requests if "/product-images/" in url)
        assert thumbnails == ["/v1/catalogs/shop-a/product-images/espresso-cup",
                              "/v1/catalogs/shop-b/product-images/astronaut-poster"]

        by_id(page, "add-product").click()
        by_id(page, "add-search-input").fill("falcon")
        by_id(page, "add-search-input").press("Enter")
        wait_until(page, "document.querySelectorAll('[data-testid=\"add-result\"]').length === 2")
        shown = page.locator('[data-testid="add-result"] .result-id').all_inner_texts()
        assert sorted(shown) == ["shop-a · rocket-poster", "shop-b · rocket-poster"]
        by_id(page.locator('[data-testid="add-result"][data-catalog="shop-b"]'), "add-result-button").click()
        by_id(card(page, CUP), "accept-button").click()
        by_id(page, "save-button").click()
        text_is(page, "save-status", "Saved")
        review = httpx.get(f"{base}/v1/jobs/{job_id_of(page)}/review", headers=bearer(CREATOR_KEY)).json()
        assert sorted((d["catalog"], d["product_id"], d["verdict"]) for d in review["decisions"]) == [
            ("shop-a", CUP, "accepted"), ("shop-b", ROCKET, "added")]

        page.reload()
        wait_for_review(page, count=3)
        assert card(page, ROCKET).get_attribute("data-catalog") == "shop-b"
        assert card(page, ROCKET).get_attribute("data-verdict") == "added"
        watched.assert_clean()


# ---------------------------------------------------------------- following, moving, words, reconnecting

def test_a_box_follows_its_products_track(service, tagged_job, new_page):
    base, _ = service
    watched = open_review(new_page, base, tagged_job["id"], count=2)
    page = watched.page
    result = tagged_job["result"]
    (cup,) = [tag for tag in result["tags"] if tag["product_id"] == CUP]
    segment = max(cup["segments"], key=lambda s: len(s.get("track") or []))
    rows = segment["track"]
    assert len(rows) >= 3, segment
    start, end = segment["start_s"], segment["end_s"]
    # Between rows (interpolated), on a row, and at the segment's ends (the nearest row held).
    times = sorted({round((rows[0][0] + rows[1][0]) / 2, 3), round(rows[len(rows) // 2][0], 3),
                    round((rows[-2][0] + rows[-1][0]) / 2 + 0.01, 3), round(start + 0.01, 3), round(end - 0.01, 3)})
    drawn = {}
    for t in times:
        seek(page, t)
        assert by_id(page, "box", CUP).is_visible(), t
        drawn[t] = box_in_video_pixels(page, CUP, result)
        expected = track_box_at(segment, t)
        assert drawn[t] == pytest.approx(expected, abs=3), (t, drawn[t], expected)
    # The box moves as the product does: between the two times whose track boxes differ most.
    first, last = min(times), max(times)
    moved = max(abs(a - b) for a, b in zip(track_box_at(segment, first), track_box_at(segment, last), strict=True))
    assert moved > 6, rows  # the demo's cup drifts across the picture
    assert max(abs(a - b) for a, b in zip(drawn[first], drawn[last], strict=True)) > 3, drawn
    # The label stays inside the picture (not cut off above its top edge).
    overlay = by_id(page, "overlay").bounding_box()
    label = by_id(page, "box", CUP).locator(".box-label").bounding_box()
    assert label["y"] >= overlay["y"] - 0.5, (label, overlay)

    watched.assert_clean()

    # A result stored before tracks existed: its bbox, throughout the segment.
    old = new_page()

    def without_tracks(route):
        job = route.fetch().json()
        for tag in job["result"]["tags"]:
            for stored in tag["segments"]:
                stored.pop("track", None)
        route.fulfill(json=job)

    old.page.route(re.compile(rf"/v1/jobs/{tagged_job['id']}$"), without_tracks)
    old.page.goto(f"{base}/#job={tagged_job['id']}")
    wait_for_review(old.page, count=2)
    for t in (start + 0.01, end - 0.01):
        seek(old.page, t)
        assert box_in_video_pixels(old.page, CUP, result) == pytest.approx(segment["bbox"], abs=3), t
    old.assert_clean()


def test_the_playhead_is_dragged_the_timeline_clicked_and_frames_stepped(service, tagged_job, new_page):
    base, _ = service
    watched = open_review(new_page, base, tagged_job["id"], count=2)
    page = watched.page
    duration = tagged_job["result"]["duration_s"]
    tolerance = duration / by_id(page, "timeline").bounding_box()["width"] * 3 + 0.02  # ~3 px of the track

    drag_playhead(page, 5.3, duration)
    wait_until(page, "document.getElementById('video').readyState >= 2")
    assert current_time(page) == pytest.approx(5.3, abs=tolerance)
    drag_playhead(page, 1.7, duration)
    assert current_time(page) == pytest.approx(1.7, abs=tolerance)

    # A click inside a long segment seeks where it was clicked, not to the segment's start.
    (cup,) = [tag for tag in tagged_job["result"]["tags"] if tag["product_id"] == CUP]
    segment = max(cup["segments"], key=lambda s: s["end_s"] - s["start_s"])
    target = segment["start_s"] + 0.7 * (segment["end_s"] - segment["start_s"])
    node = by_id(page, "segment", CUP).nth(cup["segments"].index(segment))
    box = node.bounding_box()
    page.mouse.click(track_x(page, target, duration), box["y"] + box["height"] / 2)
    assert current_time(page) == pytest.approx(target, abs=tolerance)
    assert abs(current_time(page) - segment["start_s"]) > 0.3
    assert node.get_attribute("class").split().count("selected") == 1

    # Frame steps: the buttons and the , and . keys, 0.1 s each.
    seek(page, 3.0)
    by_id(page, "frame-forward").click()
    assert current_time(page) == pytest.approx(3.1, abs=0.01)
    page.keyboard.press(".")
    page.keyboard.press(".")
    assert current_time(page) == pytest.approx(3.3, abs=0.01)
    page.keyboard.press(",")
    by_id(page, "frame-back").click()
    assert current_time(page) == pytest.approx(3.1, abs=0.01)
    knob = by_id(page, "playhead-knob")
    knob.focus()
    page.keyboard.press("ArrowRight")
    assert current_time(page) == pytest.approx(3.2, abs=0.01)
    assert float(knob.get_attribute("aria-valuenow")) == pytest.approx(3.2, abs=0.01)
    watched.assert_clean()


def test_scores_are_said_in_words_with_the_number_on_hover(service, tagged_job, new_page):
    base, _ = service
    watched = open_review(new_page, base, tagged_job["id"], count=2)
    page = watched.page
    bands = page.evaluate("""async () => {
        const { scoreInWords } = await import('/static/scores.js');
        return [[0.92, false], [0.75, false], [0.7, false], [0.6, false], [0.55, false], [0.9, true]]
            .map(([score, unsure]) => scoreInWords(score, unsure).word);
    }""")
    assert bands == ["Likely", "Likely", "Possible", "Possible", "Check this", "Check this"]
    for tag in tagged_job["result"]["tags"]:
        unsure = any(s["uncertain"] for s in tag["segments"])
        word = "Check this" if unsure or tag["score"] < 0.6 else "Likely" if tag["score"] >= 0.75 else "Possible"
        score = by_id(card(page, tag["product_id"]), "suggestion-score")
        number = f"{tag['score']:.2f}"
        assert score.inner_text().startswith(word), score.inner_text()
        assert number in score.get_attribute("title")
        # Read out with the word: the number is in the text, only visually hidden.
        assert score.text_content() == f"{word} (score {number})"
        assert score.locator(".visually-hidden").bounding_box()["width"] <= 1
    watched.assert_clean()


def test_a_poll_or_save_the_service_does_not_answer_is_tried_again(service, tagged_job, new_page):
    base, _ = service
    job_id = tagged_job["id"]
    watched = new_page()
    page = watched.page
    polls = fail_first(page, re.compile(rf"/v1/jobs/{job_id}$"), count=2)
    page.goto(f"{base}/#job={job_id}")
    text = "document.querySelector('[data-testid=\"processing-status\"]').textContent"
    wait_until(page, f"{text}.startsWith('Reconnecting…')")
    wait_for_review(page, count=2)
    assert polls[:3] == ["abort", "status", "passed"], polls

    saves = fail_first(page, re.compile(rf"/v1/jobs/{job_id}/review$"), count=2, method="PUT")
    page.keyboard.press("a")
    by_id(page, "save-button").click()
    wait_until(page, "document.querySelector('[data-testid=\"save-status\"]').textContent.includes('reconnecting')")
    text_is(page, "save-status", "Saved")
    assert saves == ["abort", "status", "passed"], saves
    assert httpx.get(f"{base}/v1/jobs/{job_id}/review").json()["decisions"][0]["verdict"] == "accepted"
    watched.assert_clean()


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


def boxes_of(page, selector: str) -> list[dict]:
    return [b for b in (n.bounding_box() for n in page.locator(selector).all()) if b]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_review_fits_a_phone_and_a_desktop(service, tagged_job, new_page, viewport):
    base, _ = service
    phone = viewport == PHONE
    watched = new_page(viewport=viewport, has_touch=phone, is_mobile=phone)
    page = watched.page
    page.goto(f"{base}/#job={tagged_job['id']}")
    wait_for_review(page, count=2)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]
    # The time readout stays on one line.
    time_box = by_id(page, "current-time").bounding_box()
    assert time_box["height"] < 24, time_box
    # The top bar's contents stay on screen (it wraps on a phone).
    for node in boxes_of(page, ".topbar > *, .topbar-actions > *:not([hidden])"):
        assert node["x"] >= 0 and node["x"] + node["width"] <= viewport["width"] + 0.5, node
    bar = by_id(page, "action-bar")
    targets = ['[data-testid="play-button"]', '[data-testid="frame-back"]', '[data-testid="frame-forward"]',
               '[data-testid="start-here"]', '[data-testid="end-here"]', '[data-testid="save-button"]',
               '[data-testid="accept-button"]', '[data-testid="reject-button"]', '[data-testid="playhead-knob"]']
    if phone:
        assert bar.is_visible()
        bar_box = bar.bounding_box()
        assert bar_box["y"] + bar_box["height"] == pytest.approx(viewport["height"], abs=1)
        edges = ['[data-testid="segment-start-handle"]', '[data-testid="segment-end-handle"]']
        for selector in targets + edges + ['[data-testid="action-bar"] button']:
            found = boxes_of(page, selector)
            assert found, selector
            for node in found:
                assert node["width"] >= 44 and node["height"] >= 44, (selector, node)
        assert page.locator(".shortcuts").is_hidden()  # no keyboard help on a touch screen
        label = page.locator(".lane-label").first.bounding_box()
        assert label["width"] <= 100, label  # a narrower name column
        # The bottom bar acts on the selected suggestion.
        # (the job is shared: an earlier test may have accepted it already, and Accept toggles)
        first = by_id(page, "suggestion").first.get_attribute("data-product-id")
        accepted = card(page, first).get_attribute("data-verdict") == "accepted"
        by_id(page, "bar-accept").click()
        assert card(page, first).get_attribute("data-verdict") == ("none" if accepted else "accepted")
        assert by_id(page, "bar-accept").get_attribute("aria-pressed") == str(not accepted).lower()
    else:
        assert bar.is_hidden()
        stage = by_id(page, "video").bounding_box()
        sidebar = page.locator(".sidebar").bounding_box()
        assert sidebar["x"] >= stage["x"] + stage["width"], (stage, sidebar)  # side by side
        for selector in targets:
            assert boxes_of(page, selector), selector
    watched.assert_clean()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_review_has_no_serious_accessibility_violations(service, tagged_job, new_page, viewport):
    sync_axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    base, _ = service
    watched = new_page(viewport=viewport)
    page = watched.page
    page.goto(f"{base}/#job={tagged_job['id']}")
    wait_for_review(page, count=2)
    by_id(page, "reject-button").last.click()  # a rejected row and a tinted card are checked too
    by_id(page, "accept-button").first.click()
    seek(page, 2.0)
    violations = sync_axe.Axe().run(page).response["violations"]
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations
               if v["impact"] in ("serious", "critical")]
    assert serious == [], serious
    # And with the product sheet open (a modal dialog over the page).
    by_id(page, "add-product").click()
    wait_until(page, "document.querySelectorAll('[data-testid=\"add-result\"] img').length > 0")
    violations = sync_axe.Axe().run(page).response["violations"]
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations
               if v["impact"] in ("serious", "critical")]
    assert serious == [], serious
    page.keyboard.press("Escape")
    assert page.locator("h1").count() == 1 and page.locator("h1").is_visible()
    # Cards, segments and edges are reached with Tab; each verdict button names its product.
    for tag in tagged_job["result"]["tags"]:
        shown = card(page, tag["product_id"])
        assert by_id(shown, "accept-button").get_attribute("aria-label") == "Accept " + tag["title"]
        assert by_id(shown, "reject-button").get_attribute("aria-label") == "Reject " + tag["title"]
    reached = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.dataset.testid || document.activeElement.id"))
    assert {"suggestion-title", "segment", "segment-start-handle", "segment-end-handle", "accept-button",
            "playhead-knob"} <= reached, reached
    # A focused edge moves with the arrow keys.
    handle = by_id(page, "segment", CUP).first.locator('[data-testid="segment-end-handle"]')
    handle.focus()
    before = segment_times(page, CUP)[0][1]
    page.keyboard.press("ArrowLeft")
    assert segment_times(page, CUP)[0][1] == pytest.approx(before - 0.1, abs=0.011)
    watched.assert_clean()


def test_a_touch_screen_says_tap_and_a_file_the_browser_cannot_play_is_still_uploaded(
        service, demo_mp4v, new_page):
    base, _ = service
    watched = new_page(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = watched.page
    page.goto(base + "/")
    by_id(page, "drop-zone").wait_for()
    assert page.evaluate("matchMedia('(pointer: coarse)').matches")
    zone = by_id(page, "drop-zone").inner_text()
    assert "Tap" in zone and "click" not in zone.lower() and "Drop" not in zone

    by_id(page, "file-input").set_input_files(str(demo_mp4v))
    by_id(page, "notice-banner").wait_for(timeout=60_000)
    assert "service's copy" in by_id(page, "notice-banner").inner_text()
    wait_for_review(page, count=2)  # the service's H.264 copy plays
    assert page.locator(".shortcuts").is_hidden()  # no keyboard help on a touch screen
    watched.assert_clean()


def tiles_shown(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('[data-testid=\"add-result\"]')]"
                         ".map((t) => t.dataset.productId)")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_product_is_added_from_the_sheet_and_its_box_placed_on_the_frame(service, demo_webm, new_page, viewport):
    """The product sheet: the products like the frame on screen, the cup first where it is seen;
    a title search by word starts; a tap on a suggested product selects it, on another adds it;
    then a drag on the frame places its box, saved in the video's pixels and drawn after a reload."""
    base, _ = service
    job = tag_with_api(base, demo_webm)  # its own job: the shared one keeps its two suggestions
    result = job["result"]
    phone = viewport == PHONE
    watched = new_page(viewport=viewport, has_touch=phone, is_mobile=phone)
    page = watched.page
    saved = []
    page.on("request", lambda r: saved.append(r.post_data_json)
            if r.method == "PUT" and r.url.endswith("/review") else None)
    page.goto(f"{base}/#job={job['id']}")
    wait_for_review(page, count=2)
    seek(page, 2.0)  # the cup is on screen

    # The sheet: a dialog with the nearest products, the cup first and marked as in the list.
    started = time.monotonic()
    by_id(page, "add-product").click()
    sheet = by_id(page, "product-sheet")
    assert sheet.is_visible() and sheet.get_attribute("aria-labelledby") == "sheet-title"
    wait_until(page, "document.querySelectorAll('[data-testid=\"add-result\"]').length === 4")
    nearest_s = time.monotonic() - started
    assert nearest_s < 15, f"the nearest products took {nearest_s:.1f} s to show"
    assert tiles_shown(page)[0] == CUP, tiles_shown(page)
    assert by_id(page, "add-result", CUP).get_attribute("data-present") == "true"
    assert by_id(page, "add-result", ROCKET).get_attribute("data-present") is None
    assert page.evaluate("document.getElementById('product-sheet').contains(document.activeElement)")
    shown = sheet.bounding_box()
    if phone:  # a bottom sheet, the width of the screen
        assert shown["y"] + shown["height"] == pytest.approx(viewport["height"], abs=1), shown
        assert shown["width"] == pytest.approx(viewport["width"], abs=1), shown
    else:  # a panel at the right, the height of the window
        assert shown["x"] + shown["width"] == pytest.approx(viewport["width"], abs=1), shown
        assert shown["height"] == pytest.approx(viewport["height"], abs=1) and shown["width"] <= 460, shown
    page.keyboard.press("Escape")
    assert sheet.is_hidden()
    assert page.evaluate("document.activeElement.dataset.testid") == "add-product"  # focus back

    # Typing searches titles by word starts; an empty search shows the nearest again.
    by_id(page, "add-product").click()
    by_id(page, "add-search-input").fill("lau")
    wait_until(page, "document.querySelectorAll('[data-testid=\"add-result\"]').length === 1")
    assert tiles_shown(page) == [ROCKET]
    by_id(page, "add-search-input").fill("")
    wait_until(page, "document.querySelectorAll('[data-testid=\"add-result\"]').length === 4")
    assert tiles_shown(page)[0] == CUP

    # A tap on a suggested product selects it; on another, adds it with a segment from now.
    by_id(by_id(page, "add-result", CUP), "add-result-button").click()
    assert sheet.is_hidden() and "selected" in card(page, CUP).get_attribute("class")
    assert by_id(page, "suggestion").count() == 2
    by_id(page, "add-product").click()
    by_id(page, "add-result", ROCKET).wait_for()
    by_id(by_id(page, "add-result", ROCKET), "add-result-button").click()
    assert sheet.is_hidden() and by_id(page, "lane", ROCKET).count() == 1
    assert segment_times(page, ROCKET) == [(2.0, 4.0)]
    assert by_id(page, "place-prompt").is_visible()

    # A drag on the frame places its box: from the display to the video's pixels.
    width, height = result["width"], result["height"]
    target = [round(0.55 * width), round(0.2 * height), round(0.3 * width), round(0.4 * height)]
    video = by_id(page, "video").bounding_box()
    scale = min(video["width"] / width, video["height"] / height)
    left = video["x"] + (video["width"] - width * scale) / 2
    top = video["y"] + (video["height"] - height * scale) / 2
    page.mouse.move(left + target[0] * scale, top + target[1] * scale)
    page.mouse.down()
    page.mouse.move(left + (target[0] + target[2]) * scale, top + (target[1] + target[3]) * scale, steps=8)
    page.mouse.up()
    assert by_id(page, "place-prompt").is_hidden()
    assert box_in_video_pixels(page, ROCKET, result) == pytest.approx(target, abs=3)
    by_id(page, "bar-save" if phone else "save-button").click()
    text_is(page, "save-status", "Saved")
    (rocket,) = [d for d in saved[-1]["decisions"] if d["product_id"] == ROCKET]
    assert rocket["verdict"] == "added"
    box = rocket["segments"][0]["box"]
    assert all(isinstance(box[k], int) for k in "xywh"), box
    assert [box[k] for k in "xywh"] == pytest.approx(target, abs=3), (box, target)
    assert box["time_s"] == pytest.approx(2.0, abs=0.01)

    # After a reload the placed box is drawn where it was put.
    page.reload()
    wait_for_review(page, count=3)
    seek(page, 2.5)
    assert by_id(page, "box", ROCKET).is_visible()
    assert box_in_video_pixels(page, ROCKET, result) == pytest.approx(target, abs=3)
    watched.assert_clean()


def test_a_tap_on_the_frame_places_a_default_box_inside_it(service, tagged_job, new_page):
    """A tap near the frame's corner: a box of the default size, kept inside the frame."""
    base, _ = service
    result = tagged_job["result"]
    watched = new_page()
    page = watched.page
    page.goto(f"{base}/#job={tagged_job['id']}")
    wait_for_review(page, count=2)
    seek(page, 1.0)
    page.keyboard.press("+")
    by_id(page, "add-result", ROCKET).wait_for()
    by_id(by_id(page, "add-result", ROCKET), "add-result-button").click()
    video = by_id(page, "video").bounding_box()
    page.mouse.click(video["x"] + video["width"] - 3, video["y"] + 3)  # the top right corner
    side = round(0.25 * min(result["width"], result["height"]))
    assert box_in_video_pixels(page, ROCKET, result) == pytest.approx([result["width"] - side, 0, side, side], abs=3)
    assert page.evaluate("document.getElementById('video').paused")  # the tap did not play it
    watched.assert_clean()  # (not saved: the shared job keeps its two suggestions)
