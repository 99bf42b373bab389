"""Exceptions raised when an import source or a mapping file cannot be used."""

from features.errors import ConfigError

__all__ = ["ImportSourceError", "MappingError"]


class ImportSourceError(ValueError):
    """The import source (folder, file or database) cannot be read; the message names it and the fix."""


class MappingError(ConfigError):
    """A mapping file is missing, malformed or holds an invalid value; the message names the key and the fix."""
