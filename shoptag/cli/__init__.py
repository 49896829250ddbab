"""The ``shoptag`` command line."""

import os

# OpenMP's threads (FAISS's, torch's) otherwise spin for a while after each parallel region,
# taking the other core from the SIFT and ONNX Runtime work that follows every search: about
# a tenth of tagging's time on 2 cores. Read when OpenMP starts, so set before anything loads it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from shoptag.cli.main import app, main, run  # noqa: E402

__all__ = ["app", "main", "run"]
