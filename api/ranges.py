"""Byte ranges of served files, checked before Starlette's ``FileResponse`` sees them: it
answers a malformed or unsatisfiable ``Range`` itself, in plain text, where every error of this
service is JSON."""

from __future__ import annotations

import re

from fastapi import HTTPException

_RANGES = re.compile(r"bytes=\s*\d*-\d*(\s*,\s*\d*-\d*)*\s*")
_MAX_RANGES = 16


def check_range(header: str | None, size: int) -> None:
    """Raise 400 for a malformed ``Range``, 416 for one that no byte of a ``size``-byte file satisfies."""
    if header is None:
        return
    parts = header.strip()[len("bytes="):].split(",") if _RANGES.fullmatch(header.strip()) else []
    if not parts or len(parts) > _MAX_RANGES:
        raise HTTPException(400, f"Range {header[:60]!r} is not a list of at most {_MAX_RANGES} byte ranges")
    unsatisfiable = HTTPException(416, f"Range {header[:60]!r} asks for no byte of the {size}-byte file",
                                  headers={"Content-Range": f"bytes */{size}"})
    for part in parts:
        first, _, last = part.strip().partition("-")
        if not first and not last or (first and last and int(last) < int(first)):
            raise HTTPException(400, f"Range {header[:60]!r} has an empty or reversed range")
        if (first and int(first) >= size) or (not first and int(last) == 0):
            raise unsatisfiable
