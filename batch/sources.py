"""The videos of a batch: a folder's video files, or a manifest listing paths and URLs."""

from __future__ import annotations

import os
from pathlib import Path

from shoptag.errors import ConfigError
from shoptag.files import read_regular

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg"})
_MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_MAX_LINE_CHARS = 4096


def is_url(source: str) -> bool:
    return source.lower().startswith(("https://", "http://"))


def video_sources(source: Path, max_videos: int) -> list[str]:
    """The videos of ``source``, each once, in order: a folder's video files (by suffix, sorted,
    regular files only, not its subfolders), or a manifest's lines, each a path (relative to the
    manifest) or an http(s) URL; blank lines and ``#`` comments are skipped."""
    if source.is_dir():
        videos = sorted(str(Path(entry.path).resolve()) for entry in os.scandir(source)
                        if entry.is_file(follow_symlinks=False) and Path(entry.name).suffix.lower() in VIDEO_SUFFIXES)
    else:
        text = read_regular(source, _MAX_MANIFEST_BYTES, ConfigError, f"manifest {source}").decode("utf-8", "replace")
        videos = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if len(line) > _MAX_LINE_CHARS:
                raise ConfigError(f"{source}:{number}: a line of over {_MAX_LINE_CHARS} characters")
            videos.append(line if is_url(line) else str((source.parent / line).resolve()))
    videos = list(dict.fromkeys(videos))
    if not videos:
        raise ConfigError(f"{source}: no video to tag (a folder of video files, or a manifest of paths and URLs)")
    if len(videos) > max_videos:
        raise ConfigError(f"{source} lists {len(videos)} videos; at most {max_videos} (SHOPTAG_BATCH__MAX_VIDEOS)")
    return videos
