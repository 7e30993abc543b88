"""An OpenAI-compatible HTTP server for a local LM or one of advgame's judges.

Two backends answer ``POST /v1/chat/completions``:

* ``--model default|PATH``: a Hugging Face causal LM (see :mod:`advgame.serve_lm`);
* ``--judge rule|keyword|embedding``: an advgame judge behind the chat API (see
  :mod:`advgame.judges.serving`), so several trainers can share one judge process through
  :class:`~advgame.judges.http.HTTPJudge`.

``GET /v1/models`` lists the served model and ``GET /health`` returns ``{"status": "ok"}``.
The server binds to 127.0.0.1 unless ``--host`` says otherwise, and handles each connection
in a thread (stdlib :class:`~http.server.ThreadingHTTPServer`). When ``--api-key-env`` names
a set environment variable, requests must send ``Authorization: Bearer <key>``.

Requests are logged with method, path, status and duration through :mod:`logging`, never
with prompt text.

Example:
    advgame-serve --judge rule --port 8000
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from advgame.errors import AdvGameError, ConfigError
from advgame.judges.serving import RequestError

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_BODY_BYTES = 16 * 1024 * 1024
JUDGE_BACKENDS: tuple[str, ...] = ("rule", "keyword", "embedding")


class ChatBackend(Protocol):
    """Anything that turns a chat completion request into a response body."""

    model_name: str

    def chat(self, request: dict[str, Any]) -> dict[str, Any]: ...


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        # The stdlib request line holds only method, path and version; requests are logged
        # in _finish with their status and duration instead.
        pass

    def _send(self, status: int, payload: dict[str, Any], started: float) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        logger.info(
            "%s %s %d in %.3f s", self.command, self.path, status, time.perf_counter() - started
        )

    def _error(self, status: int, message: str, started: float) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._send(status, {"error": {"message": message, "type": kind, "code": status}}, started)

    def _authorized(self) -> bool:
        expected = self.server.api_key
        if not expected:
            return True
        header = self.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {expected}".encode())

    def do_GET(self) -> None:
        started = time.perf_counter()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(200, {"status": "ok"}, started)
        elif not self._authorized():
            self._error(401, "missing or invalid API key", started)
        elif path in ("/v1/models", "/models"):
            name = self.server.backend.model_name
            model = {"id": name, "object": "model", "created": 0, "owned_by": "advgame"}
            self._send(200, {"object": "list", "data": [model]}, started)
        else:
            self._error(404, f"no route for GET {path}", started)

    def do_POST(self) -> None:
        started = time.perf_counter()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route for POST {path}", started)
            return
        if not self._authorized():
            self._error(401, "missing or invalid API key", started)
            return
        length = _content_length(self.headers.get("Content-Length"))
        if length is None:
            # The body's end is unknown, so the connection cannot carry another request.
            self.close_connection = True
            self._error(400, "Content-Length must be a non-negative integer", started)
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(413, f"request body above {MAX_BODY_BYTES} bytes", started)
            return
        try:
            request = json.loads(self.rfile.read(length) or b"null")
        except (ValueError, RecursionError):
            # ValueError covers invalid JSON and invalid UTF-8; RecursionError a body nested
            # deeper than the parser's stack.
            self._error(400, "request body is not valid JSON", started)
            return
        if not isinstance(request, dict):
            self._error(400, "request body must be a JSON object", started)
            return
        try:
            payload = self.server.backend.chat(request)
        except RequestError as error:
            self._error(error.status, error.message, started)
            return
        except Exception as error:
            logger.exception("chat request failed with %s", type(error).__name__)
            self._error(500, f"internal error: {type(error).__name__}", started)
            return
        self._send(200, payload, started)


def _content_length(header: str | None) -> int | None:
    """Return the request's body length, or None when the header is not a valid length."""
    if header is None or not header.strip():
        return 0
    text = header.strip()
    return int(text) if text.isdigit() else None


class ChatServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`ChatBackend`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: ChatBackend, api_key: str = "") -> None:
        super().__init__(address, _Handler)
        self.backend = backend
        self.api_key = api_key

    @property
    def base_url(self) -> str:
        """The URL clients pass as ``base_url``, for example ``http://127.0.0.1:8000/v1``."""
        host, port = self.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}/v1"


def make_server(
    backend: ChatBackend, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, api_key: str = ""
) -> ChatServer:
    """Bind a server for ``backend``; port 0 picks a free port (see ``server.base_url``).

    Raises:
        ConfigError: the address cannot be bound, for example because the port is in use.
    """
    try:
        return ChatServer((host, port), backend, api_key)
    except OSError as error:
        raise ConfigError(
            f"Expects --host {host} --port {port} to be free to bind, actual: {error.strerror}; "
            "stop the process that holds it or pass another --port (0 picks a free one)"
        ) from None


def load_judge_backend(name: str, model_name: str | None = None) -> ChatBackend:
    """Return a chat backend that serves the advgame judge called ``name``."""
    from advgame.judges.factory import make_judge
    from advgame.judges.serving import JudgeChatBackend

    if name not in JUDGE_BACKENDS:
        raise ConfigError(f"Expects --judge to be one of {JUDGE_BACKENDS}, actual: {name!r}")
    try:
        # The server keeps answering whatever the failure share, so the limit is off.
        judge = make_judge({"kind": name, "max_failure_rate": None})
    except ImportError as error:
        raise ConfigError(
            f"the {name} judge is not available in this install ({error}); serve "
            "--judge rule or --judge keyword"
        ) from None
    return JudgeChatBackend(judge, model_name or f"advgame-{name}-judge")


def load_model_backend(
    model: str, model_name: str | None = None, device: str = "cpu"
) -> ChatBackend:
    """Return a chat backend that serves the causal LM ``model`` (``"default"`` or a path)."""
    from advgame.agents.models import load_causal_lm
    from advgame.serve_lm import LMChatBackend

    lm, tokenizer = load_causal_lm(model, device=device)
    return LMChatBackend(lm, tokenizer, model_name or str(model))


class _NoBackend:
    """Placeholder backend of a server that is bound but still loading its model."""

    model_name = "loading"

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        raise RequestError(503, "the server is still loading its model")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``advgame serve``."""
    parser = argparse.ArgumentParser(
        prog="advgame serve",
        description="Serve a local LM or an advgame judge behind the OpenAI chat API.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="'default' (embedded SmolLM2) or a local HF model folder")
    source.add_argument("--judge", choices=JUDGE_BACKENDS, help="serve an advgame judge")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port; 0 picks one")
    parser.add_argument("--served-model-name", help="name reported to clients")
    parser.add_argument("--device", default="cpu", help="torch device of --model (default cpu)")
    parser.add_argument(
        "--api-key-env",
        help="environment variable holding the API key that clients must send (default: none)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until interrupted; returns the process exit code.

    Invalid options and a port that cannot be bound print one error line and return 2.
    """
    try:
        return serve(argv)
    except AdvGameError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def serve(argv: Sequence[str] | None = None) -> int:
    """Parse ``advgame serve`` options and serve until interrupted.

    Raises:
        ConfigError: an option is invalid or the address cannot be bound.
        ModelNotFoundError: ``--model`` names a folder without a model.
    """
    args = build_parser().parse_args(argv)
    level = logging.getLevelName(args.log_level.upper())
    if not isinstance(level, int):
        raise ConfigError(
            f"Expects --log-level to be DEBUG, INFO, WARNING or ERROR, actual: {args.log_level!r}"
        )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    api_key = ""
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env, "")
        if not api_key:
            raise ConfigError(
                f"--api-key-env names {args.api_key_env!r}, which is unset or empty; export it "
                "or drop the option"
            )
    # Bind first: a taken port fails at once instead of after loading a model. Requests
    # wait in the listen queue until serve_forever starts, so the backend is set by then.
    server = make_server(_NoBackend(), args.host, args.port, api_key)
    try:
        if args.judge:
            server.backend = load_judge_backend(args.judge, args.served_model_name)
        else:
            server.backend = load_model_backend(args.model, args.served_model_name, args.device)
    except BaseException:
        server.server_close()
        raise
    backend = server.backend
    logger.info("serving %s at %s", backend.model_name, server.base_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("stopping")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
