"""Bearer-token auth: each token names a principal, who sees only its own jobs."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from services.master.error_handlers import error_response
from services.master.errors import Unauthorized

# Probes and scrapers must work without a token (API.md).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# The dashboard's page shells and static files hold no data: a browser loads them before the
# user has given a token, then fetches everything else with it (services/master/dashboard).
# `/ui/jobs/` serves only the job page shells (`/ui/jobs/{id}`); data lives under
# `/ui/fragments/` and `/ui/stream/`, which need the token.
OPEN_PAGES = frozenset({"/", "/ui/jobs", "/ui/submit", "/ui/workers"})
OPEN_PREFIXES = ("/ui/static/", "/ui/jobs/")


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path in OPEN_PAGES or path.startswith(OPEN_PREFIXES)


class BearerAuthMiddleware:
    """Sets scope["state"]["principal"]; with no tokens configured every caller is ''."""

    def __init__(self, app: ASGIApp, tokens: dict[str, str]) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or is_open(scope["path"]):
            scope.setdefault("state", {})["principal"] = ""
            await self.app(scope, receive, send)
            return
        try:
            principal = self._principal(scope)
        except Unauthorized as exc:
            # Middleware runs outside Starlette's ExceptionMiddleware, which would otherwise
            # call this same handler.
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _principal(self, scope: Scope) -> str:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    principal = self._lookup(token.strip())
                    if principal is not None:
                        return principal
                break
        raise Unauthorized("send a valid API token as 'Authorization: Bearer <token>'")

    def _lookup(self, token: str) -> str | None:
        # Compare against every token in constant time, so timing reveals nothing.
        found = None
        for known, principal in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = principal
        return found
