"""Security headers on every response: the page, its static files, the API docs and
the JSON API.

The page keeps an API key in the browser, so a script injected into it could use the
key: the Content-Security-Policy lets only the server's own files run (no inline
script or style, no eval, nothing from another origin), and no other site may frame
the page (clickjacking), read its responses as another type, or learn its URLs from a
Referer. Routes may set their own value of a header; these fill in the rest.
"""

from __future__ import annotations

from typing import Any

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' data:",  # Swagger UI's icons are data: URLs in its stylesheet
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_RAW = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS to every HTTP response that lacks them (plain ASGI, so
    streaming responses pass through untouched). Responses of the 500 handler, which
    runs outside the middleware, get them from api/errors.py."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [h for h in _RAW if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
