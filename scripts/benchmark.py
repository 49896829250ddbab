"""Reproduce every number in the README's Performance section, in one go:

    python scripts/benchmark.py

runs scripts/benchmark_embedders.py (embedding images/s), scripts/benchmark_service.py
(service latency and sustained req/s) and scripts/benchmark_index.py (full build vs
incremental update; index types). Each prints ratios against a baseline measured in the same
run. About 15 minutes on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = ("benchmark_embedders.py", "benchmark_service.py", "benchmark_index.py")


def main() -> int:
    folder = Path(__file__).resolve().parent
    for script in SCRIPTS:
        print(f"\n== {script}", flush=True)
        status = subprocess.run([sys.executable, str(folder / script)]).returncode
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
