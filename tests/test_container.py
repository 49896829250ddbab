import os

import pytest

from shoptag.errors import UnsupportedContainerError, VideoDecodeError
from shoptag.video.container import check_container, sniff_container


@pytest.mark.parametrize("head, name", [
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "mp4"),
    (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "mp4"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81", "matroska"),
    (b"RIFF\x10\x00\x00\x00AVI LIST", "avi"),
])
def test_accepts_real_containers(head, name):
    assert sniff_container(head) == name


@pytest.mark.parametrize("head", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"<!DOCTYPE html><html>",
    b"\x00\x00\x01\xba\x44\x00\x04\x00",  # MPEG program stream is not accepted
    b"RIFF\x10\x00\x00\x00WAVEfmt ",
    bytes(range(16)),
])
def test_refuses_other_bytes(head):
    with pytest.raises(UnsupportedContainerError, match="not a supported video container"):
        sniff_container(head)


def test_refuses_playlists_by_name():
    with pytest.raises(UnsupportedContainerError, match="EXTM3U"):
        sniff_container(b"#EXTM3U\n#EXT-X-VERSION:3\n")


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty"):
        check_container(empty)
    with pytest.raises(VideoDecodeError, match="file not found"):
        check_container(tmp_path / "nope.mp4")


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_devices_and_fifos_are_refused_without_reading_or_waiting(tmp_path, special):
    if special == "fifo":
        special = tmp_path / "clip.mp4"
        os.mkfifo(special)  # no writer: opening it for reading would wait forever
    with pytest.raises(VideoDecodeError, match="not a regular file"):
        check_container(special)
