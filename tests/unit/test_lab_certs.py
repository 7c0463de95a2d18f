"""The lab's CA and node certificates: what they certify, how long, who signed them, when they are
made anew, who may read them, and a real TLS handshake that trusts the CA and nothing else."""

import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from bus.devenv.broker_config import render_server_properties
from bus.devenv.certs import (
    RENEW_BEFORE,
    ca_cert_path,
    ca_key_path,
    ensure_ca,
    ensure_certificates,
    ensure_node_certificate,
    node_cert_path,
    node_keystore_path,
    node_needs_renewal,
    node_subject_names,
    tls_dir,
)
from bus.errors import ConfigError
from bus.kafka.settings import KafkaSettings, load_kafka_settings

DAY = datetime.timedelta(days=1)


def _settings(tmp_path: Path, **overrides: object) -> KafkaSettings:
    return load_kafka_settings(state_dir=tmp_path / "kafka", **overrides)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def test_the_ca_is_a_five_year_p256_authority_that_only_signs(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    made = ensure_ca(settings)
    ca = _cert(ca_cert_path(settings))
    assert made.created
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)  # self-signed
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    lifetime = ca.not_valid_after_utc - _now()
    assert 5 * 365 * DAY - DAY < lifetime <= 5 * 365 * DAY


def test_a_node_certificate_names_every_address_of_the_broker_for_one_year(tmp_path: Path) -> None:
    settings = _settings(tmp_path, host="::1")
    node = ensure_node_certificate(settings, 1)
    cert = _cert(node_cert_path(settings, 1))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost"}
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in extended
    cert.verify_directly_issued_by(_cert(ca_cert_path(settings)))
    lifetime = cert.not_valid_after_utc - _now()
    assert 365 * DAY - DAY < lifetime <= 365 * DAY
    assert node.certificate.not_after == cert.not_valid_after_utc


def test_a_host_name_setting_is_added_to_the_names(tmp_path: Path) -> None:
    settings = _settings(tmp_path, host="broker-1.lab.internal")
    names = node_subject_names(settings)
    assert x509.DNSName("broker-1.lab.internal") in names
    assert x509.IPAddress(ipaddress.ip_address("127.0.0.1")) in names


def test_the_keystore_holds_the_unencrypted_pkcs8_key_then_the_chain(tmp_path: Path) -> None:
    # The layout Kafka's PEM keystore (ssl.keystore.type=PEM) reads without a key password.
    settings = _settings(tmp_path)
    ensure_node_certificate(settings, 1)
    text = node_keystore_path(settings, 1).read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----")
    assert "ENCRYPTED" not in text
    assert "BEGIN EC PRIVATE KEY" not in text
    chain = x509.load_pem_x509_certificates(
        text[text.index("-----BEGIN CERTIFICATE-----") :].encode()
    )
    assert chain == [_cert(node_cert_path(settings, 1)), _cert(ca_cert_path(settings))]
    key = serialization.load_pem_private_key(text.encode(), password=None)
    assert key.public_key() == chain[0].public_key()


def test_a_client_trusting_the_ca_completes_a_handshake_and_checks_the_name(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    ensure_node_certificate(settings, 1)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(node_keystore_path(settings, 1))
    trusting = ssl.create_default_context(cafile=ca_cert_path(settings))
    assert _handshake(server, trusting, "127.0.0.1") is None
    assert _handshake(server, trusting, "localhost") is None
    # The same CA does not vouch for a name the certificate does not carry.
    assert "mismatch" in str(_handshake(server, trusting, "example.org"))
    # Another lab's CA (or only the system's) does not vouch for this node at all.
    other = _settings(tmp_path / "other")
    ensure_ca(other)
    stranger = ssl.create_default_context(cafile=ca_cert_path(other))
    assert "certificate verify failed" in str(_handshake(server, stranger, "127.0.0.1"))
    system_only = ssl.create_default_context()
    assert "certificate verify failed" in str(_handshake(server, system_only, "127.0.0.1"))


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, name: str) -> ssl.SSLError | None:
    """A TLS handshake over a socket pair; the client's error, or None if it succeeded."""
    left, right = socket.socketpair()
    with left, right:
        left.settimeout(10)
        right.settimeout(10)

        def serve() -> None:
            try:
                with server.wrap_socket(left, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client's refusal ends the server's side too

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with client.wrap_socket(right, server_hostname=name):
                return None
        except ssl.SSLError as exc:
            return exc
        finally:
            right.close()
            thread.join(10)


def test_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ensure_certificates(settings, (1, 2, 3))
    assert tls_dir(settings).stat().st_mode & 0o777 == 0o700
    files = sorted(tls_dir(settings).iterdir())
    names = {f.name for f in files}
    assert names == {"ca.crt", "ca.key"} | {
        f"node-{n}.{e}" for n in (1, 2, 3) for e in ("crt", "pem")
    }
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_each_node_has_its_own_key(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _, nodes = ensure_certificates(settings, (1, 2, 3))
    keys = {_cert(node.certificate.path).public_key().public_numbers().x for node in nodes}  # type: ignore[union-attr]
    assert len(keys) == 3
    assert [node.node_id for node in nodes] == [1, 2, 3]


def test_a_valid_certificate_is_kept_and_the_ca_never_made_twice(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ensure_certificates(settings)
    ca_before = ca_cert_path(settings).read_bytes(), ca_key_path(settings).read_bytes()
    node_before = node_keystore_path(settings, 1).read_bytes()
    ca, nodes = ensure_certificates(settings)
    assert not ca.created
    assert not nodes[0].certificate.created
    assert (ca_cert_path(settings).read_bytes(), ca_key_path(settings).read_bytes()) == ca_before
    assert node_keystore_path(settings, 1).read_bytes() == node_before
    # Renewing on request makes a new node certificate, still under the same CA.
    renewed = ensure_node_certificate(settings, 1, renew=True)
    assert renewed.certificate.created
    assert node_keystore_path(settings, 1).read_bytes() != node_before
    assert ca_cert_path(settings).read_bytes() == ca_before[0]


def test_a_node_certificate_is_renewed_within_thirty_days_of_expiry(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ensure_node_certificate(settings, 1)
    cert, ca = _cert(node_cert_path(settings, 1)), _cert(ca_cert_path(settings))
    names = node_subject_names(settings)
    end = cert.not_valid_after_utc
    assert not node_needs_renewal(cert, ca, names)
    assert not node_needs_renewal(cert, ca, names, now=end - RENEW_BEFORE - DAY)
    assert node_needs_renewal(cert, ca, names, now=end - RENEW_BEFORE + DAY)
    assert node_needs_renewal(cert, ca, names, now=end + DAY)


def test_a_node_certificate_is_renewed_when_the_host_changes(tmp_path: Path) -> None:
    ensure_node_certificate(_settings(tmp_path), 1)
    moved = _settings(tmp_path, host="10.0.0.7")
    node = ensure_node_certificate(moved, 1)
    assert node.certificate.created
    sans = _cert(node_cert_path(moved, 1)).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert ipaddress.ip_address("10.0.0.7") in sans.value.get_values_for_type(x509.IPAddress)


def test_a_node_certificate_from_another_ca_is_replaced(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ensure_node_certificate(settings, 1)
    other = _settings(tmp_path / "other")
    ensure_node_certificate(other, 1)
    # The other lab's node certificate lands here (a copied directory, a restored backup).
    node_cert_path(settings, 1).write_bytes(node_cert_path(other, 1).read_bytes())
    node_keystore_path(settings, 1).write_bytes(node_keystore_path(other, 1).read_bytes())
    ca = _cert(ca_cert_path(settings))
    assert node_needs_renewal(_cert(node_cert_path(settings, 1)), ca, node_subject_names(settings))
    assert ensure_node_certificate(settings, 1).certificate.created
    _cert(node_cert_path(settings, 1)).verify_directly_issued_by(ca)


def test_half_a_ca_is_refused_rather_than_replaced(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ensure_ca(settings)
    ca_key_path(settings).unlink()
    before = ca_cert_path(settings).read_bytes()
    with pytest.raises(ConfigError, match="without its pair"):
        ensure_node_certificate(settings, 1)
    assert ca_cert_path(settings).read_bytes() == before


def test_the_broker_config_points_at_the_node_keystore_and_the_ca(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    lines = set(render_server_properties(settings, "p" * 16).read_text().splitlines())
    assert "listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SASL_SSL" in lines
    assert "ssl.keystore.type=PEM" in lines
    assert "ssl.truststore.type=PEM" in lines
    assert f"ssl.keystore.location={node_keystore_path(settings, 1)}" in lines
    assert f"ssl.truststore.location={ca_cert_path(settings)}" in lines


def test_tls_off_is_plaintext_sasl_everywhere(tmp_path: Path) -> None:
    settings = _settings(tmp_path, tls=False)
    text = render_server_properties(settings, "p" * 16).read_text()
    assert "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT" in text
    assert "ssl.keystore" not in text
    assert settings.security_protocol == "SASL_PLAINTEXT"


def test_tls_is_on_unless_the_environment_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUS_KAFKA_TLS", raising=False)
    assert load_kafka_settings().security_protocol == "SASL_SSL"
    monkeypatch.setenv("BUS_KAFKA_TLS", "0")
    assert load_kafka_settings().security_protocol == "SASL_PLAINTEXT"
