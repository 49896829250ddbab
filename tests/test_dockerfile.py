"""The Dockerfile cannot be built here (no Docker engine), so its commands are checked
against the package: what it copies exists and is all the package needs, its entry point and
command are real, it runs as a non-root user with the model cache on a volume."""

import json
import shlex
import subprocess
import sys
import tomllib

import pytest

from helpers import REPO


def instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def values(keyword: str) -> list[str]:
    return [arg for kw, arg in instructions() if kw == keyword]


def exec_form(arg: str) -> list[str]:
    return json.loads(arg)


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_it_copies_every_package_folder_and_nothing_missing(pyproject):
    copied = {source for arg in values("COPY") for source in shlex.split(arg)[:-1]}
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    package_dirs = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    top_level = {folder.split("/")[0] for folder in package_dirs}
    assert top_level <= copied, f"not copied: {top_level - copied}"
    assert {"pyproject.toml", "README.md"} <= copied


def test_entry_point_and_command_are_a_real_cli_invocation(pyproject):
    (entrypoint,) = [exec_form(arg) for arg in values("ENTRYPOINT")]
    (command,) = [exec_form(arg) for arg in values("CMD")]
    assert entrypoint == ["shoptag"] and "shoptag" in pyproject["project"]["scripts"]
    assert command[0] == "serve"
    # Every option the image passes must exist: `--help` after them fails on an unknown one.
    result = subprocess.run([sys.executable, "-m", "shoptag.cli", *command, "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    port = command[command.index("--port") + 1]
    assert values("EXPOSE") == [port]
    assert any(f"127.0.0.1:{port}/readyz" in arg for arg in values("HEALTHCHECK"))


def test_it_runs_as_a_non_root_user_with_caches_on_volumes():
    (user,) = values("USER")
    assert user not in ("root", "0")
    assert any("useradd" in arg and user in arg for arg in values("RUN"))
    volumes = exec_form(values("VOLUME")[0])
    env = " ".join(values("ENV"))
    for variable in ("HF_HOME", "TORCH_HOME"):
        path = env.split(f"{variable}=")[1].split()[0]
        assert any(path.startswith(volume + "/") for volume in volumes), (variable, path)
    command = exec_form(values("CMD")[0])
    index = command[command.index("--index") + 1]
    assert any(index.startswith(volume + "/") for volume in volumes)


def test_it_installs_the_tested_dependency_set():
    locked = set((REPO / "constraints.txt").read_text().split())
    (torch_install,) = [arg for arg in values("RUN") if "torch==" in arg]
    pins = [word for word in torch_install.split() if "==" in word]
    assert pins and all(pin in locked for pin in pins)
    assert any("-c constraints.txt" in arg for arg in values("RUN"))


def test_the_readme_commands_and_ci_install_the_tested_set():
    readme = (REPO / "README.md").read_text()
    first_commands = [block.split("```")[0].strip() for block in readme.split("```bash\n")[1:3]]
    assert all("-c constraints.txt" in command for command in first_commands)
    ci = (REPO / ".ci" / "run").read_text()
    assert first_commands[1] in ci, "CI must run exactly the README's test command"


def test_the_base_image_python_satisfies_the_package(pyproject):
    (base,) = values("FROM")
    version = base.split(":")[1].split("-")[0]
    required = pyproject["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, version.split("."))) >= tuple(map(int, required.split(".")))
