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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from shoptag.video.container import sniff_container

ModelT = TypeVar("ModelT", bound=BaseModel)
_SNIFF_BYTES = 16
_MAX_FILENAME_CHARS = 255


@dataclass(frozen=True)
class SavedUpload:
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class UploadedFile:
    saved: SavedUpload
    filename: str  # the client's name for it: a label only
    kind: str | None = None  # what the form's check_head found it is (a video's container)


@dataclass(frozen=True)
class FormRules:
    """What a form may hold; anything else is refused while the body streams in."""

    files: dict[str, int]  # file field -> the most files it may carry
    repeatable: frozenset[str] = frozenset()  # text fields that may be given more than once
    max_fields: int = 16  # text parts in all
    max_field_bytes: int = 4096
    check_head: Callable[[bytes], str] | None = None  # sees each file's first bytes: its kind, or raises

    @property
    def main_field(self) -> str:
        """The field a problem with the form as a whole is reported on: its first file field."""
        return next(iter(self.files))


@dataclass(frozen=True)
class ReceivedForm:
    fields: dict[str, list[str]]
    files: dict[str, list[UploadedFile]]

    def discard(self) -> None:
        for uploaded in (f for files in self.files.values() for f in files):
            uploaded.saved.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class VideoUpload:
    saved: SavedUpload
    filename: str  # the client's name for it: a label only
    container: str  # checked on its first bytes while it arrived
    fields: dict[str, str]  # the form's other fields


def private_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def clear_folder(folder: Path) -> None:
    """Remove what a previous run left behind (uploads of requests it never finished)."""
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def bad_form(field: str, message: str, location: str = "body") -> RequestValidationError:
    return RequestValidationError([{"loc": (location, field), "msg": message, "type": "value_error"}])


def validated_fields(model: type[ModelT], values: dict) -> ModelT:
    """A form's text fields as ``model``; what does not validate is a 422 like FastAPI's own."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


_VIDEO_FORM = FormRules(files={"file": 1}, check_head=sniff_container)


async def receive_video(request: Request, folder: Path) -> VideoUpload:
    """A form with one video in ``file`` (its container checked on its first bytes: 415) and a
    few short fields, each given once."""
    form = await receive_form(request, folder, _VIDEO_FORM)
    if not form.files.get("file"):
        raise bad_form("file", "Field required")
    (video,) = form.files["file"]
    fields = {name: values[0] for name, values in form.fields.items()}
    return VideoUpload(video.saved, video.filename, video.kind, fields)


async def receive_form(request: Request, folder: Path, rules: FormRules) -> ReceivedForm:
    """Stream a multipart/form-data body: each file straight into its own private file in
    ``folder`` (the one copy kept), hashed on the way; text fields in memory, bounded. What the
    rules do not allow, a malformed body, or one that ends before its closing boundary is
    refused (422), and every file written so far is removed."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type == b"application/x-www-form-urlencoded":  # a form of text fields only
        return ReceivedForm(await _urlencoded_fields(request, rules), {})
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise bad_form(rules.main_field, "Field required (send multipart/form-data)")
    form = _StreamedForm(folder, rules)
    try:
        try:
            parser = MultipartParser(options[b"boundary"], form.callbacks())
            async for chunk in request.stream():
                parser.write(chunk)
                await asyncio.to_thread(form.flush)
            parser.finalize()
        except FormParserError as exc:
            raise bad_form(rules.main_field, f"the multipart body is malformed ({exc})") from None
        if not form.ended:
            raise bad_form(rules.main_field, "the multipart body ends before its closing boundary")
        await asyncio.to_thread(form.flush)
        return ReceivedForm(form.fields, {name: [f.uploaded() for f in files] for name, files in form.files.items()})
    except BaseException:
        await asyncio.to_thread(form.discard)
        raise


async def _urlencoded_fields(request: Request, rules: FormRules) -> dict[str, list[str]]:
    most = rules.max_fields * (rules.max_field_bytes * 3 + 64)  # every field percent-encoded at its longest
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > most:
            raise bad_form(rules.main_field, f"the form is longer than {most} bytes")
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=rules.max_fields,
                          encoding="utf-8", errors="replace")
    except ValueError:
        raise bad_form(rules.main_field, f"more than {rules.max_fields} form fields") from None
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in fields and name not in rules.repeatable:
            raise bad_form(name, "given more than once")
        if len(value.encode()) > rules.max_field_bytes:
            raise bad_form(name, f"longer than {rules.max_field_bytes} bytes")
        fields.setdefault(name, []).append(value)
    return fields


class _OpenFile:
    def __init__(self, path: Path, filename: str) -> None:
        self.path = path
        self.filename = filename
        self.handle = path.open("xb")
        self.head = b""
        self.kind: str | None = None
        self.size = 0
        self.digest = hashlib.sha256()

    def uploaded(self) -> UploadedFile:
        return UploadedFile(SavedUpload(self.path, self.digest.hexdigest(), self.size), self.filename, self.kind)


class _StreamedForm:
    """Callbacks for python-multipart's streaming parser: field values in memory (bounded),
    file bytes queued for ``flush`` to write from a worker thread."""

    def __init__(self, folder: Path, rules: FormRules) -> None:
        self.folder = folder
        self.rules = rules
        self.fields: dict[str, list[str]] = {}
        self.files: dict[str, list[_OpenFile]] = {}
        self.ended = False  # the closing boundary was read
        self._text_parts = 0
        self._pending: list[tuple[_OpenFile, bytes | None]] = []  # bytes to write; None: the file is complete
        self._file: _OpenFile | None = None  # the file part being read
        self._part: str | None = None  # the text field being read
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
        self._file = self._part = None

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
            most = self.rules.files.get(name, 0)
            if not most:
                raise bad_form(name, f"is not a file field (files go in {', '.join(map(repr, self.rules.files))})")
            if len(self.files.get(name, [])) >= most:
                raise bad_form(name, f"at most {most} file(s)")
            filename = options[b"filename"].decode("utf-8", "replace")[:_MAX_FILENAME_CHARS] or "upload"
            self._file = _OpenFile(self.folder / f"{uuid.uuid4().hex}.upload", filename)
            self.files.setdefault(name, []).append(self._file)
            return
        if name in self.rules.files:
            raise bad_form(name, "must be a file part (with a filename)")
        if name in self.fields and name not in self.rules.repeatable:
            raise bad_form(name, "given more than once")
        self._text_parts += 1
        if self._text_parts > self.rules.max_fields:
            raise bad_form(name, f"more than {self.rules.max_fields} form fields")
        self._part = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._pending.append((self._file, data[start:end]))
        elif self._part is not None:
            self._value.extend(data[start:end])
            if len(self._value) > self.rules.max_field_bytes:
                raise bad_form(self._part, f"longer than {self.rules.max_field_bytes} bytes")

    def _part_end(self) -> None:
        if self._file is not None:
            self._pending.append((self._file, None))
        elif self._part is not None:
            self.fields.setdefault(self._part, []).append(self._value.decode("utf-8", "replace"))

    def flush(self) -> None:
        """Write the queued file bytes (blocking: call from a thread). A file's first bytes go to
        ``check_head`` as soon as they are in, or when the file ends shorter."""
        pending, self._pending = self._pending, []
        for file, data in pending:
            if data:
                file.handle.write(data)
                file.digest.update(data)
                file.size += len(data)
                if len(file.head) < _SNIFF_BYTES:
                    file.head += data[: _SNIFF_BYTES - len(file.head)]
                    if len(file.head) == _SNIFF_BYTES and self.rules.check_head:
                        file.kind = self.rules.check_head(file.head)
            elif data is None:
                if len(file.head) < _SNIFF_BYTES and self.rules.check_head:
                    # check_head raises for what is not a video (415) or nothing (422)
                    file.kind = self.rules.check_head(file.head)
                file.handle.close()

    def discard(self) -> None:
        for file in (f for files in self.files.values() for f in files):
            file.handle.close()
            file.path.unlink(missing_ok=True)
