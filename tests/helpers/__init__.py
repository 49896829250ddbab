"""What the test modules share, imported as ``helpers.<module>`` (pytest puts ``tests/`` on the
import path); ``conftest.py`` holds only fixtures."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
