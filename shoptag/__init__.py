"""ShopTag: suggest which catalog products appear in a short video, and when.

The pipeline packages are ``shoptag.model`` (embedders), ``shoptag.indexing`` (catalogs and
FAISS indexes), ``shoptag.video`` (sampling), ``shoptag.tagging`` (matches to segments) and
``shoptag.api`` (the HTTP service); ``shoptag.cli`` wires them into the ``shoptag`` command.
"""

__version__ = "0.2.0"
