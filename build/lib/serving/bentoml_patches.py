"""Workarounds for BentoML 1.4.40: request timers that outlive their request, and metrics exposition by route template."""

from __future__ import annotations

import asyncio
from typing import Any

from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.server.http import traffic

from serving.responses import error_response

__all__ = ["cancel_request_timers", "prometheus_exposition"]


def cancel_request_timers() -> None:
    """Make BentoML's per-request timeout timer end with the request.

    BentoML 1.4.40's ``TimeoutMiddleware`` schedules ``loop.call_later(timeout, ...)`` for every
    request and never cancels it, so each request's context (OpenTelemetry span, futures) stays
    alive for the whole timeout: at a few hundred requests a second that is ~10^6 live objects and
    100-400 ms cyclic-GC pauses (measured with benchmarks/bench_service.py). This installs a
    subclass that behaves the same but cancels its timer when the request ends — also when the app
    ends without a response (BentoML's waits for the timeout then, holding the request's slot).
    """
    if getattr(traffic.TimeoutMiddleware, "cancels_timer", False):
        return
    base = traffic.TimeoutMiddleware

    class CancellingTimeoutMiddleware(base):  # type: ignore[misc, valid-type]
        cancels_timer = True

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] not in ("http", "websocket"):
                return await self.app(scope, receive, send)
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

            async def _send(message: Any) -> None:
                if not waiter.done():
                    waiter.set_result(None)
                await send(message)

            fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
            try:
                # the app may also end without a response (a client that went away mid-upload): stop waiting then
                await asyncio.wait({waiter, fut}, return_when=asyncio.FIRST_COMPLETED)
                timed_out = waiter.done() and isinstance(waiter.exception(), asyncio.TimeoutError)
                if timed_out and not fut.done():
                    if fut.cancel():
                        await error_response(504, f"the request took longer than {self.timeout} seconds")(scope, receive, send)
                else:
                    await fut
            finally:
                timer.cancel()
                waiter.cancel()

    traffic.TimeoutMiddleware = CancellingTimeoutMiddleware


def prometheus_exposition() -> tuple[bytes, str]:
    """Every worker's metrics in Prometheus text format and its content type.

    BentoML's own request metrics label by raw path (person ids), so the service disables them
    (``metrics={"enabled": False}``) and exposes its route-template metrics from BentoML's
    metrics client here instead of through BentoML's ``/metrics``.
    """
    client = BentoMLContainer.metrics_client.get()
    return client.generate_latest(), client.CONTENT_TYPE_LATEST
