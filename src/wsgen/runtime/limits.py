"""Per-connection rate limits: token buckets and a strike counter."""

from __future__ import annotations

import time

from .settings import WebSocketSettings

__all__ = ["RateLimiter", "TokenBucket"]


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(max(burst, 1))
        self._tokens = self._burst
        self._stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(
            self._burst,
            self._tokens + (now - self._stamp) * self._rate,
        )
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class RateLimiter:
    """Every frame spends a message token; typing also a typing token."""

    __slots__ = ("_max_strikes", "_messages", "_typing", "strikes")

    def __init__(self, settings: WebSocketSettings) -> None:
        self._messages = TokenBucket(
            settings.messages_per_second,
            settings.messages_burst,
        )
        self._typing = TokenBucket(
            settings.typing_per_second,
            settings.typing_burst,
        )
        self._max_strikes = settings.rate_strikes
        self.strikes = 0

    def allow_frame(self) -> bool:
        """Charge one frame; count consecutive refusals as strikes."""
        if self._messages.take():
            self.strikes = 0
            return True
        self.strikes += 1
        return False

    @property
    def abusive(self) -> bool:
        """True once refusals kept coming: time to close the connection."""
        return self.strikes >= self._max_strikes

    def allow_typing(self) -> bool:
        return self._typing.take()
