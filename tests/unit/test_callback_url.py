"""Where webhooks may go: the address policy, at submit and at delivery."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from dccf import settings
from services.master.callback_url import (
    CallbackRefused,
    is_public,
    literal_address,
    public_addresses,
    submit_refusal,
)
from services.master.errors import InvalidInput
from services.master.job_form import parse_job_fields

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.7",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:db8::1",
]
PUBLIC = ["93.184.215.14", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "::ffff:1.1.1.1"]


@pytest.mark.parametrize("text", NOT_PUBLIC)
def test_non_public_addresses(text: str) -> None:
    assert not is_public(ipaddress.ip_address(text))
    assert submit_refusal(text) is not None


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses(text: str) -> None:
    assert is_public(ipaddress.ip_address(text))
    assert submit_refusal(text) is None


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.1", "017700000001", "0x7f000001"])
def test_legacy_ipv4_spellings_are_read_as_addresses(host: str) -> None:
    assert literal_address(host) == ipaddress.ip_address("127.0.0.1")
    assert submit_refusal(host) == "127.0.0.1 is not a public address"


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "api.localhost"])
def test_local_names_are_refused(host: str) -> None:
    assert submit_refusal(host) == f"{host!r} is a local name"


@pytest.mark.parametrize("host", ["example.com", "hooks.localhost.example.com", "1e100.net"])
def test_names_wait_for_delivery(host: str) -> None:
    assert literal_address(host) is None
    assert submit_refusal(host) is None


def test_delivery_resolves_and_refuses_a_name_of_loopback() -> None:
    with pytest.raises(CallbackRefused, match="local name"):
        public_addresses("localhost", 80)


def test_delivery_refuses_an_address_literal() -> None:
    with pytest.raises(CallbackRefused, match=r"169\.254\.169\.254 is not a public address"):
        public_addresses("169.254.169.254", 80)


def test_delivery_keeps_a_public_literal() -> None:
    assert public_addresses("0x01010101", 443) == ["1.1.1.1"]


def test_an_unknown_name_is_an_os_error() -> None:
    with pytest.raises(OSError):
        public_addresses("no-such-host.invalid", 80)


# --- the submit-time hook in the job form ------------------------------------------------

LIMITS = settings.Limits(allow_private_callbacks=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:8080/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7:9000/",
        "http://2130706433/",
        "http://user:pw@192.168.0.10/x",
    ],
)
def test_form_refuses_private_callbacks_naming_the_setting(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_job_fields({"callback_url": url}, LIMITS)
    assert (caught.value.status, caught.value.code) == (400, "invalid_field")
    assert caught.value.message.startswith("callback_url must reach a public host, but ")
    assert caught.value.message.endswith(
        "loopback, private and link-local callbacks are refused unless the server sets "
        "DCCF_ALLOW_PRIVATE_CALLBACKS=true"
    )


def test_form_takes_private_callbacks_when_allowed() -> None:
    allowed = dataclasses.replace(LIMITS, allow_private_callbacks=True)
    for url in ("http://127.0.0.1:9/hook", "http://localhost/", "http://[fe80::1%25eth0]/"):
        assert parse_job_fields({"callback_url": url}, allowed).callback_url == url


def test_allow_private_callbacks_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DCCF_ALLOW_PRIVATE_CALLBACKS", raising=False)
    assert settings.load().limits.allow_private_callbacks is False
    monkeypatch.setenv("DCCF_ALLOW_PRIVATE_CALLBACKS", "true")
    assert settings.load().limits.allow_private_callbacks is True
