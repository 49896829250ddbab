"""Response shapes, for the OpenAPI schema at /docs and for checking what the routes return;
and the OpenAPI description of the multipart forms that routes read themselves, as streams."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SegmentOut(BaseModel):
    start_s: float
    end_s: float
    score: float = Field(description="0.5 at the product's bar, towards 1 with stronger evidence, the same "
                         "scale for both kinds of evidence (below 0.5 only in uncertain segments).")
    evidence: Literal["geometry", "alignment", "embedding"] = Field(
        description="geometry: the product's photo was matched onto the frame, and the score is "
        "inliers / (inliers + min_inliers); alignment: a textureless product's photo was aligned onto "
        "the frame, and the score is 0.5 + 0.5 * (correlation - min_alignment) / (1 - min_alignment); "
        "embedding: the frame only looks similar, and the score "
        "is 0.5 + 0.5 * (similarity - bar) / (1 - bar), where the product's bar is the threshold or its "
        "background score plus a margin, whichever is higher.")
    # Defaults keep job results stored before these fields existed readable.
    uncertain: bool = Field(False, description="Weak evidence, returned only when include_uncertain was asked for.")
    best_frame_s: float
    bbox: list[int]  # [x, y, w, h] in source-video pixels


class AlternativeOut(BaseModel):
    product_id: str
    title: str


class ProductTagOut(BaseModel):
    product_id: str
    title: str
    url: str | None
    score: float
    segments: list[SegmentOut]
    alternatives: list[AlternativeOut] = Field(
        default_factory=list, description="Near-identical catalog products seen at the same place and time "
        "(colourways, another photo of the same product), best-supported first; this tag is the best-supported one.")


class IndexRef(BaseModel):
    """The index version that answered (the CLI also prints its folder; the service does not)."""

    created: str
    version: str


class TagsOut(BaseModel):
    """The same JSON as `shoptag tag`."""

    video: str
    duration_s: float
    width: int = Field(description="Frame width of the video; boxes are in its pixels.")
    height: int
    model: str
    index: IndexRef
    frames_sampled: int
    frames_skipped: int
    tags: list[ProductTagOut]


class JobErrorOut(BaseModel):
    code: str
    message: str


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    video: str
    created: str
    updated: str
    result: TagsOut | None = None
    error: JobErrorOut | None = None


class ImageOut(BaseModel):
    id: int
    ref: str
    sha256: str


class ProductOut(BaseModel):
    product_id: str
    title: str
    url: str | None
    metadata: dict
    images: list[ImageOut]


class ProductResponse(BaseModel):
    product: ProductOut
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
