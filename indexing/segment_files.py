"""A segment's files: their names, reading them, and checking that they agree with the
segment's record and with each other.

A segment (``indexing.segments``) holds ``vectors.faiss`` (its search index, one id per image),
``embeddings.npy`` (the raw vectors, so that an update reuses them and any index type can be
rebuilt), ``products.jsonl`` (product metadata and its images: id, ref, sha256),
``features.npz`` (local features for verification) with ``descriptors.faiss`` (their voting
index, ``indexing.descriptor_index``), ``background.npz`` (when built with a background bank),
and ``segment.json``, its record: what it holds and each file's sha256. Image ids are the
segment's own, 0 .. images - 1.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass, fields
from hashlib import sha256
from pathlib import Path
from typing import BinaryIO

import numpy as np

from shoptag.bounded_json import MAX_DEPTH, loads_bounded
from shoptag.errors import IndexLoadError
from shoptag.files import VerifiedFiles, open_regular, read_regular
from shoptag.indexing.descriptor_index import DescriptorIndex
from shoptag.indexing.local_features import FEATURES_NAME, LocalFeatures, load_features
from shoptag.indexing.records import Background, IndexedProduct, image_owners
from shoptag.indexing.thumbnails import THUMBNAILS_NAME, load_thumbnails
from shoptag.indexing.vectors import VectorIndex

VECTORS_NAME = "vectors.faiss"
PRODUCTS_NAME = "products.jsonl"
EMBEDDINGS_NAME = "embeddings.npy"
BACKGROUND_NAME = "background.npz"
DESCRIPTORS_NAME = "descriptors.faiss"
RECORD_NAME = "segment.json"
_REQUIRED_FILES = {VECTORS_NAME, EMBEDDINGS_NAME, PRODUCTS_NAME}
_MAX_RECORD_BYTES = 1 << 16


@dataclass(frozen=True)
class SegmentRecord:
    """``segment.json``."""

    model_identity: str
    dim: int
    kind: str  # the kind of its vectors.faiss: flat | hnsw | ivfpq
    products: int
    images: int
    files: dict[str, str]  # file name -> sha256

    def write(self, folder: Path) -> None:
        with (folder / RECORD_NAME).open("w") as handle:
            handle.write(json.dumps(asdict(self), indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def read(cls, folder: Path, digest: str) -> SegmentRecord:
        """The record in ``folder``, refused (``IndexLoadError``, its message saying what is
        wrong, for the caller to say where) unless its sha256 is ``digest`` (what the version
        that lists the segment recorded) and every field is sound."""
        path = folder / RECORD_NAME
        data = read_regular(path, _MAX_RECORD_BYTES, IndexLoadError, str(path))
        if sha256(data).hexdigest() != digest:
            raise IndexLoadError(f"{RECORD_NAME} does not match its checksum")
        try:
            raw = loads_bounded(data)
        except ValueError as exc:
            raise IndexLoadError(f"{RECORD_NAME} is unreadable: {exc}") from exc
        names = {field.name for field in fields(cls)}
        if not isinstance(raw, dict) or raw.keys() != names or not all(
                isinstance(raw[name], kind) and not isinstance(raw[name], bool) for name, kind in _TYPES.items()):
            raise IndexLoadError(f"{RECORD_NAME} is not a valid segment record")
        if not _REQUIRED_FILES <= raw["files"].keys() or not all(
                isinstance(name, str) and Path(name).name == name and not name.startswith(".")
                and name != RECORD_NAME for name in raw["files"]):
            raise IndexLoadError(f"{RECORD_NAME} lists files it may not")
        return cls(**raw)

    def file_problems(self, folder: Path, verified: VerifiedFiles | None = None) -> list[str]:
        """What is wrong with its listed files (empty: each is a regular file with its recorded
        checksum). A FIFO or a device is refused before it is read; ``verified`` skips files
        hashed before and unchanged since."""
        verified = verified or VerifiedFiles()
        problems = []
        for name, expected in self.files.items():
            try:
                verified.check(folder, name, expected, IndexLoadError)
            except IndexLoadError as exc:
                problems.append(exc.message)
        return problems


_TYPES = {"model_identity": str, "dim": int, "kind": str, "products": int, "images": int, "files": dict}


@dataclass(frozen=True)
class SegmentFiles:
    vectors: VectorIndex
    products: list[IndexedProduct]
    embeddings: np.ndarray
    features: list[LocalFeatures] | None
    background: Background | None
    descriptors: DescriptorIndex | None
    thumbnails: list[bytes | None]  # by image id; None where the segment has none (written before them)


def read_segment_files(folder: Path, record: SegmentRecord) -> SegmentFiles:
    """Parse a segment's files (whose checksums ``record.file_problems`` checked first); any file
    that is not a regular file, or does not parse, raises ``IndexLoadError``. Each is opened as
    a regular file and parsed from that handle; FAISS reads by name, right after its check."""
    try:
        vectors = VectorIndex.read(_checked(folder, VECTORS_NAME))
        with _regular(folder, PRODUCTS_NAME) as handle:
            # A stored row wraps a product's metadata (itself at most MAX_DEPTH deep) in one more level.
            products = [IndexedProduct.from_json(loads_bounded(line, MAX_DEPTH + 1))
                        for line in io.TextIOWrapper(handle, encoding="utf-8")]
        with _regular(folder, EMBEDDINGS_NAME) as handle:
            embeddings = _mapped_npy(handle)
        features = None
        if FEATURES_NAME in record.files:
            with _regular(folder, FEATURES_NAME) as handle:
                features = load_features(handle)
        descriptors = None
        if features is not None and DESCRIPTORS_NAME in record.files:
            descriptors = DescriptorIndex.read(_checked(folder, DESCRIPTORS_NAME), features,
                                               image_owners(products, len(features)).tolist())
        background = None
        if BACKGROUND_NAME in record.files:
            with _regular(folder, BACKGROUND_NAME) as handle, np.load(handle, allow_pickle=False) as data:
                background = Background(data["bank"].astype(np.float32), data["image_scores"].astype(np.float32))
        thumbnails: list[bytes | None] = [None] * len(embeddings)
        if THUMBNAILS_NAME in record.files:
            with _regular(folder, THUMBNAILS_NAME) as handle:
                thumbnails = list(load_thumbnails(handle, len(embeddings)))
    except IndexLoadError:
        raise
    except Exception as exc:  # each parser (FAISS, numpy, zip, json) fails in its own way on damage
        raise IndexLoadError(f"cannot be read: {type(exc).__name__}: {exc}") from exc
    return SegmentFiles(vectors, products, embeddings, features, background, descriptors, thumbnails)


def _regular(folder: Path, name: str) -> BinaryIO:
    if (folder / name).is_symlink():
        raise IndexLoadError(f"{name}: a link, not a regular file; refused")
    return open_regular(folder / name, IndexLoadError, name)


def _checked(folder: Path, name: str) -> Path:
    """``folder / name`` once it is known to be a regular file (for parsers that open by name)."""
    _regular(folder, name).close()
    return folder / name


def _mapped_npy(handle: BinaryIO) -> np.ndarray:
    """A ``.npy`` array memory-mapped read-only from an open file (``np.load`` maps only by name)."""
    version = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(handle)
    if dtype.hasobject:
        raise ValueError("an array of Python objects is refused")
    if 0 in shape:
        return np.zeros(shape, dtype)
    return np.memmap(handle, dtype=dtype, mode="r", shape=shape, order="F" if fortran_order else "C",
                     offset=handle.tell())


def segment_problems(record: SegmentRecord, files: SegmentFiles) -> list[str]:
    """What does not add up between a segment's record and its parsed files (empty: sound):
    counts and shapes, and every image id in range and owned by exactly one product image."""
    # Every range below is built from what the files hold, never from the record's claims.
    image_ids = sorted(image.id for product in files.products for image in product.images)
    product_ids = [product.product_id for product in files.products]
    checks = [
        (len(files.products) == record.products,
         f"{len(files.products)} products listed, its record says {record.products}"),
        (len(image_ids) == record.images, f"{len(image_ids)} product images listed, its record says {record.images}"),
        (files.vectors.size == record.images,
         f"{files.vectors.size} vectors in FAISS, its record says {record.images}"),
        (files.vectors.dim == record.dim, f"FAISS dim {files.vectors.dim}, its record says {record.dim}"),
        (files.vectors.kind == record.kind, f"FAISS index is {files.vectors.kind}, its record says {record.kind}"),
        (files.embeddings.shape == (record.images, record.dim) and files.embeddings.dtype == np.float32,
         f"embeddings are {files.embeddings.shape} {files.embeddings.dtype}, its record says "
         f"({record.images}, {record.dim}) float32"),
        (len(set(product_ids)) == len(product_ids), "a product id appears more than once"),
        (image_ids == list(range(len(image_ids))), "product image ids are not 0, 1, 2 ... each used once"),
        (sorted(files.vectors.ids().tolist()) == image_ids, "FAISS ids are not exactly the product image ids"),
    ]
    if files.features is not None:
        checks.append((len(files.features) == record.images,
                       f"{len(files.features)} local feature sets, its record says {record.images} images"))
    if files.background is not None:
        bank, scores = files.background.bank, files.background.image_scores
        checks.append((bank.ndim == 2 and bank.shape[1] == record.dim and scores.shape == (record.images,),
                       f"background bank {bank.shape} and scores {scores.shape} do not fit {record.images} images "
                       f"of dim {record.dim}"))
    return [message for ok, message in checks if not ok]
