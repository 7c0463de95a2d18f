"""The audit key pinned outside the store: written once, never silently replaced, never beside
the private key; `bus audit verify` refuses to run without it."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.audit.audit_key import (
    PINNED_KEY_ENV,
    AuditKeyFiles,
    StoreSigned,
    default_pinned_key,
    ensure_audit_key,
    load_pinned_key,
    pin_audit_key,
)
from bus.audit.store import open_store
from bus.audit.store.audit_store import Checkpointing
from bus.cli.main import app
from bus.errors import BusError, ConfigError
from bus.keys import AgencySigningKey
from tests.support.audit_records import source_records


@pytest.fixture
def files(tmp_path: Path) -> AuditKeyFiles:
    return AuditKeyFiles.in_directory(tmp_path / "audit" / "keys")


def test_the_first_start_pins_the_key_and_later_ones_check_it(
    files: AuditKeyFiles, tmp_path: Path
) -> None:
    key = ensure_audit_key(files)
    pinned = tmp_path / "trust" / "audit.pub.pem"
    assert pin_audit_key(key, pinned, files) is True
    assert pinned.read_bytes() == key.public_pem()
    assert pin_audit_key(key, pinned, files) is False
    assert load_pinned_key(pinned, files).kid == key.kid


def test_another_key_is_refused_against_the_pin(files: AuditKeyFiles, tmp_path: Path) -> None:
    pinned = tmp_path / "trust" / "audit.pub.pem"
    pin_audit_key(ensure_audit_key(files), pinned, files)
    swapped = AgencySigningKey.generate("audit")
    with pytest.raises(ConfigError, match="does not match the public key pinned") as refused:
        pin_audit_key(swapped, pinned, files)
    assert str(pinned) in str(refused.value)
    assert load_pinned_key(pinned, files).kid != swapped.kid  # the pin was left as it was


def test_a_pin_beside_the_private_key_is_refused(files: AuditKeyFiles) -> None:
    key = ensure_audit_key(files)
    for beside in (files.public, files.private.parent / "pinned" / "audit.pub.pem"):
        with pytest.raises(ConfigError, match="must live outside the audit key's directory"):
            pin_audit_key(key, beside, files)
        with pytest.raises(ConfigError, match="must live outside"):
            load_pinned_key(beside, files)


def test_the_pin_location_is_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUS_HOME", str(tmp_path / "var"))
    monkeypatch.delenv(PINNED_KEY_ENV, raising=False)
    assert default_pinned_key() == tmp_path / "var" / "trust" / "audit.pub.pem"
    monkeypatch.setenv(PINNED_KEY_ENV, str(tmp_path / "elsewhere.pem"))
    assert default_pinned_key() == tmp_path / "elsewhere.pem"


def test_verify_refuses_to_run_without_a_pinned_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUS_HOME", str(tmp_path))
    monkeypatch.delenv(PINNED_KEY_ENV, raising=False)
    ensure_audit_key(AuditKeyFiles.default())  # a key in the store's tree is not enough
    url = f"sqlite:///{tmp_path / 'audit' / 'audit.db'}"  # the default layout: var/audit
    open_store(url).close()
    for extra in ([], ["--offline"]):
        code, out = bus("audit", "verify", "--store", url, *extra)
        assert code == 1
        assert "no audit public key is pinned" in out
    beside = AuditKeyFiles.default().public
    code, out = bus("audit", "verify", "--store", url, "--offline", "--pinned-key", str(beside))
    assert code == 1
    assert "must live outside" in out


def bus(*args: str) -> tuple[int, str]:
    """As `bus` reports them: the bus's own errors as one line (raised, or printed by the app)."""
    result = CliRunner().invoke(app, list(args))
    raised = str(result.exception) if isinstance(result.exception, BusError) else ""
    # Typer boxes and wraps a usage error to the terminal's width: read it as one line of words.
    return result.exit_code, " ".join((result.output + raised).replace("│", " ").split())


def test_verify_refuses_hostile_values_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUS_HOME", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    for topic in ("", "a\x00b", "x" * 300, "bus audit", "../etc"):
        code, out = bus("audit", "verify", "--store", url, "--checkpoint-topic", topic)
        assert code == 2, out
        assert "is not a Kafka topic name" in out
    for path in ("a\x00b", "x" * 5_000):
        code, out = bus("audit", "verify", "--store", url, "--pinned-key", path)
        assert code in (1, 2), out  # refused by the parser, or when the key is read
        assert "--pinned-key" in out
        assert "Traceback" not in out


def test_index_and_reconcile_refuse_a_topic_that_cannot_be_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUS_HOME", str(tmp_path))
    for command in ("index", "reconcile"):
        for option in ("--topic", "--checkpoint-topic"):
            for topic in ("a\x00b", "x" * 300):
                code, out = bus("audit", command, option, topic)
                assert code == 2, (command, option, out)
                assert "is not a Kafka topic name" in out


def test_a_pin_inside_the_store_folder_is_refused(files: AuditKeyFiles, tmp_path: Path) -> None:
    # files live in tmp/audit/keys; the store in tmp/audit, as var/audit/audit.db does.
    key = ensure_audit_key(files)
    url = f"sqlite:///{tmp_path / 'audit' / 'audit.db'}"
    open_store(url).close()
    inside = tmp_path / "audit" / "pin.pem"
    folder = StoreSigned(tmp_path / "audit", None)
    with pytest.raises(ConfigError, match="outside the audit store's folder"):
        pin_audit_key(key, inside, files, folder)
    assert not inside.exists()
    inside.write_bytes(key.public_pem())  # put there by hand: verify refuses it all the same
    with pytest.raises(ConfigError, match="outside the audit store's folder"):
        load_pinned_key(inside, files, tmp_path / "audit")
    code, out = bus(
        "audit",
        "verify",
        "--store",
        url,
        "--key-dir",
        str(files.private.parent),
        "--pinned-key",
        str(inside),
        "--offline",
    )
    assert code == 1
    assert "outside the audit store's folder" in out


def test_a_lost_pin_is_not_written_again_for_a_store_with_checkpoints(
    files: AuditKeyFiles, tmp_path: Path
) -> None:
    key = ensure_audit_key(files)
    url = f"sqlite:///{tmp_path / 'audit' / 'audit.db'}"
    store = open_store(url)
    store.append(source_records(10), datetime.now(UTC), Checkpointing(key, 10))
    signed = StoreSigned(tmp_path / "audit", store.newest_checkpoint_key())
    store.close()
    assert signed.key_id == key.kid
    pinned = tmp_path / "trust" / "audit.pub.pem"  # never written, or deleted
    with pytest.raises(ConfigError, match="a lost pin is not written again silently"):
        pin_audit_key(key, pinned, files, signed)
    assert not pinned.exists()
    # The indexer says so before it goes near the broker.
    code, out = bus(
        "audit",
        "index",
        "--once",
        "--store",
        url,
        "--key-dir",
        str(files.private.parent),
        "--pinned-key",
        str(pinned),
    )
    assert code == 1
    assert "bus audit index --pin" in out
    # On purpose: only the key that signed the store's checkpoints.
    other = AgencySigningKey.generate("audit")
    with pytest.raises(ConfigError, match="refusing to pin a key that did not sign them"):
        pin_audit_key(other, pinned, files, signed, pin_on_purpose=True)
    assert pin_audit_key(key, pinned, files, signed, pin_on_purpose=True) is True
    assert load_pinned_key(pinned, files).kid == key.kid
