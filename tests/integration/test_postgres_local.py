"""The project's own PostgreSQL: up is idempotent, the audit role logs in over TCP with its
password, and nothing else does."""

import psycopg
import pytest

from bus.devenv import postgres as local


def test_up_twice_gives_one_stable_url_that_logs_in(postgres_url: str) -> None:
    assert local.up(say=lambda _line: None) == postgres_url == local.connection_url()
    with psycopg.connect(postgres_url) as db:
        db.execute("CREATE TEMP TABLE probe (x INTEGER)")
        db.execute("INSERT INTO probe VALUES (41), (1)")
        assert db.execute("SELECT sum(x) FROM probe").fetchone() == (42,)
        assert db.execute("SELECT current_user").fetchone() == (local.ROLE,)


def test_a_wrong_password_is_refused(postgres_url: str) -> None:
    wrong = postgres_url.replace(f"{local.ROLE}:", f"{local.ROLE}:x", 1)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong)
    superuser = postgres_url.replace(f"{local.ROLE}:", "postgres:", 1)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(superuser)
