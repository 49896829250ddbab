"""Batch jobs: many videos tagged in one run (``shoptag tag-batch``), in process or on Ray, and
a catalog's images embedded on Ray (``shoptag index build --engine ray``)."""
