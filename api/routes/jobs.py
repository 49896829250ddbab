"""Asynchronous tagging: submit a video as a job, poll it, and play back its video."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, JSONResponse

from shoptag.api.auth import Creator
from shoptag.api.deps import ReadyService, Runner
from shoptag.api.errors import error_responses
from shoptag.api.intake import VIDEO_FORM, IdempotencyKey, job_response, submit_video
from shoptag.api.limits import body_limit, upload_bytes
from shoptag.api.ranges import served_file
from shoptag.api.schemas import JobOut
from shoptag.errors import NotFoundError, VideoError
from shoptag.video.container import check_container

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
JobId = Annotated[str, Path(max_length=64)]
_MEDIA_TYPES = {"mp4": "video/mp4", "matroska": "video/webm", "avi": "video/x-msvideo"}


@router.post("", status_code=202, response_model=JobOut, openapi_extra=VIDEO_FORM,
             responses=error_responses(400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 503))
@body_limit(upload_bytes)
async def create_job(request: Request, service: ReadyService, runner: Runner, principal: Creator,
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Queue a video for tagging; poll `GET /v1/jobs/{id}` for the result. The form holds the
    video (`file`) and optionally `fps`, `threshold`, `top_k`, `include_uncertain`, `profile`, and `catalogs`
    (comma-separated; default: every catalog the API key may use)."""
    job = await submit_video(request, service, runner, principal, idempotency_key, answer_now=False)
    return job_response(service, job, 202)


@router.get("/{job_id}", response_model=JobOut, responses=error_responses(401, 403, 404, 503))
async def get_job(service: ReadyService, principal: Creator, job_id: JobId) -> JSONResponse:
    """A job's status and progress; its result once it has succeeded, its error once it has failed."""
    return job_response(service, await asyncio.to_thread(service.jobs.get, job_id, principal.owner), 200)


@router.get("/{job_id}/video", response_class=FileResponse, responses={
    200: {"content": {media: {} for media in _MEDIA_TYPES.values()}, "description": "The uploaded video."},
    **error_responses(400, 401, 403, 404, 416, 503)})
async def get_job_video(request: Request, service: ReadyService, principal: Creator, job_id: JobId) -> FileResponse:
    """The job's video (byte ranges supported), kept for review for `job_video_retention_s` after
    the job succeeded: once tagged, a copy that every browser plays (H.264 MP4), else the upload."""
    job = await asyncio.to_thread(service.jobs.get, job_id, principal.owner)
    video = service.videos.kept(job)
    try:
        container = await asyncio.to_thread(check_container, video)
        size = video.stat().st_size
    except (VideoError, OSError):  # removed meanwhile
        raise NotFoundError(f"the video of job {job_id!r} is no longer kept") from None
    return served_file(request, video, size, media_type=_MEDIA_TYPES[container],
                       headers={"Cache-Control": "private, no-store"})
