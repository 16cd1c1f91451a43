"""Caps the request body while it streams in, before any of it is stored."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.master.errors import PayloadTooLarge


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is over the upload limit of {limit // (1024 * 1024)} MiB;"
        " send fewer or smaller files"
    )


class BodyLimitMiddleware:
    """Raises PayloadTooLarge from `receive`, so it reaches the endpoint's error handling."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large(self.max_bytes)
            return message

        await self.app(scope, capped_receive, send)
