"""Merchant workflow end to end through the real commands: a Shopify export served over
HTTP (images too), a scheduled re-index from its URL, an incremental update with a report,
and plain progress lines when the output is not a terminal."""

import json
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shoptag.demo import DEMO_PRODUCTS, media_path

from helpers import REPO
from helpers.shopify import write_export


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def shop(tmp_path):
    """A folder served on 127.0.0.1: product photos and a Shopify export pointing at them."""
    site = tmp_path / "site"
    site.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    for _, _, photo in DEMO_PRODUCTS:
        (site / photo).write_bytes(media_path(photo).read_bytes())
    rows = [{"handle": pid, "title": title, "image": f"{base}/{photo}", "position": "1", "status": "active"}
            for pid, title, photo in DEMO_PRODUCTS]
    write_export(site / "products_export_1.csv", 1, rows)
    yield base, site, rows
    httpd.shutdown()


def reindex(*args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "reindex_catalog.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_scheduled_reindex_from_a_url_builds_then_updates(shop, tmp_path):
    base, site, rows = shop
    common = ["--index", tmp_path / "index", "--allow-host", "127.0.0.1", "--cache-dir", tmp_path / "cache",
              "--shop-url", "https://shop.example"]
    first = reindex(f"{base}/products_export_1.csv", *common)
    assert first.returncode == 0, first.stderr
    built = json.loads(first.stdout)
    assert built["products"] == 4 and built["skipped"] == []
    assert "indexing images: 4/4 (" in first.stderr and "ETA" in first.stderr  # plain progress lines

    # A day later: one product gone, one new (a photo already known), and the export re-fetched.
    rows = rows[1:] + [{"handle": "mug-2", "title": "Mug again", "image": f"{base}/coffee.jpg", "position": "1",
                        "status": "active"}]
    write_export(site / "products_export_1.csv", 1, rows)
    second = reindex(f"{base}/products_export_1.csv", *common, "--report", tmp_path / "report.json")
    assert second.returncode == 0, second.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["products"] == {"added": 1, "changed": 0, "removed": 1, "unchanged": 3}
    assert report["images"] == {"reused": 4, "embedded": 0, "failed": 0}
    stats = subprocess.run([sys.executable, "-m", "shoptag.cli", "index", "stats", tmp_path / "index"],
                           capture_output=True, text=True, timeout=120)
    assert json.loads(stats.stdout)["versions"] == [report["version"], built["version"]]


def test_without_allow_host_the_local_images_are_refused_and_reported(shop, tmp_path):
    base, site, _ = shop
    run = reindex(site / "products_export_1.csv", "--index", tmp_path / "index", "--cache-dir", tmp_path / "c")
    assert run.returncode == 1 and "nothing could be indexed" in run.stderr
    assert "non-public address 127.0.0.1" in run.stderr
    assert not (tmp_path / "index" / "current").exists()


def test_a_private_catalog_url_is_refused(tmp_path):
    run = reindex("http://169.254.169.254/latest/products.csv", "--index", tmp_path / "index")
    assert run.returncode == 1 and "non-public address 169.254.169.254" in run.stderr
