"""The FastAPI application factory (`create_app`), as Uvicorn loads it in every worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from app.console.mount import mount_console
from app.server.delivery import WebhookWorker
from app.server.desk import Desk
from app.server.problems import install_problem_handlers, problem_response
from app.server.rate_limit import RateLimit
from app.server.routes_admin import router as admin_router
from app.server.routes_conversations import router as conversations_router
from app.server.routes_support import router as support_router
from app.server.settings import ServerSettings
from app.service import SupportService
from graph.context import Context
from storage import crm_database


def _open_desk(settings: ServerSettings) -> Desk:
    context = Context()
    if settings.model:
        context.model = settings.model
    return Desk(SupportService(settings.data_dir, context))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServerSettings = app.state.settings
    app.state.desk = _open_desk(settings)
    worker = WebhookWorker(settings) if settings.run_webhook_worker else None
    task = asyncio.create_task(worker.run()) if worker else None
    try:
        yield
    finally:
        if worker and task:
            worker.stop()
            await task
        app.state.desk.close()


def _body_limit(app: FastAPI, max_bytes: int) -> None:
    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            return problem_response(
                413, f"The request body is larger than {max_bytes:,} bytes.", request
            )
        return await call_next(request)


def _health_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> Any:
        """Readiness: both databases answer a query."""
        desk: Desk = request.app.state.desk
        try:
            with crm_database.pooled_connection(desk.service.crm_path) as conn:
                conn.execute("SELECT 1 FROM customers LIMIT 1").fetchall()
            desk.service.threads()
        except Exception as exc:  # noqa: BLE001 - reported as not ready
            return problem_response(503, f"A database is not reachable: {type(exc).__name__}.")
        return {"status": "ready"}


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """Build the API; settings default to the environment (`ServerSettings.from_env`)."""
    settings = settings or ServerSettings.from_env()
    app = FastAPI(
        title="support-swarm",
        summary="Support-desk API: conversations, humans in the loop, webhooks, analytics.",
        lifespan=_lifespan,
        dependencies=[Depends(RateLimit(settings.rate_limit))],
    )
    app.state.settings = settings
    install_problem_handlers(app)
    _body_limit(app, settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["authorization", "content-type", "accept"],
        )
    _health_routes(app)
    for router in (conversations_router, support_router, admin_router):
        app.include_router(router)
    mount_console(app)
    return app
