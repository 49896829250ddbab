"""Runs Python code on an emulated x86-64 CPU without AVX-512 or VNNI (AVX2 only), through
QEMU's user-mode emulator, which the test session fetches with the media
(``scripts/fetch_test_media.sh``). Code that picks its kernels by instruction set (ONNX Runtime's
int8 products) then takes the path an AVX2-only machine takes, whatever CPU runs the tests."""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

# AMD's Zen 2 server CPU: AVX2 and FMA, no AVX-512 and no VNNI (QEMU's TCG has neither).
AVX2_ONLY_CPU = "EPYC-Rome"


def run_on_avx2_only_cpu(fetched_media: Path, code: str, timeout_s: float = 600) -> str:
    """Runs ``code`` with this interpreter and its packages on the emulated CPU; its stdout."""
    emulator = fetched_media / "bin" / "qemu-x86_64-static"
    # The emulator runs the interpreter's binary itself, so a virtual environment's site folders
    # (and the editable install's finder in them) are added explicitly.
    prelude = f"import site\nfor folder in {site.getsitepackages()!r}:\n    site.addsitedir(folder)\n"
    done = subprocess.run([str(emulator), "-cpu", AVX2_ONLY_CPU, os.path.realpath(sys.executable), "-c",
                           prelude + code], capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
