"""From sampled frames to product tags: region search, per-product hits, segments."""

from shoptag.tagging.scan import FrameMatches, Scan
from shoptag.tagging.segments import Hit, Segment, build_segments
from shoptag.tagging.tagger import ProductTag, Tagger, TagResult

__all__ = ["FrameMatches", "Hit", "ProductTag", "Scan", "Segment", "TagResult", "Tagger", "build_segments"]
