"""A loaded index version: its products, vectors and features, read from the current version
of an index folder and checked before use, then searched by tagging and read by writers for
the change they make.

A version is a list of segments (``indexing.segments``). Each segment is loaded on its own (a
``CatalogView`` of its products alone, with its own image ids) and the version joins them
(``catalog_view.join_views``): image ids side by side, the products the version leaves out never
found. A version of one segment that leaves nothing out searches that segment's view itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shoptag.errors import IndexLoadError, IndexModelMismatchError
from shoptag.files import VerifiedFiles
from shoptag.indexing.catalog_view import CatalogView, join_views
from shoptag.indexing.data_folder import catalog_name_of
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.segment_files import SegmentFiles, SegmentRecord, read_segment_files, segment_problems
from shoptag.indexing.segments import Placement, read_layout, segment_dir
from shoptag.indexing.versions import IndexFolder
from shoptag.model.base import Embedder


@dataclass(frozen=True)
class LoadedSegment:
    """A segment read and checked: ``view`` is its products alone, with its own image ids."""

    name: str
    digest: str
    view: CatalogView
    kind: str  # its search index's type
    folder: Path
    files: dict[str, str]  # name -> sha256, from its record


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
        view = self.segment.view
        return len(view.embeddings) - sum(len(view.products[p].images) for p in self.removed)


class CatalogIndex(CatalogView):
    """A loaded index version: its manifest, its segments, and the view that searches them as
    one. Immutable: a change writes a new version and returns a new ``CatalogIndex``, so a search
    that holds one sees a single consistent version."""

    def __init__(self, path: Path, version_dir: Path, manifest: Manifest, placed: Sequence[Placed]) -> None:
        """``placed``: the version's segments, checked by ``version_problems``."""
        self.path = path
        self.version_dir = version_dir
        self.manifest = manifest
        self.placed = tuple(placed)
        super().__init__(*join_views([(p.segment.view, p.removed) for p in placed], manifest.dim)._parts())

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
        return cls(path, version_dir, manifest, placed)

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def created(self) -> str:
        return self.manifest.created

    @property
    def name(self) -> str:
        """The catalog's name: its index folder's (``data_folder.catalog_name_of``)."""
        return catalog_name_of(self.path)


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
    return segment_of(root, placement.name, placement.digest, record, files), []


def segment_of(root: Path, name: str, digest: str, record: SegmentRecord, files: SegmentFiles) -> LoadedSegment:
    view = CatalogView(files.products, files.embeddings, files.vectors, files.features, files.background,
                       files.descriptors, [(0, catalog_name_of(root))], files.thumbnails)
    return LoadedSegment(name, digest, view, record.kind, segment_dir(root, name), dict(record.files))


def version_problems(manifest: Manifest, placed: Sequence[Placed]) -> list[str]:
    """What does not add up between a version's manifest and its (checked) segments."""
    if not all(max(p.removed, default=-1) < len(p.segment.view.products) for p in placed):
        return ["a segment's removed products are out of its range"]
    live = [product.product_id for p in placed for position, product in enumerate(p.segment.view.products)
            if position not in p.removed]
    checks = [
        (len(live) == manifest.products, f"{len(live)} products in its segments, manifest says {manifest.products}"),
        (sum(p.live_images for p in placed) == manifest.images,
         f"{sum(p.live_images for p in placed)} product images in its segments, manifest says {manifest.images}"),
        (len(set(live)) == len(live), "a product id appears in more than one of its segments"),
    ]
    return [message for ok, message in checks if not ok]
