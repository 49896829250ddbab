"""What the benchmark scripts share: where the fetched real media is, the two benchmark
catalogs, the real backgrounds their videos are made over, running shoptag commands in order,
and a real `shoptag serve` process."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from shoptag.bundled import media_path
from shoptag.cli import main as shoptag
from shoptag.demo import DEMO_PRODUCTS
from shoptag.evaluation.catalog_bench import CatalogSpec, build_catalog

MEDIA = Path(os.environ.get("SHOPTAG_TEST_MEDIA", Path(__file__).resolve().parent.parent / ".media"))


def real_photos() -> list[Path]:
    """The 4 bundled product photos and the 8 Debian kivy/labelme photos."""
    return [media_path(photo) for _, _, photo in DEMO_PRODUCTS] + sorted((MEDIA / "photos").glob("*.jpg"))


def twelve_product_catalog(folder: Path) -> Path:
    """The small benchmark's catalog: one product per real photo."""
    folder.mkdir(parents=True, exist_ok=True)
    titles = {photo: (product_id, title) for product_id, title, photo in DEMO_PRODUCTS}
    rows = []
    for photo in real_photos():
        shutil.copyfile(photo, folder / photo.name)
        product_id, title = titles.get(photo.name, (photo.stem.lower(), photo.stem))
        rows.append({"product_id": product_id, "title": title, "images": [photo.name]})
    catalog = folder / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return catalog


def catalog_scale_catalog(folder: Path) -> Path:
    """The catalog-scale benchmark's 364 products (built once: it depends on the sources only)."""
    catalog = folder / "catalog.jsonl"
    if not catalog.exists():
        build_catalog(MEDIA / "packages", real_photos(), folder, CatalogSpec())
    return catalog


def copy_backgrounds(folder: Path) -> Path:
    """The bundled street clip, kivy's cityCC0 footage and the labelme scenes, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in [media_path("city.mp4"), MEDIA / "cityCC0.mpg", *sorted((MEDIA / "scenes").glob("*.jpg"))]:
        shutil.copyfile(source, folder / source.name)
    return folder


def run_steps(steps: list[list]) -> int:
    """Run each shoptag command line; stop at the first that fails, returning its status."""
    for step in steps:
        status = shoptag([str(part) for part in step])
        if status:
            return status
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(serve_args: list[str], env: dict[str, str], log_path: Path,
           preexec_fn: Callable[[], None] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """``shoptag serve SERVE_ARGS`` on a free loopback port with ``env`` added to this one's,
    its output in ``log_path``: (its base URL, the process) once /readyz says ready."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "shoptag.cli", "serve", *serve_args, "--port", str(port)],
                                   env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=preexec_fn)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the service did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield base, process
        finally:
            process.terminate()
            process.wait(timeout=30)
