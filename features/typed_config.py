"""Base class for every typed configuration: pydantic, unknown keys rejected with a "did you mean" hint."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from contextvars import ContextVar
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from features.errors import ConfigError

__all__ = ["TypedConfig", "config_error", "read_toml"]

#: How many config validations enclose the current one: only the outermost turns pydantic's
#: errors into one ConfigError, so a nested config's problems keep their full key path.
_NESTING: ContextVar[int] = ContextVar("typed_config_nesting", default=0)


class TypedConfig(BaseModel):
    """A frozen pydantic model whose fields carry descriptions and whose unknown keys are errors.

    ``load`` turns a plain mapping (a TOML table) into the config and every validation problem into
    one :class:`~features.errors.ConfigError` naming the key, the value and the fix, with a
    "did you mean" suggestion for misspelt keys.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    #: Exception raised for invalid values, whether built by ``load`` or by keyword arguments.
    error: ClassVar[type[ConfigError]] = ConfigError
    #: Name of the table the config comes from, for messages (e.g. ``[features]``).
    where: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        token = _NESTING.set(_NESTING.get() + 1)
        try:
            super().__init__(**values)
        except ValidationError as exc:
            if _NESTING.get() > 1:
                raise
            raise config_error(type(self), exc, self.where) from None
        finally:
            _NESTING.reset(token)

    @classmethod
    def load(cls, values: Mapping[str, Any] | None, *, where: str = "") -> Self:
        """Validate ``values`` into this config; ``where`` names the table for messages (e.g. ``[features]``)."""
        token = _NESTING.set(_NESTING.get() + 1)
        try:
            return cls.model_validate(dict(values or {}))
        except ValidationError as exc:
            raise config_error(cls, exc, where or cls.where) from None
        finally:
            _NESTING.reset(token)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/TOML-friendly mapping (``None`` left out) that ``load`` turns back into an equal config."""
        return self.model_dump(mode="json", exclude_none=True)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the (nested) model that ``loc`` points into."""
    current: Any = model
    for part in loc[:-1]:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return list(getattr(current, "model_fields", {}))


def config_error(model: type[BaseModel], exc: ValidationError, where: str = "") -> ConfigError:
    """Turn a pydantic ``ValidationError`` into a :class:`ConfigError` that says what is wrong and how to fix it."""
    lines = []
    prefix = f"{where} " if where else ""
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc) or "(root)"
        if error["type"] == "extra_forbidden":
            known = _fields_at(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(known))}"
            lines.append(f"{prefix}key {key!r} is not a setting; {hint} Remove or rename it.")
        elif error["type"] == "value_error" and isinstance(error.get("ctx", {}).get("error"), ValueError):
            lines.append(f"{prefix}{_located(error['ctx']['error'], loc)}")
        else:
            value = error.get("input")
            lines.append(f"{prefix}{key} {error['msg'].lower()}; got {value!r}. Fix the value of {key!r}.")
    kind = getattr(model, "error", ConfigError)
    return kind("\n".join(lines))


def _located(problem: ValueError, loc: tuple[Any, ...]) -> str:
    """A validator's own message ("X must be …; got …"), led by its full key when it does not already start with it."""
    message = str(problem)
    path = ".".join(str(part) for part in loc)
    return message if not path or message.startswith(path) else f"{path} {message}"


def read_toml(path: Path | str, *, option: str = "--config") -> dict[str, Any]:
    """Read a TOML file, naming the file and the fix when it is missing or malformed (``option``: the command-line option that gave it)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file must exist; got {path}. Check the path or omit {option}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} must be valid TOML; got: {exc}. Fix the line it names.") from None
