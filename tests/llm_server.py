"""A small chat-completions server on loopback for tests: scripted faults, deterministic answers.

``FakeChatServer(script=["429", "500", "timeout", "malformed", "truncated"])`` answers the first
requests with those faults (in arrival order) and every later one normally. Normal answers are a
numbered list of responses derived from a hash of the request, or, for grading prompts (a system
message mentioning "scores"), a JSON {"rationale", "label"} from ``grade``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORDS = (
    "water evaporates salt remains crystals heat sun boiling pan dish bowl stays behind dissolves mixture separate "
    "filter sieve magnet iron sand pour leave dry warm cool shake stir cup jar layer bottom top liquid solid"
).split()
ERROR_TEXT = "INTERNAL SERVER ERROR: upstream exploded"


def fake_responses(messages: list[dict], n: int) -> list[str]:
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    out = []
    for i in range(n):
        picks = [WORDS[(digest[(i * 5 + j) % len(digest)] + 7 * i + j) % len(WORDS)] for j in range(5)]
        out.append(
            f"I think the {picks[0]} and {picks[1]} {picks[2]} so the {picks[3]} is {picks[4]} number {digest[i] % 97} {i}"
        )
    return out


def default_grade(messages: list[dict]) -> str:
    text = messages[-1]["content"]
    match = re.search(r'Student response: "(.*)"', text)
    response = match.group(1) if match else ""
    labels = re.search(r"The possible scores are: (.*)\.", text)
    names = [x.strip() for x in labels.group(1).split(",")] if labels else ["correct", "incorrect"]
    label = names[-1] if "wrong" in response.lower() else names[0]
    return json.dumps({"rationale": "Compared with the reference answer.", "label": label})


class FakeChatServer:
    def __init__(
        self,
        script: list[str] | None = None,
        retry_after: str = "1",
        timeout_sleep: float = 3.0,
        delay: float = 0.0,
        grade: Callable[[list[dict]], str] = default_grade,
    ) -> None:
        self.script = list(script or [])
        self.retry_after = retry_after
        self.timeout_sleep = timeout_sleep
        self.delay = delay
        self.grade = grade
        self.requests = 0
        self.answered = 0
        self.answered_bodies: list[dict] = []
        self.faults: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(length if length is not None else len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_POST(self) -> None:  # noqa: N802
                size = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(size) or b"{}")
                with server._lock:
                    server.requests += 1
                    action = server.script.pop(0) if server.script else "ok"
                    if action != "ok":
                        server.faults.append(action)
                if action == "429":
                    self._send(
                        429,
                        json.dumps({"error": {"message": "Rate limit reached", "type": "rate_limit"}}).encode(),
                        {"Retry-After": server.retry_after},
                    )
                    return
                if action == "500":
                    self._send(500, json.dumps({"error": {"message": ERROR_TEXT}}).encode())
                    return
                if action == "400":
                    self._send(400, json.dumps({"error": {"message": "bad request: " + ERROR_TEXT}}).encode())
                    return
                if action == "timeout":
                    time.sleep(server.timeout_sleep)
                if action == "malformed":
                    self._send(200, b'{"id": "x", "choices": [ {"message": ' + ERROR_TEXT.encode())
                    return
                if action == "truncated":
                    body = self._body(request, "stop")
                    self._send(200, body[: len(body) // 2], length=len(body))
                    self.close_connection = True
                    return
                if action == "html":
                    self.send_response(200)
                    body = f"<html>{ERROR_TEXT}</html>".encode()
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if server.delay:
                    time.sleep(server.delay)
                content = None
                if action == "empty":
                    content = ""
                elif action == "refusal":
                    content = "I'm sorry, but I can't help with that request."
                body = self._body(request, "stop", content)
                self._send(200, body)
                with server._lock:
                    server.answered += 1
                    server.answered_bodies.append(request)

            def _body(self, request: dict, finish: str, content: str | None = None) -> bytes:
                messages = request.get("messages", [])
                if content is None:
                    if any("scores student responses" in m.get("content", "") for m in messages if m.get("role") == "system"):
                        content = server.grade(messages)
                    else:
                        wanted = re.search(r"Write exactly (\d+)", messages[-1]["content"] if messages else "")
                        n = int(wanted.group(1)) if wanted else 3
                        content = "Here are the responses:\n" + "\n".join(
                            f"{i + 1}. {t}" for i, t in enumerate(fake_responses(messages, n))
                        )
                payload = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": 0,
                    "model": request.get("model", "fake"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 40, "total_tokens": 90},
                }
                return json.dumps(payload).encode()

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                return  # clients that time out or are killed reset their connections; that is expected here

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":  # run standalone: python tests/llm_server.py [delay]
    import sys

    with FakeChatServer(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0) as srv:
        print(srv.base_url, flush=True)
        threading.Event().wait()
