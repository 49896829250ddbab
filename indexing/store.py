"""A loaded index version: its search index, products, vectors and features, read from the
current version of an index folder and checked before use, then searched by tagging and read
by writers for the change they make.

A version is a list of segments (``indexing.segments``). Each segment is loaded on its own (a
``CatalogIndex`` of its products alone, with its own image ids) and the version joins them
(``indexing.joined``): image ids side by side, the products the version leaves out never found.
A version of one segment that leaves nothing out is that segment's index itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from shoptag.errors import IndexLoadError, IndexModelMismatchError, NotFoundError
from shoptag.files import VerifiedFiles
from shoptag.indexing.data_folder import catalog_name_of
from shoptag.indexing.descriptor_index import DescriptorIndex
from shoptag.indexing.joined import JoinedRows, JoinedVectors, JoinedVotes, joined_background
from shoptag.indexing.local_features import LocalFeatures
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.records import Background, Entry, ImageVector, IndexedImage, IndexedProduct, image_owners
from shoptag.indexing.segment_files import SegmentRecord, read_segment_files, segment_problems
from shoptag.indexing.segments import Placement, read_layout, segment_dir
from shoptag.indexing.vectors import ExcludedIds, VectorIndex
from shoptag.indexing.versions import IndexFolder
from shoptag.model.base import Embedder

T = TypeVar("T")
# An ivfpq search fetches this many times the asked-for candidates by their compressed codes,
# then ranks them by their exact similarity (stored vectors): recall, and scores on the same
# scale as the exact kinds' (thresholds, segments merged by score). At 100,000 images of
# 1280 dims, recall@10 was 0.48 with 4×, 0.72 with 10× and 0.99 with 30×, for 1-3 ms a frame more.
_RERANK = 30


@dataclass(frozen=True)
class LoadedSegment:
    """A segment read and checked: ``part`` is its products alone, with its own image ids."""

    name: str
    digest: str
    part: CatalogIndex


@dataclass(frozen=True)
class Placed:
    """A loaded segment in a version, with the positions of its products the version leaves out."""

    segment: LoadedSegment
    removed: frozenset[int] = frozenset()

    @property
    def placement(self) -> Placement:
        return Placement(self.segment.name, self.segment.digest, tuple(sorted(self.removed)))

    @property
    def live_images(self) -> int:
        part = self.segment.part
        return len(part.embeddings) - sum(len(part.products[p].images) for p in self.removed)


class CatalogIndex:
    """A loaded index version: FAISS vectors plus the products they belong to. Immutable: a
    change writes a new version and returns a new ``CatalogIndex``, so a search that holds one
    sees a single consistent version."""

    def __init__(self, path: Path, version_dir: Path, manifest: Manifest, vectors: VectorIndex,
                 products: list[IndexedProduct], embeddings: np.ndarray,
                 features: list[LocalFeatures] | None = None, background: Background | None = None,
                 descriptors: DescriptorIndex | None = None, placed: Sequence[Placed] = ()) -> None:
        self.path = path
        self.features = features  # per image id; None when the version has none
        self.background = background  # None when the version was built without a bank
        self.version_dir = version_dir
        self.manifest = manifest
        self.products = products
        self.embeddings = embeddings  # memory-mapped; row i is image id i (left-out products' too)
        self.placed = tuple(placed)  # the version's segments; empty for a segment or a set
        self._vectors = vectors
        self._position = {product.product_id: i for i, product in enumerate(products)}
        self._product_of_image = image_owners(products, len(embeddings))
        self._derived: dict[str, object] = {}
        if descriptors is not None:
            self.descriptors = descriptors  # fills the cached property

    @classmethod
    def load(cls, path: Path, embedder: Embedder, reuse: CatalogIndex | None = None,
             verified: VerifiedFiles | None = None) -> CatalogIndex:
        index = cls.read(path, reuse, verified)
        if index.manifest.model_identity != embedder.identity:
            raise IndexModelMismatchError(
                f"index {path} was built with {index.manifest.model_identity} but the model in use is "
                f"{embedder.identity} (another runtime or precision is another model); rebuild the index with it, "
                f"or pass --model {index.manifest.model_spec}")
        return index

    @classmethod
    def read(cls, path: Path, reuse: CatalogIndex | None = None, verified: VerifiedFiles | None = None) -> CatalogIndex:
        """Load the current version, checking its files against the manifest and against each
        other (no model check). A damaged or crafted version raises ``IndexLoadError``. The
        segments that ``reuse`` (an earlier version of this index) holds are not read again, and
        files that ``verified`` hashed before and are unchanged since are not hashed again."""
        path = Path(path)
        version_dir = IndexFolder(path).current_dir()
        manifest = Manifest.read(version_dir)
        if manifest.version != version_dir.name:
            raise IndexLoadError(f"index {path}: version folder {version_dir.name} holds the manifest of version "
                                 f"{manifest.version}")
        verified = verified or VerifiedFiles()
        manifest.verify_files(version_dir, verified)
        known = {(p.segment.name, p.segment.digest): p.segment for p in (reuse.placed if reuse else ())}
        placed = [Placed(known.get((placement.name, placement.digest))
                         or load_segment(path, placement, manifest, verified),
                         frozenset(placement.removed)) for placement in read_layout(version_dir)]
        problems = version_problems(manifest, placed)
        if problems:
            raise IndexLoadError(f"index {path} version {manifest.version} is inconsistent: {problems[0]}")
        return composed(path, version_dir, manifest, placed)

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def name(self) -> str:
        """The catalog's name: its index folder's (``data_folder.catalog_name_of``)."""
        return catalog_name_of(self.path)

    def catalog_of(self, position: int) -> str:
        """The name of the catalog that the product at ``position`` belongs to."""
        return self.name

    def derived(self, name: str, build: Callable[[], T]) -> T:
        """What callers compute from this version alone and never change (a matcher over its
        templates, say): built on first use, then shared by every request on this version. Two
        first uses at once may both build it; either result serves."""
        if name not in self._derived:
            self._derived.setdefault(name, build())
        return self._derived[name]

    @cached_property
    def descriptors(self) -> DescriptorIndex | None:
        """The catalog's local descriptors, searchable for votes: read with the version, or, for
        a version written before they were stored, built on first use (1-12 s for 364 products
        on 2 cores, most of it k-means). None when the version has no features."""
        if self.features is None:
            return None
        return DescriptorIndex.build(self.features, self._product_of_image.tolist())

    def __contains__(self, product_id: str) -> bool:
        return product_id in self._position

    def position_of(self, product_id: str) -> int:
        position = self._position.get(product_id)
        if position is None:
            raise NotFoundError(f"product {product_id!r} is not in the index")
        return position

    def image_ids(self) -> np.ndarray:
        """The ids of the version's product images (ids of left-out products' images are not)."""
        return np.flatnonzero(self._product_of_image >= 0)

    def product_of_image(self, image_id: int) -> int:
        """The position of the product that image ``image_id`` belongs to."""
        return int(self._product_of_image[image_id])

    def product(self, product_id: str) -> IndexedProduct:
        return self.products[self.position_of(product_id)]

    def entries(self, exclude: set[str] = frozenset()) -> list[Entry]:
        """The stored products, vectors and features, to write into a new version."""
        return [Entry(p, tuple(self._stored(i) for i in p.images))
                for p in self.products if p.product_id not in exclude]

    def known_images(self) -> dict[str, ImageVector]:
        """Stored vector and features per image content hash, for reuse by an update."""
        return {image.sha256: self._stored(image) for product in self.products for image in product.images}

    def _stored(self, image: IndexedImage) -> ImageVector:
        features = self.features[image.id] if self.features is not None else None
        background = float(self.background.image_scores[image.id]) if self.background is not None else None
        return ImageVector(image.ref, image.sha256, np.asarray(self.embeddings[image.id]), features, background)

    def background_score(self, position: int) -> float | None:
        """The product's highest similarity to the background bank, over its images."""
        scores = self._product_backgrounds
        return None if scores is None else float(scores[position])

    @cached_property
    def _product_backgrounds(self) -> np.ndarray | None:
        # Asked for every candidate of every frame: computed once per loaded version.
        if self.background is None:
            return None
        scores = np.full(len(self.products), -np.inf, np.float32)
        owned = self._product_of_image >= 0  # not the images of left-out products
        np.maximum.at(scores, self._product_of_image[owned], self.background.image_scores[owned])
        return scores

    def nearest_images(self, queries: np.ndarray, k: int,
                       excluded: ExcludedIds | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, image ids), each (n, k), from the version's search index (never one of the
        ``excluded`` ids: those of a segment's left-out products)."""
        if not isinstance(self._vectors, VectorIndex):
            return self._vectors.search(queries, k)
        if self._vectors.kind != "ivfpq":
            return self._vectors.search(queries, k, excluded)
        _, ids = self._vectors.search(queries, k * _RERANK, excluded)
        found = np.unique(ids[ids >= 0])
        queries = np.asarray(queries, dtype=np.float32)
        exact = queries @ np.asarray(self.embeddings[found], dtype=np.float32).T if len(found) else None
        scores = np.full(ids.shape, -np.inf, np.float32)
        if exact is not None:
            columns = np.clip(np.searchsorted(found, ids), 0, len(found) - 1)
            scores = np.where(ids >= 0, np.take_along_axis(exact, columns, axis=1), -np.inf).astype(np.float32)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, best, axis=1), np.take_along_axis(ids, best, axis=1)

    def search(self, queries: np.ndarray, top_k: int) -> list[list[tuple[int, float]]]:
        """For each query, up to ``top_k`` (product position, best image similarity), best first."""
        # Several images may belong to one product: over-fetch, then keep each product once.
        scores, ids = self.nearest_images(queries, top_k * 4)
        results = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            best: dict[int, float] = {}
            for score, image_id in zip(row_scores, row_ids, strict=True):
                if image_id < 0:
                    continue
                product = int(self._product_of_image[image_id])
                if product not in best:
                    best[product] = float(score)
                    if len(best) == top_k:
                        break
            results.append(list(best.items()))
        return results


def load_segment(root: Path, placement: Placement, manifest: Manifest,
                 verified: VerifiedFiles | None = None) -> LoadedSegment:
    """Read and check the segment ``placement`` names, for a version of ``manifest``'s model."""
    segment, problems = checked_segment(root, placement, manifest, verified)
    if segment is None:
        raise IndexLoadError(f"index {root}: segment {placement.name}: {problems[0]}")
    return segment


def checked_segment(root: Path, placement: Placement, manifest: Manifest,
                    verified: VerifiedFiles | None = None) -> tuple[LoadedSegment | None, list[str]]:
    """The segment ``placement`` names, read and checked, or None with what is wrong with it.
    Its files are parsed only once each is a regular file with its recorded checksum."""
    folder = segment_dir(root, placement.name)
    if folder.is_symlink() or not folder.is_dir():
        return None, [f"listed by version {manifest.version}, but missing"]
    try:
        record = SegmentRecord.read(folder, placement.digest)
    except IndexLoadError as exc:
        return None, [exc.message]
    if (record.model_identity, record.dim) != (manifest.model_identity, manifest.dim):
        return None, [f"holds vectors of {record.model_identity} (dim {record.dim}), its version says "
                      f"{manifest.model_identity} (dim {manifest.dim})"]
    problems = record.file_problems(folder, verified)
    if problems:  # never parsed: a file that is not what was written may be anything (a FIFO, /dev/zero)
        return None, problems
    try:
        files = read_segment_files(folder, record)
    except IndexLoadError as exc:
        return None, [exc.message]
    problems = segment_problems(record, files)
    if problems:
        return None, problems
    return segment_of(root, placement.name, placement.digest, manifest, record, files.vectors, files.products,
                      files.embeddings, files.features, files.background, files.descriptors), []


def segment_of(root: Path, name: str, digest: str, manifest: Manifest, record: SegmentRecord, vectors: VectorIndex,
               products: list[IndexedProduct], embeddings: np.ndarray, features: list[LocalFeatures] | None,
               background: Background | None, descriptors: DescriptorIndex | None) -> LoadedSegment:
    part_manifest = dataclasses.replace(manifest, version=name, parent=None, products=record.products,
                                        images=record.images, files=record.files, index_type=record.kind)
    part = CatalogIndex(root, segment_dir(root, name), part_manifest, vectors, products, embeddings, features,
                        background, descriptors)
    return LoadedSegment(name, digest, part)


def version_problems(manifest: Manifest, placed: Sequence[Placed]) -> list[str]:
    """What does not add up between a version's manifest and its (checked) segments."""
    if not all(max(p.removed, default=-1) < len(p.segment.part.products) for p in placed):
        return ["a segment's removed products are out of its range"]
    live = [product.product_id for p in placed for position, product in enumerate(p.segment.part.products)
            if position not in p.removed]
    checks = [
        (len(live) == manifest.products, f"{len(live)} products in its segments, manifest says {manifest.products}"),
        (sum(p.live_images for p in placed) == manifest.images,
         f"{sum(p.live_images for p in placed)} product images in its segments, manifest says {manifest.images}"),
        (len(set(live)) == len(live), "a product id appears in more than one of its segments"),
    ]
    return [message for ok, message in checks if not ok]


def composed(root: Path, version_dir: Path, manifest: Manifest, placed: Sequence[Placed]) -> CatalogIndex:
    """The version that lists ``placed`` (checked by ``version_problems``), searched as one."""
    if len(placed) == 1 and not placed[0].removed:
        part = placed[0].segment.part
        return CatalogIndex(root, version_dir, manifest, part._vectors, part.products, part.embeddings,
                            part.features, part.background, part.descriptors, placed)
    parts = [p.segment.part for p in placed]
    starts = np.cumsum([0, *(len(part.embeddings) for part in parts)]).tolist()
    products, positions, searches = [], [], []
    for p, part, start in zip(placed, parts, starts, strict=False):
        mapping = np.full(len(part.products), -1, np.int64)
        for position, product in enumerate(part.products):
            if position not in p.removed:
                mapping[position] = len(products)
                products.append(product if start == 0 else product.model_copy(update={"images": tuple(
                    image.model_copy(update={"id": image.id + start}) for image in product.images)}))
        positions.append(mapping)
        gone = [i for position in p.removed for i in part.products[position].image_ids]
        searches.append((partial(part.nearest_images, excluded=ExcludedIds(gone) if gone else None), start))
    with_features = all(part.features is not None for part in parts)
    return CatalogIndex(
        root, version_dir, manifest, JoinedVectors(searches), products,
        JoinedRows([part.embeddings for part in parts], manifest.dim),
        [f for part in parts for f in part.features] if with_features else None,
        joined_background([(part.background, len(part.embeddings)) for part in parts]),
        JoinedVotes([(part.descriptors, mapping) for part, mapping in zip(parts, positions, strict=True)])
        if with_features else None, placed)
