"""ActivityNet's temporal-detection JSON: ground truth in, results out, so the standard
evaluators (ActivityNet's ``eval_detection.py`` and the tools built on it) run on ShopTag's
output unchanged.

Ground truth::

    {"version": "...", "database": {
      "VIDEO_ID": {"subset": "validation", "duration": 8.0, "url": "...",
                   "annotations": [{"segment": [1.0, 3.5], "label": "mug"}]}}}

A product's id is its ``label``. Each annotation may also carry ShopTag's optional keys
(``bbox``, ``track``, ``width_frac``, ``kind``, ``interchangeable``); the evaluators ignore
them. A video is the file ``VIDEO_ID`` plus a video suffix (or ActivityNet's ``v_VIDEO_ID``)
in the videos folder. Results::

    {"version": "...", "results": {"VIDEO_ID": [{"label": "mug", "score": 0.82, "segment": [1.0, 3.5]}]},
     "external_data": {"used": false, "details": "..."}}

ActivityNet's evaluator scores each label of the ground truth as its own class and refuses a
result whose label has none. So a tag of a product the truth names interchangeable with one in
that video is written under that one's label (as ShopTag's own AP counts it), and tags of
products that are in no truth at all are left out (no class's AP can change by them; ShopTag's
own precision counts them). Where the truth holds interchangeable products under different
labels elsewhere, ActivityNet's AP keeps them apart and ShopTag's merges them.
"""

from __future__ import annotations

import json
from pathlib import Path

from shoptag.batch.sources import VIDEO_SUFFIXES
from shoptag.evaluation.annotations import (
    MAX_APPEARANCES,
    MAX_VIDEOS,
    AnnotationError,
    TruthAppearance,
    VideoAnnotation,
    appearance,
    is_file,
    number,
)
from shoptag.evaluation.metrics import Interval

VERSION = "ShopTag"


def is_activitynet(raw: object) -> bool:
    return isinstance(raw, dict) and "database" in raw


def read_activitynet_truth(raw: dict, path: Path, videos_dir: Path, subset: str | None) -> list[VideoAnnotation]:
    database = raw["database"]
    if not isinstance(database, dict) or not database:
        raise AnnotationError(f"{path}: 'database' must map video ids to videos")
    if len(database) > MAX_VIDEOS:
        raise AnnotationError(f"{path}: over {MAX_VIDEOS} videos")
    videos = []
    for video_id, entry in database.items():
        where = f"database[{video_id!r}]"
        if not isinstance(entry, dict):
            raise AnnotationError(f"{where}: must be an object")
        if subset is not None and entry.get("subset") != subset:
            continue
        rows = entry.get("annotations")
        if not isinstance(rows, list) or len(rows) > MAX_APPEARANCES:
            raise AnnotationError(f"{where}: 'annotations' must be a list (empty for a product-free video) "
                                  f"of at most {MAX_APPEARANCES}")
        duration = entry.get("duration")
        if duration is not None and number(duration, where, "duration") <= 0:
            raise AnnotationError(f"{where}: duration must be a positive number of seconds")
        appearances = tuple(_appearance(row, f"{where}.annotations[{i}]") for i, row in enumerate(rows))
        videos.append(VideoAnnotation(_video_file(videos_dir, video_id, where), appearances, video_id,
                                      None if duration is None else float(duration)))
    if not videos:
        raise AnnotationError(f"{path}: no video of subset {subset!r}" if subset else f"{path}: no videos")
    return videos


def _appearance(row, where: str) -> TruthAppearance:
    if not isinstance(row, dict):
        raise AnnotationError(f"{where}: must be an object with 'segment' and 'label'")
    segment, label = row.get("segment"), row.get("label")
    if not isinstance(label, str) or not label:
        raise AnnotationError(f"{where}: needs a 'label' (the product id)")
    if not isinstance(segment, list) or len(segment) != 2:
        raise AnnotationError(f"{where}: 'segment' must be [start_s, end_s]")
    return appearance(row, where, product_id=label, span=(number(segment[0], where, "segment start"),
                                                          number(segment[1], where, "segment end")))


def _video_file(folder: Path, video_id: str, where: str) -> Path:
    if not video_id or "/" in video_id or "\\" in video_id or video_id.startswith(".") or "\0" in video_id:
        raise AnnotationError(f"{where}: a video id cannot be a path")
    for name in (video_id, f"v_{video_id}"):
        for suffix in ("", *sorted(VIDEO_SUFFIXES)):
            candidate = folder / f"{name}{suffix}"
            if is_file(candidate):
                return candidate
    raise AnnotationError(f"{where}: no video file {video_id}.mp4 (or another video suffix, or v_{video_id}.*) "
                          f"in {folder}")


def write_activitynet_truth(path: Path, videos: list[VideoAnnotation], subset: str = "validation") -> None:
    """The ground truth of ShopTag annotations in ActivityNet's layout (ids are file stems)."""
    database = {}
    for video in videos:
        entry: dict = {"subset": subset, "annotations": [
            {"segment": [round(a.start_s, 3), round(a.end_s, 3)], "label": a.product_id,
             **{k: v for k, v in a.as_json().items() if k not in ("product_id", "start_s", "end_s")}}
            for a in video.appearances]}
        if video.duration_s is not None:
            entry["duration"] = round(video.duration_s, 3)
        database[video.id] = entry
    # The official evaluator requires a taxonomy; detection does not use it.
    _write(path, {"version": VERSION, "taxonomy": [], "database": database})


def write_activitynet_results(path: Path, videos: list[VideoAnnotation], predictions: list[list[Interval]],
                              canonical: dict[str, str], details: str) -> None:
    """Each video's predicted segments (raw product ids) under its id, labelled as the module
    docstring says, best first."""
    labels = {a.product_id for video in videos for a in video.appearances}
    results = {}
    for video, intervals in zip(videos, predictions, strict=True):
        here = {canonical.get(a.product_id, a.product_id): a.product_id for a in video.appearances}
        rows = []
        for p in sorted(intervals, key=lambda p: -p.score):
            label = here.get(canonical.get(p.product_id, p.product_id), p.product_id)
            if label in labels:
                rows.append({"label": label, "score": round(p.score, 6),
                             "segment": [round(p.start_s, 3), round(p.end_s, 3)]})
        results[video.id] = rows
    _write(path, {"version": VERSION, "results": results, "external_data": {"used": False, "details": details}})


def _write(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=1) + "\n")
