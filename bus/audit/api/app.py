"""The auditor API: decisions, one decision explained and replayed, statistics, the data-subject
report (JSON and HTML), integrity. Bearer tokens with roles, a lifetime and a rate limit; every
access is logged. What an agency's data-protection officer may see: bus/audit/scope.py.

A person's identifier is taken in POST bodies only, never in a URL (URLs end up in browser
histories, proxy logs and referrers): a `subject` in any query string is refused.

Every request passes the login and the rate limit first, also one refused unread (a body too
large or of no declared length, a `subject` in the URL). The access log keeps a row per request
of a valid token within its rate; requests without one, and those over the rate, are counted in
the metrics only: a row for each would let anyone, token or not, fill the audit database.
"""

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from bus.audit.access import Principal, Role, TokenRefusedError, TokenRegistry
from bus.audit.api.alert_board import AlertSource, FixedAlerts
from bus.audit.api.console import ConsoleBackend, console_router
from bus.audit.api.integrity_watch import IntegrityWatch
from bus.audit.api.metrics import ApiMetrics
from bus.audit.api.rate_limit import RateLimit
from bus.audit.dpo_ids import DPO_ID_PATTERN, DpoDecisionIds
from bus.audit.query import (
    MAX_ID,
    MAX_PAGE,
    Bucket,
    CursorError,
    DecisionQuery,
    decode_cursor,
    encode_cursor,
)
from bus.audit.replay import replay
from bus.audit.scope import denied_counts, dpo_integrity, dpo_replay, dpo_view
from bus.audit.statistics import statistics
from bus.audit.store import AuditStore, DecisionFilter
from bus.audit.subject_report import render_html, subject_report
from bus.audit.views import decision_view, explanation
from bus.envelope.attributes import format_time
from bus.errors import ConfigError
from bus.keys.keystore import AgencyPublicKey
from bus.record.audit_record import AUDIT_AUDIENCE
from bus.record.pseudonyms import Pseudonymizer

log = logging.getLogger("bus.audit.api")
Clock = Callable[[], datetime]
# Query parameters whose values the access log keeps; any other value is withheld (a person's
# identifier typed into a misspelt or refused parameter must not land in the log).
_LOGGED_PARAMETERS = frozenset(
    {
        "consumer",
        "producer",
        "event_type",
        "purpose",
        "outcome",
        "reason",
        "since",
        "until",
        "event_id",
        "limit",
        "cursor",
        "bucket",
        "fresh",
    }
)
_LOGGED_VALUE_CHARS = 200
MAX_BODY_BYTES = 16 * 1024
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
_DECISION_NUMBER = re.compile(r"[0-9]{1,19}", re.ASCII)
# How uvicorn must run the app (bus audit serve). proxy_headers=False: the client address is the
# connection's own. uvicorn otherwise believes X-Forwarded-For from 127.0.0.1, where the API
# listens, so every local or tunnelled caller could name a new address per request and never
# fill the rate limit's window for requests without a valid token. Behind a reverse proxy,
# callers without a token share the proxy's window: they are slowed together, never let through.
SERVER_SETTINGS: dict[str, Any] = {"proxy_headers": False, "log_config": None, "access_log": False}


class ListingQuery(DecisionQuery):
    """GET /decisions: the query, and which page of at most `limit` decisions."""

    limit: int = Field(100, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(
        None, min_length=1, max_length=64, description="next_cursor of the previous page"
    )


class StatsQuery(DecisionQuery):
    """GET /stats: the query, and the time bucket to count by."""

    bucket: Bucket = Bucket.DAY


class SubjectRequest(BaseModel):
    """A subject report's body: the person's real identifier, pseudonymised before the store sees
    it."""

    subject: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="the person's real identifier",
    )


def create_app(
    store: AuditStore,
    pseudonyms: Pseudonymizer,
    tokens: TokenRegistry,
    public_key: AgencyPublicKey,
    clock: Clock = lambda: datetime.now(UTC),
    metrics: ApiMetrics | None = None,
    integrity: IntegrityWatch | None = None,
    rate_limit: RateLimit | None = None,
    alerts: AlertSource | None = None,
    agency_names: Mapping[str, str] | None = None,
) -> FastAPI:
    """The auditor API over `store`.

    Parameters:
        pseudonyms: the enforcer's pseudonym key, for queries by subject and the DPOs' ids.
        tokens: the bearer tokens that may call it, and what each may see.
        public_key: the audit key's public half, against which /integrity checks checkpoints.
        clock: now, for reports and the integrity watch (tests pass their own).
        metrics: request counters and timings, when served with metrics.
        integrity: the watch that verifies the store in the background (default: a new one).
        rate_limit: requests per caller and window (default: RateLimit()).
        alerts: the watch's alerts for the console (default: none, and the console says so).
        agency_names: agency id → name, for the citizens' report in the console.
    """
    watch = integrity or IntegrityWatch(store, public_key, clock)
    limit = rate_limit or RateLimit()
    dpo_ids = DpoDecisionIds(pseudonyms)
    # /docs with the Swagger UI served from the installed package, not a CDN: government networks
    # are often closed, and FastAPI's default page is blank without internet access.
    app = FastAPIOffline(
        title="govbus audit API",
        description="Who received what about whom, when, why, under which policy version.",
        version="1",
    )

    def admit(key: str) -> None:
        wait = limit.wait(key)
        if wait is not None:
            raise HTTPException(
                429,
                f"more than {limit.rate} requests; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def principal(request: Request) -> Principal:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return authenticate(request, token if scheme.lower() == "bearer" else None)

    def authenticate(request: Request, token: str | None) -> Principal:
        """The principal of `token` (None: no token), within its rate; HTTPException if not."""
        try:
            if token is None:
                raise TokenRefusedError("a valid bearer token is needed")
            found = tokens.authenticate(token.strip(), clock())
        except TokenRefusedError as exc:
            admit(f"unauthenticated:{request.client.host if request.client else ''}")
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
        except ConfigError as exc:  # the token file is broken: nobody gets in until it is fixed
            log.error("api refuses every request: %s", exc)
            raise HTTPException(
                503, "the API cannot check tokens now; its operator is told"
            ) from exc
        request.state.principal = found
        # A DPO's window is its agency's: several tokens of one agency do not multiply its rate.
        admit(f"agency:{found.scope}" if found.scope else f"token:{found.name}")
        return found

    def login_first(request: Request, refusal: JSONResponse) -> Response:
        """`refusal` if the caller passes the login and the rate limit, else why not."""
        try:
            principal(request)
        except HTTPException as exc:
            return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
        return refusal

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

    @app.exception_handler(StarletteHTTPException)  # also the router's own 404 and 405
    async def refused(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        unread = _refused_unread(request)
        if unread is not None:
            response: Response = await run_in_threadpool(login_first, request, unread)
        else:
            response = await call_next(request)
        who: Principal | None = getattr(request.state, "principal", None)
        query = _logged_query(request.url.query)
        looked_up: str | None = getattr(request.state, "subject_pseudonym", None)
        if looked_up:  # who looked up whom stays accountable, under the pseudonym
            query = urlencode([("subject_pseudonym", looked_up)]) + (f"&{query}" if query else "")
        route = getattr(request.scope.get("route") or _route_of(app, request), "path", None)
        path = _logged_path(request, route, response.status_code)
        method = request.method if request.method in _METHODS else "OTHER"
        if who is not None and response.status_code != 429:
            await run_in_threadpool(
                store.log_access,
                clock(),
                who.name,
                who.role.value,
                who.agency,
                method,
                path,
                query,
                response.status_code,
            )
            log.info(
                "api access",
                extra={
                    "token": who.name,
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": response.status_code,
                },
            )
        if metrics:
            role = who.role.value if who else "none"
            elapsed = time.perf_counter() - started
            metrics.answered(route or "unmatched", method, response.status_code, role, elapsed)
        return response

    def shown(caller: Principal, view: dict[str, Any]) -> dict[str, Any]:
        return dpo_view(view, dpo_ids.encode(caller.scope, view["id"])) if caller.scope else view

    def listing(caller: Principal, q: ListingQuery) -> dict[str, Any]:
        before = cursor_position(caller, q.cursor) if q.cursor else None
        found = store.find(q.to_filter(pseudonyms, caller.scope), q.limit, before)
        more = len(found) == q.limit
        last = found[-1].seq if found else 0
        # A DPO's cursor is its id of the last row: the store's number would count everyone's.
        cursor = dpo_ids.encode(caller.scope, last) if caller.scope else encode_cursor(last)
        return {
            "items": [shown(caller, decision_view(d)) for d in found],
            "next_cursor": cursor if more else None,
        }

    def cursor_position(caller: Principal, cursor: str) -> int:
        if caller.scope is None:
            return decode_cursor(cursor)
        position = dpo_ids.decode(caller.scope, cursor)
        if position is None:
            raise CursorError(
                "cursor is not one this API handed out; use next_cursor from the previous page"
            )
        return position

    def decision_number(caller: Principal, decision_id: str) -> int:
        """The store's number of the decision `caller` names: a DPO by its own id, an auditor
        by the number itself. Anything else is refused as no id (its text is not logged)."""
        if caller.scope is not None:
            number = dpo_ids.decode(caller.scope, decision_id)
        elif _DECISION_NUMBER.fullmatch(decision_id) and 1 <= int(decision_id) <= MAX_ID:
            number = int(decision_id)
        else:
            number = None
        if number is None:
            raise RequestValidationError(
                [
                    {
                        "loc": ("path", "decision_id"),
                        "type": "value_error",
                        "msg": "not a decision id: a number from 1 to 2^63-1 (an agency's DPO: the id "
                        "its listings give)",
                    }
                ]
            )
        return number

    @app.get("/decisions", summary="Decisions, newest first, filtered; paged by cursor")
    def decisions(caller: Caller, q: Annotated[ListingQuery, Query()]) -> dict[str, Any]:
        return listing(caller, q)

    @app.post(
        "/decisions/search",
        summary="The same, filters in a JSON body: the only way to ask by a person's identifier",
    )
    def search(caller: Caller, q: ListingQuery, request: Request) -> dict[str, Any]:
        if q.subject:
            request.state.subject_pseudonym = pseudonyms.pseudonym(AUDIT_AUDIENCE, q.subject)
        return listing(caller, q)

    @app.get("/decisions/{decision_id}", summary="One decision: explanation and replay check")
    def decision(
        caller: Caller,
        decision_id: Annotated[
            str,
            Path(
                min_length=1,
                max_length=64,
                description=f"a number; an agency's DPO: the id its listings give ({DPO_ID_PATTERN})",
            ),
        ],
    ) -> dict[str, Any]:
        return decision_detail(caller, decision_id)

    def decision_detail(caller: Principal, decision_id: str) -> dict[str, Any]:
        number = decision_number(caller, decision_id)
        found = store.get(number, where=DecisionFilter(dpo_of=caller.scope))
        if found is None:  # also outside the caller's scope: existence is not disclosed
            raise HTTPException(404, f"decision {decision_id} not found")
        view = shown(caller, decision_view(found))
        checked = replay(store, found)
        replayed = dpo_replay(checked) if caller.scope else checked.to_json()
        return {
            "decision": view,
            "explanation": explanation(found),
            "grant_id": view["grant_id"],
            "purpose": view["purpose"],
            "legal_basis": view["legal_basis"],
            "released_fields": view["released_fields"],
            "snapshot_hash": view["snapshot_hash"],
            "replay": replayed,
        }

    @app.get(
        "/stats",
        summary="Counts by time bucket × consumer × outcome × reason",
        description="An agency's data-protection officer gets the counts of what it may see, "
        "and `denied_to_agency`: denials to its agency per closed month and reason only.",
    )
    def stats(caller: Caller, q: Annotated[StatsQuery, Query()]) -> dict[str, Any]:
        return stats_result(caller, q)

    def stats_result(caller: Principal, q: StatsQuery) -> dict[str, Any]:
        counts = statistics(store, q.to_filter(pseudonyms, caller.scope), q.bucket)
        result = {"bucket": q.bucket.value, "counts": [c.to_json() for c in counts]}
        if caller.scope:
            denied = denied_counts(store, caller.scope, clock())
            result["denied_to_agency"] = [d.to_json() for d in denied]
        return result

    def report_for(caller: Principal, body: SubjectRequest, request: Request) -> Any:
        pseudonym = pseudonyms.pseudonym(AUDIT_AUDIENCE, body.subject)
        request.state.subject_pseudonym = pseudonym
        scope = caller.scope
        if scope is None:
            return subject_report(store, pseudonym, clock())
        return subject_report(
            store, pseudonym, clock(), scope, lambda seq: dpo_ids.encode(scope, seq)
        )

    @app.post("/subject-report", summary="Who received data about a person, and what was refused")
    def report_json(caller: Caller, body: SubjectRequest, request: Request) -> dict[str, Any]:
        result: dict[str, Any] = report_for(caller, body, request).to_json()
        return result

    @app.post("/subject-report.html", response_class=HTMLResponse, summary="The same, as a page")
    def report_html(caller: Caller, body: SubjectRequest, request: Request) -> HTMLResponse:
        return HTMLResponse(render_html(report_for(caller, body, request)))

    @app.get(
        "/integrity",
        summary="The hash chain and the signed checkpoints, as last verified",
        description="A verification younger than a few minutes is served as it is (see "
        "`verified_at`); `fresh=true` verifies again now (tens of seconds at millions of records).",
    )
    def integrity_status(
        caller: Caller,
        fresh: Annotated[bool, Query(description="Verify again now (auditors only).")] = False,
    ) -> dict[str, Any]:
        return integrity_result(caller, fresh)

    def integrity_result(caller: Principal, fresh: bool) -> dict[str, Any]:
        if fresh and caller.role is not Role.AUDITOR:
            # A full verification takes tens of seconds: not for every token holder to trigger.
            raise HTTPException(
                403, "fresh=true is for auditors; the latest verification is served"
            )
        verified = watch.status(fresh)
        report, finding = verified.report, verified.report.finding
        result = {
            "intact": report.intact,
            "records": report.records,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "checkpoints": report.checkpoints,
            "last_checkpoint_seq": report.last_checkpoint_seq,
            "unsigned_tail": report.unsigned_tail,
            "finding": {"kind": finding.kind.value, "seq": finding.seq, "message": finding.message}
            if finding
            else None,
            "verified_at": format_time(verified.at),
        }
        return dpo_integrity(result) if caller.scope else result

    def alert_decision(caller: Principal, position: str) -> str | None:
        """The id `caller` knows the decision by whose audit record is at `position`
        (topic:partition:offset); None if it is not stored or not `caller`'s to see."""
        topic, _, rest = position.rpartition(":")
        topic, _, partition = topic.rpartition(":")
        if not (partition.isdigit() and rest.isdigit()):
            return None
        seq = store.seq_at(topic, int(partition), int(rest), DecisionFilter(dpo_of=caller.scope))
        if seq is None:
            return None
        return dpo_ids.encode(caller.scope, seq) if caller.scope else str(seq)

    app.include_router(
        console_router(
            ConsoleBackend(
                authenticate=authenticate,
                listing=lambda caller, query: listing(caller, query),
                decision=decision_detail,
                stats=stats_result,
                integrity=integrity_result,
                report=lambda caller, subject, request: report_for(
                    caller, SubjectRequest(subject=subject), request
                ),
                alerts=alerts or FixedAlerts([], "the console was started without a broker"),
                alert_decision=alert_decision,
                clock=clock,
                agency_names=agency_names or {},
            )
        )
    )
    return app


def _message(error: Any) -> str:
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "extra_forbidden":
        return "unknown parameter: a misspelt filter would otherwise silently match everything"
    return message


def _refused_unread(request: Request) -> JSONResponse | None:
    """Every body the API takes is a few filters: a larger one is refused unread, and so is one
    of no declared length (chunked), which would otherwise be read in full to learn its size."""
    length = request.headers.get("content-length")
    if "transfer-encoding" in request.headers or (length is None and request.method == "POST"):
        return JSONResponse(
            {"error": f"a request body needs a Content-Length (at most {MAX_BODY_BYTES} bytes)"},
            status_code=411,
        )
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        return JSONResponse(
            {"error": f"a request body is at most {MAX_BODY_BYTES} bytes"}, status_code=413
        )
    if _names_a_subject(request.url.query):
        return JSONResponse(
            {
                "error": "a person's identifier is never taken in a URL; send it in the JSON "
                "body of POST /decisions/search or POST /subject-report"
            },
            status_code=400,
        )
    return None


def _route_of(app: FastAPI, request: Request) -> BaseRoute | None:
    """The route a request refused before routing would have reached."""
    return next((r for r in app.routes if r.matches(request.scope)[0] is Match.FULL), None)


def _logged_path(request: Request, route: str | None, status: int) -> str:
    """The path as logged: as asked where a route took it (the decision read), else the route's
    template. A path no route knows, or one whose parameter was refused, may be anything a caller
    typed (a person's identifier): not kept."""
    if route is None:
        return "[no such route]"
    if status < 400 or status == 404:
        # Percent-encoded as in the URL: a NUL or a lone surrogate is no text a database takes.
        return quote(request.url.path[:_LOGGED_VALUE_CHARS], safe="/", errors="backslashreplace")
    return str(route)


def _names_a_subject(query: str) -> bool:
    return any(k.strip().lower() == "subject" for k, _ in parse_qsl(query, keep_blank_values=True))


def _logged_query(query: str) -> str:
    """The query string as logged: known filters with their values (shortened); of anything
    else neither name nor value, which may be a person's identifier (`subject` is named)."""
    pairs = [
        (k, v[:_LOGGED_VALUE_CHARS])
        if k in _LOGGED_PARAMETERS
        else (k if k == "subject" else "[unknown]", "[withheld]")
        for k, v in parse_qsl(query, keep_blank_values=True)
    ]
    return urlencode(pairs)
