"""A copy of a video that every browser plays: H.264 (yuv420p) in MP4, its index at the front.

Phones record HEVC (iPhones) and older cameras MPEG-4 Part 2, which Chromium, Firefox and many
Android browsers do not play; the review page plays this copy instead. PyAV ships FFmpeg with
its codecs (libx264 among them), so no system FFmpeg is needed. Each frame keeps its own
timestamp, so a phone's variable frame rate stays in step with the tag JSON's times. On
2 cores, a 60 s 720p clip takes about 10 s at 854 px (libx264 ``veryfast``).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from shoptag.errors import VideoDecodeError

_TIME_BASE = Fraction(1, 90_000)  # MPEG's clock: every common frame rate's times are whole ticks
_CRF = "26"


def write_playable(source: Path, target: Path, max_side: int, max_fps: float) -> None:
    """Write ``target`` (atomically: nothing there until it is complete): ``source`` scaled to
    at most ``max_side`` px on its long side, frames closer than ``1 / max_fps`` to the last
    one kept dropped, no audio. ``VideoDecodeError`` when ``source`` cannot be read."""
    import av

    partial = target.with_name(f".{target.name}.partial")
    try:
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            width, height = _fitted(stream.codec_context.width, stream.codec_context.height, max_side)
            with av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                encoded = out.add_stream("libx264", rate=max(1, round(min(max_fps, _rate(stream)))))
                encoded.width, encoded.height, encoded.pix_fmt = width, height, "yuv420p"
                encoded.time_base = _TIME_BASE
                encoded.codec_context.time_base = _TIME_BASE
                encoded.options = {"preset": "veryfast", "crf": _CRF}
                last_pts = None
                for frame in container.decode(stream):
                    if frame.time is None:
                        continue
                    pts = round(frame.time / _TIME_BASE)
                    if last_pts is not None and pts - last_pts < 1 / max_fps / _TIME_BASE - 1:
                        continue
                    picture = frame.reformat(width=width, height=height, format="yuv420p")
                    picture.pts, picture.time_base = pts, _TIME_BASE
                    last_pts = pts
                    out.mux(encoded.encode(picture))
                out.mux(encoded.encode(None))
        os.replace(partial, target)
    except (av.FFmpegError, IndexError, ValueError) as exc:
        raise VideoDecodeError(f"{source.name}: no playable copy could be made ({exc})") from exc
    finally:
        partial.unlink(missing_ok=True)


def _fitted(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size at most ``max_side`` on the long side, both even (yuv420p halves them)."""
    if not width or not height:
        raise ValueError("the video has no picture size")
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _rate(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else 30.0
