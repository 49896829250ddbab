"""The documentation: the README stays a newcomer's page, the site in docs/ builds with every link
and anchor resolved, the settings reference matches ``Settings``, and ``shoptag --help`` groups
the commands by who uses them, ``tag`` first."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from shoptag.cli.main import CREATORS, MERCHANTS, RESEARCHERS, app
from shoptag.settings import Settings

from helpers import REPO

README_MAX_LINES = 250


def settings_reference():
    spec = importlib.util.spec_from_file_location("settings_reference", REPO / "scripts" / "settings_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_reference_is_generated_from_the_current_settings():
    committed = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    assert committed == settings_reference().render(), (
        "docs/settings.md is out of date: run python scripts/settings_reference.py")


def test_the_settings_reference_names_every_variable():
    # Walked here independently of the script, so a field the script skipped fails too.
    def variables(model: type[BaseModel], path: tuple[str, ...]):
        for name, field in model.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                yield from variables(field.annotation, (*path, name))
            else:
                yield ("SHOPTAG_" + "__".join((*path, name))).upper()

    assert Settings.model_config["env_prefix"] == "SHOPTAG_"
    assert Settings.model_config["env_nested_delimiter"] == "__"
    page = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [variable for variable in variables(Settings, ()) if f"`{variable}`" not in page]
    assert not missing, f"not in docs/settings.md: {missing}"


def test_the_site_builds_strictly(tmp_path):
    # --strict turns every warning into a failure: a link to a missing page or heading, a page
    # left out of mkdocs.yml's nav, an include (ARCHITECTURE.md) that is not found.
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    architecture = (site / "architecture" / "index.html").read_text(encoding="utf-8")
    first_line = next(line for line in (REPO / "ARCHITECTURE.md").read_text().splitlines()[1:] if line.strip())
    assert first_line.split(":")[0] in architecture, "docs/architecture.md must include ARCHITECTURE.md"
    assert "SHOPTAG_TAGGING__FPS" in (site / "settings" / "index.html").read_text(encoding="utf-8")


def test_the_readme_is_a_newcomers_page():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move the detail to a page in docs/")


def test_the_readmes_links_lead_to_files():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [target.split("#")[0] for target in targets if "://" not in target and not target.startswith("#")]
    assert local, "the README should point to the documentation pages"
    missing = [target for target in local if not (REPO / target).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def help_panels() -> list[tuple[str, list[str]]]:
    """The panels of ``shoptag --help`` in order, each with its command names in order."""
    result = CliRunner().invoke(app, ["--help"], prog_name="shoptag")
    assert result.exit_code == 0, result.output
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    panels: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        title = re.match(r"^╭─ (.+?) ─", line)
        if title:
            panels.append((title.group(1), []))
            continue
        command = re.match(r"^│ ([a-z][\w-]*) ", line)
        if command and panels:
            panels[-1][1].append(command.group(1))
    return [(title, names) for title, names in panels if title not in ("Options", "Arguments")]


def test_help_lists_tag_first_and_groups_commands_by_user():
    panels = help_panels()
    assert [title for title, _ in panels] == [CREATORS, MERCHANTS, RESEARCHERS]
    assert all(word in title for word, (title, _) in zip(("Creators", "Merchants", "Researchers"), panels, strict=True))
    listed = [name for _, names in panels for name in names]
    assert listed[0] == "tag"
    # Every command is in a user's panel (none left in a generic "Commands" one), named as before.
    assert sorted(listed) == sorted(typer.main.get_command(app).commands)
    groups = dict(panels)
    assert {"tag", "tag-batch", "demo"} <= set(groups[CREATORS])
    assert {"index", "catalog", "serve"} <= set(groups[MERCHANTS])
    assert {"eval", "eval-compare", "bench"} <= set(groups[RESEARCHERS])
