"""One webhook request: the event body, its headers and signature, and the POST itself, sent
only to an address that `callback_url` checked a moment before."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

import httpx
import msgspec

from dccf.job_records import JobRecord
from services.master import callback_url
from services.master.job_json import job_model
from services.master.models import WebhookEvent

EVENT: Final = "job.status"
USER_AGENT = "dccf-webhooks"

# A name with many addresses must not hold one delivery for many connect timeouts.
_MAX_ADDRESSES = 3


def signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def event_request(job: JobRecord, delivery_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """The raw body and its headers; with a secret, the signature covers exactly these bytes."""
    body = msgspec.json.encode(WebhookEvent(event=EVENT, job=job_model(job)))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-DCCF-Event": EVENT,
        "X-DCCF-Delivery": delivery_id,
    }
    if secret:
        headers["X-DCCF-Signature"] = signature(secret, body)
    return body, headers


class Poster:
    """POSTs to callback URLs; thread-safe, one per dispatcher."""

    def __init__(self, timeout_seconds: float, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._client = httpx.Client(
            timeout=timeout_seconds,
            follow_redirects=False,
            # A proxy from the environment would connect somewhere other than the checked address.
            trust_env=False,
            # A connection is made to a checked address under one name's TLS server name; it
            # must never be reused for another name that shares the address.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        self._client.close()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The answer's status code.

        Raises CallbackRefused (a non-public address without the setting that allows it),
        OSError (the name does not resolve) and httpx.HTTPError (no answer).
        """
        target = httpx.URL(url)
        if self._allow_private:
            return self._send(target, body, headers, {})
        host = target.raw_host.decode("ascii")
        port = target.port or (443 if target.scheme == "https" else 80)
        addresses = callback_url.public_addresses(host, port)
        # Connect to the checked address, not to the name (which may resolve anew to another),
        # while the request and the TLS handshake still carry the name.
        pinned = headers | {"Host": target.netloc.decode("ascii")}
        extensions = {} if callback_url.literal_address(host) else {"sni_hostname": host}
        failure: httpx.HTTPError | None = None
        for address in addresses[:_MAX_ADDRESSES]:
            try:
                return self._send(target.copy_with(host=address), body, pinned, extensions)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc  # nothing was sent, so the next address is safe to try
        assert failure is not None  # public_addresses returns at least one address
        raise failure

    def _send(
        self, url: httpx.URL, body: bytes, headers: dict[str, str], extensions: dict[str, str]
    ) -> int:
        # The answer's body is never read: a receiver cannot make the dispatcher download much.
        with self._client.stream(
            "POST", url, content=body, headers=headers, extensions=extensions
        ) as response:
            return response.status_code
