"""Bearer tokens of the service as stage functions: create (checked against the published neighbourhoods), list, revoke."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from features.home import Home
from serving.auth import TokenRecord, TokenStore
from serving.publish import current_publication

__all__ = ["CreatedToken", "create_token", "list_tokens", "published_neighbourhoods", "revoke_token"]


@dataclass(frozen=True)
class CreatedToken:
    """A new token: its stored record, the secret (shown once), whether names were checked, and the tokens file."""

    record: TokenRecord
    token: str
    checked_against_publication: bool
    tokens_file: Path


def published_neighbourhoods(where: Home) -> list[str] | None:
    """Neighbourhoods of the current publication (sorted), or None when nothing is published."""
    publication = current_publication(where.publications)
    if publication is None:
        return None
    return sorted(publication.metadata.get("list_sizes", {}))


def create_token(where: Home, *, neighbourhoods: list[str], phm: bool = False, label: str = "") -> CreatedToken:
    """Create a token scoped to ``neighbourhoods`` (or PHM); only its SHA-256 hash is stored.

    Parameters
    ----------
    where
        risingrisk home holding the tokens file and the publications.
    neighbourhoods
        Neighbourhoods the token may see; checked against the current publication when there is one.
    phm
        PHM scope: every neighbourhood, every person, POST /v1/score.
    label
        Who holds the token (team name); no patient data.

    Raises
    ------
    serving.errors.TokenError
        If the scope is invalid (none or both, or a neighbourhood not in the current publication).
    """
    where.ensure()
    known = published_neighbourhoods(where)
    record, token = TokenStore(where.tokens).create(neighbourhoods=neighbourhoods, phm=phm, label=label, known_neighbourhoods=known)
    return CreatedToken(record=record, token=token, checked_against_publication=known is not None, tokens_file=where.tokens)


def list_tokens(where: Home) -> list[TokenRecord]:
    """Every token record of ``where`` (ids, scopes, labels, dates; never secrets)."""
    return TokenStore(where.tokens).records()


def revoke_token(where: Home, token_id: str) -> TokenRecord:
    """Revoke ``token_id``; the running service refuses it from the next request on. Raises ``TokenError`` if unknown."""
    return TokenStore(where.tokens).revoke(token_id)
