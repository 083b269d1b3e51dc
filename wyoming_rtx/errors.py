"""Domain errors that carry a machine-readable code for Wyoming `error` events."""

from __future__ import annotations


class RtxError(Exception):
    """An expected failure that a client should hear about as an `error` event."""

    code = "rtx-error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ModelNotFoundError(RtxError):
    """A configured model or voice is not on disk (there is no hub to fetch it from)."""

    code = "model-not-found"
