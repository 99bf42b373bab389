"""The service's security settings: trusted hosts, page sessions, need-to-know lookups and per-token rate limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from features.typed_config import TypedConfig

__all__ = ["SecurityConfig"]


class SecurityConfig(TypedConfig):
    """Who may reach the service and how much: hosts, sessions, which people a token may look up, request rates."""

    trusted_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host names (without port) requests may be addressed to; others get 400. '*' trusts any host "
        "(only behind a proxy that checks Host). Add the name clinicians use, e.g. risk.example.nhs.uk.",
    )
    session_absolute_minutes: float = Field(
        480.0, gt=0, description="A page session ends this many minutes after sign-in, however active."
    )
    session_idle_minutes: float = Field(30.0, gt=0, description="A page session ends after this many minutes without a request.")
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Mark cookies Secure: 'auto' when the request arrived over TLS (https), 'always' behind a TLS-terminating "
        "proxy, 'never' only for plain-HTTP tests.",
    )
    lookup: Literal["listed", "neighbourhood"] = Field(
        "listed",
        description="Which people a neighbourhood token may open: 'listed' = on its current or recent lists or its caseload "
        "(need-to-know); 'neighbourhood' = any resident of its neighbourhoods (every lookup off the lists is audited as such).",
    )
    recent_publications: int = Field(
        2, ge=0, description="Publications before the current one whose lists still count as 'listed' for need-to-know."
    )
    rate_per_second: float = Field(
        20.0,
        ge=0,
        description="Requests per second a neighbourhood token may sustain (token bucket in the database, shared by every worker); "
        "0 = no limit.",
    )
    rate_burst: int = Field(40, ge=1, description="Requests a token may make at once before the sustained rate applies (429 beyond).")
    phm_rate_per_second: float = Field(
        0.0, ge=0, description="Sustained requests per second of a PHM token (burst rate_burst); 0 = no limit (batch scoring, monitoring)."
    )
    public_body_bytes: int = Field(
        16_384, ge=1, description="Largest request body of a route reached without a token (the sign-in form), in bytes."
    )
    not_found_warning: int = Field(
        20, ge=1, description="404s on person lookups by one token in the audit summary's period that raise a warning."
    )
