"""Where risingrisk keeps its local state: MLflow store, publications, tokens and the database (actions, audit log)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Home", "home"]

HOME_ENV = "RISINGRISK_HOME"
DEFAULT_HOME = ".risingrisk"


@dataclass(frozen=True)
class Home:
    """Paths under one risingrisk home directory (default ``./.risingrisk``, git-ignored)."""

    root: Path

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db.resolve()}"

    @property
    def artifacts(self) -> Path:
        return self.root / "mlartifacts"

    @property
    def publications(self) -> Path:
        return self.root / "publications"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens.json"

    @property
    def service_config(self) -> Path:
        """The service's settings (TOML, optional): trusted hosts, sessions, rate limits, page layout."""
        return self.root / "service.toml"

    @property
    def audit_db(self) -> Path:
        """The pre-database audit log (SQLite); ``risingrisk db upgrade`` copies its rows into :attr:`database`."""
        return self.root / "audit.sqlite"

    @property
    def database(self) -> Path:
        """The default SQLite database of caseload actions and the audit log (``RISINGRISK_DATABASE_URL`` overrides)."""
        return self.root / "risingrisk.sqlite"

    def ensure(self) -> "Home":
        """Create the home directory tree if it does not exist; return self."""
        for path in (self.root, self.artifacts, self.publications):
            path.mkdir(parents=True, exist_ok=True)
        return self


def home(root: Path | str | None = None) -> Home:
    """Return the home at ``root``, else ``$RISINGRISK_HOME``, else ``./.risingrisk``."""
    chosen = root if root is not None else os.environ.get(HOME_ENV, DEFAULT_HOME)
    return Home(Path(chosen).expanduser().absolute())
