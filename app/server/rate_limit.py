"""Per-credential request limits (the `limits` library, moving window, in memory).

Requests are counted per API key or per customer token (anonymous ones per client
address), across all endpoints, per server process. Over the limit, the answer is 429 with
`Retry-After`. (slowapi's middleware finds no endpoint for routes FastAPI mounts with
`include_router` and lets them through, so the limit is applied as an app-wide dependency
with the library slowapi itself builds on.)
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.server.auth import credential_from_request
from app.server.problems import Problem


class RateLimit:
    """A FastAPI dependency enforcing `spec` (e.g. `300/minute`) per credential.

    Raises:
        ValueError: `spec` is not a rate such as `300/minute`.
        Problem: 429 when the caller is over the limit.
    """

    def __init__(self, spec: str) -> None:
        try:
            self.item = parse(spec)
        except ValueError:
            raise ValueError(f"Cannot read the rate limit {spec!r}; use e.g. 300/minute.") from None
        self.window = MovingWindowRateLimiter(MemoryStorage())

    def __call__(self, request: Request) -> None:
        try:
            key = credential_from_request(request).rate_key
        except Problem:
            key = f"ip:{request.client.host if request.client else 'unknown'}"
        if self.window.hit(self.item, key):
            return
        reset, _ = self.window.get_window_stats(self.item, key)
        wait = max(1, math.ceil(reset - time.time()))
        raise Problem(
            429,
            f"Too many requests for this credential (limit {self.item}); retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
