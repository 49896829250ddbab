"""Where each installed package's modules live in the repository."""

from __future__ import annotations

import tomllib
from pathlib import Path

from helpers import REPO


def package_folders() -> dict[str, Path]:
    """Each installed package's source folder, as ``pyproject.toml`` maps it for setuptools (a
    package without its own entry lives in its parent's folder)."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = setuptools["package-dir"]
    folders: dict[str, Path] = {}
    for package in sorted(setuptools["packages"], key=len):
        if package in mapped:
            folders[package] = REPO / mapped[package]
        else:
            parent, _, name = package.rpartition(".")
            folders[package] = folders[parent] / name
    return folders
