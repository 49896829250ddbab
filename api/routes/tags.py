"""Tag an uploaded video: short videos in the request, long ones as a job (202)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from shoptag.api.auth import Creator
from shoptag.api.deps import ReadyService, TaggingOverrides
from shoptag.api.errors import error_responses
from shoptag.api.routes.jobs import IdempotencyKey, VideoFile, queue_job, receive_video
from shoptag.api.schemas import JobOut, TagsOut

router = APIRouter(tags=["tags"])


@router.post("/v1/tags", response_model=TagsOut,
             responses={202: {"model": JobOut, "description": "Too long to answer now: a job."},
                        **error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503)})
async def tag_video(request: Request, service: ReadyService, principal: Creator, file: VideoFile,
                    overrides: TaggingOverrides, idempotency_key: IdempotencyKey = None):
    """Suggest product tags for one video (same JSON as `shoptag tag`). Videos longer than
    the service's sync limit, or of unknown length, are queued as a job instead (202)."""
    saved = await receive_video(service, file)
    video_name = file.filename or "upload"
    try:
        payload = await service.pool.run(service.tag_video, saved.path, video_name, overrides,
                                         service.settings.service.sync_max_duration_s)
        if payload is None:
            return await queue_job(request, service, principal, saved, video_name, overrides,
                                   idempotency_key)
        return payload
    finally:
        saved.path.unlink(missing_ok=True)
