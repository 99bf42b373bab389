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


class DatabaseUrlError(ConfigError):
    """The database URL cannot be used (unknown scheme, missing driver); the message names the fix."""


class DatabaseNotMigratedError(RuntimeError):
    """The database schema is older than (or absent from) the code's migrations; run ``risingrisk db upgrade``."""


class ActionValidationError(ValueError):
    """A caseload action is malformed (unknown action, missing or unknown reason, note too long); HTTP 422."""


class TransitionConflictError(ValueError):
    """A caseload action makes no sense after the person's previous actions (e.g. enrolled after closed); HTTP 409."""


class IdempotencyConflictError(TransitionConflictError):
    """An idempotency key was reused by the same token for a different action; HTTP 409."""


__all__ += ["DatabaseUrlError", "DatabaseNotMigratedError", "ActionValidationError", "TransitionConflictError",
            "IdempotencyConflictError"]


class EngineUnavailableError(RuntimeError):
    """A feature engine cannot start because something it needs (a package, a Java runtime) is not installed."""
