"""A data folder of named catalogs: ``<data>/<catalog>`` is the index folder of each, and a
catalog exists once its folder (a real folder, not a link that could lead elsewhere) has a
current version."""

from __future__ import annotations

import os
import re
from pathlib import Path

from shoptag.errors import ConfigError
from shoptag.settings import CATALOG_NAME_PATTERN

_CATALOG_NAME = re.compile(CATALOG_NAME_PATTERN)
_NOT_IN_NAMES = re.compile(r"[^a-z0-9_-]+")


def valid_catalog_name(name: str) -> bool:
    return _CATALOG_NAME.fullmatch(name) is not None


def catalog_name_of(folder: Path) -> str:
    """The name of the catalog an index folder holds: the folder's name, made a valid catalog
    name (lower case, other characters as "-") for an index served or tagged on its own."""
    name = _NOT_IN_NAMES.sub("-", folder.name.lower()).strip("-_")[:63].strip("-_")
    return name or "catalog"


def catalog_folder(data: Path, name: str) -> Path:
    """The index folder of catalog ``name``: a name that could lead elsewhere is refused."""
    if not valid_catalog_name(name):
        raise ConfigError(f"{name[:80]!r} is not a catalog name (lower-case letters, digits, '-' and '_', "
                          "at most 63, starting with a letter or digit)")
    return data / name


def is_catalog(folder: Path) -> bool:
    """Is ``folder`` a catalog of its data folder: a real folder (not a link) with a current version?"""
    return folder.is_dir() and not folder.is_symlink() and os.path.lexists(folder / "current")


def catalog_names(data: Path) -> list[str]:
    """The catalogs of ``data``, sorted."""
    try:
        entries = list(os.scandir(data))
    except FileNotFoundError:
        raise ConfigError(f"data folder {data} does not exist") from None
    except NotADirectoryError:
        raise ConfigError(f"data folder {data} is not a folder") from None
    return sorted(entry.name for entry in entries if valid_catalog_name(entry.name) and is_catalog(Path(entry.path)))
