"""Settings sent to worker processes and Ray actors."""

from __future__ import annotations

from shoptag.settings import Settings

# What workers need of the settings: never the service's keys and secrets.
_PORTABLE = {"model", "images", "fetch", "video", "tagging", "index", "batch"}


def portable(settings: Settings) -> str:
    """The settings a worker process or actor needs, as JSON (``settings_of`` reads them back)."""
    return settings.model_dump_json(include=_PORTABLE)


def settings_of(text: str) -> Settings:
    """Settings sent by ``portable``, as they were (the worker's environment does not change them)."""
    return Settings.model_validate_json(text)
