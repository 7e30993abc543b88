"""HTTPJudge against a real 127.0.0.1 server that returns odd but well-formed JSON bodies.

Every such body must become a typed failed verdict (ERROR or PARSE_FAILURE), never an
exception that stops the run and never a score read from garbage.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from advgame.judges import JudgeStatus, PointwiseRequest, Rubric
from advgame.judges.http import HTTPJudge

POINT = PointwiseRequest("How do I bake bread?", "Mix flour and water.", Rubric.COMPLIANCE)


class BodyServer(ThreadingHTTPServer):
    """A server that returns ``self.body`` as a 200 JSON response to every chat request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _BodyHandler)
        self.body: Any = {}
        self.byte_interval_s = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _BodyHandler(BaseHTTPRequestHandler):
    server: BodyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        data = json.dumps(self.server.body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not self.server.byte_interval_s:
            self.wfile.write(data)
            return
        for byte in data:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(self.server.byte_interval_s)


@pytest.fixture
def body_server() -> Iterator[BodyServer]:
    server = BodyServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _logprob_body(content: Any) -> dict[str, Any]:
    return {"choices": [{"message": {"content": ""}, "logprobs": {"content": content}}]}


@pytest.mark.parametrize(
    ("content", "status"),
    [
        ([1, 2, 3], JudgeStatus.ERROR),
        (["7"], JudgeStatus.ERROR),
        ([{"token": "7", "logprob": -0.1, "top_logprobs": 5}], JudgeStatus.OK),
        ([{"token": "7", "logprob": -0.1, "top_logprobs": [1, "x", None]}], JudgeStatus.OK),
        ([{"token": "7", "logprob": float("nan"), "top_logprobs": []}], JudgeStatus.PARSE_FAILURE),
        ([{"token": "7", "logprob": "high", "top_logprobs": []}], JudgeStatus.PARSE_FAILURE),
    ],
)
def test_malformed_logprobs_become_typed_verdicts(
    body_server: BodyServer, content: Any, status: JudgeStatus
) -> None:
    body_server.body = _logprob_body(content)
    judge = HTTPJudge(
        body_server.base_url, "judge", mode="logprob", max_retries=0, max_failure_rate=None
    )
    [verdict] = judge.judge_points([POINT])
    assert verdict.status is status
    if status is JudgeStatus.OK:
        assert verdict.score == pytest.approx(7.0)
    else:
        assert verdict.score is None
    assert judge.stats.calls == 1
    assert judge.stats.failures == (status is not JudgeStatus.OK)


def test_nan_logprob_is_not_read_as_certain(body_server: BodyServer) -> None:
    """A NaN log-probability used to become probability 1 for its token."""
    position = {
        "token": "9",
        "logprob": float("nan"),
        "top_logprobs": [{"token": "2", "logprob": -0.05}, {"token": "9", "logprob": float("nan")}],
    }
    body_server.body = _logprob_body([position])
    judge = HTTPJudge(
        body_server.base_url, "judge", mode="logprob", max_retries=0, max_failure_rate=None
    )
    [verdict] = judge.judge_points([POINT])
    assert verdict.status is JudgeStatus.OK
    assert verdict.score == pytest.approx(2.0)


def test_trickling_server_times_out(body_server: BodyServer) -> None:
    """Each byte arrives well within the read timeout, but the whole body takes ~10 s."""
    body_server.body = {"choices": [{"message": {"content": "<score>7</score>" + " " * 60}}]}
    body_server.byte_interval_s = 0.1
    judge = HTTPJudge(body_server.base_url, "judge", timeout_s=0.5, max_retries=0)
    started = time.perf_counter()
    [verdict] = judge.judge_points([POINT])
    assert verdict.status is JudgeStatus.ERROR
    assert "timeout" in verdict.detail
    assert time.perf_counter() - started < 3.0
    assert judge.stats.errors == 1
