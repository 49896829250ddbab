"""Recognise accepted video containers by their leading bytes, before any decoder sees them."""

from __future__ import annotations

from pathlib import Path

from shoptag.errors import UnsupportedContainerError, VideoDecodeError
from shoptag.files import open_regular

# ISO base media (MP4/MOV) files start with a box whose type sits at bytes 4..8.
_ISO_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_MATROSKA = b"\x1a\x45\xdf\xa3"  # EBML header: Matroska and WebM


def sniff_container(head: bytes) -> str:
    """Name the container of a file starting with ``head`` (its first 16+ bytes) or raise."""
    if not head:
        raise VideoDecodeError("the video file is empty")
    if head[4:8] in _ISO_BMFF_BOXES:
        return "mp4"
    if head.startswith(_MATROSKA):
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U"):
        raise UnsupportedContainerError("playlists (#EXTM3U) are not accepted; upload the video itself")
    raise UnsupportedContainerError(
        "not a supported video container (accepted: MP4/MOV, WebM/Matroska, AVI)"
    )


def check_container(path: Path) -> str:
    """The container of the regular file at ``path`` (a device or a FIFO is refused unread)."""
    path = Path(path)
    with open_regular(path, VideoDecodeError, f"video {path.name}") as handle:
        head = handle.read(16)
    return sniff_container(head)
