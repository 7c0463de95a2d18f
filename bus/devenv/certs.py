"""The lab's TLS material: a local certificate authority and one server certificate per broker node.

Files under `<state dir>/tls/`, all 0600 (the directory 0700):

- `ca.crt`, `ca.key` — the CA (EC P-256, 5 years). Every client of the lab trusts `ca.crt`. It is
  made only when missing: a new CA would break every client's trust, so it is never replaced
  behind the operator's back (`bus kafka reset` deletes it with the rest of the state).
- `node-<id>.pem` — node `<id>`'s unencrypted PKCS#8 key followed by its certificate and the CA's
  (what Kafka reads as a PEM keystore), and `node-<id>.crt` its certificate alone. One year; made
  again when it expires within 30 days, names other hosts than the broker listens on, or was not
  signed by the current CA.
"""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bus.errors import ConfigError
from bus.kafka.settings import KafkaSettings
from bus.util.private_files import make_private_dir, write_private

CA_VALIDITY = datetime.timedelta(days=5 * 365)
NODE_VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=30)
# Clock skew between the host that signs and the one that verifies must not make a fresh
# certificate "not yet valid".
_BACKDATE = datetime.timedelta(minutes=5)

SubjectName = x509.DNSName | x509.IPAddress


@dataclass(frozen=True)
class CertificateFile:
    """A certificate on disk, what it is for, and until when it is valid."""

    path: Path
    subject: str
    not_after: datetime.datetime
    created: bool


@dataclass(frozen=True)
class NodeCertificate:
    """A node's keystore (key + chain, PEM) and its certificate."""

    node_id: int
    keystore: Path
    certificate: CertificateFile


def tls_dir(settings: KafkaSettings) -> Path:
    """Where the lab's CA and node certificates live."""
    return settings.state_dir / "tls"


def ca_cert_path(settings: KafkaSettings) -> Path:
    """The CA certificate every client of the lab trusts (a connection's `ca_file`)."""
    return tls_dir(settings) / "ca.crt"


def ca_key_path(settings: KafkaSettings) -> Path:
    """The CA's private key: it signs node certificates and nothing leaves the state directory."""
    return tls_dir(settings) / "ca.key"


def node_keystore_path(settings: KafkaSettings, node_id: int) -> Path:
    """Node `node_id`'s key and certificate chain, one PEM file (Kafka's `ssl.keystore.location`)."""
    return tls_dir(settings) / f"node-{node_id}.pem"


def node_cert_path(settings: KafkaSettings, node_id: int) -> Path:
    """Node `node_id`'s certificate alone (for inspection and expiry checks)."""
    return tls_dir(settings) / f"node-{node_id}.crt"


def node_subject_names(settings: KafkaSettings) -> list[SubjectName]:
    """The names a node's certificate must carry: every way a lab client may address it."""
    names: list[SubjectName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        host: SubjectName = x509.IPAddress(ipaddress.ip_address(settings.host))
    except ValueError:
        host = x509.DNSName(settings.host)
    if host not in names:
        names.append(host)
    return names


def ensure_ca(settings: KafkaSettings) -> CertificateFile:
    """The CA, created if (and only if) its certificate or key is missing."""
    cert_path, key_path = ca_cert_path(settings), ca_key_path(settings)
    if cert_path.exists() and key_path.exists():
        certificate = _load_certificate(cert_path)
        return _describe(cert_path, certificate, created=False)
    if cert_path.exists() != key_path.exists():
        # Half a CA: making a new one silently would orphan every client that trusts the old one.
        present = cert_path if cert_path.exists() else key_path
        raise ConfigError(
            f"{present} exists without its pair; restore it, or delete {tls_dir(settings)} to"
            " make a new CA (every client must then trust the new ca.crt)"
        )
    make_private_dir(tls_dir(settings))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "govbus lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"govbus lab CA ({settings.state_dir.name})"),
        ]
    )
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # Key first: a certificate without its key is the state refused above.
    write_private(key_path, _key_pem(key))
    write_private(cert_path, _cert_pem(certificate))
    return _describe(cert_path, certificate, created=True)


def ensure_node_certificate(
    settings: KafkaSettings, node_id: int, renew: bool = False
) -> NodeCertificate:
    """Node `node_id`'s certificate, signed by the lab CA (made first if missing); made anew when
    `renew`, when missing, expiring within 30 days, naming other hosts, or signed by another CA."""
    ensure_ca(settings)
    ca_cert = _load_certificate(ca_cert_path(settings))
    cert_path, keystore = node_cert_path(settings, node_id), node_keystore_path(settings, node_id)
    if not renew and keystore.exists() and cert_path.exists():
        current = _load_certificate(cert_path)
        if not node_needs_renewal(current, ca_cert, node_subject_names(settings)):
            return NodeCertificate(node_id, keystore, _describe(cert_path, current, created=False))
    ca_key = serialization.load_pem_private_key(ca_key_path(settings).read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{ca_key_path(settings)}: not the EC key this lab's CA uses")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "govbus lab"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"kafka-node-{node_id}"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + NODE_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Server and client: a node is the client of its peers (inter-broker, controller links).
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(node_subject_names(settings)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(keystore, _key_pem(key) + _cert_pem(certificate) + _cert_pem(ca_cert))
    write_private(cert_path, _cert_pem(certificate))
    return NodeCertificate(node_id, keystore, _describe(cert_path, certificate, created=True))


def node_needs_renewal(
    certificate: x509.Certificate,
    ca_cert: x509.Certificate,
    names: list[SubjectName],
    now: datetime.datetime | None = None,
) -> bool:
    """Whether a node certificate must be made anew: it expires within `RENEW_BEFORE`, its names
    differ from `names`, or `ca_cert` did not sign it."""
    moment = now or _now()
    if certificate.not_valid_after_utc - RENEW_BEFORE <= moment:
        return True
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    if set(sans) != set(names):
        return True
    try:
        certificate.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return True
    return False


def ensure_certificates(
    settings: KafkaSettings, node_ids: tuple[int, ...] = (1,), renew: bool = False
) -> tuple[CertificateFile, list[NodeCertificate]]:
    """The CA and each node's certificate, made or renewed as needed (see the module's rules)."""
    ca = ensure_ca(settings)
    nodes = [ensure_node_certificate(settings, node_id, renew=renew) for node_id in node_ids]
    return ca, nodes


def _describe(path: Path, certificate: x509.Certificate, created: bool) -> CertificateFile:
    return CertificateFile(
        path=path,
        subject=certificate.subject.rfc4514_string(),
        not_after=certificate.not_valid_after_utc,
        created=created,
    )


def _load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM certificate ({exc})") from None


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    # Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"): the form Kafka's PEM keystore reads without a
    # password; the file's mode is the protection, as for the admin password beside it.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
