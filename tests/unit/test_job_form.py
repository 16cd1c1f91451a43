"""The text parts of `POST /v1/jobs`: every API.md rule, accepted and refused."""

from __future__ import annotations

import dataclasses
import json

import pytest
from limits import LIMITS

from dccf import settings
from dccf.jobs import JobLimits, Network
from services.master.errors import InvalidInput
from services.master.job_form import JobRequest, parse_job_fields

DEFAULT_LIMITS = JobLimits(timeout_seconds=3600, memory_mb=512, cpus=1.0, network=Network.NONE)


def refused(fields: dict[str, str], limits: settings.Limits = LIMITS) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_job_fields(fields, limits)
    assert caught.value.status == 400
    return caught.value


def test_no_fields_gives_the_server_defaults() -> None:
    assert parse_job_fields({}, LIMITS) == JobRequest(
        name=None, limits=DEFAULT_LIMITS, callback_url=None, build_args={}
    )


def test_every_field_given() -> None:
    fields = {
        "name": "nightly report",
        "priority": "-20",
        "timeout_seconds": "600",
        "memory_mb": "1024",
        "cpus": "2.5",
        "network": "none",
        "callback_url": "https://hooks.example.com/dccf?token=abc",
        "build_args": '{"VERSION": "1.2", "_DEBUG": ""}',
    }
    assert parse_job_fields(fields, LIMITS) == JobRequest(
        name="nightly report",
        limits=JobLimits(timeout_seconds=600, memory_mb=1024, cpus=2.5, network=Network.NONE),
        callback_url="https://hooks.example.com/dccf?token=abc",
        build_args={"VERSION": "1.2", "_DEBUG": ""},
        priority=-20,
    )


def test_empty_strings_mean_not_given() -> None:
    fields = {
        key: "" for key in ("name", "priority", "timeout_seconds", "memory_mb", "cpus", "network")
    }
    fields |= {"callback_url": "", "build_args": ""}
    assert parse_job_fields(fields, LIMITS) == JobRequest(
        name=None, limits=DEFAULT_LIMITS, callback_url=None, build_args={}
    )


def test_defaults_come_from_the_limits() -> None:
    limits = dataclasses.replace(
        LIMITS, default_timeout_seconds=60, default_memory_mb=64, default_cpus=0.5
    )
    assert parse_job_fields({}, limits).limits == JobLimits(60, 64, 0.5, Network.NONE)


# --- unknown and misplaced fields ----------------------------------------------------------


def test_a_typo_is_an_unknown_field_with_a_suggestion() -> None:
    error = refused({"timeout": "60"})
    assert error.code == "unknown_field"
    assert "'timeout'" in error.message
    assert "did you mean 'timeout_seconds'?" in error.message


def test_an_unknown_field_lists_the_known_ones() -> None:
    error = refused({"name": "x", "colour": "blue"})
    assert error.code == "unknown_field"
    assert error.message == (
        "unknown field 'colour'; the text fields are name, priority, timeout_seconds, memory_mb, "
        "cpus, network, callback_url, build_args and the file parts are dockerfile, files, "
        "context"
    )


def test_an_unknown_field_is_refused_even_when_everything_else_is_valid() -> None:
    assert refused({"timeout_seconds": "60", "memory": "256"}).code == "unknown_field"


@pytest.mark.parametrize("part", ["dockerfile", "files", "context"])
def test_a_file_part_sent_as_text_is_refused(part: str) -> None:
    error = refused({part: "FROM debian:bookworm-slim"})
    assert error.code == "file_expected"
    assert part in error.message


# --- name ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["demo", "x" * 200, "Jöb 🚀 ünïcode", "  spaced  "])
def test_valid_names_are_kept_verbatim(name: str) -> None:
    assert parse_job_fields({"name": name}, LIMITS).name == name


def test_a_name_over_200_characters_is_refused() -> None:
    error = refused({"name": "x" * 201})
    assert error.code == "invalid_field"
    assert error.message == "name must be at most 200 characters, got 201"


@pytest.mark.parametrize("name", ["a\nb", "tab\there", "nul\x00", "del\x7f", "c1\x85", "\r"])
def test_a_name_with_control_characters_is_refused(name: str) -> None:
    error = refused({"name": name})
    assert error.code == "invalid_field"
    assert "control characters" in error.message


# --- priority ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"), [("0", 0), ("100", 100), ("-100", -100), ("+7", 7), (" -3 ", -3)]
)
def test_valid_priorities(raw: str, value: int) -> None:
    assert parse_job_fields({"priority": raw}, LIMITS).priority == value


@pytest.mark.parametrize("raw", ["101", "-101", "1.5", "high", "--1", "1e2", "٣", "9" * 30])
def test_invalid_priorities(raw: str) -> None:
    error = refused({"priority": raw})
    assert error.code == "invalid_field"
    assert error.message.startswith("priority must be a whole number from -100 to 100")


# --- timeout_seconds and memory_mb ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"), [("1", 1), ("86400", 86400), (" 60 ", 60), ("007", 7), ("3600", 3600)]
)
def test_valid_timeouts(raw: str, value: int) -> None:
    assert parse_job_fields({"timeout_seconds": raw}, LIMITS).limits.timeout_seconds == value


@pytest.mark.parametrize(
    "raw", ["0", "86401", "-1", "+5", "1.5", "1e3", "1_000", "abc", "٣", "0x10", "9" * 30]
)
def test_invalid_timeouts(raw: str) -> None:
    error = refused({"timeout_seconds": raw})
    assert error.code == "invalid_field"
    assert error.message.startswith("timeout_seconds must be a whole number from 1 to 86400, got")


def test_the_timeout_message_shows_the_value() -> None:
    assert refused({"timeout_seconds": "0"}).message == (
        "timeout_seconds must be a whole number from 1 to 86400, got '0'"
    )


def test_the_timeout_maximum_follows_the_limits() -> None:
    limits = dataclasses.replace(LIMITS, max_timeout_seconds=120)
    assert parse_job_fields({"timeout_seconds": "120"}, limits).limits.timeout_seconds == 120
    assert refused({"timeout_seconds": "121"}, limits).message == (
        "timeout_seconds must be a whole number from 1 to 120, got '121'"
    )


@pytest.mark.parametrize(("raw", "value"), [("16", 16), ("8192", 8192), ("512", 512)])
def test_valid_memory(raw: str, value: int) -> None:
    assert parse_job_fields({"memory_mb": raw}, LIMITS).limits.memory_mb == value


@pytest.mark.parametrize("raw", ["15", "0", "8193", "-16", "512.0", "512MB", "1 024"])
def test_invalid_memory(raw: str) -> None:
    error = refused({"memory_mb": raw})
    assert error.code == "invalid_field"
    assert error.message == f"memory_mb must be a whole number from 16 to 8192, got {raw!r}"


# --- cpus ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"), [("0.1", 0.1), ("4", 4.0), ("4.0", 4.0), (".5", 0.5), ("2.", 2.0)]
)
def test_valid_cpus(raw: str, value: float) -> None:
    assert parse_job_fields({"cpus": raw}, LIMITS).limits.cpus == value


@pytest.mark.parametrize(
    "raw", ["0.09", "0", "4.01", "-1", "nan", "inf", "Infinity", "1e0", "0x1", "1,5", "."]
)
def test_invalid_cpus(raw: str) -> None:
    error = refused({"cpus": raw})
    assert error.code == "invalid_field"
    assert error.message == (
        f"cpus must be a number from 0.1 to 4 (a decimal such as 0.5), got {raw!r}"
    )


# --- network -------------------------------------------------------------------------------


def test_network_none() -> None:
    assert parse_job_fields({"network": "none"}, LIMITS).limits.network is Network.NONE


def test_bridge_is_refused_unless_the_server_allows_it() -> None:
    error = refused({"network": "bridge"})
    assert error.code == "network_not_allowed"
    assert "'none'" in error.message
    allowed = dataclasses.replace(LIMITS, allow_bridge_network=True)
    assert parse_job_fields({"network": "bridge"}, allowed).limits.network is Network.BRIDGE


@pytest.mark.parametrize("raw", ["host", "NONE", "container:x", "default"])
def test_other_networks_are_refused(raw: str) -> None:
    error = refused({"network": raw})
    assert error.code == "invalid_field"
    assert error.message == f"network must be 'none' or 'bridge', got {raw!r}"


# --- callback_url --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://example.com/hooks/dccf?x=1#frag",
        "HTTPS://Example.COM:8443/path",
        "http://93.184.215.14:9000/",
        "http://[2606:4700:4700::1111]:8080/hook",
        "http://user:secret@example.com/hook",
        "https://bücher.example/hook",
    ],
)
def test_valid_callback_urls(url: str) -> None:
    assert parse_job_fields({"callback_url": url}, LIMITS).callback_url == url


def test_callback_url_surrounding_whitespace_is_dropped() -> None:
    fields = {"callback_url": "  https://example.com/hook\n"}
    assert parse_job_fields(fields, LIMITS).callback_url == "https://example.com/hook"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "example.com/hook",
        "http://",
        "http:///path",
        "https://:443/",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://exa mple.com/",
        "http://example.com/\x00",
        "http://host:99999/",
        "http://[::1/",
    ],
)
def test_invalid_callback_urls(url: str) -> None:
    error = refused({"callback_url": url})
    assert error.code == "invalid_field"
    assert error.message.startswith("callback_url ")


def test_callback_url_length_is_bounded() -> None:
    prefix = "https://example.com/"
    url = prefix + "a" * (2048 - len(prefix))
    assert parse_job_fields({"callback_url": url}, LIMITS).callback_url == url
    error = refused({"callback_url": url + "a"})
    assert error.message == "callback_url must be at most 2048 characters, got 2049"


# --- build_args ----------------------------------------------------------------------------


def test_build_args_parse_to_a_dict() -> None:
    raw = json.dumps({"A": "1", "b_2": "two words", "_X": "", "PATH_EXTRA": "ü\nline"})
    assert parse_job_fields({"build_args": raw}, LIMITS).build_args == {
        "A": "1",
        "b_2": "two words",
        "_X": "",
        "PATH_EXTRA": "ü\nline",
    }


@pytest.mark.parametrize("raw", ["{}", "  ", " {} "])
def test_empty_build_args(raw: str) -> None:
    assert parse_job_fields({"build_args": raw}, LIMITS).build_args == {}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{", "build_args must be a JSON object of strings"),
        ("VERSION=1", "build_args must be a JSON object of strings"),
        ('["A", "B"]', "got an array"),
        ('"A=1"', "got a string"),
        ("null", "got null"),
        ("42", "got a number"),
        ('{"A": 1}', 'build_args value of A must be a string, got a number (quote it: "A": '),
        ('{"A": true}', "build_args value of A must be a string, got a boolean"),
        ('{"A": null}', "build_args value of A must be a string, got null"),
        ('{"A": ["x"]}', "build_args value of A must be a string, got an array"),
        ('{"A": {"B": "c"}}', "build_args value of A must be a string, got an object"),
        ('{"1A": "x"}', "build_args name '1A' is not a valid build-arg name"),
        ('{"A-B": "x"}', "build_args name 'A-B' is not a valid build-arg name"),
        ('{"": "x"}', "build_args name '' is not a valid build-arg name"),
        ('{"A B": "x"}', "is not a valid build-arg name"),
        ('{"A=B": "x"}', "is not a valid build-arg name"),
        ('{"ÄRG": "x"}', "is not a valid build-arg name"),
        ('{"A": "1", "A": "2"}', "build_args has the key 'A' twice"),
        ('{"A": "x\\u0000y"}', "must not contain NUL"),
        ('{"A": "\\ud800"}', "must not contain NUL or lone surrogates"),
    ],
)
def test_invalid_build_args(raw: str, expected: str) -> None:
    error = refused({"build_args": raw})
    assert error.code == "invalid_field"
    assert expected in error.message


def test_build_arg_names_are_bounded() -> None:
    assert parse_job_fields({"build_args": json.dumps({"A" * 128: "x"})}, LIMITS).build_args
    error = refused({"build_args": json.dumps({"A" * 129: "x"})})
    assert "at most 128 characters" in error.message


def test_build_args_count_is_bounded() -> None:
    hundred = {f"A{i}": "x" for i in range(100)}
    assert len(parse_job_fields({"build_args": json.dumps(hundred)}, LIMITS).build_args) == 100
    error = refused({"build_args": json.dumps(hundred | {"ONE_MORE": "x"})})
    assert error.message == "build_args may hold at most 100 entries, got 101"


def test_build_args_size_is_bounded() -> None:
    error = refused({"build_args": json.dumps({"A": "x" * 70_000})})
    assert error.message == "build_args must be at most 64 KiB of JSON"


def test_deeply_nested_build_args_are_refused_not_crashed() -> None:
    error = refused({"build_args": "[" * 60_000})
    assert error.message.endswith("it is nested too deeply")
