"""The auditors' console (`/console`): the API's answers as server-rendered pages, for auditors and
data-protection officers in a browser. No script, no CDN, no build step: HTML from the templates
in bus/audit/templates/console, charts as inline SVG.

Signing in takes the same bearer token as the API; the console keeps it server-side under a
random session id in an HttpOnly, SameSite=Strict cookie (scoped to /console), and checks it
again on every request, so an expired or revoked token ends the session at once. Every page goes
through the same role rules, rate limit and access log as the API: it calls the same functions."""

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from bus.audit.access import Principal, Role
from bus.audit.api.alert_board import AlertSource
from bus.audit.citizen_words import agency_name, erasure_sentence, local_time, reason_sentence
from bus.audit.query import Bucket, CursorError, DecisionQuery
from bus.errors import BusError

COOKIE = "govbus_console"
IDLE_S = 30 * 60  # a session unused this long is over
LIFETIME_S = 8 * 3600  # …and any session after this long
FILTERS = ("consumer", "producer", "event_type", "purpose", "outcome", "reason", "since", "until")
PAGE = 50


@dataclass(frozen=True)
class ConsoleBackend:
    """What the console calls: the API's own functions (bus/audit/api/app.py)."""

    authenticate: Callable[[Request, str | None], Principal]
    listing: Callable[[Principal, Any], dict[str, Any]]
    decision: Callable[[Principal, str], dict[str, Any]]
    stats: Callable[[Principal, Any], dict[str, Any]]
    integrity: Callable[[Principal, bool], dict[str, Any]]
    report: Callable[[Principal, str, Request], Any]
    alerts: AlertSource
    alert_decision: Callable[[Principal, str], str | None]
    clock: Callable[[], datetime]
    agency_names: Mapping[str, str] = field(default_factory=dict)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Berlin"))


class _Sessions:
    """Session id → (token, started, last used), in memory: a restart signs everyone out."""

    def __init__(self) -> None:
        self._sessions: dict[str, tuple[str, float, float]] = {}
        self._lock = threading.Lock()

    def open(self, token: str) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            over = [s for s, (_, began, used) in self._sessions.items() if _over(now, began, used)]
            for old in over:
                del self._sessions[old]
            self._sessions[sid] = (token, now, now)
        return sid

    def token(self, sid: str | None) -> str | None:
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            found = self._sessions.get(sid)
            if found is None:
                return None
            token, started, used = found
            if _over(now, started, used):
                del self._sessions[sid]
                return None
            self._sessions[sid] = (token, started, now)
            return token

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)


def _over(now: float, started: float, used: float) -> bool:
    return now - used > IDLE_S or now - started > LIFETIME_S


def _cross_site(request: Request) -> bool:
    """Whether a form was posted from another site (or another origin of this one): browsers
    send Sec-Fetch-Site and Origin with every POST. SameSite=Strict alone would not stop a
    sibling subdomain, nor a forged sign-in (which has no session yet)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:  # the browser's own word, which a page cannot set
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}"


def console_router(backend: ConsoleBackend) -> APIRouter:
    """The console's routes under /console (not part of the API's OpenAPI document)."""
    router = APIRouter(prefix="/console", include_in_schema=False)
    sessions = _Sessions()
    pages = _environment()

    def page(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        html = pages.get_template(name).render(
            caller=getattr(request.state, "principal", None), path=request.url.path, **context
        )
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    def signed_in(request: Request) -> Principal:
        token = sessions.token(request.cookies.get(COOKIE))
        if token is None:
            raise SignInNeededError("Your session has ended; sign in again.")
        try:
            return backend.authenticate(request, token)
        except HTTPException as exc:
            if exc.status_code == 429:
                raise
            sessions.close(request.cookies.get(COOKIE))
            raise SignInNeededError(f"Signed out: {exc.detail}.") from exc

    def guarded(view: Callable[[Request, Principal], Response]) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            try:
                return view(request, signed_in(request))
            except SignInNeededError as exc:
                return page("sign_in.html", request, 401, message=str(exc))
            except HTTPException as exc:
                return page("problem.html", request, exc.status_code, message=exc.detail)
            except (RequestValidationError, ValidationError, CursorError) as exc:
                return page("problem.html", request, 422, message=_problems(exc))

        return run

    @router.get("")
    def home(request: Request) -> Response:
        if sessions.token(request.cookies.get(COOKIE)) is not None:
            return RedirectResponse("/console/decisions", 303)
        return page("sign_in.html", request)

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        if _cross_site(request):
            return page("sign_in.html", request, 403, message=_CROSS_SITE)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        token = form.get("token", "").strip()
        try:
            backend.authenticate(request, token or None)
        except HTTPException as exc:
            return page(
                "sign_in.html", request, exc.status_code, message=f"Not signed in: {exc.detail}."
            )
        response = RedirectResponse("/console/decisions", 303)
        response.set_cookie(
            COOKIE,
            sessions.open(token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/console",
            max_age=LIFETIME_S,
        )
        return response

    @router.post("/sign-out")
    def sign_out(request: Request) -> Response:
        if _cross_site(request):
            return page("sign_in.html", request, 403, message=_CROSS_SITE)
        sessions.close(request.cookies.get(COOKIE))
        response = page("sign_in.html", request, message="Signed out.")
        response.delete_cookie(COOKIE, path="/console")
        return response

    def decisions(request: Request, caller: Principal) -> Response:
        chosen = {k: v for k, v in request.query_params.items() if k in FILTERS and v}
        query = DecisionQuery.model_validate(chosen)
        listing_query = _listing_query(query, request.query_params.get("cursor"))
        found = backend.listing(caller, listing_query)
        more = found["next_cursor"]
        next_url = f"/console/decisions?{urlencode({**chosen, 'cursor': more})}" if more else None
        return page(
            "decisions.html",
            request,
            items=found["items"],
            chosen=chosen,
            next_url=next_url,
            outcomes=[
                "PERMIT",
                "DENY",
                "QUARANTINED",
                "SUBSCRIPTION_REFUSED",
                "SUBSCRIPTION_REMOVED",
                "INTEREST_ADDED",
                "INTEREST_REMOVED",
            ],
        )

    def decision(request: Request, caller: Principal) -> Response:
        detail = backend.decision(caller, request.path_params["decision_id"])
        return page("decision.html", request, d=detail, view=detail["decision"])

    def stats(request: Request, caller: Principal) -> Response:
        from bus.audit.api.app import StatsQuery  # the API's own model (no import cycle at load)

        result = backend.stats(caller, StatsQuery(bucket=Bucket.DAY))
        return page("stats.html", request, chart=_chart(result["counts"]), result=result)

    def alerts(request: Request, caller: Principal) -> Response:
        view = backend.alerts.view()
        shown = [
            a for a in view.alerts if _may_see_alert(caller, a.rule, a.subject_kind, a.subject)
        ]
        links = {
            d.position: backend.alert_decision(caller, d.position)
            for a in shown
            for d in a.decisions
        }
        return page("alerts.html", request, alerts=shown, links=links, problem=view.problem)

    def integrity(request: Request, caller: Principal) -> Response:
        result = backend.integrity(caller, False)
        return page(
            "integrity.html",
            request,
            r=result,
            verified=local_time(result["verified_at"], backend.zone),
        )

    def report_form(request: Request, caller: Principal) -> Response:
        return page("report_form.html", request)

    router.add_api_route("/decisions", guarded(decisions), methods=["GET"])
    router.add_api_route("/decisions/{decision_id}", guarded(decision), methods=["GET"])
    router.add_api_route("/stats", guarded(stats), methods=["GET"])
    router.add_api_route("/alerts", guarded(alerts), methods=["GET"])
    router.add_api_route("/integrity", guarded(integrity), methods=["GET"])
    router.add_api_route("/report", guarded(report_form), methods=["GET"])

    @router.post("/report")
    async def report(request: Request) -> Response:
        if _cross_site(request):
            return page("sign_in.html", request, 403, message=_CROSS_SITE)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        subject = form.get("subject", "").strip()

        def render(req: Request, caller: Principal) -> Response:
            if not subject:
                return page("report_form.html", req, 422, message="Enter the person's identifier.")
            found = backend.report(caller, subject, req)
            return page(
                "report.html",
                req,
                report=found,
                names=backend.agency_names,
                zone=backend.zone,
                agency_name=agency_name,
                local_time=local_time,
                reason_sentence=reason_sentence,
                erasure_sentence=erasure_sentence,
            )

        return guarded(render)(request)

    return router


class SignInNeededError(BusError):
    """The caller must sign in (again); the message says why."""


_CROSS_SITE = "Refused: the form was sent from another site."
_HEADERS = {
    # No script at all, nothing from elsewhere; not framed (clickjacking); nothing cached.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    # Not no-referrer: under it a browser sends `Origin: null` with the console's own forms.
    "Referrer-Policy": "same-origin",
}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bus.audit", "templates/console"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _listing_query(query: DecisionQuery, cursor: str | None) -> Any:
    from bus.audit.api.app import ListingQuery  # the API's own model (no import cycle at load)

    return ListingQuery.model_validate(
        {
            **query.model_dump(exclude_none=True),
            "limit": PAGE,
            **({"cursor": cursor} if cursor else {}),
        }
    )


# The alerts a DPO may see, and how each names its agency. Not `probing` (live denial counts in
# minutes: the API gives a DPO denials per settled month only, small counts withheld), not
# `silent_producer` (its decisions include denials to other agencies), never one about a person.
_DPO_ALERTS = {"bulk_release": "consumer-purpose", "quarantine_burst": "producer"}


def _may_see_alert(caller: Principal, rule: str, kind: str, subject: str) -> bool:
    """Auditors see every alert; a DPO only its own agency's releases in bulk and its own
    events' quarantines (see _DPO_ALERTS)."""
    if caller.role is Role.AUDITOR:
        return True
    agency = subject.split("/", 1)[0] if kind == "consumer-purpose" else subject
    return _DPO_ALERTS.get(rule) == kind and agency == caller.scope


def _problems(exc: Exception) -> str:
    if isinstance(exc, ValidationError | RequestValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][-1:])}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


_COLOURS = {"PERMIT": "#1b6e3a", "DENY": "#a4161a", "QUARANTINED": "#7a4e00"}


def _chart(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars per day, stacked by outcome, as SVG coordinates (the template draws them)."""
    per_day: dict[str, dict[str, int]] = {}
    for c in counts:
        bucket = per_day.setdefault(c["bucket"], {})
        bucket[c["outcome"]] = bucket.get(c["outcome"], 0) + int(c["count"])
    days = dict(sorted(per_day.items())[-31:])
    top = max((sum(d.values()) for d in days.values()), default=0) or 1
    width, height, gap = 24, 200, 8
    bars = []
    for n, (day, outcomes) in enumerate(days.items()):
        y = float(height)
        for outcome, count in sorted(outcomes.items()):
            h = count / top * height
            y -= h
            bars.append(
                {
                    "x": n * (width + gap),
                    "y": y,
                    "w": width,
                    "h": h,
                    "day": day,
                    "outcome": outcome,
                    "count": count,
                    "fill": _COLOURS.get(outcome, "#3a3a8c"),
                }
            )
    return {
        "bars": bars,
        "days": list(days),
        "width": max(1, len(days)) * (width + gap),
        "height": height,
        "top": top,
        "legend": [{"outcome": o, "fill": f} for o, f in _COLOURS.items()],
    }
