"""The master's JSON answers, encoded by msgspec from the API's models (models.py)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

_encoder = msgspec.json.Encoder()


class ModelResponse(Response):
    """A `Struct` of models.py (or a list, number or string of one, for the legacy endpoints)
    as JSON: the bytes Starlette's JSONResponse would send, written straight from the model."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)
