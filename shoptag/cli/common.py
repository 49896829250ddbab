"""What the CLI commands share: options, and settings built from flags over the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from shoptag.settings import Settings

ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Model spec (default: SHOPTAG_MODEL__SPEC).")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", min=0, help="CPU threads of the model's runtime.")]
ProfileOpt = Annotated[Optional[str], typer.Option(
    "--profile", help="Speed profile: default, or fast (fewer keyframes: faster, a little less accurate).")]


def settings_from(model: str | None = None, threads: int | None = None, /, **sections: dict) -> Settings:
    """Environment settings with flag values on top; ``sections`` maps a settings section
    (tagging, index, fetch, service) to its flag values, None meaning "not given".

    The flags are init values of ``Settings``: pydantic-settings deep-merges them over the
    environment's (a flag for one field of a section keeps the environment's other fields of
    it) and validates both alike, so a flag out of bounds fails as the variable would."""
    given = {name: {key: value for key, value in flags.items() if value is not None}
             for name, flags in {"model": {"spec": model, "threads": threads}, **sections}.items()}
    return Settings(**{name: flags for name, flags in given.items() if flags})


def new_or_old(value, old, name: str, old_name: str):
    """An option's value given under its name or under its old spelling (hidden from help,
    kept working for a release; silent, so that stderr stays one line on errors): not both
    with different values."""
    if old is None:
        return value
    if value is not None and value != old:
        raise typer.BadParameter(f"{name} {value} and {old_name} {old} disagree")
    return old


def index_settings(index_path: Path, model: str | None, threads: int | None, /, **sections: dict) -> Settings:
    """Settings for commands that use an index: without --model, the index's own model."""
    from shoptag.indexing.manifest import Manifest
    from shoptag.indexing.versions import IndexFolder

    settings = settings_from(model, threads, **sections)  # validate flags and env before touching disk
    if model is None:
        spec = Manifest.read(IndexFolder(index_path).current_dir()).model_spec
        settings = settings_from(spec, threads, **sections)
    return settings


def apply_threads(settings: Settings) -> None:
    if settings.model.threads:
        import torch

        torch.set_num_threads(settings.model.threads)


def embedder_for(settings: Settings):
    from shoptag.model import create_embedder

    apply_threads(settings)
    return create_embedder(settings.model)


def catalog_settings(model, threads, index_type, keep, allow_host, cache_dir, index: Path | None = None,
                      background: list[Path] | None = None) -> Settings:
    sections = {"index": {"type": index_type, "keep": keep,
                          "background_footage": tuple(background) if background else None},
                "fetch": {"allow_hosts": tuple(allow_host) if allow_host else None, "cache_dir": cache_dir}}
    return index_settings(index, model, threads, **sections) if index else settings_from(model, threads, **sections)


def echo_report(payload: dict, report_file: Path | None = None) -> None:
    text = json.dumps(payload, indent=2)
    if report_file:
        report_file.write_text(text + "\n")
    typer.echo(text)
