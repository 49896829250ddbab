"""Playwright helpers for the review page tests: Debian's chromium, a page that records what it
does (dialogs, requests, script errors), and driving the page.

Playwright's own browser download is not used: the tests drive /usr/bin/chromium (Debian's
``chromium`` package). Without it (or without playwright) the tests skip, unless
SHOPTAG_REQUIRE_BROWSER=1 (CI), where they fail instead.

The fixtures that use these (``browser``, ``new_page``, ``demo_webm``) are in conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1440, "height": 900}
# Long enough for the demo clip to be tagged on a slow, shared machine.
TAGGING_TIMEOUT_MS = 120_000


def _unavailable(reason: str):
    if os.environ.get("SHOPTAG_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (SHOPTAG_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def launch(playwright):
    """Debian's chromium, or a skip (a failure with SHOPTAG_REQUIRE_BROWSER=1) without it."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])


def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        _unavailable("playwright is not installed: pip install playwright")
    return start()


@dataclass
class Watched:
    """A page with what it did: native dialogs, every request URL, script errors and console errors
    (a CSP violation is one)."""

    page: object
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert self.errors == [], f"script or console errors: {self.errors}"


def watch(context) -> Watched:
    page = context.new_page()
    watched = Watched(page)

    def on_dialog(dialog):
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message):
        # A failed fetch the page handles (a 404 thumbnail, the 401 that asks for a key) is
        # logged by chromium as a resource error: that is not a script error.
        if message.type == "error" and "Failed to load resource" not in message.text:
            watched.errors.append(message.text)

    page.on("dialog", on_dialog)
    page.on("request", lambda request: watched.requests.append(request.url))
    page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))
    page.on("console", on_console)
    return watched


# ---------------------------------------------------------------- driving the page

def by_id(page, testid: str, product_id: str | None = None):
    """The element(s) with this data-testid (of one product, where given)."""
    selector = f'[data-testid="{testid}"]'
    if product_id is not None:
        selector += f'[data-product-id="{css_string(product_id)}"]'
    return page.locator(selector)


def css_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def card(page, product_id: str):
    return by_id(page, "suggestion", product_id)


def job_id_of(page) -> str:
    match = re.search(r"#job=([^&]+)", page.url)
    assert match, page.url
    return match.group(1)


def wait_for_review(page, count: int | None = None, timeout_ms: int = TAGGING_TIMEOUT_MS) -> None:
    """Until the review shows (with ``count`` suggestion cards) and its video has loaded."""
    by_id(page, "review").wait_for(state="visible", timeout=timeout_ms)
    if count is not None:
        wait_until(page, f"document.querySelectorAll('[data-testid=\"suggestion\"]').length === {count}")
    wait_until(page, "document.getElementById('video').readyState >= 2")


def open_review(new_page, base: str, job_id: str, count: int) -> Watched:
    """A new watched page on the job's review, once its ``count`` suggestions are shown."""
    watched = new_page()
    watched.page.goto(f"{base}/#job={job_id}")
    wait_for_review(watched.page, count=count)
    return watched


def wait_until(page, expression: str, timeout_ms: int = 30_000) -> None:
    """Until the JavaScript ``expression`` is true in the page. (Playwright's wait_for_function
    polls with eval, which the page's CSP forbids: this polls with evaluate instead.)"""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_ms} ms: {expression}"
        page.wait_for_timeout(100)


def text_is(page, testid: str, text: str, timeout_ms: int = 30_000) -> None:
    """Until the (first) element with this data-testid shows exactly ``text``."""
    wait_until(page, f"document.querySelector('[data-testid=\"{testid}\"]').textContent === {json.dumps(text)}",
               timeout_ms)


def seek(page, seconds: float) -> None:
    """Seek the video and wait until the frame is there (the overlay follows on 'seeked')."""
    page.evaluate("""(t) => new Promise((resolve) => {
        const video = document.getElementById('video');
        video.addEventListener('seeked', () => requestAnimationFrame(() => resolve()), {once: true});
        video.currentTime = t;
    })""", seconds)


def current_time(page) -> float:
    return page.evaluate("document.getElementById('video').currentTime")


def segment_times(page, product_id: str) -> list[tuple[float, float]]:
    """A card's segments as the page shows them ('1.00–3.00 s, ...')."""
    text = by_id(card(page, product_id), "segment-times").inner_text()
    return [(float(a), float(b)) for a, b in re.findall(r"([\d.]+)–([\d.]+) s", text)]


def drag_edge(page, product_id: str, edge: str, to_seconds: float, duration: float) -> None:
    """Drag a product's first segment's edge ('start' or 'end') to a time on its track."""
    track = by_id(page, "lane", product_id).locator('[data-testid="track"]').bounding_box()
    handle = by_id(page, "segment", product_id).first.locator(f'[data-testid="segment-{edge}-handle"]')
    box = handle.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    target = track["x"] + track["width"] * to_seconds / duration
    page.mouse.move(target, y, steps=8)
    page.mouse.up()


RECORD_PROGRESS = """() => {
    // What the progress elements showed, recorded as it changes (the upload over loopback is
    // over in moments, faster than a test could look).
    window.__seen = {upload: [], uploadText: [], processing: []};
    const bar = document.querySelector('[data-testid="upload-progress"]');
    new MutationObserver(() => window.__seen.upload.push(Number(bar.value)))
        .observe(bar, {attributes: true, attributeFilter: ['value']});
    const uploadText = document.querySelector('[data-testid="upload-status"]');
    new MutationObserver(() => window.__seen.uploadText.push(uploadText.textContent))
        .observe(uploadText, {childList: true, characterData: true, subtree: true});
    const status = document.querySelector('[data-testid="processing-status"]');
    new MutationObserver(() => window.__seen.processing.push(status.textContent))
        .observe(status, {childList: true, characterData: true, subtree: true});
}"""


def record_progress(page) -> None:
    page.evaluate(RECORD_PROGRESS)


def progress_seen(page) -> dict:
    return page.evaluate("window.__seen")


def screenshot(page, name: str) -> None:
    """Into $SHOPTAG_SCREENSHOT_DIR (the docs' screenshots: SHOPTAG_SCREENSHOT_DIR=docs), when
    it is set; a ``.jpg`` name is saved as JPEG, small enough to keep in git."""
    folder = os.environ.get("SHOPTAG_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        jpeg = name.endswith(".jpg")
        page.screenshot(path=str(Path(folder) / name), type="jpeg" if jpeg else "png", quality=82 if jpeg else None)


def track_box_at(segment: dict, t: float) -> list[float]:
    """What the page should draw for a segment at time t: its track interpolated linearly between
    the rows around t, the nearest row held outside them; its bbox without a track."""
    rows = segment.get("track") or []
    if not rows:
        return list(segment["bbox"])
    if t <= rows[0][0]:
        return list(rows[0][1:])
    if t >= rows[-1][0]:
        return list(rows[-1][1:])
    after = next(i for i, row in enumerate(rows) if row[0] >= t)
    a, b = rows[after - 1], rows[after]
    f = (t - a[0]) / (b[0] - a[0]) if b[0] > a[0] else 0.0
    return [a[i] + (b[i] - a[i]) * f for i in range(1, 5)]


def track_x(page, seconds: float, duration: float) -> float:
    """The page x of a time on the timeline (the ruler spans what the tracks span)."""
    ruler = page.locator("#ruler").bounding_box()
    return ruler["x"] + ruler["width"] * seconds / duration


def drag_playhead(page, to_seconds: float, duration: float) -> None:
    """Grab the playhead's knob and drop it at a time."""
    knob = by_id(page, "playhead-knob").bounding_box()
    x, y = knob["x"] + knob["width"] / 2, knob["y"] + knob["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(track_x(page, to_seconds, duration), y, steps=10)
    page.mouse.up()


def fail_first(page, url_pattern, count: int, method: str = "GET", status: int = 503) -> list[str]:
    """Make the first ``count`` requests (of ``method``) to URLs matching ``url_pattern`` fail,
    the first by a dropped connection, the rest with ``status``; then let them through. Returns
    what each request met ('abort', 'status', 'passed')."""
    met: list[str] = []

    def handle(route):
        if route.request.method != method:
            return route.continue_()
        failed = sum(1 for m in met if m != "passed")
        if failed >= count:
            met.append("passed")
            return route.continue_()
        if failed == 0:
            met.append("abort")
            return route.abort("connectionrefused")
        met.append("status")
        return route.fulfill(status=status, content_type="application/json",
                             body=json.dumps({"error": {"code": "unavailable", "message": "down for a moment"}}))

    page.route(url_pattern, handle)
    return met
