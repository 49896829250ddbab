"""Errors reach a client as JSON with a status that says whose problem it is."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient

from shoptag.api.errors import install_error_handlers
from shoptag.errors import ConfigError, InvalidRequestError


def app_raising(error: Exception) -> TestClient:
    app = FastAPI()

    @app.get("/fails")
    def fails() -> None:
        raise error

    install_error_handlers(app, 5, lambda message: message.replace("/srv/state", "<state>"), app.routes)
    return TestClient(app, raise_server_exceptions=False)


def test_a_clients_bad_input_is_422_and_names_the_problem():
    answer = app_raising(InvalidRequestError("metadata must be a JSON object")).get("/fails")
    assert answer.status_code == 422
    assert answer.json() == {"error": {"code": "invalid_request", "message": "metadata must be a JSON object"}}


def test_a_services_misconfiguration_is_its_own_failure_not_the_clients(caplog):
    with caplog.at_level(logging.ERROR):
        answer = app_raising(ConfigError("job database /srv/state/jobs.sqlite3 has schema 9")).get("/fails")
    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "bad_config",
                                       "message": "job database <state>/jobs.sqlite3 has schema 9"}}
    assert "schema 9" in caplog.text  # the operator learns of it from the log
