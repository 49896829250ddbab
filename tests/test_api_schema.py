"""Schemathesis against the service's own OpenAPI schema: whatever it sends, no 5xx, and
every answer matches the documented status codes and shapes."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from helpers.api import API_KEYS, MERCHANT_KEY, bearer, make_index, running_app, service_settings


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, effnet):
    index = make_index(tmp_path_factory.mktemp("schema"), effnet)
    with running_app(service_settings(index, api_keys=API_KEYS, queue_size=4), effnet) as client:
        yield schemathesis.openapi.from_asgi("/openapi.json", _started(client.app))


def _started(app):
    """``app``, already started, for a caller that would start it again per request: the
    lifespan takes the state folder, which the running service holds."""
    async def asgi(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
    return asgi


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_documented_responses(case):
    # Schema-valid is not enough to be accepted here: the uploaded bytes must also be a video,
    # a product image an image. The other checks (status codes, shapes, no 5xx) all apply.
    case.call_and_validate(headers=bearer(MERCHANT_KEY), excluded_checks=[positive_data_acceptance])
