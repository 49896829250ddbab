"""From sampled frames to product tags: region search, per-product hits, segments."""

from shoptag.tagging.results import Alternative, IndexRef, ProductTag, Segment, TagResult
from shoptag.tagging.scan import FrameMatches, Scan
from shoptag.tagging.tagger import Tagger
from shoptag.tagging.time_segments import Hit, build_segments

__all__ = ["Alternative", "FrameMatches", "Hit", "IndexRef", "ProductTag", "Scan", "Segment", "TagResult", "Tagger",
           "build_segments"]
