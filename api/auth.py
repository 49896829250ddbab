"""Bearer API keys with a role, ``creator`` (tagging, jobs) or ``merchant`` (also products),
and the catalogs they may use (``api.catalogs``).

With no keys configured every caller is the one anonymous merchant; the server then binds
loopback only (see ``api.server``), and ``LoopbackOnly`` makes sure that a caller is a program
on this machine and not a web page one of its users has open.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from shoptag.api.errors import error_response
from shoptag.settings import ApiKey

_RANK = {"creator": 0, "merchant": 1}
_bearer = HTTPBearer(auto_error=False, description="An API key from SHOPTAG_SERVICE__API_KEYS.")


@dataclass(frozen=True)
class Principal:
    owner: str  # stable, non-secret id of the key; owns jobs
    role: str
    catalogs: frozenset[str] | None = None  # the catalogs it may use; None: every one


ANONYMOUS = Principal("anonymous", "merchant")


def authenticate(keys: tuple[ApiKey, ...], token: str | None) -> Principal:
    if not keys:
        return ANONYMOUS
    if not token:
        raise HTTPException(401, "an API key is required: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    supplied = token.encode()
    match = None
    for key in keys:  # compare with every key, in constant time, so timing reveals nothing
        if hmac.compare_digest(key.key.get_secret_value().encode(), supplied):
            match = key
    if match is None:
        raise HTTPException(401, "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    owner = "key-" + hashlib.sha256(supplied).hexdigest()[:16]
    # No catalogs named: every one (a service of many catalogs refuses such keys at start).
    catalogs = None if not match.catalogs or "*" in match.catalogs else frozenset(match.catalogs)
    return Principal(owner, match.role, catalogs)


# Signed by Shopify with the app's secret instead (``api.webhooks``), checked by its route.
HMAC_SIGNED_PATHS = frozenset({"/v1/webhooks/shopify"})


class Authenticate:
    """Authenticates every ``/v1`` request before its body is read, so a caller without a
    valid key cannot make the service receive and store an upload (webhooks carry a signature
    instead: ``HMAC_SIGNED_PATHS``). Roles are checked per route by ``require``."""

    def __init__(self, app: ASGIApp, keys: tuple[ApiKey, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/") and scope["path"] not in HMAC_SIGNED_PATHS:
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            scheme, _, token = header.partition(" ")
            try:
                principal = authenticate(self.keys, token.strip() if scheme.lower() == "bearer" else None)
            except HTTPException as exc:
                response = error_response(exc.status_code, "unauthorized", exc.detail, exc.headers)
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


# Exactly a loopback name and an optional port: no user info, fragment or other decoration.
_LOOPBACK_HOST = re.compile(r"(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?", re.IGNORECASE)
_LOOPBACK_ORIGIN = re.compile(r"https?://" + _LOOPBACK_HOST.pattern, re.IGNORECASE)


class LoopbackOnly:
    """Without API keys, the service trusts whoever reaches it, which must be programs on this
    machine. A web page a local user has open can reach it too: a cross-site form post (a
    multipart POST needs no CORS preflight) or, by DNS rebinding, a page whose own host name
    now resolves to 127.0.0.1. So every request must name a loopback host in ``Host``, and a
    request from a browser page (``Origin``) must come from a loopback origin; anything else is
    refused with 403 before it reaches a route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
            origins = [value.decode("latin-1") for name, value in scope["headers"] if name == b"origin"]
            problem = None
            if len(hosts) != 1 or not _LOOPBACK_HOST.fullmatch(hosts[0]):
                problem = f"Host {', '.join(hosts)[:100]!r} is not one loopback name"
            elif foreign := [origin for origin in origins if not _LOOPBACK_ORIGIN.fullmatch(origin)]:
                problem = f"requests from the page at {foreign[0][:100]!r} are refused"
            if problem:
                message = f"{problem}: without API keys this service answers programs on this machine only"
                await error_response(403, "forbidden", message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def require(role: str):
    """A dependency that checks the caller (authenticated by ``Authenticate``) has ``role``."""

    def dependency(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],  # documents the scheme
    ) -> Principal:
        principal: Principal = request.state.principal
        if _RANK[principal.role] < _RANK[role]:
            raise HTTPException(403, f"this API key has role {principal.role!r}; {role!r} is needed")
        return principal

    return dependency


Creator = Annotated[Principal, Depends(require("creator"))]
Merchant = Annotated[Principal, Depends(require("merchant"))]
