"""The repository API: FastAPI routes over the warehouse, for Airflow users who may read its DAG.

Mounted by Airflow's API server at ``/github-etl`` (see ``github_etl.plugin``). The data routes require an
Airflow login and the permission to read the harvest DAG (:mod:`github_etl.api.security`); the
OpenAPI document and the Swagger UI page describe the API, hold no data, and are public like Airflow's own
``/docs``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg2.errors import InsufficientPrivilege, QueryCanceled, UndefinedColumn, UndefinedTable

from github_etl import __version__
from github_etl.api import history, insights, queries, swagger, ui
from github_etl.api.coalesce import AsyncCoalescer
from github_etl.api.config import ApiSettings
from github_etl.api.counting import RepositoryCounter
from github_etl.api.headers import SecurityHeaders
from github_etl.api.models import (
    CountQuery,
    DetailQuery,
    ErrorMessage,
    LoadRunList,
    RepositoryCount,
    RepositoryDetail,
    RepositoryPage,
    RepositoryQuery,
    RunQuery,
    Segment,
)
from github_etl.api.page_cache import PageCache
from github_etl.api.paging import InvalidCursorError, decode_cursor, encode_cursor
from github_etl.api.pool import WarehousePool, WarehouseStalledError
from github_etl.api.security import require_dag_reader
from github_etl.errors import (
    WarehouseBusyError,
    WarehouseError,
    WarehouseNotConfiguredError,
    WarehouseRejectedError,
    WarehouseUnavailableError,
)
from github_etl.hooks.warehouse import DatabaseConnection

log = logging.getLogger(__name__)

TITLE = "GitHub repositories API"
DESCRIPTION = """Repositories harvested by Airflow DAGs, read from the PostgreSQL warehouse.

Every data endpoint requires an Airflow user whom Airflow lets read the `{dag_id}` DAG: send
`Authorization: Bearer <token>` with a token from `POST /auth/token`, or call from a browser logged in to the
Airflow UI. In Swagger UI, use **Authorize**.
"""
# Seconds a client should wait before retrying when the warehouse is down.
RETRY_AFTER_SECONDS = 5
# 401, 403 and 503 answers, documented on every data operation, with the headers a client acts on.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {
        "description": "No valid Airflow token or session.",
        "model": ErrorMessage,
        "headers": {
            "WWW-Authenticate": {
                "description": "`Bearer`: get a token from Airflow's `POST /auth/token`.",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    },
    status.HTTP_403_FORBIDDEN: {
        "description": "The Airflow user may not read the harvest DAG that the description names.",
        "model": ErrorMessage,
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "description": "The warehouse is unavailable, or has no tables before the DAG's first run.",
        "model": ErrorMessage,
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    },
}


class Warehouse:
    """What the routes share in one API server process: the connection pool and the repository count.

    :param settings: pool size and timeouts.
    """

    def __init__(self, settings: ApiSettings) -> None:
        self.pool = WarehousePool(settings)
        # count(*) reads a whole index (~0.1 s per million rows): counted once per change of the table.
        counter = RepositoryCounter(self.pool.run)
        # Concurrent requests share one check of the generation: one worker thread and one round trip per
        # wave of requests instead of one per request, each request still served by a check begun after it.
        self.count = AsyncCoalescer(lambda: self.pool.in_thread(counter))
        # The generation of github.repositories, read once per wave of requests like the count's.
        self.generation = AsyncCoalescer(lambda: self.pool.read(queries.repositories_generation))
        self.pages = PageCache(round(settings.page_cache_mb * 2**20))

    def close(self) -> None:
        self.pool.close()


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The repository API as a FastAPI app, to mount in Airflow's API server.

    :param settings: knobs; from ``GITHUB_ETL_API_*`` environment variables when omitted.
    """
    settings = settings or ApiSettings.from_env()
    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION.format(dag_id=settings.dag_id),
        version=__version__,
        # Both served by github_etl.api.swagger: the document with Airflow's token URL, Swagger UI from the
        # installation, not a CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.warehouse_lock = threading.Lock()
    app.include_router(swagger.router)
    app.include_router(ui.router)
    data_dependencies = [Depends(require_dag_reader), Depends(_each_parameter_once)]
    app.include_router(router, dependencies=data_dependencies, responses=COMMON_RESPONSES)
    app.include_router(insights.router, dependencies=data_dependencies, responses=COMMON_RESPONSES)
    app.add_exception_handler(WarehouseError, _warehouse_unavailable)
    app.add_exception_handler(UndefinedTable, insights.warehouse_without_schema)
    app.add_exception_handler(UndefinedColumn, insights.warehouse_behind_the_code)
    app.add_exception_handler(InsufficientPrivilege, insights.warehouse_withheld)
    app.add_middleware(SecurityHeaders)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # A fresh pool per server start: the warehouse connection is looked up again, nothing stale survives.
    app.state.warehouse = Warehouse(app.state.settings)
    try:
        yield
    finally:
        app.state.warehouse.close()
        app.state.warehouse = None


async def _warehouse(request: Request) -> Warehouse:
    """The process's Warehouse; created on first use when the app runs without its lifespan."""
    app = request.app
    warehouse = getattr(app.state, "warehouse", None)
    if warehouse is None:
        with app.state.warehouse_lock:
            warehouse = getattr(app.state, "warehouse", None)
            if warehouse is None:
                warehouse = app.state.warehouse = Warehouse(app.state.settings)
    return warehouse


WarehouseDep = Annotated[Warehouse, Depends(_warehouse)]

# Routes are coroutines that hand only the blocking database work to a worker thread: a plain ``def``
# route would cost FastAPI three thread hand-offs per request (dependency, route, response validation).
router = APIRouter()


@router.get(
    "/repositories/count",
    response_model=RepositoryCount,
    operation_id="count_repositories",
    summary="Count repositories",
    tags=["repositories"],
    # FastAPI documents the 422 of operations with parameters only; this one refuses any parameter.
    responses={
        status.HTTP_422_UNPROCESSABLE_CONTENT: {
            "description": "A query parameter was given: the count takes none.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
        }
    },
)
async def count_endpoint(query: Annotated[CountQuery, Query()], warehouse: WarehouseDep) -> dict[str, Any]:
    """Number of repositories in the warehouse, exact."""
    return {"count": await warehouse.count()}


@router.get(
    "/repositories",
    response_model=RepositoryPage,
    operation_id="list_repositories",
    summary="List repositories",
    tags=["repositories"],
)
async def list_endpoint(query: Annotated[RepositoryQuery, Query()], warehouse: WarehouseDep) -> Response:
    """Repositories matching every filter given, one page at a time.

    Pass `next_cursor` of a page as `cursor` (with the same filters and sort) for the next one; paging
    through a list changing meanwhile skips or repeats no row that stays put.
    """
    after = None
    if query.cursor is not None:
        try:
            after = decode_cursor(query.cursor, query.sort)
        except InvalidCursorError as exc:
            raise _invalid("cursor", query.cursor, str(exc)) from None
    filters = queries.RepositoryFilter(
        language=query.language,
        owner=query.owner,
        # GitHub stores topics in lower case.
        topic=query.topic.lower() if query.topic is not None else None,
        min_stars=query.min_stars,
        archived=query.archived,
    )
    key = (filters, query.sort, query.cursor, query.limit)
    # Seen before the page is read: the page is of this generation or a later one, never an earlier one.
    generation = await warehouse.generation() if warehouse.pages.enabled else None
    if generation is not None and (body := warehouse.pages.get(generation, key)) is not None:
        return _json_page(body)
    rows, next_position = await warehouse.pool.read(
        lambda db: queries.list_repositories(db, filters, query.sort, after, query.limit)
    )
    page = {"items": rows, "next_cursor": encode_cursor(next_position) if next_position else None}
    # Serialized here, so that the bytes can be kept. The rows hold exactly RepositoryPage's fields, typed
    # by the warehouse's columns: msgspec writes the bytes the model would write (tests hold the two
    # equal) at less than half the CPU of validating and serializing through it.
    body = _PAGE_ENCODER.encode(page)
    if generation is not None:
        warehouse.pages.put(generation, key, body)
    return _json_page(body)


_PAGE_ENCODER = msgspec.json.Encoder()


def _json_page(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


@router.get(
    "/repositories/{owner}/{name}",
    response_model=RepositoryDetail,
    operation_id="get_repository",
    summary="Get a repository with its history, by its current or a former name",
    tags=["repositories"],
    responses={
        status.HTTP_404_NOT_FOUND: {"description": "No such repository in the warehouse.", "model": ErrorMessage}
    },
)
async def detail_endpoint(
    owner: Annotated[Segment, Path(description="Owner login, case-insensitive.")],
    name: Annotated[Segment, Path(description="Repository name, case-insensitive.")],
    query: Annotated[DetailQuery, Query()],
    warehouse: WarehouseDep,
) -> dict[str, Any]:
    """A repository, its star, fork and issue counts per day, and the earlier versions of its attributes.

    A repository renamed or transferred is found by a former name too; the answer carries its current one.
    """

    def read(db: DatabaseConnection) -> dict[str, Any] | None:
        repository = queries.get_repository(db, owner, name) or history.get_renamed_repository(db, owner, name)
        if repository is None:
            return None
        return {
            **repository,
            "snapshots": queries.list_snapshots(db, repository["id"], query.history_limit),
            "history": history.list_versions(db, repository["id"]),
        }

    repository = await warehouse.pool.read(queries.in_one_snapshot(read))
    if repository is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Repository {owner}/{name} not found")
    return repository


@router.get(
    "/runs",
    response_model=LoadRunList,
    operation_id="list_load_runs",
    summary="List load runs",
    tags=["runs"],
)
async def runs_endpoint(query: Annotated[RunQuery, Query()], warehouse: WarehouseDep) -> dict[str, Any]:
    """Audit rows of the DAG runs that loaded the warehouse, newest logical date first, or the last to finish first."""
    rows = await warehouse.pool.read(
        lambda db: queries.list_load_runs(db, query.limit, query.sort, query.checks_passed, query.dag_id),
    )
    return {"items": rows}


async def _each_parameter_once(request: Request) -> None:
    """Refuses a query parameter given more than once: every parameter takes one value, and FastAPI would
    silently keep the last (``language=Python&language=Go`` would list Go only)."""
    values: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        values.setdefault(key, []).append(value)
    errors = [
        {"type": "value_error", "loc": ("query", key), "msg": "Give this parameter once", "input": given}
        for key, given in values.items()
        if len(given) > 1
    ]
    if errors:
        raise RequestValidationError(errors)


def _invalid(parameter: str, value: str, message: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own validation errors."""
    error = {"type": "value_error", "loc": ("query", parameter), "msg": message, "input": value}
    return RequestValidationError([error])


async def _warehouse_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The cause names the warehouse's host and database, or the secrets backend's entry: for the API server's
    # log, where its operators look, not for every reader of the API.
    log.warning("Answering 503 to %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": f"The warehouse is unavailable: {_public_reason(exc)}. The API server's log says why."},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _public_reason(exc: Exception) -> str:
    """What a 503 may tell any reader of the API: the kind of fault, nothing of the deployment's settings."""
    if isinstance(exc, WarehouseNotConfiguredError):
        return "the API server's connection to it is not defined or cannot be read"
    if isinstance(exc, WarehouseRejectedError):
        return "it refused the API server's login"
    if isinstance(exc, WarehouseBusyError):
        return "every connection to it stayed busy"
    if isinstance(exc, WarehouseStalledError):
        return "it stopped answering"
    if isinstance(exc.__cause__, QueryCanceled):
        return "the query ran past the statement timeout"
    if isinstance(exc, WarehouseUnavailableError):
        return "it cannot be reached, or the connection to it was lost"
    return "it could not answer"
