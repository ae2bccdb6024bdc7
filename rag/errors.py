"""Errors a person can act on. Each message says what went wrong and what to do."""


class RagError(Exception):
    """Base class: the CLI and the API show the message, never a traceback."""


class ConfigurationError(RagError):
    """A setting or a model file is wrong or missing."""


class StoreLockedError(RagError):
    """Another process holds the store's writer lock."""


class StoreMismatchError(RagError):
    """The store was built with other embedding or chunking settings."""
