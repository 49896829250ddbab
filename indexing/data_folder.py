"""A data folder of named catalogs: ``<data>/<catalog>`` is the index folder of each, and a
catalog exists once its folder has a current version."""

from __future__ import annotations

import os
import re
from pathlib import Path

from shoptag.errors import ConfigError
from shoptag.settings import CATALOG_NAME_PATTERN

_CATALOG_NAME = re.compile(CATALOG_NAME_PATTERN)


def valid_catalog_name(name: str) -> bool:
    return _CATALOG_NAME.fullmatch(name) is not None


def catalog_folder(data: Path, name: str) -> Path:
    """The index folder of catalog ``name``: a name that could lead elsewhere is refused."""
    if not valid_catalog_name(name):
        raise ConfigError(f"{name[:80]!r} is not a catalog name (lower-case letters, digits, '-' and '_', "
                          "at most 63, starting with a letter or digit)")
    return data / name


def catalog_names(data: Path) -> list[str]:
    """The catalogs of ``data`` that have a current version, sorted."""
    try:
        entries = list(os.scandir(data))
    except FileNotFoundError:
        raise ConfigError(f"data folder {data} does not exist") from None
    except NotADirectoryError:
        raise ConfigError(f"data folder {data} is not a folder") from None
    return sorted(entry.name for entry in entries if valid_catalog_name(entry.name)
                  and entry.is_dir(follow_symlinks=False) and os.path.lexists(Path(entry.path) / "current"))
