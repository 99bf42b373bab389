"""Tests for serving.auth and the tokens CLI: hashed storage, scopes, revocation, malformed headers."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from risingrisk.cli import app
from serving.auth import PHM, Principal, TokenStore, parse_bearer
from serving.errors import TokenError


def test_a_created_token_authenticates_to_its_scope_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    record, token = store.create(neighbourhoods=["Cedar", "Alpha Vale"], label="two teams")
    principal = store.authenticate(f"Bearer {token}")
    assert principal == Principal(record.id, frozenset({"Cedar", "Alpha Vale"}))
    text = (tmp_path / "tokens.json").read_text()
    secret = token.split("_", 2)[2]
    assert secret not in text
    stored = json.loads(text)["tokens"][0]
    assert stored["hash"] == hashlib.sha256(f"{record.id}:{secret}".encode()).hexdigest()
    assert stored["scope"] == ["Alpha Vale", "Cedar"]
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600


def test_a_phm_token_may_see_every_neighbourhood_and_a_team_token_only_its_own(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    phm = store.authenticate(f"Bearer {store.create(phm=True)[1]}")
    team = store.authenticate(f"Bearer {store.create(neighbourhoods=['Cedar'])[1]}")
    assert phm is not None and team is not None
    assert (phm.is_phm, phm.may_see("Cedar"), phm.may_see("Granta"), phm.scope_label) == (True, True, True, PHM)
    assert (team.is_phm, team.may_see("Cedar"), team.may_see("Granta")) == (False, True, False)


def test_a_revoked_token_no_longer_authenticates_even_in_another_store_instance(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    reader = TokenStore(path)
    record, token = TokenStore(path).create(neighbourhoods=["Cedar"])
    assert reader.authenticate(f"Bearer {token}") is not None
    TokenStore(path).revoke(record.id)
    assert reader.authenticate(f"Bearer {token}") is None
    assert reader.records()[0].revoked_at is not None


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic abc", "Bearer rr_", "Bearer xx_abcd_secret", "Bearer rr__secret", "Bearer rr_abcd_"],
)
def test_malformed_authorization_headers_do_not_parse(header: str | None) -> None:
    assert parse_bearer(header) is None


def test_a_token_with_the_wrong_secret_or_unknown_id_is_refused(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    record, token = store.create(phm=True)
    assert store.authenticate(f"Bearer rr_{record.id}_wrong") is None
    assert store.authenticate(f"Bearer rr_ffffffff_{token.split('_', 2)[2]}") is None
    assert store.authenticate(f"bearer {token}") is not None


def test_a_token_needs_exactly_one_kind_of_scope(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(TokenError, match="one or more neighbourhoods or to the PHM team"):
        store.create()
    with pytest.raises(TokenError, match="not both"):
        store.create(neighbourhoods=["Cedar"], phm=True)


def test_unknown_neighbourhoods_are_refused_when_the_published_ones_are_known(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(TokenError, match=r"got \['Ceder'\]"):
        store.create(neighbourhoods=["Ceder"], known_neighbourhoods=["Cedar", "Granta"])
    assert store.records() == []


def test_revoking_an_unknown_id_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="risingrisk tokens list"):
        TokenStore(tmp_path / "tokens.json").revoke("nope")


def test_an_unreadable_token_file_raises_a_token_error(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text("{not json")
    with pytest.raises(TokenError, match="must be JSON"):
        TokenStore(tmp_path / "tokens.json").authenticate("Bearer rr_abcd_secret")


def test_tokens_cli_prints_the_token_once_then_lists_and_revokes_it(tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["tokens", "create", "--neighbourhood", "Cedar", "--label", "Cedar team", "--home", str(tmp_path)])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    principal = TokenStore(tmp_path / "tokens.json").authenticate(f"Bearer {token}")
    assert principal is not None and principal.neighbourhoods == frozenset({"Cedar"})
    listed = runner.invoke(app, ["tokens", "list", "--home", str(tmp_path)])
    assert principal.token_id in listed.output and token.split("_", 2)[2] not in listed.output
    revoked = runner.invoke(app, ["tokens", "revoke", principal.token_id, "--home", str(tmp_path)])
    assert revoked.exit_code == 0
    assert TokenStore(tmp_path / "tokens.json").authenticate(f"Bearer {token}") is None
    refused = runner.invoke(app, ["tokens", "create", "--home", str(tmp_path)])
    assert refused.exit_code == 2
