"""Transient store failures, retried with backoff: a locked SQLite file, a tracking server or database
that restarts. A call that still fails after the last try raises, and the trial it served fails cleanly.

MLflow's HTTP client retries on its own (urllib3 backoff); its default gives up only after about 250 s,
so a worker sets a shorter schedule (`http_retry_defaults`) unless the user set one. A SQLite store waits
20 s on a lock (MLflow's busy_timeout) before "database is locked", which is retried here.
"""

from __future__ import annotations

import functools
import os
import random
import time
from typing import Callable, TypeVar

T = TypeVar("T")

DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds before each retry: about 15 s of outage ridden out
TRANSIENT_CODES = {"TEMPORARILY_UNAVAILABLE", "RESOURCE_EXHAUSTED", "REQUEST_LIMIT_EXCEEDED"}
TRANSIENT_WORDS = ("database is locked", "max retries exceeded", "connection refused", "connection reset",
                   "server closed the connection", "timed out", "temporarily unavailable", "could not connect",
                   "terminating connection", "connection is closed", "broken pipe", "database system is",
                   "connection to server")


def http_retry_defaults() -> None:
    """A worker rides out a tracking server's restart (about 30 s of retries), not 250 s of silence."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def is_transient(err: BaseException) -> bool:
    """A failure worth another try: the store was busy or unreachable, not the request wrong. The causes
    count too: Optuna reports a connection cut mid-commit as a StorageInternalError caused by it."""
    seen = 0
    while err is not None and seen < 5:
        if _transient(err):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _transient(err: BaseException) -> bool:
    if isinstance(err, (ConnectionError, TimeoutError)):
        return True
    if getattr(err, "error_code", None) in TRANSIENT_CODES:
        return True
    if "connectionerror" in type(err).__name__.lower():  # requests' and urllib3's, which are not OSError's
        return True
    text = str(err).lower()
    return any(word in text for word in TRANSIENT_WORDS)


def retrying(call: Callable[..., T], *, what: str = "", delays: tuple[float, ...] = DELAYS,
             on_retry: Callable[[str], None] | None = None) -> Callable[..., T]:
    """`call` retried after a transient failure, with growing delays (and jitter, so workers spread out)."""

    @functools.wraps(call)
    def wrapper(*args, **kwargs):
        for attempt, delay in enumerate((*delays, None)):
            try:
                return call(*args, **kwargs)
            except Exception as err:
                if delay is None or not is_transient(err):
                    raise
                if on_retry is not None:
                    on_retry(f"{what or getattr(call, '__name__', 'store call')}: {type(err).__name__}: "
                             f"{str(err).splitlines()[0][:120]}; retry {attempt + 1} of {len(delays)} in {delay:.1f}s")
                time.sleep(delay * random.uniform(0.8, 1.2))
        raise AssertionError("unreachable")

    return wrapper


class RetryingClient:
    """An MlflowClient whose every method retries transient failures; everything else passes through."""

    def __init__(self, client, on_retry: Callable[[str], None] | None = None):
        self._client, self._on_retry = client, on_retry

    def __getattr__(self, name: str):
        value = getattr(self._client, name)
        if name.startswith("_") or not callable(value):
            return value
        return retrying(value, what=f"mlflow {name}", on_retry=self._on_retry)
