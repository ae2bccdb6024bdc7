"""The FastAPI dependencies the route modules share: the app's services, and who may
call what (a Bearer API key on every route but health and the page).

Route modules import these from here, never from one another (a test enforces it).
Access control lives here and in retrieval's filters, never in a prompt.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.keys import Principal
from api.services import Services

_bearer = HTTPBearer(auto_error=False, description="An API key from `rag keys create`.")


def services_of(request: Request) -> Services:
    """The app's services (built once per app by `create_app`)."""
    return request.app.state.services  # type: ignore[no-any-return]


def principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> Principal:
    """The caller, authenticated and within its rate limit."""
    services = services_of(request)
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401,
            "unauthorized",
            "send an API key: `Authorization: Bearer <key>` (an admin creates keys with "
            "`rag keys create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    who = services.keys.authenticate(credentials.credentials)
    if who is None:
        raise ApiError(
            401,
            "unauthorized",
            "this API key is unknown or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = who
    try:
        services.rate_limiter.check(str(who.key_id))
    except ApiError:
        services.metrics.rejected.labels("rate_limit").inc()
        raise
    return who


def caller_if_any(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> Principal | None:
    """The caller when the request carries a valid key, else None: for the routes
    anyone may call that show more to a key (like the health routes, not counted
    against the rate limit)."""
    if credentials is None or not credentials.credentials:
        return None
    return services_of(request).keys.authenticate(credentials.credentials)


def admin(who: Principal = Depends(principal)) -> Principal:  # noqa: B008
    if not who.is_admin:
        raise ApiError(403, "forbidden", "this route is for admin keys only")
    return who
