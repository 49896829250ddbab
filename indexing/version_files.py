"""An index version's files: their names, reading them, and checking that they agree with the
manifest and with each other.

A version holds ``vectors.faiss`` (the search index, one id per catalog image),
``embeddings.npy`` and ``image_ids.npy`` (the raw vectors, so that an update reuses them and any
index type can be rebuilt), ``products.jsonl`` (product metadata and its images: id, ref,
sha256), ``features.npz`` (local features for verification) with ``descriptors.faiss`` (their voting
index, ``indexing.descriptor_index``; versions written before it have none), ``background.npz`` (when built
with a background bank) and ``manifest.json``. See ``indexing.versions`` for the folder layout
and why a crash never leaves a half-written version current, ``indexing.writer`` for how
versions are written and ``indexing.store`` for a loaded version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoptag.bounded_json import MAX_DEPTH, loads_bounded
from shoptag.errors import IndexLoadError
from shoptag.indexing.descriptor_index import DescriptorIndex
from shoptag.indexing.local_features import FEATURES_NAME, LocalFeatures, load_features
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.records import Background, IndexedProduct, image_owners
from shoptag.indexing.vectors import VectorIndex
from shoptag.indexing.versions import IndexFolder

VECTORS_NAME = "vectors.faiss"
PRODUCTS_NAME = "products.jsonl"
EMBEDDINGS_NAME = "embeddings.npy"
IMAGE_IDS_NAME = "image_ids.npy"
BACKGROUND_NAME = "background.npz"
DESCRIPTORS_NAME = "descriptors.faiss"
_REQUIRED_FILES = {VECTORS_NAME, EMBEDDINGS_NAME, IMAGE_IDS_NAME, PRODUCTS_NAME}


@dataclass(frozen=True)
class VersionFiles:
    vectors: VectorIndex
    products: list[IndexedProduct]
    embeddings: np.ndarray
    features: list[LocalFeatures] | None
    background: Background | None
    descriptors: DescriptorIndex | None  # None also for a version written before they were stored


def read_version_files(version_dir: Path, manifest: Manifest) -> VersionFiles:
    """Parse a version's files; any file that does not parse raises ``IndexLoadError``."""
    missing = _REQUIRED_FILES - manifest.files.keys()
    if missing:
        raise IndexLoadError(f"index {version_dir.parent.parent}: version {manifest.version}'s manifest lists "
                             f"no {', '.join(sorted(missing))}")
    try:
        vectors = VectorIndex.read(version_dir / VECTORS_NAME)
        with (version_dir / PRODUCTS_NAME).open(encoding="utf-8") as handle:
            # A stored row wraps a product's metadata (itself at most MAX_DEPTH deep) in one more level.
            products = [IndexedProduct.from_json(loads_bounded(line, MAX_DEPTH + 1)) for line in handle]
        embeddings = np.load(version_dir / EMBEDDINGS_NAME, mmap_mode="r", allow_pickle=False)
        features = load_features(version_dir / FEATURES_NAME) if FEATURES_NAME in manifest.files else None
        descriptors = None
        if features is not None and DESCRIPTORS_NAME in manifest.files:
            descriptors = DescriptorIndex.read(version_dir / DESCRIPTORS_NAME, features,
                                               image_owners(products, len(features)).tolist())
        background = None
        if BACKGROUND_NAME in manifest.files:
            with np.load(version_dir / BACKGROUND_NAME, allow_pickle=False) as data:
                background = Background(data["bank"].astype(np.float32), data["image_scores"].astype(np.float32))
    except Exception as exc:  # each parser (FAISS, numpy, zip, json) fails in its own way on damage
        raise IndexLoadError(f"index {version_dir.parent.parent}: version {manifest.version} cannot be read: "
                             f"{type(exc).__name__}: {exc}") from exc
    return VersionFiles(vectors, products, embeddings, features, background, descriptors)


def version_problems(manifest: Manifest, files: VersionFiles) -> list[str]:
    """What does not add up between a version's manifest and its parsed files (empty: sound):
    counts and shapes, and every image id in range and owned by exactly one product image."""
    # Every range below is built from what the files hold, never from the manifest's claims.
    image_ids = sorted(image.id for product in files.products for image in product.images)
    product_ids = [product.product_id for product in files.products]
    checks = [
        (len(files.products) == manifest.products,
         f"{len(files.products)} products listed, manifest says {manifest.products}"),
        (len(image_ids) == manifest.images, f"{len(image_ids)} product images listed, manifest says {manifest.images}"),
        (files.vectors.size == manifest.images,
         f"{files.vectors.size} vectors in FAISS, manifest says {manifest.images}"),
        (files.vectors.dim == manifest.dim, f"FAISS dim {files.vectors.dim}, manifest says {manifest.dim}"),
        (files.embeddings.shape == (manifest.images, manifest.dim) and files.embeddings.dtype == np.float32,
         f"embeddings are {files.embeddings.shape} {files.embeddings.dtype}, manifest says "
         f"({manifest.images}, {manifest.dim}) float32"),
        (len(set(product_ids)) == len(product_ids), "a product id appears more than once"),
        (image_ids == list(range(len(image_ids))), "product image ids are not 0, 1, 2 ... each used once"),
        (sorted(files.vectors.ids().tolist()) == image_ids, "FAISS ids are not exactly the product image ids"),
    ]
    if files.features is not None:
        checks.append((len(files.features) == manifest.images,
                       f"{len(files.features)} local feature sets, manifest says {manifest.images} images"))
    if files.background is not None:
        bank, scores = files.background.bank, files.background.image_scores
        checks.append((bank.ndim == 2 and bank.shape[1] == manifest.dim and scores.shape == (manifest.images,),
                       f"background bank {bank.shape} and scores {scores.shape} do not fit {manifest.images} images "
                       f"of dim {manifest.dim}"))
    return [message for ok, message in checks if not ok]


def kept_image_refs(root: Path) -> set[str] | None:
    """The image refs listed by the versions kept in the index at ``root``, or None when that
    cannot be known (no versions, or one that cannot be read): then nothing may be taken for
    unlisted. A version pruned while this reads is skipped."""
    versions = IndexFolder(root).versions
    if not versions.is_dir() or versions.is_symlink():
        return None
    refs: set[str] = set()
    for version_dir in versions.iterdir():
        if version_dir.name.startswith("."):
            continue
        try:
            with (version_dir / PRODUCTS_NAME).open(encoding="utf-8") as handle:
                rows = [loads_bounded(line, MAX_DEPTH + 1) for line in handle]
            refs.update(image["ref"] for row in rows for image in row["images"])
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return refs or None
