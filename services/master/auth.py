"""Bearer-token auth: each token names a principal, who sees only its own jobs."""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# Probes and scrapers must work without a token (API.md).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class BearerAuthMiddleware:
    """Sets scope["state"]["principal"]; with no tokens configured every caller is ''."""

    def __init__(self, app: ASGIApp, tokens: dict[str, str]) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or scope["path"] in OPEN_PATHS:
            scope.setdefault("state", {})["principal"] = ""
            await self.app(scope, receive, send)
            return
        principal = self._principal(scope)
        if principal is None:
            response = JSONResponse(
                {
                    "error": {
                        "code": "unauthorized",
                        "message": "send a valid API token as 'Authorization: Bearer <token>'",
                    }
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _principal(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return None
                return self._lookup(token.strip())
        return None

    def _lookup(self, token: str) -> str | None:
        # Compare against every token in constant time, so timing reveals nothing.
        found = None
        for known, principal in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = principal
        return found
