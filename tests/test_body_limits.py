"""Each route declares the largest body it reads; the middleware derives its limits from them."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from shoptag.api.app import api_routes
from shoptag.api.limits import MAX_PLAIN_BODY_BYTES, RouteBodyLimits
from shoptag.settings import Settings

MB = 1 << 20


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    folder = tmp_path_factory.mktemp("limits")
    return Settings(service={"index": folder / "index", "state_dir": folder / "state", "max_upload_bytes": 300 * MB},
                    shopify={"webhook_max_body_bytes": 64 * 1024})


def limit(settings: Settings, method: str, path: str) -> int:
    return RouteBodyLimits(api_routes(), settings)({"type": "http", "method": method, "path": path, "root_path": ""})


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("POST", "/v1/tags", 300 * MB),
    ("POST", "/v1/jobs", 300 * MB),
    ("POST", "/v1/products", 300 * MB),
    ("PUT", "/v1/products/shirt-1", 300 * MB),
    ("PUT", "/v1/catalogs/shop-a/products/a/b", 300 * MB),
    ("POST", "/v1/catalogs/shop-a/products", 300 * MB),
    ("POST", "/v1/webhooks/shopify", 64 * 1024),
    ("PUT", "/v1/jobs/abc/review", MAX_PLAIN_BODY_BYTES),  # JSON, read into memory
    ("DELETE", "/v1/products/shirt-1", MAX_PLAIN_BODY_BYTES),
    ("POST", "/v1/tags/extra", MAX_PLAIN_BODY_BYTES),  # no such route
    ("GET", "/v1/tags", MAX_PLAIN_BODY_BYTES),  # the path's route, another method
])
def test_a_request_gets_the_limit_its_route_declares(settings, method, path, expected):
    assert limit(settings, method, path) == expected


def test_every_route_with_a_multipart_body_declares_its_limit():
    """A new upload route that forgot its declaration would be cut at 2 MiB: caught here."""
    routes = [route for route in api_routes() if isinstance(route, APIRoute)]
    multipart = [route for route in routes
                 if "multipart/form-data" in (route.openapi_extra or {}).get("requestBody", {}).get("content", {})]
    assert {route.path for route in multipart} >= {"/v1/tags", "/v1/jobs", "/v1/products"}
    assert all(hasattr(route.endpoint, "body_limit") for route in multipart), \
        [route.path for route in multipart if not hasattr(route.endpoint, "body_limit")]
