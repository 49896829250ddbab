"""Damaged and crafted index folders: byte flips, truncation, files rewritten with matching
checksums, a `current` pointer leading outside. Every reader (verify, load, the CLI, the
service) reports them as one clear problem, never a traceback or a hang."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from shoptag.demo import write_demo_catalog
from shoptag.errors import IndexLoadError
from shoptag.indexing import CatalogIndex, ImageReader, read_catalog, update_index, verify_index
from shoptag.indexing.versions import IndexFolder
from shoptag.indexing.writer import build_index
from shoptag.settings import ImageLimits

from helpers.api import running_app, service_settings
from helpers.index_files import craft, segment_of
from helpers.media import bundled_rgb


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, effnet):
    folder = tmp_path_factory.mktemp("pristine")
    # A background bank of one real photo's vector: so that every file a segment can hold is there.
    build_index(read_catalog(write_demo_catalog(folder / "catalog")), effnet, folder / "index",
                ImageReader(ImageLimits()), bank=effnet.embed_images([bundled_rgb("chelsea.jpg")]))
    return folder / "index"


@pytest.fixture
def index(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / "index", symlinks=True)
    return tmp_path / "index"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "shoptag.cli", *args], capture_output=True, text=True, timeout=120)


def products_with(index, edit):
    rows = [json.loads(line) for line in (segment_of(index) / "products.jsonl").read_text().splitlines()]
    edit(rows)
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def test_a_byte_flip_in_products_and_a_truncated_features_file_are_reported(index):
    products = segment_of(index) / "products.jsonl"
    data = bytearray(products.read_bytes())
    data[5] ^= 0xFF
    products.write_bytes(bytes(data))
    features = segment_of(index) / "features.npz"
    features.write_bytes(features.read_bytes()[:100])
    problems = verify_index(index)
    # Both are reported; neither is parsed, since neither is what was written.
    assert any("products.jsonl does not match its manifest checksum" in p for p in problems)
    assert any("features.npz does not match its manifest checksum" in p for p in problems)
    run = cli("index", "verify", str(index))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert json.loads(run.stdout)["ok"] is False and run.stderr.startswith("shoptag: error:")


@pytest.mark.parametrize("name, crafted", [
    ("features.npz", lambda index: b"PK\x03\x04 not a zip"),
    ("products.jsonl", lambda index: b'{"product_id": "x"}\n'),
    ("products.jsonl", lambda index: b"[" * 100_000 + b"]" * 100_000 + b"\n"),
    ("products.jsonl", lambda index: products_with(index, lambda rows: rows[0]["images"][0].update(id=-1))),
    ("products.jsonl", lambda index: products_with(index, lambda rows: rows[0].update(images="a.jpg"))),
    ("products.jsonl", lambda index: products_with(index, lambda rows: rows.append(rows[0]))),
    ("vectors.faiss", lambda index: b"IxMp" + b"\x00" * 64),
    ("embeddings.npy", lambda index: b"\x93NUMPY\x01\x00" + b"\x00" * 32),
    ("descriptors.faiss", lambda index: b"IwSq" + b"\x00" * 64),
    ("descriptors.faiss", lambda index: b""),
])
def test_crafted_files_with_matching_checksums_are_refused_by_every_reader(index, effnet, name, crafted):
    craft(index, name, crafted(index))
    with pytest.raises(IndexLoadError):
        CatalogIndex.read(index)
    assert verify_index(index)
    run = cli("tag", "--index", str(index), "--threads", "1", str(index / "no-video.mp4"))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.count("\n") == 1 and "index" in run.stderr


@pytest.mark.parametrize("manifest_edit, message", [
    (lambda m: m["files"].update({"../../../../etc/passwd": "0" * 64}), "not allowed"),
    (lambda m: m.update(images=10**15), "product images in its segments"),
    (lambda m: m.update(dim="512"), "wrong type"),
    (lambda m: m.update(extra=1), "missing or unknown"),
])
def test_a_crafted_manifest_is_refused_before_anything_it_names_is_read(index, manifest_edit, message):
    path = IndexFolder(index).current_dir() / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest_edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match=message):
        CatalogIndex.read(index)
    assert verify_index(index)


@pytest.mark.parametrize("target", ["/etc", "../../outside", "versions/../..", "versions/a/b"])
def test_a_current_pointer_leading_outside_its_versions_is_not_followed(index, tmp_path, target):
    (index / "current").unlink()
    os.symlink(target, index / "current")
    with pytest.raises(IndexLoadError, match="refusing to follow"):
        CatalogIndex.read(index)
    assert "refusing to follow" in verify_index(index)[0]
    run = cli("index", "verify", str(index))
    assert run.returncode == 1 and "Traceback" not in run.stderr


def test_the_service_reports_a_crafted_index_as_not_ready_and_logs_why(index, effnet, caplog):
    craft(index, "products.jsonl", b'{"product_id": "x"}\n')
    with running_app(service_settings(index), effnet, ready=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "load_failed"
        assert "cannot be read" in ready.json()["error"]["message"]
    assert any("not ready" in record.getMessage() for record in caplog.records)


def test_embeddings_of_the_wrong_type_are_refused(index):
    craft(index, "embeddings.npy", _npy(np.zeros((4, 1280), np.float64)))
    with pytest.raises(IndexLoadError, match="float32"):
        CatalogIndex.read(index)


def _npy(array) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def renamed(catalog, product, title):
    rows = [json.loads(line) for line in catalog.read_text().splitlines()]
    rows[product]["title"] = title
    catalog.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return read_catalog(catalog)


def test_a_damaged_old_version_does_not_fail_the_writes_after_it(index, effnet, tmp_path):
    catalog = write_demo_catalog(tmp_path / "catalog")  # the catalog the index was built from
    first = IndexFolder(index).current_name()
    update_index(renamed(catalog, 0, "renamed"), effnet, index, ImageReader(ImageLimits()))
    (IndexFolder(index).versions / first / "manifest.json").write_text("{damaged")
    report = update_index(renamed(catalog, 1, "renamed too"), effnet, index, ImageReader(ImageLimits()))
    assert report.changed == 1 and IndexFolder(index).current_name() == report.version
    assert verify_index(index) == []


def test_a_versions_folder_that_is_a_link_is_neither_read_nor_pruned(index, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(index / "versions"), elsewhere)
    (elsewhere / "precious").mkdir()
    (index / "versions").symlink_to(elsewhere)
    with pytest.raises(IndexLoadError, match="'versions' is a symbolic link"):
        CatalogIndex.read(index)
    run = cli("index", "build", str(write_demo_catalog(tmp_path / "catalog")), "--index", str(index),
              "--model", "effnet-lite0", "--threads", "1")
    assert run.returncode == 1 and "symbolic link" in run.stderr
    assert (elsewhere / "precious").is_dir()


def test_a_version_copied_under_another_name_is_refused(index):
    folder = IndexFolder(index)
    copy = folder.versions / "20300101T000000-c0ffee"
    shutil.copytree(folder.current_dir(), copy)
    folder.point_to(copy.name)
    with pytest.raises(IndexLoadError, match="holds the manifest of version"):
        CatalogIndex.read(index)



SEGMENT_FILES = ("vectors.faiss", "embeddings.npy", "products.jsonl", "features.npz", "descriptors.faiss",
                 "background.npz")


@pytest.mark.parametrize("special", ["fifo", "dev-zero"])
@pytest.mark.parametrize("name", SEGMENT_FILES)
def test_a_special_file_in_a_segment_is_refused_at_once_by_verify_and_load(index, effnet, name, special):
    """A FIFO (a read would wait forever) or a link to /dev/zero (a read never ends) in place of
    any of a segment's files: refused in one line, before anything reads it."""
    path = segment_of(index) / name
    assert path.is_file(), "the demo index holds all six files"
    path.unlink()
    if special == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    run = cli("index", "verify", str(index))  # its 120 s timeout is the hang
    assert run.returncode == 1 and "Traceback" not in run.stderr
    problems = json.loads(run.stdout)["problems"]
    assert any(f"{name}: " in p and "not a regular file; refused" in p for p in problems), problems
    with pytest.raises(IndexLoadError, match=name):
        CatalogIndex.load(index, effnet)
