"""Which names may stand for a file inside a job's folder.

One rule set for every side that turns a name from outside into a place on disk or in a tar:
the master's build context, the worker's /output and the client's download of the outputs.
"""

from __future__ import annotations

import re

# Unicode's control characters (category Cc): they break tar headers, logs and listings.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# The lone surrogates that stand for bytes which were not UTF-8 (surrogateescape).
_SURROGATE = re.compile("[\ud800-\udfff]")


class UnsafePath(ValueError):
    """A name that could leave its folder or that other tools cannot carry."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name!r} {reason}")
        self.name = name
        self.reason = reason


def relative_parts(name: str) -> tuple[str, ...]:
    """The components of `name` below its folder, with empty and '.' components dropped.

    Raises `UnsafePath` for a name that is not UTF-8, holds a control character or a
    backslash, is absolute, or has a '..' component.
    """
    if _SURROGATE.search(name):
        raise UnsafePath(name, "is not valid UTF-8")
    if _CONTROL.search(name):
        raise UnsafePath(name, "contains a control character")
    if "\\" in name:
        raise UnsafePath(name, "contains a backslash; separate folders with '/'")
    if name.startswith("/"):
        raise UnsafePath(name, "is absolute; give a path relative to its folder")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise UnsafePath(name, "has a '..' component, which would climb out of its folder")
    return parts
