"""`bus audit …`: the audit store, as the API offers it, for a terminal (tables) or a script
(`--json`). `bus audit index` fills the store (bus/cli/audit_index.py)."""

import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from bus.audit.access import (
    DEFAULT_LIFETIME,
    MAX_LIFETIME,
    Role,
    TokenRegistry,
    default_tokens_file,
)
from bus.audit.api.rate_limit import DEFAULT_RATE
from bus.audit.indexer_access import grant_indexer, witness_as_verifier
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
from bus.audit.statistics import statistics
from bus.audit.store import AuditStore, open_store
from bus.audit.subject_report import render_html, subject_report
from bus.audit.verify import verify_store
from bus.audit.views import decision_view, explanation
from bus.audit.witness import Witness
from bus.cli.audit_index import store_url_default
from bus.cli.audit_witness import (
    AuditTopic,
    CheckpointTopicOf,
    KeyDir,
    Offline,
    PinnedKey,
    pinned_public_key,
)
from bus.cli.params import ProfileOption
from bus.control.topology import ensure_checkpoints_topic
from bus.envelope.attributes import format_time
from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.profile import load_profile
from bus.kafka.topics import AUDIT_TOPIC, POLICY_TOPIC, checkpoints_topic
from bus.policy.loader import load_policy_set
from bus.record.audit_record import AUDIT_AUDIENCE
from bus.record.pseudonyms import load_pseudonymizer
from bus.util.logs import LogFormat, configure_logging
from bus.util.paths import PROJECT_ROOT

app = typer.Typer(
    help="The audit trail: every decision, permit or deny, tamper-evident.", no_args_is_help=True
)
token_app = typer.Typer(help="Bearer tokens for the auditor API.", no_args_is_help=True)
app.add_typer(token_app, name="token")

Store = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="sqlite:///PATH or postgresql://…  Default: $BUS_AUDIT_STORE or var/audit/audit.db.",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="One JSON document, for scripts.")]
Opt = Annotated[str | None, typer.Option()]


def _open(store: str | None) -> AuditStore:
    url = store or store_url_default()
    try:
        return open_store(url)
    except (OSError, ValueError, sqlite3.Error, psycopg.Error) as exc:
        # A path that cannot be one (NUL, too long, a folder), a URL psycopg cannot parse.
        raise ConfigError(
            f"--store {url[:120]!r}: cannot open an audit store there ({exc})"
        ) from exc


def _query(**values: Any) -> DecisionQuery:
    try:
        return DecisionQuery(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(e['loc'][-1]).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise typer.BadParameter(problems) from exc


_SUBJECT_HELP = (
    "The person's real id (pseudonymised before the store sees it); - reads it from stdin, "
    "keeping it out of the shell's history and the process list."
)


def _subject(given: str | None) -> str | None:
    if given != "-":
        return given
    return sys.stdin.readline().rstrip("\r\n")


def _print_json(document: Any) -> None:
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))


@app.command()
def query(
    consumer: Opt = None,
    producer: Opt = None,
    event_type: Opt = None,
    purpose: Opt = None,
    outcome: Annotated[
        str | None, typer.Option(help="PERMIT, DENY, QUARANTINED or SUBSCRIPTION_REFUSED.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="e.g. OUT_OF_JURISDICTION.")] = None,
    since: Annotated[str | None, typer.Option(help="RFC 3339 with a zone, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="RFC 3339 with a zone, exclusive.")] = None,
    subject: Annotated[str | None, typer.Option(help=_SUBJECT_HELP)] = None,
    event_id: Annotated[str | None, typer.Option(help="A verified or a claimed event id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next cursor of the previous page.")] = None,
    store: Store = None,
    as_json: Json = False,
) -> None:
    """Decisions, newest first, filtered like GET /decisions."""
    subject = _subject(subject)
    q = _query(
        consumer=consumer,
        producer=producer,
        event_type=event_type,
        purpose=purpose,
        outcome=outcome,
        reason=reason,
        since=since,
        until=until,
        subject=subject,
        event_id=event_id,
    )
    try:
        before = decode_cursor(cursor) if cursor else None
    except CursorError as exc:
        raise typer.BadParameter(str(exc), param_hint="--cursor") from exc
    pseudonyms = load_pseudonymizer() if subject else None
    audit_store = _open(store)
    try:
        found = audit_store.find(q.to_filter(pseudonyms, None), limit, before)
    finally:
        audit_store.close()
    next_cursor = encode_cursor(found[-1].seq) if len(found) == limit else None
    views = [decision_view(d) for d in found]
    if as_json:
        _print_json({"items": views, "next_cursor": next_cursor})
        return
    table = Table(title=f"{len(views)} decision(s), newest first", title_justify="left")
    for column in (
        "id",
        "decided at",
        "outcome",
        "reasons",
        "consumer",
        "purpose",
        "event type",
        "producer",
        "released fields",
    ):
        table.add_column(column)
    for v in views:
        table.add_row(
            str(v["id"]),
            v["decided_at"] or "",
            v["outcome"],
            ", ".join(v["reasons"]),
            v["consumer"] or "",
            v["purpose"] or "",
            v["event_type"] or "",
            v["producer"] or "",
            ", ".join(v["released_fields"]),
        )
    Console().print(table)
    if next_cursor:
        typer.echo(f"more: --cursor {next_cursor}")


@app.command()
def show(
    decision_id: Annotated[
        int, typer.Argument(min=1, max=MAX_ID, help="The decision's id (from query).")
    ],
    store: Store = None,
    as_json: Json = False,
) -> None:
    """One decision: what was decided, why, and whether re-deciding it under its recorded policy
    snapshot gives the same."""
    audit_store = _open(store)
    try:
        found = audit_store.get(decision_id)
        if found is None:
            typer.echo(f"decision {decision_id} not found", err=True)
            raise typer.Exit(1)
        view = decision_view(found)
        checked = replay(audit_store, found)
        document = {
            "decision": view,
            "explanation": explanation(found),
            "replay": checked.to_json(),
        }
    finally:
        audit_store.close()
    if as_json:
        _print_json(document)
        return
    table = Table(show_header=False, title=f"decision {decision_id}", title_justify="left")
    for key, value in view.items():
        table.add_row(key, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
    table.add_row("explanation", explanation(found))
    table.add_row("replay", f"{checked.status.value}: {checked.detail}")
    Console().print(table)


@app.command()
def stats(
    bucket: Annotated[Bucket, typer.Option(help="month, day or hour.")] = Bucket.DAY,
    consumer: Opt = None,
    producer: Opt = None,
    event_type: Opt = None,
    purpose: Opt = None,
    outcome: Opt = None,
    reason: Opt = None,
    since: Opt = None,
    until: Opt = None,
    store: Store = None,
    as_json: Json = False,
) -> None:
    """Counts by time bucket × consumer × outcome × reason."""
    q = _query(
        consumer=consumer,
        producer=producer,
        event_type=event_type,
        purpose=purpose,
        outcome=outcome,
        reason=reason,
        since=since,
        until=until,
    )
    audit_store = _open(store)
    try:
        counts = statistics(audit_store, q.to_filter(None, None), bucket)
    finally:
        audit_store.close()
    if as_json:
        _print_json({"bucket": bucket.value, "counts": [c.to_json() for c in counts]})
        return
    table = Table(title=f"decisions per {bucket.value}", title_justify="left")
    for column in (bucket.value, "consumer", "outcome", "reason"):
        table.add_column(column)
    table.add_column("count", justify="right")
    for c in counts:
        table.add_row(c.bucket, c.consumer or "—", c.outcome, c.reason or "", str(c.count))
    Console().print(table)


@app.command()
def report(
    subject: Annotated[str, typer.Option(help=_SUBJECT_HELP)],
    html: Annotated[
        Path | None, typer.Option(help="Also write the report as an HTML page.")
    ] = None,
    store: Store = None,
    as_json: Json = False,
) -> None:
    """The data-subject report: every agency that received data about the person (which fields,
    when, purpose, legal basis) and what was refused."""
    subject = _subject(subject) or ""
    _query(subject=subject)  # the same checks as a query by subject
    pseudonym = load_pseudonymizer().pseudonym(AUDIT_AUDIENCE, subject)
    audit_store = _open(store)
    try:
        result = subject_report(audit_store, pseudonym, datetime.now(UTC))
    finally:
        audit_store.close()
    if html is not None:
        try:
            html.write_text(render_html(result))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--html {str(html)[:120]!r}: cannot write the page ({exc})") from exc
        typer.echo(f"written: {html}", err=True)
    if as_json:
        _print_json(result.to_json())
        return
    table = Table(title=f"who received data about {subject}", title_justify="left")
    for column in ("when", "agency", "event type", "fields", "purpose", "legal basis / why not"):
        table.add_column(column)
    for r in result.received:
        table.add_row(
            r.received_at or "",
            r.agency or "",
            r.event_type or "",
            ", ".join(r.fields),
            r.purpose or "",
            r.legal_basis or "",
        )
    for f in result.refused:
        table.add_row(
            f.decided_at or "",
            f.agency or "everyone",
            f.event_type or "",
            "nothing",
            f.purpose or "",
            f"{f.outcome}: {', '.join(f.reasons)}",
        )
    Console().print(table)


@app.command()
def verify(
    store: Store = None,
    key_dir: KeyDir = None,
    pinned_key: PinnedKey = None,
    topic: AuditTopic = AUDIT_TOPIC,
    checkpoint_topic: CheckpointTopicOf = None,
    offline: Offline = False,
    as_json: Json = False,
    profile: ProfileOption = None,
) -> None:
    """Recompute the hash chain and check every checkpoint against the pinned audit key and the
    witness topic; exit 1 naming the first record that was modified, deleted, inserted or
    reordered, checkpoints deleted or never witnessed, positions lowered, or a key that is not
    the pinned one. Records after the newest witnessed checkpoint: see `bus audit reconcile`.
    Reads the witness as `audit-verifier` (--profile, else $BUS_PROFILE, else its default)."""
    public_key = pinned_public_key(pinned_key, key_dir, store or store_url_default())
    witness_topic = checkpoint_topic or checkpoints_topic(topic)

    def read_witness() -> Witness:
        return witness_as_verifier(witness_topic, public_key, profile)

    # The witness first: all it holds was committed to the store before the store is read.
    witness = None if offline else read_witness()
    audit_store = _open(store)

    def progress(done: int) -> None:
        if done % 100_000 == 0:
            print(f"  … {done:,} records checked", file=sys.stderr, flush=True)

    try:
        result = verify_store(
            audit_store, public_key, progress, witness, witness_again=read_witness
        )
    finally:
        audit_store.close()
    finding = result.finding
    if as_json:
        _print_json(
            {
                "intact": result.intact,
                "witnessed": result.witnessed,
                "records": result.records,
                "head_seq": result.head_seq,
                "head_hash": result.head_hash,
                "checkpoints": result.checkpoints,
                "last_checkpoint_seq": result.last_checkpoint_seq,
                "unsigned_tail": result.unsigned_tail,
                "finding": {
                    "kind": finding.kind.value,
                    "seq": finding.seq,
                    "message": finding.message,
                }
                if finding
                else None,
            }
        )
    else:
        typer.echo(
            f"{result.records} records, head {result.head_seq} ({result.head_hash[:16]}…), "
            f"{result.checkpoints} signed checkpoints, {result.unsigned_tail} record(s) after the last"
        )
        if witness is None:
            typer.echo(
                "UNWITNESSED (--offline): the newest records deleted with their "
                "checkpoints would go unnoticed"
            )
        typer.echo(f"TAMPERED: {finding.kind.value} — {finding.message}" if finding else "intact")
    if finding is not None:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8600,
    store: Store = None,
    log_format: Annotated[LogFormat, typer.Option(help="json or text.")] = LogFormat.JSON,
    metrics_port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="Serve Prometheus /metrics on 127.0.0.1:PORT (0: off)."
        ),
    ] = 9466,
    rate_limit: Annotated[
        str, typer.Option(help="Requests per token, e.g. 120/minute, 10/second, 2000/hour.")
    ] = DEFAULT_RATE,
    topic: AuditTopic = AUDIT_TOPIC,
    checkpoint_topic: CheckpointTopicOf = None,
    profile: ProfileOption = None,
    policy: Annotated[
        Path,
        typer.Option(help="The policy set whose agency names the console's citizen report uses."),
    ] = PROJECT_ROOT / "policies" / "reference",
) -> None:
    """The auditor HTTP API (OpenAPI at /docs) and the auditors' console in a browser (/console);
    bearer tokens from `bus audit token issue`. Every request is logged, in the store and as a
    log line. Reads the witness topic and the watch's alerts as `audit-verifier` (its connection
    profile: --profile, else $BUS_PROFILE, else its default)."""
    from bus.audit.api.rate_limit import RateLimit
    from bus.audit.api.server import serve as run  # FastAPI and uvicorn load only for serving

    limit = RateLimit(rate_limit)  # refused before anything starts
    names = {a.id: a.name for a in load_policy_set(policy).agencies.agencies}
    configure_logging(log_format)
    typer.echo(
        f"auditor API on http://{host}:{port} (OpenAPI: /docs, console: /console); Ctrl-C stops it",
        err=True,
    )
    run(
        store or store_url_default(),
        TokenRegistry(default_tokens_file()),
        host,
        port,
        metrics_port,
        limit,
        checkpoint_topic or checkpoints_topic(topic),
        profile,
        agency_names=names,
    )


@app.command("grant-indexer")
def grant_indexer_command(
    topic: AuditTopic = AUDIT_TOPIC,
    checkpoint_topic: CheckpointTopicOf = None,
    profile: ProfileOption = None,
) -> None:
    """As the bus's operator: let `audit-indexer` read TOPIC (and the policy topic) and write its
    witness topic, and `audit-verifier` read the witness, for an audit topic other than the bus's
    own (whose ACLs come with the installation). Creates the witness topic if it is one of the
    bus's (`bus.…`) and missing; another must exist. Idempotent."""
    witness = checkpoint_topic or checkpoints_topic(topic)
    admin = KafkaAdmin(load_profile("operator", profile))
    if witness.startswith("bus."):  # the operator's own namespace: it may create there
        ensure_checkpoints_topic(admin, witness)
    grant_indexer(admin, topic, POLICY_TOPIC, witness)
    typer.echo(
        f"granted: audit-indexer reads {topic} and {POLICY_TOPIC}, writes {witness}; "
        f"audit-verifier reads {witness}"
    )


@token_app.command("issue")
def token_issue(
    name: Annotated[str, typer.Argument(help="Who holds it, e.g. alice.")],
    role: Annotated[Role, typer.Option(help="auditor: everything; agency-dpo: one agency's.")],
    agency: Annotated[str | None, typer.Option(help="For agency-dpo: the agency.")] = None,
    lifetime_days: Annotated[
        int, typer.Option(min=1, max=MAX_LIFETIME.days, help="Days until it expires.")
    ] = DEFAULT_LIFETIME.days,
) -> None:
    """Issue a bearer token; it is shown once and kept only as a digest."""
    registry = TokenRegistry(default_tokens_file())
    token = registry.issue(name, role, agency, timedelta(days=lifetime_days))
    typer.echo(token)
    typer.echo(
        f"(shown once: store it now; only its SHA-256 is kept; expires in {lifetime_days} days)",
        err=True,
    )


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The holder's name, as in `token list`.")],
) -> None:
    """Revoke a token at once: the API refuses it from the next request on (401)."""
    TokenRegistry(default_tokens_file()).revoke(name)
    typer.echo(f"revoked: {name}")


@token_app.command("list")
def token_list() -> None:
    """Token holders, roles, and when each token was issued and expires or was revoked (never
    the tokens)."""
    now = datetime.now(UTC)
    for holder in TokenRegistry(default_tokens_file()).holders():
        principal = holder.principal
        agency = f" ({principal.agency})" if principal.agency else ""
        state = holder.refusal(now) or f"valid until {format_time(holder.expires_at)}"
        typer.echo(
            f"{principal.name}\t{principal.role.value}{agency}\t"
            f"issued {format_time(holder.issued_at)}\t{state}"
        )
