"""Tag an uploaded video: short videos in the request, long ones as a job (202)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from shoptag.api.auth import Creator
from shoptag.api.deps import ReadyService, Runner
from shoptag.api.errors import error_responses
from shoptag.api.intake import VIDEO_FORM, IdempotencyKey, job_response, submit_video
from shoptag.api.jobs import Job
from shoptag.api.limits import body_limit, upload_bytes
from shoptag.api.schemas import JobOut
from shoptag.tagging.results import TagResult

router = APIRouter(prefix="/v1/tags", tags=["tags"])


@router.post("", response_model=TagResult, openapi_extra=VIDEO_FORM,
             responses={202: {"model": JobOut, "description": "Too long to answer now: a job."},
                        **error_responses(400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 503)})
@body_limit(upload_bytes)
async def tag_video(request: Request, service: ReadyService, runner: Runner, principal: Creator,
                    idempotency_key: IdempotencyKey = None):
    """Suggest product tags for one video (same JSON as `shoptag tag`). Videos longer than
    the service's sync limit, or of unknown length, are queued as a job instead (202). The
    form holds the video (`file`) and optionally `fps`, `threshold`, `top_k`, `include_uncertain`, `profile`,
    and `catalogs` (comma-separated; default: every catalog the API key may use)."""
    answer = await submit_video(request, service, runner, principal, idempotency_key, answer_now=True)
    return job_response(service, answer, 202) if isinstance(answer, Job) else answer
