"""Failed password logins, limited per account and per client IP, in Redis.

Both login forms (the dashboard's allauth form and the Django admin's) count against the
same limits, which every web process shares. An attempt is counted *before* the password
is checked and forgotten again if it succeeds, so parallel guesses cannot slip past the
limit while earlier ones are still being checked. Within ``window`` seconds at most
``limit`` attempts may fail per account and per IP; the next is refused, even with the
right password, until the oldest failure is older than the window.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings

# KEYS: the per-account and per-IP sorted sets of attempts (score: time).
# ARGV: now, window, limit, this attempt's id.
# Returns 0 (counted) or the seconds until the oldest counted attempt leaves the window.
_BEGIN_ATTEMPT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local wait = 0
for _, key in ipairs(KEYS) do
  redis.call('zremrangebyscore', key, '-inf', now - window)
  if redis.call('zcard', key) >= limit then
    local oldest = tonumber(redis.call('zrange', key, 0, 0, 'WITHSCORES')[2])
    wait = math.max(wait, oldest + window - now)
  end
end
if wait > 0 then return math.ceil(wait) end
for _, key in ipairs(KEYS) do
  redis.call('zadd', key, now, ARGV[4])
  redis.call('expire', key, math.ceil(window))
end
return 0
"""


class LoginThrottled(Exception):
    """Too many failed logins for this account or from this IP; says when to retry."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        self.message = (
            "Too many failed sign-in attempts for this account or from your network. "
            f"Sign-in is paused for your protection: try again in {_duration(retry_after)}. "
            "If you forgot your password, reset it."
        )
        super().__init__(self.message)


@dataclass(frozen=True)
class LoginAttempt:
    keys: tuple[str, ...]
    attempt_id: str


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _keys(account: str, client_ip: str) -> tuple[str, ...]:
    prefix = f"{settings.STARTER_REDIS_PREFIX}:login-failures"
    # Hashed so that Redis never holds the e-mail addresses people typed.
    account_hash = hashlib.sha256(account.strip().lower().encode()).hexdigest()
    return (f"{prefix}:account:{account_hash}", f"{prefix}:ip:{client_ip}")


def begin_attempt(account: str, client_ip: str) -> LoginAttempt:
    """Count one login attempt as failed until :func:`forget_attempt` says otherwise.

    Raises :class:`LoginThrottled` (counting nothing) when the account or the IP is
    already at its limit.
    """
    keys = _keys(account, client_ip)
    attempt = LoginAttempt(keys, uuid.uuid4().hex)
    wait = _redis().eval(
        _BEGIN_ATTEMPT,
        len(keys),
        *keys,
        time.time(),
        settings.STARTER_LOGIN_FAILURE_WINDOW,
        settings.STARTER_LOGIN_FAILURE_LIMIT,
        attempt.attempt_id,
    )
    if int(wait) > 0:
        raise LoginThrottled(int(wait))
    return attempt


def forget_attempt(attempt: LoginAttempt) -> None:
    """The attempt succeeded: it no longer counts as a failure."""
    with _redis().pipeline(transaction=False) as pipe:
        for key in attempt.keys:
            pipe.zrem(key, attempt.attempt_id)
        pipe.execute()


def forgive_account(account: str) -> None:
    """Clear the account's failures (after a password reset has proved who holds it).

    The per-IP count stays: a reset says nothing about the networks that guessed.
    """
    _redis().delete(_keys(account, "")[0])
