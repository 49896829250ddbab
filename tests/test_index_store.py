import json
import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest

from shoptag.demo import write_demo_catalog
from shoptag.errors import IndexBuildError, IndexLoadError, IndexModelMismatchError
from shoptag.indexing import update_index, verify_index
from shoptag.indexing.catalog import read_catalog
from shoptag.indexing.images import ImageReader
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.versions import IndexFolder
from shoptag.indexing.writer import build_index
from shoptag.settings import ImageLimits

from helpers.index_files import segment_of
from helpers.media import bundled_rgb
from helpers.openclip import tiny_openclip_dir


@pytest.fixture
def catalog_path(tmp_path):
    path = write_demo_catalog(tmp_path / "catalog")
    # One extra product whose only image is broken: it must be skipped, not fatal.
    (tmp_path / "catalog" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with path.open("a") as handle:
        handle.write(json.dumps({"product_id": "broken", "title": "Broken", "images": ["broken.jpg"]}) + "\n")
    return path


def test_build_then_search_finds_each_product_from_its_own_photo(tmp_path, catalog_path, effnet):
    report = build_index(read_catalog(catalog_path), effnet, tmp_path / "index", ImageReader(ImageLimits()))
    assert (report.products, report.images) == (4, 4)
    assert any("broken.jpg" in s.where and "not a decodable image" in s.reason for s in report.skipped)
    manifest = Manifest.read(IndexFolder(tmp_path / "index").current_dir())
    assert manifest.model_identity == effnet.identity and manifest.dim == 1280
    assert manifest.version == report.version and manifest.index_type == "flat" and manifest.parent is None
    assert set(manifest.files) == {"segments.json"}
    assert set(json.loads((segment_of(tmp_path / "index") / "segment.json").read_text())["files"]) == {
        "vectors.faiss", "products.jsonl", "embeddings.npy", "features.npz", "descriptors.faiss", "thumbnails.npz"}
    index = CatalogIndex.load(tmp_path / "index", effnet)
    queries = effnet.embed_images([bundled_rgb("rocket.jpg"), bundled_rgb("coffee.jpg")])
    results = index.search(queries, top_k=2)
    assert [index.products[r[0][0]].product_id for r in results] == ["rocket-poster", "espresso-cup"]
    assert results[0][0][1] > 0.99 and len(results[0]) == 2
    # Each image's thumbnail is stored with it: the index serves its pictures wherever it is moved.
    thumbnail = cv2.imdecode(np.frombuffer(index.thumbnail(index.product("rocket-poster").images[0].id), np.uint8),
                             cv2.IMREAD_COLOR)
    assert max(thumbnail.shape[:2]) == 256


def test_failed_rebuild_keeps_the_previous_index(tmp_path, catalog_path, effnet):
    build_index(read_catalog(catalog_path), effnet, tmp_path / "index", ImageReader(ImageLimits()))
    before = IndexFolder(tmp_path / "index").current_name()
    only_broken = tmp_path / "catalog" / "broken.jsonl"
    only_broken.write_text(json.dumps({"product_id": "b", "title": "B", "images": ["broken.jpg"]}) + "\n")
    with pytest.raises(IndexBuildError, match="nothing could be indexed"):
        build_index(read_catalog(only_broken), effnet, tmp_path / "index", ImageReader(ImageLimits()))
    assert IndexFolder(tmp_path / "index").current_name() == before
    assert CatalogIndex.load(tmp_path / "index", effnet).version == before
    assert [p.name for p in (tmp_path / "index" / "versions").iterdir()] == [before]


def test_refuses_to_overwrite_a_folder_that_is_not_an_index(tmp_path, catalog_path, effnet):
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(IndexBuildError, match="not a ShopTag index"):
        build_index(read_catalog(catalog_path), effnet, precious, ImageReader(ImageLimits()))
    assert (precious / "holiday.jpg").exists()


def test_loading_with_another_model_is_refused(tmp_path, catalog_path, effnet):
    build_index(read_catalog(catalog_path), effnet, tmp_path / "index", ImageReader(ImageLimits()))
    from shoptag.model import create_embedder
    from shoptag.settings import ModelSettings

    tiny = create_embedder(ModelSettings(spec=f"openclip:local-dir:{tiny_openclip_dir(tmp_path / 'm')}"))
    with pytest.raises(IndexModelMismatchError, match="built with effnet-lite0:onnx-fp32@"):
        CatalogIndex.load(tmp_path / "index", tiny)


def test_corrupted_or_missing_files_are_detected(tmp_path, catalog_path, effnet):
    build_index(read_catalog(catalog_path), effnet, tmp_path / "index", ImageReader(ImageLimits()))
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "index", copy, symlinks=True)
    with (segment_of(copy) / "vectors.faiss").open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(IndexLoadError, match="checksum"):
        CatalogIndex.load(copy, effnet)
    (segment_of(tmp_path / "index") / "products.jsonl").unlink()
    with pytest.raises(IndexLoadError, match="missing products.jsonl"):
        CatalogIndex.load(tmp_path / "index", effnet)
    with pytest.raises(IndexLoadError, match="not a ShopTag index"):
        CatalogIndex.load(tmp_path / "catalog", effnet)


class BatchRecorder:
    """The real model, recording how many pixel bytes each call holds at once."""

    def __init__(self, embedder):
        self._embedder = embedder
        self.batch_bytes = []

    def __getattr__(self, name):
        return getattr(self._embedder, name)

    def embed_images(self, images):
        self.batch_bytes.append(sum(image.nbytes for image in images))
        return self._embedder.embed_images(images)


def test_many_large_photos_are_decoded_and_embedded_a_bounded_batch_at_a_time(tmp_path, effnet):
    from shoptag.indexing.embedding import _EMBED_BYTES, embed_entries
    from shoptag.indexing.records import Product

    photo = cv2.resize(bundled_rgb("chelsea.jpg"), (4000, 3000))  # 36 MB decoded
    refs = []
    for number in range(6):
        cv2.imwrite(str(tmp_path / f"{number}.jpg"), photo + number)
        refs.append(f"{number}.jpg")
    recorder = BatchRecorder(effnet)
    entries, stats = embed_entries([Product("big", "Big", tuple(refs))], tmp_path, recorder,
                                   ImageReader(ImageLimits()))
    assert stats.embedded == 6 and len(entries[0].images) == 6
    # Never more than the byte budget plus the one image that crossed it (6 × 36 MB = 216 MB at once before).
    assert max(recorder.batch_bytes) <= _EMBED_BYTES + photo.nbytes and len(recorder.batch_bytes) >= 3


class ImageCounter:
    """The real model, counting the images it is asked to embed."""

    def __init__(self, embedder):
        self._embedder = embedder
        self.images = 0

    def __getattr__(self, name):
        return getattr(self._embedder, name)

    def embed_images(self, images):
        self.images += len(images)
        return self._embedder.embed_images(images)


def shared_catalog(folder):
    """The demo catalog plus two products whose images the others have: one lists two of their
    files, one a copy of a file under another name (same bytes, same sha256)."""
    path = write_demo_catalog(folder)
    shutil.copyfile(folder / "coffee.jpg", folder / "coffee-copy.jpg")
    with path.open("a") as handle:
        handle.write(json.dumps({"product_id": "cup-set", "title": "Cup set", "images": ["coffee.jpg", "rocket.jpg"]})
                     + "\n")
        handle.write(json.dumps({"product_id": "cup-again", "title": "Cup again", "images": ["coffee-copy.jpg"]})
                     + "\n")
    return path


def test_an_image_shared_by_several_products_is_embedded_once_with_the_same_results(tmp_path, effnet):
    reader = ImageReader(ImageLimits())
    alone = ImageCounter(effnet)
    build_index(read_catalog(write_demo_catalog(tmp_path / "demo")), alone, tmp_path / "alone", reader)
    counter = ImageCounter(effnet)
    report = build_index(read_catalog(shared_catalog(tmp_path / "catalog")), counter, tmp_path / "shared", reader)
    assert (report.products, report.images) == (6, 7) and counter.images == alone.images == 4
    single, shared = CatalogIndex.load(tmp_path / "alone", effnet), CatalogIndex.load(tmp_path / "shared", effnet)
    by_hash = {image.sha256: image.id for product in single.products for image in product.images}
    for product in shared.products:
        for image in product.images:
            twin = by_hash[image.sha256]
            assert np.allclose(shared.embeddings[image.id], single.embeddings[twin], atol=1e-6)
            assert np.array_equal(shared.features[image.id].points, single.features[twin].points)
    assert [i.ref for i in shared.product("cup-again").images] == ["coffee-copy.jpg"]
    assert verify_index(tmp_path / "shared") == []

    # New images shared by two new products: embedded once by an update too.
    folder = tmp_path / "catalog"
    cv2.imwrite(str(folder / "cat-crop.jpg"), cv2.imread(str(folder / "chelsea.jpg"))[20:200])
    shutil.copyfile(folder / "cat-crop.jpg", folder / "cat-crop-2.jpg")
    with (folder / "catalog.jsonl").open("a") as handle:
        for n, ref in enumerate(("cat-crop.jpg", "cat-crop-2.jpg")):
            handle.write(json.dumps({"product_id": f"crop{n}", "title": "Crop", "images": [ref, "chelsea.jpg"]}) + "\n")
    counter = ImageCounter(effnet)
    update = update_index(read_catalog(folder / "catalog.jsonl"), counter, tmp_path / "shared", reader)
    assert (update.added, update.images_embedded, update.images_reused, counter.images) == (2, 1, 10, 1)
    index = CatalogIndex.load(tmp_path / "shared", effnet)
    first, second = (index.product(f"crop{n}").images[0].id for n in range(2))
    assert np.array_equal(index.embeddings[first], index.embeddings[second])


def test_stored_images_without_templates_have_their_features_detected_once_per_image(tmp_path, effnet):
    from shoptag.indexing.embedding import embed_entries

    catalog = read_catalog(shared_catalog(tmp_path / "catalog"))
    reader = ImageReader(ImageLimits())
    fresh, _ = embed_entries(catalog.products, catalog.base_dir, effnet, reader)
    # As a version from before local features would hand them over: vectors, no features.
    known = {image.sha256: replace(image, features=None) for entry in fresh for image in entry.images}
    counter = ImageCounter(effnet)
    entries, stats = embed_entries(catalog.products, catalog.base_dir, counter, reader, known=known)
    assert counter.images == 0 and (stats.embedded, stats.reused, stats.failed) == (0, 7, 0)
    images = {(entry.product.product_id, image.ref): image for entry in entries for image in entry.images}
    cup, cup_set, cup_again = (images["espresso-cup", "coffee.jpg"], images["cup-set", "coffee.jpg"],
                               images["cup-again", "coffee-copy.jpg"])
    assert cup.features is cup_set.features is cup_again.features  # detected once for the three uses
    for entry, before in zip(entries, fresh, strict=True):
        for image, old in zip(entry.images, before.images, strict=True):
            assert (image.ref, image.sha256) == (old.ref, old.sha256) and np.array_equal(image.vector, old.vector)
            assert np.array_equal(image.features.points, old.features.points)
            assert image.features.template is not None


def test_what_is_derived_from_a_version_is_built_once_per_loaded_version(tmp_path, catalog_path, effnet):
    build_index(read_catalog(catalog_path), effnet, tmp_path / "index", ImageReader(ImageLimits()))
    index = CatalogIndex.load(tmp_path / "index", effnet)
    built = []
    first = index.derived("matcher", lambda: built.append(1) or object())
    assert index.derived("matcher", lambda: built.append(1) or object()) is first and built == [1]
    again = CatalogIndex.load(tmp_path / "index", effnet)  # another loaded version: its own
    assert again.derived("matcher", lambda: built.append(1) or object()) is not first and built == [1, 1]
