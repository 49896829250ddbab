"""Grids of tagging settings (``threshold=0.5:0.9:0.05``, ``fps=1,2``, ``top_k=5,10``) and the
best operating point among them."""

from __future__ import annotations

import itertools

from shoptag.errors import ConfigError


def _flag(value: str) -> bool:
    if value.strip().lower() not in ("true", "false", "1", "0", "on", "off"):
        raise ValueError(f"{value!r} is not true or false")
    return value.strip().lower() in ("true", "1", "on")


SWEEPABLE = {"threshold": float, "fps": float, "top_k": int, "min_inliers": int, "verify": _flag,
             "region_pooling": _flag, "verify_candidates": int, "text_weight": float, "track": _flag,
             "align": _flag, "align_candidates": int, "min_alignment": float}
# Settings that change what a scan records; the others are applied to finished scans.
SCAN_SETTINGS = ("fps", "region_pooling", "verify", "verify_candidates", "min_inliers", "track", "align",
                 "align_candidates", "min_alignment")


def parse_sweep(text: str) -> tuple[str, list]:
    """``name=start:stop:step`` (stop included) or ``name=a,b,c``."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or name not in SWEEPABLE:
        raise ConfigError(f"bad --sweep {text!r}: use NAME=start:stop:step or NAME=a,b,c with NAME one of "
                          f"{', '.join(SWEEPABLE)}")
    cast = SWEEPABLE[name]
    try:
        if ":" in values:
            start, stop, step = (float(v) for v in values.split(":"))
            if step <= 0 or stop < start:
                raise ValueError("need start <= stop and step > 0")
            count = int(round((stop - start) / step)) + 1
            return name, [cast(round(start + i * step, 6)) for i in range(count)]
        return name, [cast(v) for v in values.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"bad --sweep {text!r}: {exc}") from exc


def grid(sweeps: list[str]) -> list[dict]:
    """Every combination of the swept values (one empty point without sweeps)."""
    parsed = dict(parse_sweep(s) for s in sweeps)
    # Settings that change the scan first, so points sharing a scan run together.
    names = sorted(parsed, key=lambda n: n not in SCAN_SETTINGS)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(parsed[n] for n in names))]


def best_point(points: list[dict]) -> dict:
    """Among the points with the fewest false tags per minute on product-free videos (a wrong
    suggestion costs a creator more than a missed one), the highest segment F1 at tIoU 0.5;
    ties go to the higher threshold."""
    def false_rate(point: dict) -> float:
        return point["metrics"]["false_tags_per_minute"] or 0.0

    fewest = min(false_rate(p) for p in points)
    quiet = [p for p in points if false_rate(p) == fewest]
    return max(quiet, key=lambda p: (p["metrics"]["segment@tIoU0.5"]["f1"], p["settings"]["threshold"]))
