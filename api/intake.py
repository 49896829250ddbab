"""What every video request goes through before any work is done on it: a capacity check
before its body is read (429), the streamed upload (415 on the first bytes), its parameters
(422), and the header probe (422, and the video's length), all outside the worker pool."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from shoptag.api.schemas import multipart_form
from shoptag.api.service import Service
from shoptag.api.uploads import VideoUpload, receive_video, validated_fields
from shoptag.video.sampler import VideoInfo


class TaggingOverrides(BaseModel):
    """The tagging settings a request may change; anything else in the form is refused."""

    model_config = ConfigDict(extra="forbid")

    fps: Annotated[float, Field(gt=0, le=30, description="Frames sampled per second.")] | None = None
    threshold: Annotated[float, Field(ge=-1, le=1, description="Match threshold.")] | None = None
    top_k: Annotated[int, Field(ge=1, le=100, description="Candidates per region.")] | None = None
    include_uncertain: Annotated[bool, Field(
        description="Also return uncertain segments (weak evidence), marked uncertain.")] | None = None


# The request body as OpenAPI describes it: the routes read it themselves, as a stream.
VIDEO_FORM = multipart_form(TaggingOverrides, {"file": {
    "type": "string", "format": "binary", "description": "The video: MP4/MOV, WebM/MKV or AVI."}}, ("file",))


@dataclass(frozen=True)
class ReceivedVideo:
    upload: VideoUpload
    overrides: dict
    info: VideoInfo


async def receive_tagging_request(request: Request, service: Service,
                                  admit: Callable[[], Awaitable[None]]) -> ReceivedVideo:
    """Take an upload place and run ``admit`` (which raises when the request could not be
    served) before reading the body; the caller removes ``upload.saved.path`` when done."""
    with service.upload_places.place(request.state.principal.owner):
        await admit()
        upload = await receive_video(request, service.uploads)
    try:
        overrides = validated_fields(TaggingOverrides, upload.fields).model_dump(exclude_none=True)
        info = await asyncio.to_thread(service.probe_video, upload.saved.path, overrides, upload.filename)
    except BaseException:
        upload.saved.path.unlink(missing_ok=True)
        raise
    return ReceivedVideo(upload, overrides, info)
