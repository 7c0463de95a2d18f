"""The auditor API: decisions, one decision explained and replayed, statistics, the data-subject
report (JSON and HTML), integrity. Bearer tokens with roles; every access is logged."""

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bus.audit.access import Principal, TokenRegistry
from bus.audit.api.integrity_watch import IntegrityWatch
from bus.audit.api.metrics import ApiMetrics
from bus.audit.query import (
    MAX_PAGE,
    Bucket,
    CursorError,
    DecisionQuery,
    decode_cursor,
    encode_cursor,
)
from bus.audit.replay import replay
from bus.audit.statistics import statistics
from bus.audit.store import AuditStore
from bus.audit.subject_report import render_html, subject_report
from bus.audit.views import decision_view, explanation
from bus.enforcer.pipeline import AUDIT_AUDIENCE
from bus.enforcer.pseudonyms import Pseudonymizer
from bus.envelope.attributes import format_time
from bus.keys.keystore import AgencyPublicKey

log = logging.getLogger("bus.audit.api")
Clock = Callable[[], datetime]


class ListingQuery(DecisionQuery):
    limit: int = Field(100, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, description="next_cursor of the previous page")


class StatsQuery(DecisionQuery):
    bucket: Bucket = Bucket.DAY


class SubjectRequest(BaseModel):
    subject: str = Field(min_length=1, max_length=200, description="the person's real identifier")


def create_app(
    store: AuditStore,
    pseudonyms: Pseudonymizer,
    tokens: TokenRegistry,
    public_key: AgencyPublicKey,
    clock: Clock = lambda: datetime.now(UTC),
    metrics: ApiMetrics | None = None,
    integrity: IntegrityWatch | None = None,
) -> FastAPI:
    watch = integrity or IntegrityWatch(store, public_key, clock)
    app = FastAPI(
        title="govbus audit API",
        description="Who received what about whom, when, why, under which policy version.",
        version="1",
    )

    def principal(request: Request) -> Principal:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = tokens.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise HTTPException(
                401, "a valid bearer token is needed", headers={"WWW-Authenticate": "Bearer"}
            )
        request.state.principal = found
        return found

    Caller = Annotated[Principal, Depends(principal)]

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"parameter": str(e["loc"][-1]) if e["loc"] else "", "message": _message(e)}
            for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid request", "problems": problems}, status_code=422)

    @app.exception_handler(CursorError)
    async def bad_cursor(_request: Request, exc: CursorError) -> JSONResponse:
        problems = [{"parameter": "cursor", "message": str(exc)}]
        return JSONResponse({"error": "invalid request", "problems": problems}, status_code=422)

    @app.exception_handler(HTTPException)
    async def refused(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        who: Principal | None = getattr(request.state, "principal", None)
        query = _pseudonymised_query(request.url.query, pseudonyms)
        await run_in_threadpool(
            store.log_access, clock(), who.name if who else None, who.role.value if who else None,
            who.agency if who else None, request.method, request.url.path, query,
            response.status_code,
        )  # fmt: skip
        log.info(
            "api access",
            extra={"token": who.name if who else None, "method": request.method,
                   "path": request.url.path, "query": query, "status": response.status_code},
        )  # fmt: skip
        if metrics:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            role = who.role.value if who else "none"
            elapsed = time.perf_counter() - started
            metrics.answered(route, request.method, response.status_code, role, elapsed)
        return response

    @app.get("/decisions", summary="Decisions, newest first, filtered; paged by cursor")
    def decisions(caller: Caller, q: Annotated[ListingQuery, Query()]) -> dict[str, Any]:
        before = decode_cursor(q.cursor) if q.cursor else None
        found = store.find(q.to_filter(pseudonyms, caller.scope), q.limit, before)
        more = len(found) == q.limit
        return {
            "items": [decision_view(d) for d in found],
            "next_cursor": encode_cursor(found[-1].seq) if more else None,
        }

    @app.get("/decisions/{decision_id}", summary="One decision: explanation and replay check")
    def decision(caller: Caller, decision_id: int) -> dict[str, Any]:
        found = store.get(decision_id, caller.scope)
        if found is None:  # also outside the caller's scope: existence is not disclosed
            raise HTTPException(404, f"decision {decision_id} not found")
        view = decision_view(found)
        checked = replay(store, found)
        return {
            "decision": view,
            "explanation": explanation(found),
            "grant_id": view["grant_id"], "purpose": view["purpose"],
            "legal_basis": view["legal_basis"], "released_fields": view["released_fields"],
            "snapshot_hash": view["snapshot_hash"], "replay": checked.to_json(),
        }  # fmt: skip

    @app.get("/stats", summary="Counts by time bucket × consumer × outcome × reason")
    def stats(caller: Caller, q: Annotated[StatsQuery, Query()]) -> dict[str, Any]:
        counts = statistics(store, q.to_filter(pseudonyms, caller.scope), q.bucket)
        return {"bucket": q.bucket.value, "counts": [c.to_json() for c in counts]}

    def report_for(caller: Principal, body: SubjectRequest) -> Any:
        pseudonym = pseudonyms.pseudonym(AUDIT_AUDIENCE, body.subject)
        return subject_report(store, pseudonym, clock(), caller.scope)

    @app.post("/subject-report", summary="Who received data about a person, and what was refused")
    def report_json(caller: Caller, body: SubjectRequest) -> dict[str, Any]:
        result: dict[str, Any] = report_for(caller, body).to_json()
        return result

    @app.post("/subject-report.html", response_class=HTMLResponse, summary="The same, as a page")
    def report_html(caller: Caller, body: SubjectRequest) -> HTMLResponse:
        return HTMLResponse(render_html(report_for(caller, body)))

    @app.get(
        "/integrity",
        summary="The hash chain and the signed checkpoints, as last verified",
        description="A verification younger than a few minutes is served as it is (see "
        "`verified_at`); `fresh=true` verifies again now (tens of seconds at millions of records).",
    )
    def integrity_status(
        _caller: Caller, fresh: Annotated[bool, Query(description="Verify again now.")] = False
    ) -> dict[str, Any]:
        verified = watch.status(fresh)
        report, finding = verified.report, verified.report.finding
        return {
            "intact": report.intact, "records": report.records, "head_seq": report.head_seq,
            "head_hash": report.head_hash, "checkpoints": report.checkpoints,
            "last_checkpoint_seq": report.last_checkpoint_seq,
            "unsigned_tail": report.unsigned_tail,
            "finding": {"kind": finding.kind.value, "seq": finding.seq, "message": finding.message}
            if finding else None,
            "verified_at": format_time(verified.at),
        }  # fmt: skip

    return app


def _message(error: Any) -> str:
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "extra_forbidden":
        return "unknown parameter: a misspelt filter would otherwise silently match everything"
    return message


def _pseudonymised_query(query: str, pseudonyms: Pseudonymizer) -> str:
    """The query string as logged: a person's identifier never lands in the access log."""
    pairs = [
        (k, pseudonyms.pseudonym(AUDIT_AUDIENCE, v) if k == "subject" else v)
        for k, v in parse_qsl(query, keep_blank_values=True)
    ]
    return urlencode(pairs)
