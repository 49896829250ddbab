"""ARCHITECTURE.md names every module of the package, and no file that is gone."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import REPO
from helpers.layout import package_folders

# Entry points with no role of their own to describe.
_UNNAMED = {"__init__.py", "__main__.py"}


def named_files(text: str) -> set[str]:
    """The ``*.py`` files a document names in code spans, as written (``scan.py``, ``api/app.py``)."""
    return {name for span in re.findall(r"`([^`\n]+)`", text) for name in re.findall(r"[\w/.-]+\.py\b", span)}


def existing(name: str, files: set[str]) -> bool:
    """Is ``name`` (a file name, or a path's tail) one of ``files`` (paths from the repository root)?"""
    return any(path == name or path.endswith("/" + name) for path in files)


def repository_files() -> set[str]:
    return {path.relative_to(REPO).as_posix() for path in REPO.rglob("*.py")
            if not {".media", ".git", "build"} & set(path.relative_to(REPO).parts)}


def test_every_module_is_named_in_the_architecture_document():
    named = {Path(name).name for name in named_files((REPO / "ARCHITECTURE.md").read_text())}
    missing = sorted(f"{folder.relative_to(REPO)}/{module.name}" for folder in package_folders().values()
                     for module in folder.glob("*.py") if module.name not in _UNNAMED | named)
    assert not missing, f"modules missing from ARCHITECTURE.md: {missing}"


def test_the_architecture_document_names_no_missing_file():
    files = repository_files()
    stale = sorted(name for name in named_files((REPO / "ARCHITECTURE.md").read_text()) if not existing(name, files))
    assert not stale, f"ARCHITECTURE.md names files that do not exist: {stale}"


def test_the_checks_see_what_they_look_for():
    assert named_files("a `store.py`, `indexing/versions.py`; scan.py outside a span") == \
        {"store.py", "indexing/versions.py"}
    files = {"indexing/store.py", "tagging/scan.py"}
    assert existing("store.py", files) and existing("indexing/store.py", files)
    assert not existing("version_files.py", files) and not existing("video/scan.py", files)
