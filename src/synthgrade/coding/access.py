"""Who may reach the coding page (:class:`AccessMiddleware`): the Host check, the token (bearer header or cookie),
the header every label-changing POST carries, and the security headers of every answer (see
:mod:`synthgrade.coding.app`)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from synthgrade.coding.finish import BUILD_FOLDER
from synthgrade.serve.middleware import Message, Receive, Scope, Send

COOKIE = "synthgrade_coding"
CSRF_HEADER = b"x-synthgrade"
PAGE_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
#: The build report is a self-contained page with inline style and embedded images, and no script.
REPORT_POLICY = b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


def _header(scope: Scope, name: bytes) -> bytes:
    return next((value for key, value in scope.get("headers", []) if key == name), b"")


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    start = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    headers = start + (headers or []) + SECURITY_HEADERS + [(b"content-security-policy", PAGE_POLICY)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AccessMiddleware:
    """Host check, token (bearer header or cookie), the POST header; security headers on every response."""

    def __init__(self, app: Callable, token: str | None, allowed_hosts: frozenset[str] | None) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.allowed_hosts = allowed_hosts

    def _token_ok(self, scope: Scope) -> bool:
        if self.token is None:
            return True
        scheme, _, given = _header(scope, b"authorization").partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(_header(scope, b"cookie").decode("latin-1"))
        except Exception:  # a malformed cookie header is just no cookie
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host").decode("latin-1").rsplit(":", 1)[0].strip("[]").lower()
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            await _plain(send, 421, "this server answers only to its own address")
            return
        if scope.get("path") == "/health":
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if self.token is not None and "token" in query and scope["method"] == "GET":
            # Opening the printed address: keep the token in a cookie, and take it out of the address bar.
            if not hmac.compare_digest(query.pop("token").encode(), self.token):
                await _plain(send, 401, "wrong token")
                return
            # Always a path on this server ("//host" would be read as another site).
            location = "/" + str(scope.get("path", "/")).lstrip("/") + ("?" + urlencode(query) if query else "")
            cookie = f"{COOKIE}={self.token.decode()}; HttpOnly; SameSite=Strict; Path=/".encode()
            await _plain(send, 303, "see " + location, [(b"location", location.encode()), (b"set-cookie", cookie)])
            return
        if not self._token_ok(scope):
            await _plain(
                send,
                401,
                "open the address `synthgrade code` printed (it carries ?token=...)",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        if scope["method"] not in ("GET", "HEAD") and _header(scope, CSRF_HEADER) != b"1":
            await _plain(send, 403, "requests that change labels must come from the coding page")
            return

        policy = REPORT_POLICY if str(scope.get("path", "")).startswith(f"/{BUILD_FOLDER}/") else PAGE_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS, (b"content-security-policy", policy)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
