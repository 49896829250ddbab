"""Byte ranges of served files, checked before Starlette's ``FileResponse`` sees them: it
answers a malformed or unsatisfiable ``Range`` itself, in plain text, where every error of this
service is JSON.

A position or suffix length may have any number of digits (RFC 9110), more than ``int()``
takes (4,300 by default): a number at least the file's size means the same as the size itself
(a first byte past the end, a last byte or suffix reaching to the end), so the numbers are
compared by their digits and written as at most the size before ``FileResponse`` sees them.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.responses import FileResponse

_RANGES = re.compile(r"bytes=\s*\d*-\d*(\s*,\s*\d*-\d*)*\s*")
_MAX_RANGES = 16


def check_range(header: str | None, size: int) -> str | None:
    """Raise 400 for a malformed ``Range``, 416 for one that no byte of a ``size``-byte file
    satisfies; otherwise the header as ``FileResponse`` should read it (no number over ``size``)."""
    if header is None:
        return None
    parts = header.strip()[len("bytes="):].split(",") if _RANGES.fullmatch(header.strip()) else []
    if not parts or len(parts) > _MAX_RANGES:
        raise HTTPException(400, f"Range {header[:60]!r} is not a list of at most {_MAX_RANGES} byte ranges")
    unsatisfiable = HTTPException(416, f"Range {header[:60]!r} asks for no byte of the {size}-byte file",
                                  headers={"Content-Range": f"bytes */{size}"})
    checked = []
    for part in parts:
        first_digits, _, last_digits = part.strip().partition("-")
        first, last = _bounded(first_digits, size), _bounded(last_digits, size)
        if first is None and last is None or (first is not None and last is not None and last < first):
            raise HTTPException(400, f"Range {header[:60]!r} has an empty or reversed range")
        if (first is not None and first >= size) or (first is None and last == 0):
            raise unsatisfiable
        checked.append(f"{'' if first is None else first}-{'' if last is None else last}")
    return "bytes=" + ",".join(checked)


def _bounded(digits: str, size: int) -> int | None:
    """The number ``digits`` spell (None for none), or ``size`` for any number at least as large,
    found without ``int()`` on the digits of a huge one."""
    if not digits:
        return None
    significant = digits.lstrip("0") or "0"
    return size if len(significant) > len(str(size)) else min(int(significant), size)


def served_file(request: Request, path: Path, size: int, **response) -> FileResponse:
    """``FileResponse(path, **response)`` for a ``size``-byte file, answering the request's
    ``Range`` as ``check_range`` checked and wrote it."""
    return _CheckedRangeFile(check_range(request.headers.get("range"), size), path, **response)


class _CheckedRangeFile(FileResponse):
    """Serves the checked ``Range`` in place of the request's own, which ``FileResponse`` would
    parse again (and, for a number it cannot parse, answer in plain text)."""

    def __init__(self, checked_range: str | None, path: Path, **response) -> None:
        super().__init__(path, **response)
        self._checked_range = checked_range

    async def __call__(self, scope, receive, send) -> None:
        headers = [(name, value) for name, value in scope["headers"] if name.lower() != b"range"]
        if self._checked_range is not None:
            headers.append((b"range", self._checked_range.encode("latin-1")))
        await super().__call__({**scope, "headers": headers}, receive, send)
