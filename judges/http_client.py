"""HTTP transport of the HTTP judge: retries, backoff, a content-keyed cache and a
concurrency bound, for JSON POST requests to an OpenAI-compatible server.

Retry policy, per request:

* retried: timeouts, connection errors (refused, reset, closed mid-body), HTTP 429, HTTP 5xx
  and 200 responses whose body is not a JSON object with a non-empty ``choices`` list (a
  truncated or garbled body is usually a transient proxy fault);
* not retried: other HTTP 4xx (a bad request stays bad);
* the wait before retry ``k`` (from 0) is ``min(max_backoff_s, backoff_s * 2**k)``, or the
  server's ``Retry-After`` seconds when it sends them, capped at ``max_backoff_s``.

A request that still fails comes back as a :class:`RequestFailure`. Successful bodies are
cached in memory, and optionally in a folder, under the SHA-256 of the URL and the canonical
JSON body; the API key is not part of the key. While the cache is on, a repeated request is
answered from it without HTTP. Identical requests within one batch are sent once.

The API key is read from an environment variable at construction and sent as
``Authorization: Bearer ...``; it is never logged, and log lines never contain prompt text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from advgame.errors import ConfigError

logger = logging.getLogger(__name__)

_ERROR_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class RequestFailure:
    """A request that produced no usable body after all retries.

    Attributes:
        cause: ``"timeout"``, ``"connection"``, ``"http_429"``, ``"http_5xx"``,
            ``"http_4xx"`` or ``"malformed"``.
        detail: a short description for the verdict (status code, error excerpt).
        attempts: HTTP attempts made.
    """

    cause: str
    detail: str
    attempts: int


@dataclass
class TransportStats:
    """Counts of the transport since construction; thread-safe through :meth:`add`."""

    attempts: int = 0
    retries: int = 0
    cache_hits: int = 0
    failures: int = 0
    backoff_s: float = 0.0
    causes: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def count_cause(self, cause: str) -> None:
        with self._lock:
            self.causes[cause] += 1

    def as_metrics(self, prefix: str = "judge/http_") -> dict[str, float]:
        with self._lock:
            return {
                f"{prefix}attempts": float(self.attempts),
                f"{prefix}retries": float(self.retries),
                f"{prefix}cache_hits": float(self.cache_hits),
                f"{prefix}failures": float(self.failures),
            }


class _Retryable(Exception):
    def __init__(self, cause: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail
        self.retry_after = retry_after


class _Fatal(Exception):
    def __init__(self, cause: str, detail: str, log_line: str) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail
        self.log_line = log_line


class ChatClient:
    """POST JSON bodies to ``{base_url}/chat/completions`` with retries and a cache.

    Args:
        base_url: server root including the API version, for example
            ``"http://127.0.0.1:8000/v1"``.
        api_key_env: environment variable that contains the API key; no header is sent when
            it is unset or empty.
        timeout_s: limit of each connect, read and write, and of a whole attempt from
            sending the request to the last byte of the response, in seconds.
        max_retries: retries after the first attempt.
        backoff_s: wait before the first retry, doubled for each later one.
        max_backoff_s: cap of a single wait, also applied to ``Retry-After``.
        max_concurrency: requests in flight at once.
        cache: keep successful bodies in memory and answer repeats from there.
        cache_dir: also store successful bodies in this folder, one JSON file each.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str = "ADVGAME_JUDGE_API_KEY",
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_concurrency: int = 8,
        cache: bool = True,
        cache_dir: str | Path | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"Expects base_url to start with http:// or https://, actual: {base_url!r}; "
                "pass for example 'http://127.0.0.1:8000/v1'"
            )
        for name, value in (("timeout_s", timeout_s), ("max_backoff_s", max_backoff_s)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"Expects {name} > 0 seconds, actual: {value!r}")
        if not isinstance(backoff_s, (int, float)) or backoff_s < 0:
            raise ConfigError(f"Expects backoff_s >= 0 seconds, actual: {backoff_s!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"Expects max_retries to be an int >= 0, actual: {max_retries!r}")
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigError(
                f"Expects max_concurrency to be a positive int, actual: {max_concurrency!r}"
            )
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.max_concurrency = max_concurrency
        self.cache_enabled = cache
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.stats = TransportStats()
        self._memory: dict[str, dict[str, Any]] = {}
        self._memory_lock = threading.Lock()
        headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(api_key_env, "") if api_key_env else ""
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        limits = httpx.Limits(
            max_connections=max_concurrency, max_keepalive_connections=max_concurrency
        )
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(self.timeout_s), limits=limits
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __repr__(self) -> str:
        # The headers hold the API key, so they stay out of the representation.
        return f"ChatClient(url={self.url!r}, api_key_env={self.api_key_env!r})"

    # --- cache -----------------------------------------------------------------------------

    def cache_key(self, body: dict[str, Any]) -> str:
        """Return the cache key of ``body``: SHA-256 of the URL and the canonical JSON."""
        canonical = json.dumps({"url": self.url, "body": body}, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _cache_path(self, key: str) -> Path | None:
        return self.cache_dir / key[:2] / f"{key}.json" if self.cache_dir is not None else None

    def _cached(self, key: str) -> dict[str, Any] | None:
        if not self.cache_enabled:
            return None
        with self._memory_lock:
            if key in self._memory:
                return self._memory[key]
        path = self._cache_path(key)
        if path is not None and path.is_file():
            try:
                body = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as error:
                logger.warning("ignoring unreadable judge cache file %s: %s", path, error)
                return None
            with self._memory_lock:
                self._memory[key] = body
            return body
        return None

    def _store(self, key: str, body: dict[str, Any]) -> None:
        if not self.cache_enabled:
            return
        with self._memory_lock:
            self._memory[key] = body
        path = self._cache_path(key)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.with_suffix(f".tmp{threading.get_ident()}")
            staging.write_text(json.dumps(body))
            os.replace(staging, path)

    # --- sending ---------------------------------------------------------------------------

    def post_many(self, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any] | RequestFailure]:
        """Send ``bodies`` with at most ``max_concurrency`` in flight; return one response
        body or :class:`RequestFailure` per body, in order."""
        keys = [self.cache_key(b) for b in bodies]
        results: dict[str, dict[str, Any] | RequestFailure] = {}
        to_send: dict[str, dict[str, Any]] = {}
        for key, body in zip(keys, bodies):
            if key in results or key in to_send:
                continue
            cached = self._cached(key)
            if cached is not None:
                results[key] = cached
                self.stats.add(cache_hits=1)
            else:
                to_send[key] = body
        if to_send:
            workers = min(self.max_concurrency, len(to_send))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge-http") as pool:
                sent = pool.map(self._post_one, to_send.values())
                for key, outcome in zip(to_send, sent):
                    results[key] = outcome
                    if not isinstance(outcome, RequestFailure):
                        self._store(key, outcome)
        return [results[key] for key in keys]

    def _post_one(self, body: dict[str, Any]) -> dict[str, Any] | RequestFailure:
        attempt = 0
        while True:
            self.stats.add(attempts=1)
            try:
                return self._attempt(body)
            except _Retryable as fault:
                self.stats.count_cause(fault.cause)
                if attempt >= self.max_retries:
                    self.stats.add(failures=1)
                    logger.warning(
                        "judge request to %s failed after %d attempts (%s)",
                        self.url,
                        attempt + 1,
                        fault.cause,
                    )
                    return RequestFailure(fault.cause, fault.detail, attempt + 1)
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                if fault.retry_after is not None:
                    delay = min(self.max_backoff_s, max(0.0, fault.retry_after))
                logger.info(
                    "judge request to %s failed (%s); retry %d of %d in %.2f s",
                    self.url,
                    fault.cause,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                self.stats.add(retries=1, backoff_s=delay)
                time.sleep(delay)
                attempt += 1
            except _Fatal as fault:
                self.stats.count_cause(fault.cause)
                self.stats.add(failures=1)
                logger.warning("judge request to %s failed: %s", self.url, fault.log_line)
                return RequestFailure(fault.cause, fault.detail, attempt + 1)

    def _receive(self, body: dict[str, Any]) -> httpx.Response:
        """POST ``body`` and read the whole response within ``timeout_s`` in total.

        httpx applies its timeout to each read, so a server that sends a byte now and then
        could hold the request open without limit. The deadline bounds the whole attempt.
        """
        deadline = time.monotonic() + self.timeout_s
        try:
            with self._client.stream("POST", self.url, json=body) as streamed:
                raw = []
                for chunk in streamed.iter_raw():
                    raw.append(chunk)
                    if time.monotonic() > deadline:
                        raise _Retryable(
                            "timeout", f"response not complete after {self.timeout_s:g} s"
                        )
            # A response built from the raw bytes decodes them by its headers, as httpx does.
            return httpx.Response(
                streamed.status_code,
                headers=streamed.headers,
                content=b"".join(raw),
                request=streamed.request,
            )
        except httpx.TimeoutException as error:
            raise _Retryable("timeout", f"timed out after {self.timeout_s:g} s") from error
        except httpx.TransportError as error:
            raise _Retryable("connection", f"connection failed: {type(error).__name__}") from error

    def _attempt(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self._receive(body)
        code = response.status_code
        if code == 429 or code >= 500:
            cause = "http_429" if code == 429 else "http_5xx"
            raise _Retryable(
                cause, f"HTTP {code}: {_error_excerpt(response)}", _retry_after(response)
            )
        if code >= 400:
            raise _Fatal("http_4xx", f"HTTP {code}: {_error_excerpt(response)}", f"HTTP {code}")
        try:
            parsed = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise _Retryable("malformed", "response body is not JSON") from error
        if not isinstance(parsed, dict):
            raise _Retryable("malformed", "response body is not a JSON object")
        choices = parsed.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _Retryable("malformed", "response body has no choices")
        return parsed


def _error_excerpt(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:_ERROR_EXCERPT_CHARS] or response.reason_phrase
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message or payload)[:_ERROR_EXCERPT_CHARS]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date; the exponential backoff applies instead
