"""Keep person ids out of the service's logs (request paths, validation errors) and server paths out of served documents."""

from __future__ import annotations

import logging
import re

from pydantic import ValidationError

__all__ = ["IdentifierRedactor", "PATH_PLACEHOLDER", "REDACTED_LOGGERS", "install_redaction", "redact_paths"]

#: Loggers whose records may carry request paths (access logs, server errors).
REDACTED_LOGGERS = ("bentoml.access", "uvicorn.access", "uvicorn.error", "bentoml", "bentoml.serve", "_bentoml_impl")


#: What a server file path in a served document (the model card) is replaced by.
PATH_PLACEHOLDER = "<server path withheld>"
#: Absolute file paths (POSIX, home-relative, Windows, file:// URLs) of two or more parts; not URL paths after a host.
_SERVER_PATH = re.compile(r"(?<![\w.:/\\~-])(?:file://)?(?:~|[A-Za-z]:)?[/\\](?:[\w.@+-]+[/\\])+[\w.@+-]*")


def redact_paths(text: str) -> str:
    """``text`` with every absolute server path replaced by :data:`PATH_PLACEHOLDER` (relative paths and web URLs kept)."""
    return _SERVER_PATH.sub(PATH_PLACEHOLDER, text)


class IdentifierRedactor(logging.Filter):
    """Replace person ids in URL paths of log records (access logs, errors) by ``<redacted>``."""

    pattern = re.compile(r"(/(?:v1|pages)/people/)[^/\s?#\"')]+")

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            # pydantic puts the offending input (which may hold ids) in its message: log the count only
            record.msg = f"{record.getMessage()} (invalid request body: {error.error_count()} errors; inputs not logged)"
            record.args, record.exc_info, record.exc_text = None, None, None
        if isinstance(record.msg, str) and "/people/" in record.msg:
            record.msg = self.pattern.sub(r"\1<redacted>", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            if any(isinstance(a, str) and "/people/" in a for a in args):
                redacted = tuple(self.pattern.sub(r"\1<redacted>", a) if isinstance(a, str) else a for a in args)
                record.args = redacted if isinstance(record.args, tuple) else redacted[0]
        return True


def install_redaction() -> None:
    """Attach the redactor to the access/error loggers and to every handler of the root logger."""
    redactor = IdentifierRedactor()
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in REDACTED_LOGGERS]
    targets += logging.getLogger().handlers
    for name in REDACTED_LOGGERS:
        targets += logging.getLogger(name).handlers
    for target in targets:
        if not any(isinstance(f, IdentifierRedactor) for f in target.filters):
            target.addFilter(redactor)
