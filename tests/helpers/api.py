"""Helpers for the service tests: an index from the bundled demo photos, and a started app."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
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
def running_app(settings: Settings, embedder, ready: bool = True, raise_server_exceptions: bool = True):
    # A loopback Host, as a local client sends: without API keys any other is refused.
    with TestClient(create_app(settings, embedder), base_url="http://127.0.0.1",
                    raise_server_exceptions=raise_server_exceptions) as client:
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(index, tmp_path, folder_option="--index", port: int | None = None, **env):
    """A real `shoptag serve` process on ``port`` (default: a free one), ready, serving ``index``
    (with ``folder_option`` "--data": a data folder of catalogs); ``env`` sets service settings."""
    port = port or free_port()
    environment = {**os.environ, "SHOPTAG_SERVICE__STATE_DIR": str(tmp_path / "state"),
                   **{f"SHOPTAG_SERVICE__{k.upper()}": str(v) for k, v in env.items()}}
    log = (tmp_path / f"serve-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "shoptag.cli", "serve", folder_option, str(index), "--port", str(port),
         "--threads", "1"], env=environment, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
            assert time.monotonic() < deadline, "service did not become ready"
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        log.close()
