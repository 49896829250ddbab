"""The layer rules of ARCHITECTURE.md, checked by import-linter on the code as installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO
from helpers.layout import package_folders

PYPROJECT = REPO / "pyproject.toml"


def mirror(into: Path) -> Path:
    """The installed layout (``shoptag.model`` in ``shoptag/model/``, ...) as plain folders:
    import-linter follows a package's own folder only, and the pipeline folders sit beside
    ``shoptag/`` in the repository."""
    for package, folder in package_folders().items():
        target = into.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for module in folder.glob("*.py"):
            shutil.copyfile(module, target / module.name)
    return into


def lint_imports(packages: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(command), str(PYPROJECT), "--no-cache"], cwd=packages,
                          env={**os.environ, "PYTHONPATH": str(packages), "COLUMNS": "250"},
                          capture_output=True, text=True, timeout=300)


def test_every_package_folder_is_mirrored(tmp_path):
    packages = mirror(tmp_path)
    for package, folder in package_folders().items():
        assert sorted(p.name for p in packages.joinpath(*package.split(".")).glob("*.py")) == \
            sorted(p.name for p in folder.glob("*.py")), package


def test_the_code_keeps_the_layer_rules(tmp_path):
    result = lint_imports(mirror(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "statement", "contract"), [
    ("model", "def calibrate():\n    from shoptag.video.compose import read_frames\n",
     "model/ knows nothing of video"),
    ("tagging", "import fastapi\n", "never import the service"),
    ("shoptag", "from shoptag.tagging import Tagger\n", "knows no layer"),
])
def test_a_broken_layer_rule_fails_the_check(tmp_path, module, statement, contract):
    packages = mirror(tmp_path)
    folder = packages / "shoptag" / ("" if module == "shoptag" else module)
    source = folder / ("errors.py" if module == "shoptag" else "_reaches_across.py")
    source.write_text(source.read_text() + statement if source.exists() else statement)
    result = lint_imports(packages)
    assert result.returncode != 0
    assert contract in result.stdout and "BROKEN" in result.stdout
