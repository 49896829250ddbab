"""Helpers for the service tests: an index from the bundled demo photos, and a started app."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from shoptag.api import create_app
from shoptag.demo import write_demo_catalog
from shoptag.indexing.catalog import read_catalog
from shoptag.indexing.images import ImageReader
from shoptag.indexing.writer import build_index
from shoptag.settings import ModelSettings, Settings

MERCHANT_KEY = "merchant-key-0123456789"
CREATOR_KEY = "creator-key-0123456789"
OTHER_CREATOR_KEY = "creator-key-abcdefghij"
API_KEYS = [{"key": MERCHANT_KEY, "role": "merchant"}, {"key": CREATOR_KEY, "role": "creator"},
            {"key": OTHER_CREATOR_KEY, "role": "creator"}]


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def make_index(folder: Path, embedder, leave_out: tuple[str, ...] = ()) -> Path:
    """An index of the demo catalog's real photos, without the products in ``leave_out``."""
    catalog = write_demo_catalog(folder / "catalog")
    lines = [line for line in catalog.read_text().splitlines()
             if json.loads(line)["product_id"] not in leave_out]
    catalog.write_text("\n".join(lines) + "\n")
    build_index(read_catalog(catalog), embedder, folder / "index", ImageReader(Settings().images))
    return folder / "index"


def service_settings(index: Path, **service) -> Settings:
    return Settings(model=ModelSettings(spec="effnet-lite0"),
                    service={"index": index, "state_dir": index.parent / "state", **service})


def wait_ready(client: TestClient, timeout_s: float = 60, ready: bool = True) -> None:
    """Until /readyz says ready (or, with ``ready`` False, that loading failed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = client.get("/readyz")
        if answer.status_code == 200 if ready else answer.json().get("error", {}).get("code") == "load_failed":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"readyz: {answer.json()}")
        time.sleep(0.05)


@contextmanager
def running_app(settings: Settings, embedder, ready: bool = True):
    with TestClient(create_app(settings, embedder)) as client:
        wait_ready(client, ready=ready)
        yield client


def wait_for_job(client: TestClient, job_id: str, headers: dict | None = None, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers or {}).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']}")
        time.sleep(0.1)
