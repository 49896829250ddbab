"""Tag an uploaded video: short videos in the request, long ones as a job (202)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from shoptag.api.auth import Creator
from shoptag.api.deps import ReadyService
from shoptag.api.errors import error_responses
from shoptag.api.intake import VIDEO_FORM, receive_tagging_request
from shoptag.api.routes.jobs import IdempotencyKey, job_queue_full, queue_job
from shoptag.api.schemas import JobOut, TagsOut
from shoptag.errors import ServiceBusyError

router = APIRouter(tags=["tags"])


@router.post("/v1/tags", response_model=TagsOut, openapi_extra=VIDEO_FORM,
             responses={202: {"model": JobOut, "description": "Too long to answer now: a job."},
                        **error_responses(400, 401, 403, 408, 409, 413, 415, 422, 429, 503)})
async def tag_video(request: Request, service: ReadyService, principal: Creator,
                    idempotency_key: IdempotencyKey = None):
    """Suggest product tags for one video (same JSON as `shoptag tag`). Videos longer than
    the service's sync limit, or of unknown length, are queued as a job instead (202). The
    form holds the video (`file`) and optionally `fps`, `threshold`, `top_k`."""

    async def admit() -> None:
        # Refused before the body is read when neither a worker nor the job queue could take it.
        if not service.pool.free and await job_queue_full(service, principal, idempotency_key):
            raise ServiceBusyError("every worker is busy and the job queue is full")

    video = await receive_tagging_request(request, service, admit)
    try:
        duration_s = video.info.duration_s
        if duration_s is None or duration_s > service.settings.service.sync_max_duration_s:
            return await queue_job(request, service, principal, video, idempotency_key)
        return await service.pool.run(service.tag_video, video.upload.saved.path, video.upload.filename,
                                      video.overrides)
    finally:
        video.upload.saved.path.unlink(missing_ok=True)
