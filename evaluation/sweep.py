"""Grids of tagging settings (``threshold=0.5:0.9:0.05``, ``fps=1,2``, ``top_k=5,10``) and the
best operating point among them."""

from __future__ import annotations

import itertools
from typing import get_origin

from pydantic import ValidationError

from shoptag.errors import ConfigError
from shoptag.settings import TaggingSettings

# Every tagging setting but the lists (region_scales), which NAME=a,b,c cannot spell.
SWEEPABLE = tuple(name for name, field in TaggingSettings.model_fields.items()
                  if get_origin(field.annotation) is not tuple)


def _validated(name: str, value: object) -> object:
    """``value`` as TaggingSettings' own validation makes it: its type and bounds."""
    try:
        return getattr(TaggingSettings.model_validate({name: value}), name)
    except ValidationError as exc:
        raise ValueError(f"{name}={value}: {exc.errors()[0]['msg']}") from None


def parse_sweep(text: str) -> tuple[str, list]:
    """``name=start:stop:step`` (stop included) or ``name=a,b,c``."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep:
        raise ConfigError(f"bad --sweep {text!r}: use NAME=start:stop:step or NAME=a,b,c")
    if name not in SWEEPABLE:
        why = "is a list and cannot be swept" if name in TaggingSettings.model_fields else "is not a tagging setting"
        raise ConfigError(f"bad --sweep {text!r}: {name} {why}; NAME is one of {', '.join(SWEEPABLE)}")
    try:
        if ":" in values:
            start, stop, step = (float(v) for v in values.split(":"))
            if step <= 0 or stop < start:
                raise ValueError("need start <= stop and step > 0")
            count = int(round((stop - start) / step)) + 1
            return name, [_validated(name, round(start + i * step, 6)) for i in range(count)]
        return name, [_validated(name, v.strip()) for v in values.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"bad --sweep {text!r}: {exc}") from exc


def grid(sweeps: list[str]) -> list[dict]:
    """Every combination of the swept values (one empty point without sweeps)."""
    parsed = dict(parse_sweep(s) for s in sweeps)
    # Settings that change the scan first, so points sharing a scan run together.
    after_scan = TaggingSettings.after_scan_names()
    names = sorted(parsed, key=lambda n: n in after_scan)
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
