"""Bearer tokens scoped to neighbourhoods or to the PHM team, kept as SHA-256 hashes in ``Home.tokens``."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from serving.errors import TokenError

__all__ = ["PHM", "PRINCIPAL_KEY", "TOKEN_PREFIX", "Principal", "TokenRecord", "TokenStore", "parse_bearer"]

#: Scope name of the population health management team: every neighbourhood, every person, POST /v1/score.
PHM = "phm"
#: Tokens read ``rr_<id>_<secret>``; the id is public (audit log), only the secret's hash is stored.
TOKEN_PREFIX = "rr"
_ID_BYTES = 4
_SECRET_BYTES = 32
_FILE_VERSION = 1
#: ASGI scope key under which the security gate leaves the request's authenticated :class:`Principal`.
PRINCIPAL_KEY = "risingrisk.principal"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token id and what it may see (``neighbourhoods`` is None for the PHM team)."""

    token_id: str
    neighbourhoods: frozenset[str] | None

    @property
    def is_phm(self) -> bool:
        return self.neighbourhoods is None

    def may_see(self, neighbourhood: str) -> bool:
        """True if this principal may see people of ``neighbourhood``."""
        return self.neighbourhoods is None or neighbourhood in self.neighbourhoods

    @property
    def scope_label(self) -> str:
        return PHM if self.neighbourhoods is None else ", ".join(sorted(self.neighbourhoods))


@dataclass(frozen=True)
class TokenRecord:
    """One stored token: its public id, the hash of its secret, its scope and its history."""

    id: str
    hash: str
    scope: list[str] | str
    label: str = ""
    created_at: str = ""
    revoked_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hash": self.hash,
            "scope": self.scope,
            "label": self.label,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }

    def principal(self) -> Principal:
        if self.scope == PHM:
            return Principal(self.id, None)
        return Principal(self.id, frozenset(self.scope))


def _hash(token_id: str, secret: str) -> str:
    return hashlib.sha256(f"{token_id}:{secret}".encode()).hexdigest()


def parse_bearer(header: str | None) -> tuple[str, str] | None:
    """Split an ``Authorization: Bearer rr_<id>_<secret>`` header into (id, secret); None if malformed."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


@dataclass
class TokenStore:
    """Tokens in a JSON file (only hashes), reloaded when the file changes so revocation needs no restart."""

    path: Path
    _records: dict[str, TokenRecord] = field(default_factory=dict, init=False, repr=False)
    _mtime: float | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def records(self) -> list[TokenRecord]:
        """Every stored token (revoked ones included), oldest first."""
        self._refresh()
        return sorted(self._records.values(), key=lambda r: (r.created_at, r.id))

    def authenticate(self, header: str | None) -> Principal | None:
        """The principal of a valid, unrevoked bearer token in ``header``; None otherwise."""
        parsed = parse_bearer(header)
        if parsed is None:
            return None
        token_id, secret = parsed
        self._refresh()
        record = self._records.get(token_id)
        if record is None or record.revoked_at is not None:
            return None
        if not hmac.compare_digest(record.hash, _hash(token_id, secret)):
            return None
        return record.principal()

    def principal_of(self, token_id: str) -> Principal | None:
        """The principal of the unrevoked token ``token_id`` (a page session's token); None if unknown or revoked."""
        self._refresh()
        record = self._records.get(token_id)
        if record is None or record.revoked_at is not None:
            return None
        return record.principal()

    def create(
        self,
        *,
        neighbourhoods: Iterable[str] = (),
        phm: bool = False,
        label: str = "",
        known_neighbourhoods: Iterable[str] | None = None,
    ) -> tuple[TokenRecord, str]:
        """Create a token; return its record and the token itself (shown once, never stored).

        Parameters
        ----------
        neighbourhoods
            Neighbourhoods the token may see (one or more), unless ``phm``.
        phm
            Give the token the PHM scope (every neighbourhood, plus POST /v1/score).
        label
            Free text saying who holds the token (e.g. a team's name); no patient data.
        known_neighbourhoods
            When given, every neighbourhood must be one of these (the current publication's).
        """
        wanted = sorted(set(neighbourhoods))
        if phm == bool(wanted):
            raise TokenError(
                "a token must be scoped to one or more neighbourhoods or to the PHM team (not both); "
                f"got neighbourhoods={wanted} phm={phm}. Pass --neighbourhood NAME (repeatable) or --phm."
            )
        if known_neighbourhoods is not None:
            known = set(known_neighbourhoods)
            unknown = [n for n in wanted if n not in known]
            if unknown:
                raise TokenError(
                    f"neighbourhood must be one of the published neighbourhoods {sorted(known)}; got {unknown}. "
                    "Check the spelling (names are case-sensitive)."
                )
        token_id = secrets.token_hex(_ID_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        record = TokenRecord(
            id=token_id,
            hash=_hash(token_id, secret),
            scope=PHM if phm else wanted,
            label=label,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        with self._lock:
            self._refresh_locked()
            self._records[token_id] = record
            self._write_locked()
        return record, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def revoke(self, token_id: str) -> TokenRecord:
        """Mark a token revoked (kept for the audit trail); return its record."""
        with self._lock:
            self._refresh_locked()
            record = self._records.get(token_id)
            if record is None:
                raise TokenError(
                    f"token id must be one of the stored ids; got {token_id!r}. List them with risingrisk tokens list."
                )
            revoked = TokenRecord(**{**record.to_dict(), "revoked_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
            self._records[token_id] = revoked
            self._write_locked()
        return revoked

    def _refresh(self) -> None:
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._records, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        try:
            data = json.loads(self.path.read_text())
            records = {r["id"]: TokenRecord(**r) for r in data["tokens"]}
        except (ValueError, KeyError, TypeError) as error:
            raise TokenError(
                f"token file {self.path} must be JSON with a 'tokens' list of records; reading it failed ({error}). "
                "Restore it from backup or delete it and create new tokens."
            ) from error
        self._records, self._mtime = records, mtime

    def _write_locked(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        payload = {"version": _FILE_VERSION, "tokens": [r.to_dict() for r in sorted(self._records.values(), key=lambda r: r.id)]}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime_ns
