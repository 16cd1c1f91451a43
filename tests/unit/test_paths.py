from __future__ import annotations

import pytest

from dccf.paths import UnsafePath, relative_parts


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("a.txt", ("a.txt",)),
        ("./a//b/./c", ("a", "b", "c")),
        ("output/", ("output",)),
        ("", ()),
        (".", ()),
        ("a/..b/c..", ("a", "..b", "c..")),
        ("ü €/x", ("ü €", "x")),
    ],
)
def test_relative_parts_drops_empty_and_dot_components(name: str, parts: tuple[str, ...]) -> None:
    assert relative_parts(name) == parts


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", "'..' component"),
        ("a/../../x", "'..' component"),
        ("/etc/passwd", "is absolute"),
        ("a\\b", "backslash"),
        ("a\x00b", "control character"),
        ("a\x9bb", "control character"),
        ("bad\udcffutf8", "not valid UTF-8"),
    ],
)
def test_relative_parts_refuses(name: str, reason: str) -> None:
    with pytest.raises(UnsafePath) as caught:
        relative_parts(name)
    assert caught.value.name == name
    assert reason in caught.value.reason
    assert str(caught.value).startswith(repr(name))
