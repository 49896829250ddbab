"""Versioned index folders: incremental updates, keep/rollback, verify, leftovers of a killed
write, index types. Updates and builds run the real effnet-lite0 on real photos; the
index-type tests use synthetic vectors (they test FAISS plumbing, not the model)."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from shoptag.demo import media_path, write_demo_catalog, write_demo_video
from shoptag.errors import IndexBuildError, IndexLoadError
from shoptag.indexing import (
    CatalogIndex,
    ImageReader,
    Product,
    build_index,
    index_stats,
    read_catalog,
    update_index,
    verify_index,
)
from shoptag.indexing.records import Entry, ImageVector
from shoptag.indexing.versions import IndexFolder
from shoptag.indexing.writer import Change, ModelRef, rebase_version, write_version
from shoptag.settings import ImageLimits, Settings
from shoptag.tagging import Tagger

from helpers.index_files import craft, segment_of
from helpers.media import bundled_rgb

READER = ImageReader(ImageLimits())
SYNTHETIC = ModelRef("synthetic", "synthetic@0", 64)


def rewrite(catalog, rows):
    catalog.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return read_catalog(catalog)


@pytest.fixture
def demo(tmp_path):
    catalog = write_demo_catalog(tmp_path / "catalog")
    rows = [json.loads(line) for line in catalog.read_text().splitlines()]
    return catalog, rows


def test_update_embeds_only_what_changed(tmp_path, demo, effnet):
    catalog, rows = demo
    first = build_index(read_catalog(catalog), effnet, tmp_path / "index", READER)
    # A new photo (a crop of a bundled one: new bytes, new hash), one product renamed, one removed.
    import cv2

    cv2.imwrite(str(catalog.parent / "cat-crop.jpg"), cv2.imread(str(media_path("chelsea.jpg")))[20:200, 50:300])
    changed = [dict(rows[0]), rows[1], rows[3],
               {"product_id": "cat-mug", "title": "Cat mug", "images": ["cat-crop.jpg", "coffee.jpg"]}]
    changed[0]["title"] = "Espresso cup, now in blue"
    report = update_index(rewrite(catalog, changed), effnet, tmp_path / "index", READER)
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, 2)
    assert (report.images_reused, report.images_embedded, report.images_failed) == (4, 1, 0)
    assert report.previous_version == first.version and report.version != first.version
    index = CatalogIndex.load(tmp_path / "index", effnet)
    # Unchanged products stay where they were; changed and added ones follow, in the catalog's order.
    assert [p.product_id for p in index.products] == ["rocket-poster", "astronaut-poster", "espresso-cup", "cat-mug"]
    assert "cat-print" not in index and index.product("espresso-cup").title == "Espresso cup, now in blue"
    # Reused vectors are the stored ones, bit for bit; the index still finds each photo.
    query = effnet.embed_images([bundled_rgb("rocket.jpg")])
    assert index.products[index.search(query, 1)[0][0][0]].product_id == "rocket-poster"
    assert verify_index(tmp_path / "index") == []

    again = update_index(read_catalog(catalog), effnet, tmp_path / "index", READER)
    assert (again.unchanged, again.images_embedded, again.version) == (4, 0, report.version)


@pytest.mark.model
def test_a_removed_product_is_never_tagged_again(tmp_path, demo, effnet):
    catalog, rows = demo
    build_index(read_catalog(catalog), effnet, tmp_path / "index", READER)
    video = tmp_path / "demo.mp4"
    write_demo_video(video)
    settings = Settings()

    def tagged():
        index = CatalogIndex.load(tmp_path / "index", effnet)
        return {t.product_id for t in Tagger(effnet, index, settings.tagging, settings.video).tag(video).tags}

    assert tagged() == {"espresso-cup", "astronaut-poster"}
    update_index(rewrite(catalog, [r for r in rows if r["product_id"] != "astronaut-poster"]), effnet,
                 tmp_path / "index", READER)
    assert tagged() == {"espresso-cup"}


def test_keep_and_rollback(tmp_path, demo, effnet):
    catalog, rows = demo
    versions = [build_index(read_catalog(catalog), effnet, tmp_path / "index", READER, keep=2).version]
    for title in ("v2", "v3"):
        rows[0]["title"] = title
        versions.append(update_index(rewrite(catalog, rows), effnet, tmp_path / "index", READER, keep=2).version)
    folder = IndexFolder(tmp_path / "index")
    assert sorted(p.name for p in folder.versions.iterdir()) == sorted(versions[1:])
    assert folder.history() == [versions[2], versions[1]]

    run = subprocess.run([sys.executable, "-m", "shoptag.cli", "index", "rollback", str(tmp_path / "index")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["version"] == versions[1]
    assert CatalogIndex.load(tmp_path / "index", effnet).product("espresso-cup").title == "v2"
    again = subprocess.run([sys.executable, "-m", "shoptag.cli", "index", "rollback", str(tmp_path / "index")],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "no kept previous version" in again.stderr


def test_verify_catches_damage(tmp_path, demo, effnet):
    catalog, _ = demo
    build_index(read_catalog(catalog), effnet, tmp_path / "index", READER)
    current = segment_of(tmp_path / "index")
    with (current / "embeddings.npy").open("r+b") as handle:
        handle.seek(-8, os.SEEK_END)
        handle.write(b"\x00" * 8)
    problems = verify_index(tmp_path / "index")
    assert problems and "embeddings.npy does not match its manifest checksum" in problems[0]
    run = subprocess.run([sys.executable, "-m", "shoptag.cli", "index", "verify", str(tmp_path / "index")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and json.loads(run.stdout)["ok"] is False


def test_verify_catches_ids_that_map_to_no_product(tmp_path, demo, effnet):
    catalog, _ = demo
    build_index(read_catalog(catalog), effnet, tmp_path / "index", READER)
    rows = [json.loads(line) for line in (segment_of(tmp_path / "index") / "products.jsonl").read_text().splitlines()]
    rows[0]["images"][0]["id"] = 99
    craft(tmp_path / "index", "products.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    problems = verify_index(tmp_path / "index")
    assert "product image ids are not 0, 1, 2 ... each used once" in problems
    assert "FAISS ids are not exactly the product image ids" in problems


def test_leftovers_of_a_killed_write_are_ignored_then_removed(tmp_path, demo, effnet):
    catalog, rows = demo
    first = build_index(read_catalog(catalog), effnet, tmp_path / "index", READER)
    folder = IndexFolder(tmp_path / "index")
    (folder.versions / ".tmp-20260101T000000-dead00").mkdir()
    (folder.versions / ".tmp-20260101T000000-dead00" / "vectors.faiss").write_bytes(b"half")
    os.symlink("versions/.tmp-20260101T000000-dead00", tmp_path / "index" / ".current-dead0000")
    assert CatalogIndex.load(tmp_path / "index", effnet).version == first.version
    rows[0]["title"] = "changed"
    update_index(rewrite(catalog, rows), effnet, tmp_path / "index", READER)
    assert not any(p.name.startswith(".") for p in folder.versions.iterdir())
    assert not (tmp_path / "index" / ".current-dead0000").is_symlink()


@pytest.mark.model
def test_a_build_killed_with_sigkill_leaves_the_previous_version_serving(tmp_path, demo, effnet):
    import cv2

    catalog, rows = demo
    first = build_index(read_catalog(catalog), effnet, tmp_path / "index", READER)
    # A bigger catalog whose build takes seconds: crops of the bundled photos.
    rng = np.random.default_rng(0)
    big = []
    for n in range(120):
        photo = cv2.imread(str(media_path(("coffee.jpg", "rocket.jpg", "chelsea.jpg")[n % 3])))
        y, x = rng.integers(0, 40, 2)
        cv2.imwrite(str(catalog.parent / f"crop{n}.jpg"), photo[y:y + 150, x:x + 200])
        big.append({"product_id": f"p{n}", "title": f"P{n}", "images": [f"crop{n}.jpg"]})
    (catalog.parent / "big.jsonl").write_text("".join(json.dumps(r) + "\n" for r in big))
    for kill_after_s in (1.5, 3.0, 4.5):
        process = subprocess.Popen([sys.executable, "-m", "shoptag.cli", "index", "build",
                                    str(catalog.parent / "big.jsonl"), "--index", str(tmp_path / "index"),
                                    "--model", "effnet-lite0", "--threads", "1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(kill_after_s)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        index = CatalogIndex.load(tmp_path / "index", effnet)
        if index.version != first.version:  # the build finished before the kill: nothing to check
            break
        assert verify_index(tmp_path / "index") == []
        assert len(index.products) == 4
    # The next write cleans up whatever the killed one left.
    rows[0]["title"] = "after the crash"
    update_index(rewrite(catalog, rows), effnet, tmp_path / "index", READER)
    assert not any(p.name.startswith(".") for p in IndexFolder(tmp_path / "index").versions.iterdir())


def test_a_second_writer_gives_up_after_waiting_and_an_abandoned_write_changes_nothing(tmp_path, demo, effnet):
    catalog, _ = demo
    build_index(read_catalog(catalog), effnet, tmp_path / "index", READER)
    folder = IndexFolder(tmp_path / "index")
    before = folder.current_name()
    with pytest.raises(RuntimeError, match="abandon"):
        with folder.writing(keep=3):
            started = time.monotonic()
            with pytest.raises(IndexBuildError, match="another process is writing .* within 0.3 s"):
                with IndexFolder(tmp_path / "index").writing(keep=3, wait_s=0.3):
                    pass
            assert time.monotonic() - started >= 0.3
            raise RuntimeError("abandon this write")
    assert folder.current_name() == before and [p.name for p in folder.versions.iterdir()] == [before]


def synthetic_entries(count: int, dim: int = 64, seed: int = 0) -> list[Entry]:
    """Clustered unit vectors, like product photos of a few kinds."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(40, dim))
    vectors = centers[rng.integers(0, 40, count)] + rng.normal(scale=0.6, size=(count, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return [Entry(Product(f"p{i}", f"P{i}", (f"p{i}.jpg",)), (ImageVector(f"p{i}.jpg", f"{i:064x}", vectors[i]),))
            for i in range(count)]


@pytest.mark.parametrize("kind, min_recall", [("flat", 1.0), ("hnsw", 0.9), ("ivfpq", 0.3)])
def test_index_types_search_verify_and_report_recall(tmp_path, kind, min_recall):
    entries = synthetic_entries(3000)
    index = write_version(tmp_path / "index", SYNTHETIC, entries, kind)
    assert index.manifest.index_type == kind and verify_index(tmp_path / "index") == []
    stats = index_stats(tmp_path / "index", sample=100)
    assert stats["type"] == kind and stats["search"]["recall@10"] >= min_recall
    if kind != "ivfpq":  # a stored vector finds its own product
        assert index.search(entries[7].images[0].vector[None, :], 1)[0][0][0] == 7


def test_auto_picks_exact_search_for_small_catalogs_and_ivfpq_needs_enough_images(tmp_path):
    index = write_version(tmp_path / "a", SYNTHETIC, synthetic_entries(50), "auto")
    assert index.manifest.index_type == "flat"
    with pytest.raises(IndexBuildError, match="ivfpq needs at least 1000 images"):
        write_version(tmp_path / "b", SYNTHETIC, synthetic_entries(50), "ivfpq")
    with pytest.raises(IndexLoadError):
        CatalogIndex.read(tmp_path / "b")


def test_a_background_bank_is_kept_by_changes_and_scores_only_new_images(tmp_path):
    entries = synthetic_entries(30)
    bank = synthetic_entries(20, seed=1)
    bank_vectors = np.stack([e.images[0].vector for e in bank])
    first = write_version(tmp_path / "index", SYNTHETIC, entries[:20], "flat", bank=bank_vectors)
    expected = np.stack([e.images[0].vector for e in entries[:20]]) @ bank_vectors.T
    assert np.allclose(first.background.image_scores, expected.max(axis=1), atol=1e-5)
    # Stored scores are reused as stored (a changed bank would be a rebuild), new images scored.
    carried = [Entry(e.product, (replace(e.images[0], background=0.123),)) for e in first.entries()[:5]]
    second = rebase_version(tmp_path / "index", SYNTHETIC, lambda base: Change(tuple(carried + entries[20:])), first)
    assert np.array_equal(second.background.bank, bank_vectors)
    new = np.stack([e.images[0].vector for e in entries[20:]]) @ bank_vectors.T
    for index in (second, CatalogIndex.read(tmp_path / "index")):
        scores = [index.background_score(index.position_of(f"p{i}")) for i in range(30)]
        assert np.allclose(scores[:5], 0.123) and np.allclose(scores[5:20], expected.max(axis=1)[5:], atol=1e-5)
        assert np.allclose(scores[20:], new.max(axis=1), atol=1e-5)
