"""Uploaded bytes to a private folder under a server-made name; the client's filename is
only ever a label, never part of a path.

A video upload is streamed from the request body straight into its file (the one copy the
service keeps), hashed on the way, and its container is checked from its first bytes, so that
what is not a video is refused before the rest of the body is even read.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from shoptag.video.container import sniff_container

_CHUNK = 1 << 20
_SNIFF_BYTES = 16
_MAX_FIELDS = 16
_MAX_FIELD_BYTES = 4096
_MAX_FILENAME_CHARS = 255


@dataclass(frozen=True)
class SavedUpload:
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class VideoUpload:
    saved: SavedUpload
    filename: str  # the client's name for it: a label only
    fields: dict[str, str]  # the form's other fields


def private_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def save_upload(source: BinaryIO, folder: Path, suffix: str = ".upload") -> SavedUpload:
    """Copy ``source`` into ``folder`` and hash it on the way (blocking: call from a thread)."""
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("xb") as handle:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SavedUpload(path, digest.hexdigest(), size)


def clear_folder(folder: Path) -> None:
    """Remove what a previous run left behind (uploads of requests it never finished)."""
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def bad_form(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


async def receive_video(request: Request, folder: Path, file_field: str = "file") -> VideoUpload:
    """Read a multipart/form-data body with one video in ``file_field`` and a few short fields.
    Refuses (and removes the partial file) on a part that is not a video container, a second
    file, too many or too long fields, or a body that is not a form."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise bad_form(file_field, "Field required (send multipart/form-data with the video as 'file')")
    form = _StreamedForm(folder / f"{uuid.uuid4().hex}.video", file_field)
    try:
        try:
            parser = MultipartParser(options[b"boundary"], form.callbacks())
            async for chunk in request.stream():
                parser.write(chunk)
                await asyncio.to_thread(form.flush)
            parser.finalize()
        except FormParserError as exc:
            raise bad_form(file_field, f"the multipart body is malformed ({exc})") from None
        if not form.ended:
            raise bad_form(file_field, "the multipart body ends before its closing boundary")
        await asyncio.to_thread(form.flush, True)
        if form.filename is None:
            raise bad_form(file_field, "Field required")
        return VideoUpload(SavedUpload(form.path, form.digest.hexdigest(), form.size), form.filename, form.fields)
    except BaseException:
        form.discard()
        raise


class _StreamedForm:
    """Callbacks for python-multipart's streaming parser: field values in memory (bounded),
    the file's bytes queued for ``flush`` to write from a worker thread."""

    def __init__(self, path: Path, file_field: str) -> None:
        self.path = path
        self.file_field = file_field
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.ended = False  # the closing boundary was read
        self.size = 0
        self.digest = hashlib.sha256()
        self._handle: BinaryIO | None = None
        self._head = b""
        self._sniffed = False
        self._pending: list[bytes] = []
        self._part: str | None = None  # name of the field being read; None inside the file
        self._value = bytearray()
        self._header = (bytearray(), bytearray())
        self._disposition = b""

    def callbacks(self) -> dict:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end, "on_end": self._end}

    def _end(self) -> None:
        self.ended = True

    def _part_begin(self) -> None:
        self._disposition = b""
        self._value.clear()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header[0].extend(data[start:end])

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header[1].extend(data[start:end])

    def _header_end(self) -> None:
        name, value = self._header
        if bytes(name).lower() == b"content-disposition":
            self._disposition = bytes(value)
        name.clear()
        value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename*" in self._disposition and b"filename" not in options:
            raise bad_form(name, "name the file with filename=, not filename*= (RFC 7578)")
        if b"filename" in options:
            if name != self.file_field or self.filename is not None:
                raise bad_form(name, f"only one file is accepted, as '{self.file_field}'")
            self.filename = options[b"filename"].decode("utf-8", "replace")[:_MAX_FILENAME_CHARS] or "upload"
            self._part = None
            self._handle = self.path.open("xb")
        else:
            if name == self.file_field:
                raise bad_form(name, "must be a file part (with a filename)")
            if name in self.fields:
                raise bad_form(name, "given more than once")
            if len(self.fields) >= _MAX_FIELDS:
                raise bad_form(name, f"more than {_MAX_FIELDS} form fields")
            self.fields[name] = ""  # counted from its first part on
            self._part = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part is None:
            self._pending.append(data[start:end])
        else:
            self._value.extend(data[start:end])
            if len(self._value) > _MAX_FIELD_BYTES:
                raise bad_form(self._part, f"longer than {_MAX_FIELD_BYTES} bytes")

    def _part_end(self) -> None:
        if self._part is not None:
            self.fields[self._part] = self._value.decode("utf-8", "replace")

    def flush(self, final: bool = False) -> None:
        """Write the queued file bytes (blocking: call from a thread). The container is checked
        as soon as its first bytes are in, and at the end of the body for a shorter file."""
        data = b"".join(self._pending)
        self._pending.clear()
        if data and self._handle is not None:
            self._handle.write(data)
            self.digest.update(data)
            self.size += len(data)
            if len(self._head) < _SNIFF_BYTES:
                self._head += data[:_SNIFF_BYTES]
        if self._handle is not None and not self._sniffed and (final or len(self._head) >= _SNIFF_BYTES):
            self._sniffed = True
            sniff_container(self._head)  # raises for what is not a video (415) or nothing (422)
        if final and self._handle is not None:
            self._handle.close()

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self.path.unlink(missing_ok=True)
