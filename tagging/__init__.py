"""From sampled frames to product tags: region search, per-product hits, segments."""

from shoptag.tagging.segments import Hit, Segment, build_segments
from shoptag.tagging.tagger import FrameMatches, ProductTag, Scan, Tagger, TagResult

__all__ = ["FrameMatches", "Hit", "ProductTag", "Scan", "Segment", "TagResult", "Tagger", "build_segments"]
