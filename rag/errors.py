"""Errors a person can act on. Each message says what went wrong and what to do."""


class RagError(Exception):
    """Base class: the CLI and the API show the message, never a traceback."""


class ConfigurationError(RagError):
    """A setting or a model file is wrong or missing."""


class StoreLockedError(RagError):
    """Another process holds the store's writer lock."""


class StoreWriteError(RagError):
    """The store could not be written: the disk is full, a file size limit was reached,
    or the disk failed."""


class StoreMismatchError(RagError):
    """The store was built with other embedding or chunking settings."""


class InvalidRequestError(RagError):
    """A question or parameter the service refuses; `limit` names the setting it broke,
    if any (the API answers 422 and names it)."""

    def __init__(self, message: str, limit: str | None = None, maximum: int | None = None):
        super().__init__(message)
        self.limit = limit
        self.maximum = maximum
