"""``risingrisk tokens``: create, list and revoke the service's bearer tokens."""

from __future__ import annotations

from serving.tokens import tokens_app

__all__ = ["tokens_app"]
