"""A PostgreSQL server of the project's own: installed from Debian's packages if missing, its
cluster made with initdb, started with pg_ctl on 127.0.0.1 only.

The server refuses to run as root. Run as root (CI), it runs as Debian's `postgres` user, and its
data directory lives under /var/lib/govbus-postgres/ (a name per clone), because a clone under
/root or /tmp may not be reachable by that user. Otherwise it runs as the current user, in
`var/postgres/`. The superuser is reached only through the Unix socket inside the data directory
(mode 0700); over TCP every login needs a SCRAM password. The audit store connects as role
`govbus`, whose random password is kept 0600 in `var/postgres.password`. Its tools run with umask
077 (the server itself keeps its files 0600 in a 0700 directory); the area above the data
directories under /var/lib is 0711, so that `postgres` can pass through it but no one can list it.
"""

import hashlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from bus.devenv.debian_packages import PackageInstallError, apt_install
from bus.errors import BusError, PrerequisiteMissingError
from bus.util.paths import default_state_dir
from bus.util.private_files import PRIVATE_UMASK, create_private, make_private_dirs

DEFAULT_PORT = 15432
DATABASE = "govbus_audit"
ROLE = "govbus"
SYSTEM_USER = "postgres"
ROOT_DATA_AREA = Path("/var/lib/govbus-postgres")
Say = Callable[[str], None]


class PostgresError(BusError):
    """The project's PostgreSQL server could not be installed, initialised or started."""


@dataclass(frozen=True)
class LocalPostgres:
    """The project's own PostgreSQL server for the audit store (`bus postgres up`).

    `state_dir` holds its password file (and, run as a normal user, its data); `port` is the one
    it listens on at 127.0.0.1.
    """

    state_dir: Path
    port: int

    @classmethod
    def default(cls) -> "LocalPostgres":
        """The server of this checkout: its state folder, port $BUS_POSTGRES_PORT or 15432."""
        return cls(default_state_dir(), int(os.environ.get("BUS_POSTGRES_PORT", DEFAULT_PORT)))

    @property
    def as_root(self) -> bool:
        """Whether this process runs as root (the server then runs as the postgres user)."""
        return os.geteuid() == 0

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder; as root one the postgres user may own, per checkout."""
        if self.as_root:
            clone = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
            return ROOT_DATA_AREA / clone
        return self.state_dir / "postgres"

    @property
    def password_file(self) -> Path:
        """The generated password of the audit store's role, readable by the owner only."""
        return self.state_dir / "postgres.password"

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self.data_dir / "server.log"


def up(say: Say = print, server: LocalPostgres | None = None) -> str:
    """Install (if needed), initialise (once) and start the server; returns the audit store's
    connection URL. Fast when it is already running."""
    server = server or LocalPostgres.default()
    binaries = provision(say)
    if server.as_root:
        _make_root_data_area()
    if not (server.data_dir / "PG_VERSION").exists():
        _initdb(server, binaries, say)
    if not running(server, binaries):
        _start(server, binaries, say)
    _ensure_role_and_database(server)
    return connection_url(server)


def down(server: LocalPostgres | None = None) -> bool:
    """Stop the server if it runs; True if it did."""
    server = server or LocalPostgres.default()
    binaries = find_binaries()
    if binaries is None or not running(server, binaries):
        return False
    _run(server, [str(binaries / "pg_ctl"), "stop", "-D", str(server.data_dir), "-m", "fast", "-w"])
    return True


def running(server: LocalPostgres, binaries: Path) -> bool:
    """Whether the server of `server`'s data folder runs (`pg_ctl status`)."""
    if not (server.data_dir / "PG_VERSION").exists():
        return False
    status = _run(
        server, [str(binaries / "pg_ctl"), "status", "-D", str(server.data_dir)], check=False
    )
    return status.returncode == 0


def connection_url(server: LocalPostgres | None = None) -> str:
    """The audit store's URL on this server; the password is generated on first use."""
    server = server or LocalPostgres.default()
    if not server.password_file.exists():
        create_private(server.password_file, secrets.token_urlsafe(24).encode())
    password = server.password_file.read_text().strip()
    return f"postgresql://{ROLE}:{password}@127.0.0.1:{server.port}/{DATABASE}"


def find_binaries() -> Path | None:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/VERSION/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def provision(say: Say = print) -> Path:
    """The server's bin folder, installing Debian's postgresql first if root and it is missing;
    PrerequisiteMissingError if it is missing and this process may not install it."""
    binaries = find_binaries()
    if binaries is not None:
        return binaries
    if os.geteuid() != 0:
        raise PrerequisiteMissingError(
            "PostgreSQL server not found; install Debian's package: apt-get install postgresql"
        )
    try:
        apt_install(["postgresql"], say)
    except PackageInstallError as exc:
        raise PostgresError(str(exc)) from None
    binaries = find_binaries()
    if binaries is None:
        raise PostgresError("apt-get installed postgresql, but no server binary was found")
    return binaries


def _initdb(server: LocalPostgres, binaries: Path, say: Say) -> None:
    data = server.data_dir
    say(f"initialising a PostgreSQL cluster in {data}")
    make_private_dirs(data)
    data.chmod(0o700)
    if server.as_root:
        shutil.chown(data, SYSTEM_USER, SYSTEM_USER)
    _run(
        server,
        [
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ],
    )


def _make_root_data_area() -> None:
    """0711: `postgres` passes through to its data directory; no one can list the clones'."""
    ROOT_DATA_AREA.mkdir(mode=0o711, parents=True, exist_ok=True)
    ROOT_DATA_AREA.chmod(0o711)


def _start(server: LocalPostgres, binaries: Path, say: Say) -> None:
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} "
        f"-c unix_socket_directories={server.data_dir}"
    )
    started = time.monotonic()
    result = _run(
        server,
        [
            str(binaries / "pg_ctl"),
            "start",
            "-D",
            str(server.data_dir),
            "-l",
            str(server.log_file),
            "-o",
            options,
            "-w",
            "-t",
            "60",
        ],
        check=False,
    )
    if result.returncode != 0:
        raise PostgresError(
            f"PostgreSQL did not start on 127.0.0.1:{server.port} (is the port taken? set "
            f"BUS_POSTGRES_PORT):\n{result.stdout[-1000:]}{_tail(server.log_file)}"
        )
    say(f"PostgreSQL up on 127.0.0.1:{server.port} ({time.monotonic() - started:.1f} s)")


def _ensure_role_and_database(server: LocalPostgres) -> None:
    url = connection_url(server)
    password = url.split(":")[2].split("@")[0]
    # As the superuser, through the socket in the data directory (trust: only its owner and root
    # can reach that directory).
    with psycopg.connect(
        host=str(server.data_dir),
        port=server.port,
        user="postgres",
        dbname="postgres",
        autocommit=True,
    ) as db:
        exists = db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        db.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(password)
            )
        )
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            db.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(ROLE)
                )
            )


def _run(
    server: LocalPostgres, command: list[str], check: bool = True
) -> "subprocess.CompletedProcess[str]":
    if server.as_root:
        command = ["runuser", "-u", SYSTEM_USER, "--", *command]
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd="/", umask=PRIVATE_UMASK
    )
    if check and result.returncode != 0:
        raise PostgresError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
