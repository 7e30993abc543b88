"""``advgame serve`` against a taken port, bad options and malformed requests on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from advgame.errors import ConfigError
from advgame.judges import RuleJudge
from advgame.judges.serving import JudgeChatBackend
from advgame.serve import ChatServer, main, make_server


@pytest.fixture
def rule_server() -> Iterator[ChatServer]:
    server = make_server(JudgeChatBackend(RuleJudge(max_failure_rate=None)), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def taken_port() -> Iterator[int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    yield holder.getsockname()[1]
    holder.close()


def test_taken_port_raises_config_error(taken_port: int) -> None:
    with pytest.raises(ConfigError, match=rf"--port {taken_port}.*another --port"):
        make_server(JudgeChatBackend(RuleJudge()), port=taken_port)


def test_taken_port_fails_before_loading_a_model(taken_port: int, capsys) -> None:
    """The port is bound first, so a missing model folder is never reached."""
    started = time.perf_counter()
    code = main(["--model", "/nonexistent/model-folder", "--port", str(taken_port)])
    assert code == 2
    assert time.perf_counter() - started < 5
    error = capsys.readouterr().err
    assert f"--port {taken_port}" in error
    assert "Traceback" not in error


def test_missing_model_folder_is_one_error_line(capsys) -> None:
    code = main(["--model", "/nonexistent/model-folder", "--port", "0"])
    assert code == 2
    error = capsys.readouterr().err
    assert "/nonexistent/model-folder" in error
    assert "Traceback" not in error


def test_unknown_log_level_is_config_error(capsys) -> None:
    assert main(["--judge", "rule", "--port", "0", "--log-level", "LOUD"]) == 2
    assert "--log-level" in capsys.readouterr().err


def test_unset_api_key_variable_is_config_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("ADVGAME_TEST_UNSET_KEY", raising=False)
    assert main(["--judge", "rule", "--port", "0", "--api-key-env", "ADVGAME_TEST_UNSET_KEY"]) == 2
    assert "ADVGAME_TEST_UNSET_KEY" in capsys.readouterr().err


def _raw_post(server: ChatServer, length_header: str) -> bytes:
    """Send a POST with the given Content-Length and a short body; return the raw reply."""
    port = server.server_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Content-Length: {length_header}\r\n\r\n".encode()
            + b"{}"
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply


@pytest.mark.parametrize("length", ["-5", "abc", "1e3"])
def test_invalid_content_length_gets_400(rule_server: ChatServer, length: str) -> None:
    reply = _raw_post(rule_server, length)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]


def test_server_still_answers_after_bad_requests(rule_server: ChatServer) -> None:
    _raw_post(rule_server, "-1")
    response = httpx.get(rule_server.base_url.removesuffix("/v1") + "/health", timeout=5)
    assert response.json() == {"status": "ok"}


def test_deeply_nested_body_gets_400(rule_server: ChatServer) -> None:
    body = "[" * 200_000
    response = httpx.post(
        rule_server.base_url + "/chat/completions",
        content=body.encode(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "files", [{"config.json": "{}"}, {"config.json": '{"model_type": "llama"'}]
)
def test_broken_model_folder_is_one_error_line(tmp_path, capsys, files) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["--model", str(tmp_path), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert str(tmp_path) in error
    assert "Traceback" not in error
