"""Versions share unchanged data: an edit writes one small segment, whatever the catalog's
size, and searches see exactly what a version rebuilt from scratch would hold."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from shoptag.errors import IndexLoadError, NotFoundError
from shoptag.indexing import verify_index
from shoptag.indexing.records import Entry, ImageVector, Product
from shoptag.indexing.segments import LAYOUT_NAME, segments_dir
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.versions import IndexFolder
from shoptag.indexing.writer import (
    SEGMENTS_PER_TIER,
    TIER_FLOOR_IMAGES,
    Change,
    ModelRef,
    compact_index,
    rebase_version,
    write_version,
)

DIM = 32
MODEL = ModelRef("synthetic", "synthetic@0", DIM)


def entries(count: int, start: int = 0, seed: int = 0, title: str = "P") -> list[Entry]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [Entry(Product(f"p{i}", f"{title}{i}", (f"p{i}.jpg",)),
                  (ImageVector(f"p{i}.jpg", f"{seed:08x}{i:056x}", vectors[i - start]),))
            for i in range(start, start + count)]


def nearest_products(index: CatalogIndex, queries: np.ndarray, k: int = 5) -> list[list[tuple[str, float]]]:
    return [[(index.products[p].product_id, round(score, 5)) for p, score in row] for row in index.search(queries, k)]


def queries(count: int = 20) -> np.ndarray:
    found = np.random.default_rng(9).normal(size=(count, DIM)).astype(np.float32)
    return found / np.linalg.norm(found, axis=1, keepdims=True)


def test_an_edit_writes_one_small_segment_and_leaves_the_rest_untouched(tmp_path):
    first = write_version(tmp_path / "index", MODEL, entries(300), "flat")
    base_files = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in segments_dir(tmp_path / "index").rglob("*")}
    replaced = entries(1, start=7, seed=1, title="New ")
    second = rebase_version(tmp_path / "index", MODEL, lambda base: Change(tuple(replaced), frozenset({"p8"})), first)
    assert [len(p.segment.view.products) for p in second.placed] == [300, 1]
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in base_files} == base_files
    assert second.placed[0].segment is first.placed[0].segment  # shared in memory too
    assert "p8" not in second and second.product("p7").title == "New 7" and second.manifest.products == 299
    # The same search answers as a version written whole from the same products.
    whole = write_version(tmp_path / "whole", MODEL, [e for e in entries(300) if e.product.product_id not in
                                                      {"p7", "p8"}] + replaced, "flat")
    reloaded = CatalogIndex.read(tmp_path / "index")
    probes = np.concatenate([queries(), np.stack([e.images[0].vector for e in entries(300)[5:10] + replaced])])
    expected = sorted(map(sorted, nearest_products(whole, probes)))
    assert sorted(map(sorted, nearest_products(second, probes))) == expected
    assert sorted(map(sorted, nearest_products(reloaded, probes))) == expected
    assert verify_index(tmp_path / "index") == []
    with pytest.raises(NotFoundError):
        reloaded.product("p8")


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_removed_products_are_never_found_by_any_index_type(tmp_path, kind):
    catalog = entries(1200)
    first = write_version(tmp_path / "index", MODEL, catalog, kind)
    gone = frozenset(f"p{i}" for i in range(0, 1200, 3))
    index = rebase_version(tmp_path / "index", MODEL, lambda base: Change(removed=gone), first)
    own = np.stack([e.images[0].vector for e in catalog[:30]])
    found = {product for row in nearest_products(CatalogIndex.read(tmp_path / "index"), own, 10) for product, _ in row}
    assert found and not found & gone and index.manifest.products == 800
    # Scores are exact similarities, the compressed codes of ivfpq included: a kept product's own
    # vector scores 1 against itself.
    first_kept = nearest_products(index, own[1:2], 1)[0][0]
    assert first_kept == ("p1", 1.0)


def test_segments_stay_few_as_edits_accumulate_and_compact_makes_one(tmp_path):
    index = write_version(tmp_path / "index", MODEL, entries(200), "flat")
    for n in range(40):  # one product changed per edit
        change = Change(tuple(entries(1, start=n % 50, seed=100 + n, title=f"v{n} ")))
        index = rebase_version(tmp_path / "index", MODEL, lambda base, change=change: change, index)
        assert len(index.placed) <= 1 + SEGMENTS_PER_TIER
    assert index.manifest.products == 200 and verify_index(tmp_path / "index") == []
    assert index.product("p39").title == "v39 39" and index.product("p0").title == "v0 0"
    before = nearest_products(index, queries())
    compacted = compact_index(index)
    assert len(compacted.placed) == 1 and not compacted.placed[0].removed
    assert sorted(map(sorted, nearest_products(compacted, queries()))) == sorted(map(sorted, before))
    kept = {name for v in IndexFolder(tmp_path / "index").history()
            for name in (s["name"] for s in json.loads((IndexFolder(tmp_path / "index").versions / v / LAYOUT_NAME)
                                                         .read_text())["segments"])}
    assert {p.name for p in segments_dir(tmp_path / "index").iterdir()} == kept  # the rest pruned


def test_small_segments_merge_into_larger_ones(tmp_path):
    index = write_version(tmp_path / "index", MODEL, entries(TIER_FLOOR_IMAGES * 3), "flat")
    for n in range(SEGMENTS_PER_TIER * 2):
        batch = Change(tuple(entries(TIER_FLOOR_IMAGES // 2, start=10_000 + n * 500, seed=n)))
        index = rebase_version(tmp_path / "index", MODEL, lambda base, batch=batch: batch, index)
    sizes = [p.live_images for p in index.placed]
    assert sum(sizes) == TIER_FLOOR_IMAGES * 7 and len(sizes) < 1 + SEGMENTS_PER_TIER * 2
    assert verify_index(tmp_path / "index") == []


def test_a_reload_reads_only_the_segments_it_does_not_hold(tmp_path):
    first = write_version(tmp_path / "index", MODEL, entries(50), "flat")
    rebase_version(tmp_path / "index", MODEL, lambda base: Change(tuple(entries(2, start=50))), first)
    reloaded = CatalogIndex.read(tmp_path / "index", reuse=first)
    assert reloaded.placed[0].segment is first.placed[0].segment and len(reloaded.placed) == 2
    assert reloaded.manifest.products == 52


def test_rolling_back_finds_the_segments_of_the_kept_version(tmp_path):
    first = write_version(tmp_path / "index", MODEL, entries(50), "flat")
    rebase_version(tmp_path / "index", MODEL, lambda base: Change(removed=frozenset({"p1"})), first, keep=2)
    run = subprocess.run([sys.executable, "-m", "shoptag.cli", "index", "rollback", "--index", str(tmp_path / "index")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "p1" in CatalogIndex.read(tmp_path / "index")


def test_compact_from_the_command_line(tmp_path):
    index = write_version(tmp_path / "index", MODEL, entries(50), "flat")
    rebase_version(tmp_path / "index", MODEL, lambda base: Change(removed=frozenset({"p3"})), index)
    run = subprocess.run([sys.executable, "-m", "shoptag.cli", "index", "compact", "--index", str(tmp_path / "index")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["segments"] == {"before": 1, "after": 1} and report["products"] == 49
    assert len(CatalogIndex.read(tmp_path / "index").placed) == 1


@pytest.mark.parametrize("edit", [
    lambda layout: layout["segments"][0].update(name="../../etc"),
    lambda layout: layout["segments"][0].update(removed=[10**9]),
    lambda layout: layout["segments"][0].update(digest="0" * 64),
    lambda layout: layout["segments"].append(dict(layout["segments"][0])),
    lambda layout: layout.update(segments=[]),
])
def test_a_crafted_segment_list_is_refused(tmp_path, edit):
    write_version(tmp_path / "index", MODEL, entries(20), "flat")
    version = IndexFolder(tmp_path / "index").current_dir()
    layout = json.loads((version / LAYOUT_NAME).read_text())
    edit(layout)
    (version / LAYOUT_NAME).write_text(json.dumps(layout))
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["files"][LAYOUT_NAME] = hashlib.sha256((version / LAYOUT_NAME).read_bytes()).hexdigest()
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError):
        CatalogIndex.read(tmp_path / "index")
    assert verify_index(tmp_path / "index")


def test_a_segments_folder_that_is_a_link_is_refused(tmp_path):
    write_version(tmp_path / "index", MODEL, entries(20), "flat")
    os.rename(tmp_path / "index" / "segments", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", tmp_path / "index" / "segments")
    with pytest.raises(IndexLoadError, match="'segments' is a symbolic link"):
        CatalogIndex.read(tmp_path / "index")
