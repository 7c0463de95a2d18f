"""The certificates clients trust and brokers present are not about to expire."""

import socket
import ssl
from datetime import UTC, datetime, timedelta

from cryptography import x509

from bus.control.doctor.finding import Finding
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection

CHECK = "certificates"
_TIMEOUT_S = 5.0


def check_certificates(
    admin: KafkaAdmin, connection: KafkaConnection, within: timedelta, now: datetime | None = None
) -> list[Finding]:
    """A finding per broker certificate, and for the CA file, that expires within `within`;
    and per broker whose certificate cannot be fetched and verified."""
    if not connection.uses_tls:
        return []  # the TLS check names the plaintext listener
    now = now or datetime.now(UTC)
    findings: list[Finding] = []
    if connection.ca_file is not None:
        ca = x509.load_pem_x509_certificate(connection.ca_file.read_bytes())
        findings += _expiring(
            f"the CA {connection.ca_file}", ca, now, within, "bus kafka certs --new-ca"
        )
    context = ssl.create_default_context(
        cafile=str(connection.ca_file) if connection.ca_file else None
    )
    for broker_id, (host, port) in sorted(admin.broker_endpoints().items()):
        try:
            with (
                socket.create_connection((host, port), timeout=_TIMEOUT_S) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as exc:
            findings.append(
                Finding(
                    CHECK,
                    f"broker {broker_id} ({host}:{port}): no verified TLS: {exc}",
                    "check its certificate",
                )
            )
            continue
        if der is not None:
            cert = x509.load_der_x509_certificate(der)
            findings += _expiring(
                f"broker {broker_id}'s certificate", cert, now, within, "bus kafka certs"
            )
    return findings


def _expiring(
    what: str, cert: x509.Certificate, now: datetime, within: timedelta, fix: str
) -> list[Finding]:
    left = cert.not_valid_after_utc - now
    if left > within:
        return []
    when = cert.not_valid_after_utc.strftime("%Y-%m-%d")
    state = "expired" if left.total_seconds() <= 0 else f"expires in {left.days} day(s)"
    return [Finding(CHECK, f"{what} {state} ({when})", f"renew it: {fix}")]
