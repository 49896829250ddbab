"""What the CLI commands share: options, and settings built from flags over the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from shoptag.settings import Settings

ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Model spec (default: SHOPTAG_MODEL__SPEC).")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", min=0, help="Torch CPU threads.")]


def settings_from(model: str | None = None, threads: int | None = None, /, **sections: dict) -> Settings:
    """Environment settings with flag values on top; ``sections`` maps a settings section
    (tagging, index, fetch, service) to its flag values, None meaning "not given"."""
    base = Settings().model_dump()
    sections = {"model": {"spec": model, "threads": threads}, **sections}
    for name, flags in sections.items():
        base[name] = {**base[name], **{k: v for k, v in flags.items() if v is not None}}
    # Re-validate so that flag values meet the same bounds as environment values.
    return Settings.model_validate(base)


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
