"""The review page through a restart of its service: a job's page keeps polling through the
outage, says so, and shows the review once the service is back and has run the job."""

from __future__ import annotations

import pytest

from helpers.api import free_port, make_index, served
from helpers.browser import by_id, job_id_of, wait_for_review, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser")]


def test_a_job_page_reconnects_after_its_service_restarts_and_shows_the_index_thumbnails(
        tmp_path, effnet, new_page, demo_webm):
    # No image root: the catalog's photo paths are relative, the thumbnails come from the index.
    index = make_index(tmp_path, effnet)
    port = free_port()
    page = new_page().page
    with served(index, tmp_path, port=port) as (base, _):
        page.goto(base + "/")
        by_id(page, "drop-zone").wait_for()
        by_id(page, "file-input").set_input_files(str(demo_webm))
        wait_until(page, "location.hash.startsWith('#job=')")
        job_id = job_id_of(page)
    # The service is gone, maybe mid-job: the page keeps trying and says so.
    wait_until(page, "document.getElementById('processing-status').textContent.includes('Reconnecting')",
               timeout_ms=60_000)
    with served(index, tmp_path, port=port):  # the same state folder: the interrupted job runs again
        wait_for_review(page, count=2)
        assert job_id_of(page) == job_id
        wait_until(page, "[...document.querySelectorAll('[data-testid=\"suggestion-thumb\"]')]"
                         ".filter((img) => img.complete && img.naturalWidth > 0).length === 2")
