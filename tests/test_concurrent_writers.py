"""Two writers at once: the service changing products while `index update` runs (the CLI's own
function), in both orders of who finishes first. No acknowledged change may be lost: each
writer builds its version from the version current under the writer lock."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shoptag.demo import media_path, write_demo_catalog
from shoptag.indexing import CatalogIndex, ImageReader, read_catalog, update_index
from shoptag.indexing.edits import remove_product
from shoptag.indexing.versions import IndexFolder
from shoptag.indexing.writer import build_index
from shoptag.settings import FetchSettings, ImageLimits

from helpers.api import running_app, service_settings

READER = ImageReader(ImageLimits())
PHOTO = media_path("chelsea.jpg").read_bytes()


@pytest.fixture
def catalog_and_index(tmp_path, effnet):
    catalog = write_demo_catalog(tmp_path / "catalog")
    build_index(read_catalog(catalog), effnet, tmp_path / "index", READER)
    return catalog, tmp_path / "index"


def with_new_product(catalog, product_id):
    """The catalog plus one product (a new photo: its bytes are new to the index)."""
    (catalog.parent / f"{product_id}.jpg").write_bytes(PHOTO + product_id.encode())
    row = {"product_id": product_id, "title": product_id, "images": [f"{product_id}.jpg"]}
    catalog.write_text(catalog.read_text() + json.dumps(row) + "\n")
    return read_catalog(catalog)


def product_ids(index_path):
    return {p.product_id for p in CatalogIndex.read(index_path).products}


class GatedImage(BaseHTTPRequestHandler):
    """Serves the photo once the test opens the gate, so the service's change is still reading
    its image while the update commits."""

    requested = threading.Event()
    gate = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        GatedImage.requested.set()
        GatedImage.gate.wait(30)
        self.send_response(200)
        self.send_header("Content-Length", str(len(PHOTO)))
        self.end_headers()
        self.wfile.write(PHOTO)


@pytest.fixture
def gated_server():
    GatedImage.requested.clear()
    GatedImage.gate.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), GatedImage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/photo.jpg"
    GatedImage.gate.set()
    server.shutdown()


@pytest.mark.model
def test_a_product_the_service_adds_while_an_update_embeds_survives_the_update(catalog_and_index, effnet):
    catalog, index = catalog_and_index
    embedding = threading.Event()
    carry_on = threading.Event()

    def on_image():
        embedding.set()
        carry_on.wait(30)

    report = {}
    update = threading.Thread(target=lambda: report.update(
        vars(update_index(with_new_product(catalog, "from-update"), effnet, index, READER, on_image=on_image))))
    update.start()
    assert embedding.wait(30)
    with running_app(service_settings(index), effnet) as client:
        added = client.post("/v1/products", data={"product_id": "from-service", "title": "From the service"},
                            files={"images": ("p.jpg", PHOTO + b"service")})
        assert added.status_code == 201, added.text
    carry_on.set()
    update.join(60)
    assert report["added"] == 1
    assert {"from-update", "from-service"} <= product_ids(index)
    assert report["previous_version"] == added.json()["index_version"]


@pytest.mark.model
def test_an_update_committed_while_the_service_reads_its_image_is_kept(catalog_and_index, effnet, gated_server):
    catalog, index = catalog_and_index
    settings = service_settings(index).model_copy(update={"fetch": FetchSettings(allow_hosts=("127.0.0.1",))})
    with running_app(settings, effnet) as client:
        answer = {}
        request = threading.Thread(target=lambda: answer.update(response=client.post(
            "/v1/products", data={"product_id": "from-service", "title": "From the service",
                                  "image_refs": gated_server})))
        request.start()
        assert GatedImage.requested.wait(30)
        report = update_index(with_new_product(catalog, "from-update"), effnet, index, READER)
        assert report.added == 1
        GatedImage.gate.set()
        request.join(60)
        assert answer["response"].status_code == 201, answer["response"].text
        assert {"from-update", "from-service"} <= product_ids(index)
        # The service serves the version with both.
        assert client.get("/v1/products/from-update").status_code == 200


@pytest.mark.model
def test_a_writer_waits_for_the_lock_then_builds_on_the_version_written_meanwhile(catalog_and_index, effnet):
    catalog, index = catalog_and_index
    start = CatalogIndex.read(index)
    done = {}
    with IndexFolder(index).locked():
        remover = threading.Thread(target=lambda: done.update(version=remove_product(start, "cat-print")))
        remover.start()
        time.sleep(0.3)
        assert remover.is_alive(), "the second writer must wait for the lock"
    remover.join(30)
    assert "cat-print" not in product_ids(index) and done["version"].manifest.parent == start.version
    # A writer that started from an old version still builds on the newest one (the update put
    # cat-print back: the catalog has it).
    update_index(with_new_product(catalog, "later"), effnet, index, READER)
    remove_product(start, "rocket-poster")
    assert product_ids(index) == {"espresso-cup", "cat-print", "astronaut-poster", "later"}
