"""What tagging returns, and the one definition of its JSON: `shoptag tag` prints these models,
the service returns them (and OpenAPI documents them), and jobs store them. Fields marked
``exclude`` are for callers in-process (evaluation, metrics), never part of the JSON."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_serializer

from shoptag.boxes import Box

GEOMETRY = "geometry"  # verified: the product's photo maps onto the frame (score from inliers)
ALIGNMENT = "alignment"  # a textureless product's photo aligned onto the frame (score from its correlation)
EMBEDDING = "embedding"  # similar embeddings only (score a similarity, on another scale)
Evidence = Literal["geometry", "alignment", "embedding"]
# How times and scores are written: to the millisecond, and to 4 decimals.
Seconds = Annotated[float, PlainSerializer(lambda value: round(value, 3), return_type=float)]
Score = Annotated[float, PlainSerializer(lambda value: round(value, 4), return_type=float)]
# [time_s, x, y, w, h]: a box in the video's pixels at a sampled frame.
TrackRow = Annotated[tuple[float, int, int, int, int], PlainSerializer(
    lambda row: [round(row[0], 3), *row[1:]], return_type=list[float | int])]


class _Result(BaseModel):
    # Stored job results are read back with these models: unknown keys from another release
    # are ignored rather than refused.
    # Fields with defaults are always sent, so the schema of the output marks them required.
    model_config = ConfigDict(frozen=True, extra="ignore", json_schema_serialization_defaults_required=True)


class Segment(_Result):
    start_s: Seconds
    end_s: Seconds
    score: Score = Field(description="0.5 at the product's bar, towards 1 with stronger evidence, the same "
                         "scale for every kind of evidence (below 0.5 only in uncertain segments).")
    evidence: Evidence = Field(
        description="geometry: the product's photo was matched onto the frame, and the score is "
        "inliers / (inliers + min_inliers); alignment: a textureless product's photo was aligned onto "
        "the frame, and the score is 0.5 + 0.5 * (correlation - min_alignment) / (1 - min_alignment); "
        "embedding: the frame only looks similar, and the score "
        "is 0.5 + 0.5 * (similarity - bar) / (1 - bar), where the product's bar is the threshold or its "
        "background score plus a margin, whichever is higher. The evidence of the best frame, whose "
        "score and box the segment carries.")
    # Defaults keep job results stored before these fields existed readable.
    uncertain: bool = Field(False, description="Weak evidence, returned only when include_uncertain was asked for.")
    best_frame_s: Seconds
    bbox: tuple[int, int, int, int] = Field(description="[x, y, w, h] in the video's pixels, at best_frame_s.")
    track: tuple[TrackRow, ...] = Field((), description=(
        "The product's box at every sampled frame of the segment where it was seen, [time_s, x, y, w, h] "
        "(MOT-style), by time: a player draws it interpolated between rows. Frames between rows where "
        "the product was not seen have no row."))
    hits: int = Field(0, exclude=True)  # sampled frames in the segment

    @field_validator("bbox", mode="before")
    @classmethod
    def _plain_ints(cls, box: Box) -> tuple[int, ...]:
        return tuple(int(v) for v in box)  # numpy integers from the pipeline

    @field_validator("track", mode="before")
    @classmethod
    def _plain_rows(cls, rows) -> tuple[tuple, ...]:
        return tuple((float(row[0]), *(int(v) for v in row[1:])) for row in rows)



_CATALOG = "The catalog the product is in: the name of its index folder (a service's catalog name)."


class Alternative(_Result):
    """A near-identical catalog product seen at the same place as the tagged one."""

    product_id: str
    title: str
    catalog: str | None = Field(None, description=_CATALOG)


class ProductTag(_Result):
    product_id: str
    title: str
    # None in job results stored before catalogs were named.
    catalog: str | None = Field(None, description=_CATALOG)
    url: str | None
    score: Score
    segments: list[Segment]
    alternatives: list[Alternative] = Field(
        default_factory=list, description="Near-identical catalog products seen at the same place and time "
        "(colourways, another photo of the same product), best-supported first; this tag is the best-supported one.")


class IndexRef(_Result):
    """The index version that answered."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)  # path may be left out
    path: str | None = Field(None, description="The index folder: printed by `shoptag tag`, never sent by the "
                             "service (a server path is not the client's business).")
    created: str
    version: str

    @model_serializer(mode="wrap")
    def _without_unknown_path(self, handler):
        shown = handler(self)
        if shown.get("path") is None:
            shown.pop("path", None)
        return shown


class TagResult(_Result):
    """The same JSON from `shoptag tag`, `POST /v1/tags` and a finished job."""

    video: str
    duration_s: Seconds
    width: int = Field(description="Frame width of the video; boxes are in its pixels.")
    height: int
    model: str
    profile: str = Field("default", description="The speed profile the tags were made with (default, fast).")
    index: IndexRef
    frames_sampled: int
    frames_skipped: int
    tags: list[ProductTag]
    skip_reasons: dict[str, int] = Field(default_factory=dict, exclude=True)
    stage_seconds: dict[str, float] = Field(default_factory=dict, exclude=True)

    def as_served(self) -> TagResult:
        """This result as the service answers it: without the server's index folder."""
        return self.model_copy(update={"index": self.index.model_copy(update={"path": None})})


def tag_result_schema() -> dict:
    """The JSON Schema (2020-12) of the tag JSON, as `shoptag schema` prints it and
    ``schemas/tag-result.json`` holds it."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **TagResult.model_json_schema(mode="serialization")}
