"""Exceptions raised when input data break the data contract."""

__all__ = ["ContractError", "MissingTableError", "MissingColumnError", "ConfigError", "FeatureConfigError",
           "UnreadableTableError", "ValidationOutputError", "EngineUnavailableError"]


class ContractError(ValueError):
    """Input data do not follow the data contract; the message names the fix."""


class MissingTableError(ContractError, FileNotFoundError):
    """A required table file is absent from the data directory."""


class MissingColumnError(ContractError):
    """A required column is absent from a table."""


class UnreadableTableError(ContractError):
    """A table file exists but cannot be read as Parquet or CSV."""


class ValidationOutputError(ValueError):
    """The validation output folder cannot be used (for example, it is the input folder)."""


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range; the message names the fix."""


class FeatureConfigError(ConfigError):
    """A feature configuration value is invalid; the message names the fix."""


class EngineUnavailableError(RuntimeError):
    """A feature engine cannot start because something it needs (a package, a Java runtime) is not installed."""
