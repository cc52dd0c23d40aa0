"""`mount_console`: add the console's pages, static files and sign-in handling to the app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from app.console.insights import router as insights_router
from app.console.pages import router as pages_router
from app.console.tryit import router as try_router
from app.console.web import PREFIX, CsrfRefused, SignInRequired, templates


def mount_console(app: FastAPI) -> None:
    """Serve the console under `/console` (pages, `/console/static`)."""
    app.include_router(pages_router)
    app.include_router(insights_router)
    app.include_router(try_router)
    static = Path(__file__).parent / "static"
    app.mount(PREFIX + "/static", StaticFiles(directory=static), name="console-static")

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
            return Response(status_code=303, headers={"Location": PREFIX + "/sign-in"})
        return HTMLResponse("Sign in again: your console sign-in has ended.", status_code=401)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return templates.TemplateResponse(
            request,
            "refused.html",
            {"member": None, "prefix": PREFIX, "flash": None, "csrf": ""},
            status_code=403,
        )
