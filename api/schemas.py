"""The service's own response shapes (a tag result is ``tagging.results.TagResult``, the same
model `shoptag tag` prints), which the routes return and OpenAPI documents; and the OpenAPI
description of the multipart forms that routes read themselves, as streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, model_serializer

from shoptag.indexing.records import IndexedProduct
from shoptag.tagging.results import TagResult

if TYPE_CHECKING:
    from shoptag.api.jobs import Job


class LiveOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    status: Literal["ready"] = "ready"
    model: str = Field(description="The model's identity (name and weights).")
    catalogs: int = Field(description="Catalogs served.")
    catalogs_unavailable: int = Field(0, description="Of them, those found unloadable so far (damaged, another "
                                      "model, a file that is not a regular file): answered 503, the others serve "
                                      "on. Which, and why: GET /v1/catalogs.")
    index_version: str | None = Field(None, description="The one catalog's version (a service of one index).")
    products: int | None = Field(None, description="The one catalog's products (a service of one index).")


class JobErrorOut(BaseModel):
    code: str
    message: str


class JobProgress(BaseModel):
    stage: Literal["queued", "tagging", "done"]
    frames_done: int = Field(0, description="Sampled frames tagged so far.")
    frames_total: int = Field(0, description="Sampled frames expected, by the video's header (0 while unknown).")

    @classmethod
    def of(cls, job: Job, running: tuple[int, int | None] = (0, None)) -> JobProgress:
        """``running``: a running job's sampled frames done and expected, as far as known."""
        if job.status == "queued":
            return cls(stage="queued")
        if job.status == "running":
            frames, expected = running
            return cls(stage="tagging", frames_done=frames, frames_total=max(frames, expected or 0))
        frames = job.result["frames_sampled"] if job.result else 0
        return cls(stage="done", frames_done=frames, frames_total=frames)


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    video: str
    created: str
    updated: str
    progress: JobProgress
    catalogs: list[str] | None = Field(None, description="The catalogs searched (absent for a job queued before "
                                       "they were named: the service's one).")
    result: TagResult | None = None
    error: JobErrorOut | None = None

    @classmethod
    def of(cls, job: Job, progress: JobProgress | None = None) -> JobOut:
        error = None if job.error_code is None else JobErrorOut(code=job.error_code, message=job.error_message)
        return cls(id=job.id, status=job.status, video=job.video_name, created=job.created, updated=job.updated,
                   progress=progress or JobProgress.of(job), catalogs=job.catalogs, result=job.result, error=error)

    @model_serializer(mode="wrap")
    def _without_absent_parts(self, handler):
        # A job has a result once it succeeded and an error once it failed, never a null one.
        shown = handler(self)
        for part in ("result", "error", "catalogs"):
            if shown.get(part) is None:
                shown.pop(part, None)
        return shown


class ProductResponse(BaseModel):
    product: IndexedProduct = Field(description="As the index version stores it, with image refs as a client sees "
                                    "them (see api.public_refs).")
    index_version: str


class DeletedResponse(BaseModel):
    product_id: str
    deleted: bool
    index_version: str


def multipart_form(fields: type[BaseModel], files: dict[str, dict], required_files: tuple[str, ...] = ()) -> dict:
    """``openapi_extra`` describing a multipart request body: the model's fields (as form fields:
    absent rather than null) and ``files``, name -> JSON schema."""
    schema = fields.model_json_schema()
    properties = {}
    for name, spec in schema["properties"].items():
        options = [option for option in spec.get("anyOf", [spec]) if option.get("type") != "null"]
        properties[name] = {**{k: v for k, v in spec.items() if k not in ("anyOf", "default")}, **options[0]}
    required = [*schema.get("required", []), *required_files]
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {**properties, **files}, "required": required,
        "additionalProperties": False}}}}}


class ProductSummary(BaseModel):
    product_id: str
    title: str
    url: str | None
    catalog: str


class NearProduct(ProductSummary):
    similarity: float = Field(description="The best similarity of any of the frame's regions to the product's "
                              "photos (cosine, -1..1): a ranking, not a tag's score.")


class NearestProductsOut(BaseModel):
    time_s: float
    products: list[NearProduct] = Field(description="Most similar first.")
