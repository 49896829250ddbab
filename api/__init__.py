"""The HTTP service: ``create_app`` assembles the FastAPI app from a settings object."""

from shoptag.api.app import create_app

__all__ = ["create_app"]
