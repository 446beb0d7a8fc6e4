"""A small chat-completions server on loopback for tests: scripted faults, deterministic answers.

``FakeChatServer(script=["429", "500", "timeout", "malformed", "truncated"])`` answers the first
requests with those faults (in arrival order) and every later one normally. Normal answers are a
numbered list of responses derived from a hash of the request (or whatever ``answer(messages)``
returns), or, for grading prompts (a system message mentioning "scores"), a JSON {"rationale", "label"}
from ``grade``.

It also serves OpenAI's Batch API (``/v1/files``, ``/v1/batches``) with the real object and line
shapes. ``batch_script=["partial", "expire"]`` decides how successive batches end: ``complete``
(every line answered), ``partial`` (every third line a 500 in the error file), ``rejected`` (every
third line a 400), ``expire`` (status expired; the second half of the lines ``batch_expired``),
``fail`` (status failed with a validation error, no files). A batch stays ``in_progress`` for
``batch_polls`` status checks, and indefinitely while ``hold_batches`` is set. The chat action ``die``
stops the server (the port closes, as when its process is killed); ``port`` binds a fixed port, so a
restarted server answers at the same URL.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import default as default_policy
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
        batch_script: list[str] | None = None,
        batch_polls: int = 2,
        answer: Callable[[list[dict]], str] | None = None,
        port: int = 0,
    ) -> None:
        self.script = list(script or [])
        self.retry_after = retry_after
        self.timeout_sleep = timeout_sleep
        self.delay = delay
        self.grade = grade
        self.answer = answer
        self.requests = 0
        self.answered = 0
        self.answered_bodies: list[dict] = []
        #: The Authorization header of every chat request (None when absent): which key reached this server.
        self.authorizations: list[str | None] = []
        self.faults: list[str] = []
        self.batch_script = list(batch_script or [])
        self.batch_polls = batch_polls
        self.hold_batches = False
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_lines_answered = 0
        self._ids = itertools.count(1)
        self._stopped = False
        self._lock = threading.RLock()
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

            def _json(self, status: int, payload: dict) -> None:
                self._send(status, json.dumps(payload).encode())

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                match = re.fullmatch(r"/v1/files/([\w-]+)/content", path)
                if match and match.group(1) in server.files:
                    self.send_response(200)
                    data = server.files[match.group(1)]
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                match = re.fullmatch(r"/v1/batches/([\w-]+)", path)
                if match and match.group(1) in server.batches:
                    self._json(200, server.poll_batch(match.group(1)))
                    return
                self._json(404, {"error": {"message": f"No such object: {path}", "type": "invalid_request_error"}})

            def do_POST(self) -> None:  # noqa: N802
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                if self.path == "/v1/files":
                    form = BytesParser(policy=default_policy).parsebytes(
                        b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw
                    )
                    parts = {p.get_param("name", header="content-disposition"): p for p in form.iter_parts()}
                    data = parts["file"].get_payload(decode=True)
                    self._json(200, server.add_file(data, parts["file"].get_filename(), parts["purpose"].get_content().strip()))
                    return
                if self.path == "/v1/batches":
                    body = json.loads(raw)
                    if body.get("input_file_id") not in server.files:
                        self._json(404, {"error": {"message": "No such File object", "type": "invalid_request_error"}})
                        return
                    self._json(200, server.create_batch(body))
                    return
                request = json.loads(raw or b"{}")
                with server._lock:
                    server.authorizations.append(self.headers.get("Authorization"))
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
                if action == "die":  # the server process is gone: this connection and the port close
                    threading.Thread(target=server.stop, daemon=True).start()
                    self.close_connection = True
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
                return json.dumps(server.chat_completion(request, finish, content)).encode()

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                return  # clients that time out or are killed reset their connections; that is expected here

        self.httpd = QuietServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def chat_completion(self, request: dict, finish: str = "stop", content: str | None = None) -> dict:
        """The chat.completion object a normal call gets."""
        messages = request.get("messages", [])
        if content is None:
            if any("scores student responses" in m.get("content", "") for m in messages if m.get("role") == "system"):
                content = self.grade(messages)
            elif self.answer is not None:
                content = self.answer(messages)
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
        return payload

    # --- Batch API ---------------------------------------------------------------------------------

    def add_file(self, data: bytes, filename: str | None, purpose: str) -> dict:
        with self._lock:
            file_id = f"file-{next(self._ids):06d}"
            self.files[file_id] = data
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename or "upload.jsonl",
            "purpose": purpose,
            "status": "processed",
        }

    def create_batch(self, body: dict) -> dict:
        lines = [json.loads(line) for line in self.files[body["input_file_id"]].decode().splitlines() if line.strip()]
        with self._lock:
            batch_id = f"batch_{next(self._ids):06d}"
            mode = self.batch_script.pop(0) if self.batch_script else "complete"
            self.batches[batch_id] = {
                "object": {
                    "id": batch_id,
                    "object": "batch",
                    "endpoint": body["endpoint"],
                    "errors": None,
                    "input_file_id": body["input_file_id"],
                    "completion_window": body["completion_window"],
                    "status": "validating",
                    "output_file_id": None,
                    "error_file_id": None,
                    "created_at": int(time.time()),
                    "in_progress_at": None,
                    "expires_at": int(time.time()) + 86400,
                    "finalizing_at": None,
                    "completed_at": None,
                    "failed_at": None,
                    "expired_at": None,
                    "cancelling_at": None,
                    "cancelled_at": None,
                    "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                    "metadata": body.get("metadata"),
                },
                "lines": lines,
                "mode": mode,
                "polls": 0,
            }
            return dict(self.batches[batch_id]["object"])

    def poll_batch(self, batch_id: str) -> dict:
        with self._lock:
            state = self.batches[batch_id]
            batch = state["object"]
            if batch["status"] in {"completed", "failed", "expired", "cancelled"}:
                return dict(batch)
            state["polls"] += 1
            if batch["status"] == "validating":
                if state["mode"] == "fail":
                    message = "Model 'fake-model' is not supported in the Batch API."
                    error = {"code": "invalid_request", "message": message, "line": 1}
                    batch.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": [error]})
                    return dict(batch)
                batch.update(status="in_progress", in_progress_at=int(time.time()))
            if self.hold_batches or state["polls"] < self.batch_polls:
                return dict(batch)
            self._finish(state)
            return dict(batch)

    def _finish(self, state: dict) -> None:
        batch, lines, mode = state["object"], state["lines"], state["mode"]
        output, errors = [], []
        for index, line in enumerate(lines):
            request_id = f"req_{next(self._ids):06d}"
            record = {"id": f"batch_req_{next(self._ids):06d}", "custom_id": line["custom_id"]}
            if mode == "expire" and index >= len(lines) // 2:
                message = "This request could not be executed before the completion window expired."
                errors.append({**record, "response": None, "error": {"code": "batch_expired", "message": message}})
            elif mode in {"partial", "rejected"} and index % 3 == 1:
                status = 500 if mode == "partial" else 400
                body = {"error": {"message": ERROR_TEXT, "type": "server_error" if status == 500 else "invalid_request_error"}}
                response = {"status_code": status, "request_id": request_id, "body": body}
                errors.append({**record, "response": response, "error": None})
            else:
                body = self.chat_completion(line["body"])
                output.append({**record, "response": {"status_code": 200, "request_id": request_id, "body": body}, "error": None})
                self.batch_lines_answered += 1
        now = int(time.time())
        for lines_out, field, name in ((output, "output_file_id", "out.jsonl"), (errors, "error_file_id", "err.jsonl")):
            if lines_out:
                data = "".join(json.dumps(x) + "\n" for x in lines_out).encode()
                batch[field] = self.add_file(data, name, "batch_output")["id"]
        batch["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}
        if mode == "expire":
            batch.update(status="expired", expired_at=now)
        else:
            batch.update(status="completed", finalizing_at=now, completed_at=now)

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (as a killed server would); safe to call more than once."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.httpd.shutdown()
        self.httpd.server_close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # run standalone: python tests/helpers/llm_server.py [delay]
    import sys

    with FakeChatServer(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0) as srv:
        print(srv.base_url, flush=True)
        threading.Event().wait()
