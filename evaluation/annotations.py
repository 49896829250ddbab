"""The annotation format: which catalog products appear in each video, and when.

    {"videos": [
      {"video": "clips/a.mp4",
       "appearances": [{"product_id": "mug", "start_s": 1.0, "end_s": 3.5, "bbox": [x, y, w, h]}]},
      {"video": "clips/street.mp4", "appearances": []}
    ]}

Video paths are relative to the annotation file. ``bbox`` is optional (source-video pixels).
A video with an empty list is product-free: every tag on it is a false positive. Optional per
appearance: ``width_frac`` (the product's on-screen width over the frame's, for recall by
size), ``kind`` (``flat`` or ``textured``, for recall by kind) and ``interchangeable`` (ids of
near-identical products whose tag counts as this one's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shoptag.errors import ShopTagError


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
        return row


@dataclass(frozen=True)
class VideoAnnotation:
    video: Path
    appearances: tuple[TruthAppearance, ...]

    @property
    def product_free(self) -> bool:
        return not self.appearances


def load_annotations(path: Path) -> list[VideoAnnotation]:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"annotations {path} cannot be read: {exc}") from exc
    videos = raw.get("videos") if isinstance(raw, dict) else None
    if not isinstance(videos, list) or not videos:
        raise AnnotationError(f"annotations {path}: expected {{\"videos\": [...]}} with at least one video")
    return [_video(entry, number, path.parent) for number, entry in enumerate(videos)]


def _video(entry, number: int, base: Path) -> VideoAnnotation:
    where = f"videos[{number}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("video"), str):
        raise AnnotationError(f"{where}: needs a 'video' path")
    appearances = entry.get("appearances")
    if not isinstance(appearances, list):
        raise AnnotationError(f"{where}: 'appearances' must be a list (empty for a product-free video)")
    video = base / entry["video"]
    if not video.is_file():
        raise AnnotationError(f"{where}: video {video} does not exist")
    return VideoAnnotation(video, tuple(_appearance(a, f"{where}.appearances[{i}]") for i, a in enumerate(appearances)))


def _appearance(row, where: str) -> TruthAppearance:
    try:
        start, end = float(row["start_s"]), float(row["end_s"])
        product_id = row["product_id"]
        bbox = row.get("bbox")
        width_frac = None if row.get("width_frac") is None else float(row["width_frac"])
        kind, interchangeable = row.get("kind"), row.get("interchangeable", [])
    except (TypeError, KeyError, ValueError) as exc:
        raise AnnotationError(f"{where}: needs product_id, start_s and end_s ({exc})") from exc
    if not isinstance(product_id, str) or not product_id or not 0 <= start < end:
        raise AnnotationError(f"{where}: needs a product_id and 0 <= start_s < end_s")
    if bbox is not None and (not isinstance(bbox, list) or len(bbox) != 4):
        raise AnnotationError(f"{where}: bbox must be [x, y, w, h]")
    if kind is not None and not isinstance(kind, str):
        raise AnnotationError(f"{where}: kind must be a string")
    if not isinstance(interchangeable, list) or not all(isinstance(i, str) for i in interchangeable):
        raise AnnotationError(f"{where}: interchangeable must be a list of product ids")
    return TruthAppearance(product_id, start, end, tuple(int(v) for v in bbox) if bbox else None, width_frac, kind,
                           tuple(interchangeable))


def write_annotations(path: Path, videos: list[VideoAnnotation], extra: dict | None = None) -> None:
    payload = {"videos": [{"video": str(v.video.relative_to(path.parent)),
                           "appearances": [a.as_json() for a in v.appearances]} for v in videos],
               **(extra or {})}
    path.write_text(json.dumps(payload, indent=2) + "\n")
