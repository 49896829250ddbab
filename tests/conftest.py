"""Fixtures only; the helpers that test modules import live in ``helpers/``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shoptag.demo import write_demo_video
from shoptag.model import create_embedder
from shoptag.settings import ModelSettings

from helpers import REPO
from helpers.browser import VIEWPORT, launch, sync_playwright, watch

# Real media that scripts/fetch_test_media.sh takes from Debian's archive; the test session
# fetches it the first time a test asks for it. The bundled clip and photos are always there.
FETCHED_MEDIA = Path(os.environ.get("SHOPTAG_TEST_MEDIA", REPO / ".media"))


@pytest.fixture(scope="session", autouse=True)
def _own_user_cache(tmp_path_factory):
    # Downloads are cached in the user's cache folder by default: tests (and the services they
    # start) keep theirs in the session's temporary folder, not the real one.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
        yield


@pytest.fixture(scope="session")
def effnet():
    return create_embedder(ModelSettings(spec="effnet-lite0", batch_size=16))


@pytest.fixture(scope="session")
def fetched_media() -> Path:
    # The script returns at once when the media of its current revision is there.
    fetched = subprocess.run([str(REPO / "scripts" / "fetch_test_media.sh")], capture_output=True, text=True,
                             env={**os.environ, "SHOPTAG_TEST_MEDIA": str(FETCHED_MEDIA)}, timeout=900)
    if fetched.returncode != 0:
        pytest.fail(f"could not fetch the real test media into {FETCHED_MEDIA}:\n{fetched.stderr[-2000:]}")
    return FETCHED_MEDIA


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium through Playwright (see helpers.browser: a skip, or in CI a failure, without it)."""
    with sync_playwright() as playwright:
        launched = launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser):
    """Opens watched pages (helpers.browser.watch), each in its own context (its own
    sessionStorage) with the context's ``options`` (a phone: viewport, has_touch, is_mobile),
    closed after the test."""
    contexts = []

    def open_page(**options):
        context = browser.new_context(**{"viewport": VIEWPORT, **options})
        contexts.append(context)
        return watch(context)

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def demo_webm(tmp_path_factory) -> Path:
    """The demo clip (espresso-cup 0.8-3.6 s, astronaut-poster 4.2-7.0 s) as VP8 WebM, which
    chromium plays (it cannot play the demo's mp4v)."""
    path = tmp_path_factory.mktemp("demo-webm") / "demo.webm"
    write_demo_video(path)
    return path


@pytest.fixture(scope="session")
def demo_mp4v(tmp_path_factory) -> Path:
    """The demo clip as OpenCV writes it, MPEG-4 Part 2 in MP4: a video chromium cannot play
    (the service tags it and serves an H.264 copy)."""
    path = tmp_path_factory.mktemp("demo-mp4v") / "demo.mp4"
    write_demo_video(path)
    return path
