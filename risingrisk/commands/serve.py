"""``risingrisk serve``: run the BentoML service and clinician pages."""

from __future__ import annotations

from serving.run import serve_command

__all__ = ["serve_command"]
