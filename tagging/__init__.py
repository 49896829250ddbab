"""From sampled frames to product tags: region search, per-product hits, segments."""

from shoptag.tagging.segments import Hit, Segment, build_segments
from shoptag.tagging.tagger import ProductTag, TagResult, Tagger

__all__ = ["Hit", "ProductTag", "Segment", "TagResult", "Tagger", "build_segments"]
