"""The annotation format: which catalog products appear in each video, and when.

    {"videos": [
      {"video": "clips/a.mp4",
       "appearances": [{"product_id": "mug", "start_s": 1.0, "end_s": 3.5, "bbox": [x, y, w, h]}]},
      {"video": "clips/street.mp4", "appearances": []}
    ]}

Video paths are relative to the annotation file. ``bbox`` is optional (source-video pixels).
A video with an empty list is product-free: every tag on it is a false positive. Optional per
appearance: ``width_frac`` (the product's on-screen width over the frame's, for recall by
size), ``kind`` (``flat`` or ``textured``, for recall by kind), ``interchangeable`` (ids of
near-identical products whose tag counts as this one's), ``track``: the product's box in
each frame, as MOT-style rows ``[time_s, x, y, w, h]`` (a zero-size box where it is hidden),
which box IoU is scored against, and ``catalog``: the catalog the product is in (product ids
repeat across catalogs; ``shoptag feedback export`` names it). An appearance that names a
catalog is truth for that catalog only: evaluating another catalog leaves it out.

ActivityNet's ground-truth layout is read too (``shoptag.evaluation.activitynet``).
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from shoptag.errors import ShopTagError
from shoptag.files import read_regular

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_VIDEOS = 100_000
MAX_APPEARANCES = 10_000  # per video
MAX_TRACK_ROWS = 100_000  # per appearance
MAX_COORDINATE = 1_000_000  # px
MAX_INTEGER = 2**53  # larger JSON integers are no float's

TrackRow = tuple[float, int, int, int, int]  # time_s, x, y, w, h


class AnnotationError(ShopTagError):
    code = "bad_annotations"


@dataclass(frozen=True)
class TruthAppearance:
    product_id: str
    start_s: float
    end_s: float
    bbox: tuple[int, int, int, int] | None = None
    width_frac: float | None = None
    kind: str | None = None
    interchangeable: tuple[str, ...] = ()
    track: tuple[TrackRow, ...] = ()
    catalog: str | None = None  # None: the product of whichever catalog is evaluated

    def box_at(self, time_s: float, tolerance_s: float) -> tuple[int, int, int, int] | None:
        """The tracked box nearest ``time_s`` (within ``tolerance_s``), or None where there is
        none or the product is hidden there."""
        after = bisect.bisect_left(self.track, (time_s,))
        near = [row for row in self.track[max(0, after - 1):after + 1] if abs(row[0] - time_s) <= tolerance_s]
        nearest = min(near, key=lambda row: abs(row[0] - time_s), default=None)
        if nearest is None or not (nearest[3] and nearest[4]):
            return None
        return nearest[1:]

    def as_json(self) -> dict:
        row = {"product_id": self.product_id, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}
        if self.bbox is not None:
            row["bbox"] = list(self.bbox)
        if self.width_frac is not None:
            row["width_frac"] = round(self.width_frac, 4)
        if self.kind is not None:
            row["kind"] = self.kind
        if self.interchangeable:
            row["interchangeable"] = list(self.interchangeable)
        if self.track:
            row["track"] = [[round(row[0], 3), *row[1:]] for row in self.track]
        if self.catalog is not None:
            row["catalog"] = self.catalog
        return row


@dataclass(frozen=True)
class VideoAnnotation:
    video: Path
    appearances: tuple[TruthAppearance, ...]
    video_id: str | None = None  # the id ActivityNet files key videos by; the file's stem otherwise
    duration_s: float | None = None

    @property
    def product_free(self) -> bool:
        return not self.appearances

    @property
    def id(self) -> str:
        return self.video_id or self.video.stem


def read_json(path: Path, what: str) -> object:
    """A JSON file of at most MAX_FILE_BYTES, from a regular file only; NaN and Infinity,
    which JSON does not have, are refused."""
    path = Path(path)

    def no_constant(name: str):
        raise ValueError(f"{name} is not a JSON number")

    data = read_regular(path, MAX_FILE_BYTES, AnnotationError, f"{what} {path}")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AnnotationError(f"{what} {path} cannot be read: {exc}") from exc


def number(value, where: str, name: str, integer: bool = False) -> float:
    """A finite JSON number (not a string, not a boolean), as an int where ``integer``."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (isinstance(value, int) and abs(value) > MAX_INTEGER) or not math.isfinite(value)):
        raise AnnotationError(f"{where}: {name} must be a finite number")
    if integer:
        if value != int(value) or abs(value) > MAX_COORDINATE:
            raise AnnotationError(f"{where}: {name} must be a whole number of pixels under {MAX_COORDINATE}")
        return int(value)
    return float(value)


def is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system, say
        return False


def load_annotations(path: Path, videos_dir: Path | None = None, subset: str | None = None,
                     catalog: str | None = None) -> list[VideoAnnotation]:
    """ShopTag's annotation file or ActivityNet ground truth (told apart by its ``database``);
    ``videos_dir`` and ``subset`` apply to ActivityNet files, whose videos are named by id.
    Video ids (a file's stem in ShopTag's format) must be unique: results are keyed by them.
    With ``catalog``, the truth of that catalog (``of_catalog``)."""
    from shoptag.evaluation.activitynet import is_activitynet, read_activitynet_truth

    path = Path(path)
    raw = read_json(path, "annotations")
    if is_activitynet(raw):
        videos = read_activitynet_truth(raw, path, videos_dir or path.parent, subset)
    else:
        if subset is not None:
            raise AnnotationError(f"annotations {path}: --subset applies to ActivityNet ground truth only")
        entries = raw.get("videos") if isinstance(raw, dict) else None
        if not isinstance(entries, list) or not entries:
            raise AnnotationError(f"annotations {path}: expected {{\"videos\": [...]}} with at least one video, "
                                  "or ActivityNet's {\"database\": {...}}")
        if len(entries) > MAX_VIDEOS:
            raise AnnotationError(f"annotations {path}: over {MAX_VIDEOS} videos")
        videos = [_video(entry, number, path.parent) for number, entry in enumerate(entries)]
    seen: dict[str, Path] = {}
    for video in videos:
        if seen.setdefault(video.id, video.video) != video.video:
            raise AnnotationError(f"annotations {path}: videos {seen[video.id]} and {video.video} share the id "
                                  f"{video.id!r}; rename one")
    return videos if catalog is None else of_catalog(videos, catalog, path)


def of_catalog(videos: list[VideoAnnotation], catalog: str, path: Path) -> list[VideoAnnotation]:
    """The truth for catalog ``catalog``: appearances naming another catalog left out (their
    products are not this catalog's, whatever their ids; a video with no other is product-free
    here). Annotations that name catalogs, none of them this one, are refused: nothing of them
    would be scored."""
    named = {a.catalog for video in videos for a in video.appearances if a.catalog is not None}
    if named and catalog not in named:
        raise AnnotationError(f"annotations {path} are of catalog(s) {', '.join(sorted(named))}, not {catalog!r}: "
                              "evaluate the index of one of them (its folder is named as the catalog)")
    return [replace(video, appearances=tuple(a for a in video.appearances if a.catalog in (None, catalog)))
            for video in videos]


def _video(entry, number: int, base: Path) -> VideoAnnotation:
    where = f"videos[{number}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("video"), str):
        raise AnnotationError(f"{where}: needs a 'video' path")
    appearances = entry.get("appearances")
    if not isinstance(appearances, list):
        raise AnnotationError(f"{where}: 'appearances' must be a list (empty for a product-free video)")
    if len(appearances) > MAX_APPEARANCES:
        raise AnnotationError(f"{where}: over {MAX_APPEARANCES} appearances")
    video = base / entry["video"]
    if not is_file(video):
        raise AnnotationError(f"{where}: video {video} does not exist")
    return VideoAnnotation(video, tuple(appearance(a, f"{where}.appearances[{i}]") for i, a in enumerate(appearances)))


def appearance(row, where: str, product_id: str | None = None, span: tuple[float, float] | None = None
               ) -> TruthAppearance:
    """One appearance from ShopTag's keys; ActivityNet's reader passes the ``product_id`` and
    ``span`` it read from ``label`` and ``segment``, and the optional keys are shared."""
    if not isinstance(row, dict):
        raise AnnotationError(f"{where}: must be an object")
    if span is None:
        if "start_s" not in row or "end_s" not in row:
            raise AnnotationError(f"{where}: needs product_id, start_s and end_s")
        span = (number(row["start_s"], where, "start_s"), number(row["end_s"], where, "end_s"))
    start, end = span
    product_id = row.get("product_id") if product_id is None else product_id
    if not isinstance(product_id, str) or not product_id or not 0 <= start < end:
        raise AnnotationError(f"{where}: needs a product_id and 0 <= start_s < end_s")
    bbox = row.get("bbox")
    if bbox is not None:
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise AnnotationError(f"{where}: bbox must be [x, y, w, h]")
        bbox = tuple(number(v, where, "bbox", integer=True) for v in bbox)
        if bbox[2] < 0 or bbox[3] < 0:
            raise AnnotationError(f"{where}: bbox width and height must not be negative")
    width_frac = row.get("width_frac")
    if width_frac is not None:
        width_frac = number(width_frac, where, "width_frac")
        if not 0 < width_frac <= 1:
            raise AnnotationError(f"{where}: width_frac must be in (0, 1]")
    kind, interchangeable = row.get("kind"), row.get("interchangeable", [])
    if kind is not None and not isinstance(kind, str):
        raise AnnotationError(f"{where}: kind must be a string")
    if not isinstance(interchangeable, list) or not all(isinstance(i, str) for i in interchangeable):
        raise AnnotationError(f"{where}: interchangeable must be a list of product ids")
    catalog = row.get("catalog")
    if catalog is not None and not (isinstance(catalog, str) and catalog):
        raise AnnotationError(f"{where}: catalog must be a catalog name")
    return TruthAppearance(product_id, start, end, bbox, width_frac, kind, tuple(interchangeable),
                           _track(row.get("track", []), where), catalog)


def _track(rows, where: str) -> tuple[TrackRow, ...]:
    if not isinstance(rows, list) or len(rows) > MAX_TRACK_ROWS:
        raise AnnotationError(f"{where}: track must be a list of at most {MAX_TRACK_ROWS} [time_s, x, y, w, h] rows")
    track = []
    for position, row in enumerate(rows):
        at = f"{where}.track[{position}]"
        if not isinstance(row, list) or len(row) != 5:
            raise AnnotationError(f"{at}: expected [time_s, x, y, w, h]")
        time_s, x, y, w, h = number(row[0], at, "time_s"), *(number(v, at, "x, y, w, h", integer=True)
                                                             for v in row[1:])
        if time_s < 0 or w < 0 or h < 0:
            raise AnnotationError(f"{at}: time and size must not be negative")
        track.append((time_s, x, y, w, h))
    return tuple(sorted(track))


def write_annotations(path: Path, videos: list[VideoAnnotation], extra: dict | None = None) -> None:
    payload = {"videos": [{"video": str(v.video.relative_to(path.parent)),
                           "appearances": [a.as_json() for a in v.appearances]} for v in videos],
               **(extra or {})}
    path.write_text(json.dumps(payload, indent=2) + "\n")
