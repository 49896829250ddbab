"""Bearer API keys with a role: ``creator`` (tagging, jobs) or ``merchant`` (also products).

With no keys configured every caller is the one anonymous merchant; the server then binds
loopback only (see ``api.server``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shoptag.settings import ApiKey

_RANK = {"creator": 0, "merchant": 1}
_bearer = HTTPBearer(auto_error=False, description="An API key from SHOPTAG_SERVICE__API_KEYS.")


@dataclass(frozen=True)
class Principal:
    owner: str  # stable, non-secret id of the key; owns jobs
    role: str


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
    return Principal(owner, match.role)


def require(role: str):
    """A dependency that authenticates the caller and checks it has at least ``role``."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        keys = request.app.state.service.settings.service.api_keys
        principal = authenticate(keys, credentials.credentials if credentials else None)
        if _RANK[principal.role] < _RANK[role]:
            raise HTTPException(403, f"this API key has role {principal.role!r}; {role!r} is needed")
        return principal

    return dependency


Creator = Annotated[Principal, Depends(require("creator"))]
Merchant = Annotated[Principal, Depends(require("merchant"))]
