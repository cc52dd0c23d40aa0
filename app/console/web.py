"""Shared plumbing of the console's pages: templates, the signed-in member, CSRF, flashes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.console.signin import (
    FLASH_COOKIE,
    PRESIGN_COOKIE,
    SIGNIN_COOKIE,
    SignedIn,
    csrf_matches,
    csrf_token,
    decode_flash,
    decode_signin,
    encode_flash,
    key_is_active,
)
from app.server.desk import Desk

PREFIX = "/console"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class SignInRequired(Exception):
    """A console page was asked for without a valid sign-in (answered with a redirect)."""


class CsrfRefused(Exception):
    """A console form was posted without the CSRF token of the signed-in member."""


def secret_of(request: Request) -> str:
    """The server's token secret, which also signs console cookies."""
    return str(request.app.state.settings.token_secret)


def desk_of(request: Request) -> Desk:
    """The open `Desk` of this server process."""
    desk: Desk = request.app.state.desk
    return desk


def signed_in(request: Request) -> SignedIn:
    """The member signed in by the request's cookie.

    Raises:
        SignInRequired: no cookie, a tampered or expired one, or a revoked key.
    """
    member = decode_signin(secret_of(request), request.cookies.get(SIGNIN_COOKIE))
    if member is None or not key_is_active(request.app.state.settings.data_dir, member.key_id):
        raise SignInRequired()
    return member


Member = Annotated[SignedIn, Depends(signed_in)]


def check_csrf(request: Request, member: SignedIn | None, token: str | None) -> None:
    """Refuse a POST whose CSRF token is not the one of this sign-in (or pre-sign-in).

    Raises:
        CsrfRefused: a missing or foreign token.
    """
    nonce = member.nonce if member else request.cookies.get(PRESIGN_COOKIE)
    if not csrf_matches(secret_of(request), nonce, token):
        raise CsrfRefused()


def render(
    request: Request,
    template: str,
    member: SignedIn | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render a page with the member, its CSRF token and any pending flash message."""
    secret = secret_of(request)
    flash = decode_flash(secret, request.cookies.get(FLASH_COOKIE))
    nonce = member.nonce if member else values.pop("nonce", None)
    context = {
        "member": member,
        "csrf": csrf_token(secret, nonce) if nonce else "",
        "flash": flash,
        "prefix": PREFIX,
        **values,
    }
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path=PREFIX)
    return response


def redirect(request: Request, path: str, flash: str | None = None, level: str = "ok") -> Response:
    """A 303 to `path` under the console, carrying a one-shot `flash` message if given."""
    response = RedirectResponse(PREFIX + path, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE,
            encode_flash(secret_of(request), flash, level),
            httponly=True,
            samesite="strict",
            path=PREFIX,
        )
    return response
