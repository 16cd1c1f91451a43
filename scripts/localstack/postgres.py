"""Debian's PostgreSQL, run from the repo's own data dir on a port of its own.

The server runs as the `postgres` user when we are root (initdb and postgres refuse root).
Local socket connections are trusted, so the setup SQL needs no password; TCP needs the
password, as it does for the services.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from localstack.config import StackConfig
from localstack.layout import Layout
from localstack.procs import Spec
from localstack.report import StackError

PG_ROOT = Path("/usr/lib/postgresql")
FALLBACK_HOME = Path("/var/lib/dccf")
# A unix socket path must fit in sun_path (108 bytes with the file name .s.PGSQL.NNNNN).
SOCKET_PATH_MAX = 90


def bin_dir() -> Path:
    """The newest installed server version's binaries."""
    found = [
        path
        for path in PG_ROOT.glob("*/bin")
        if (path / "postgres").exists() and re.fullmatch(r"\d+", path.parent.name)
    ]
    if not found:
        raise StackError(
            "postgres",
            f"no PostgreSQL server under {PG_ROOT}: apt-get install -y postgresql",
        )
    return max(found, key=lambda path: int(path.parent.name))


def run_as() -> str | None:
    return "postgres" if os.geteuid() == 0 else None


@functools.cache
def home(layout: Layout) -> Path:
    """The folder of the cluster (pg/) and its socket (pg-socket/): .dccf, unless the server
    user cannot walk down to it (a clone under /root, say); then a folder of this repo's
    own under /var/lib/dccf (one per stack)."""
    user = run_as()
    if user is None:
        return layout.state
    layout.state.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(layout.state)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    if probe.returncode == 0:
        return layout.state
    return FALLBACK_HOME / hashlib.sha256(str(layout.state).encode()).hexdigest()[:12]


def data_dir(layout: Layout) -> Path:
    return home(layout) / "pg"


def socket_dir(layout: Layout) -> Path:
    path = home(layout) / "pg-socket"
    if len(str(path)) > SOCKET_PATH_MAX:
        raise StackError(
            "postgres",
            f"the repo path is too long for a Postgres socket ({path}); clone it to a shorter path",
        )
    return path


def _hand_over(path: Path, user: str | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def init(layout: Layout, config: StackConfig) -> bool:
    """Create the cluster once; True when it did."""
    data = data_dir(layout)
    if (data / "PG_VERSION").exists():
        return False
    user = run_as()
    _hand_over(data, user)
    log = layout.log("postgres")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        result = subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise StackError("postgres", "initdb failed", log)
    return True


def spec(layout: Layout, config: StackConfig) -> Spec:
    user = run_as()
    return Spec(
        name="postgres",
        argv=[
            str(bin_dir() / "postgres"),
            "-D",
            str(data_dir(layout)),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={config.pg_port}",
            "-c",
            f"unix_socket_directories={socket_dir(layout)}",
        ],
        log=layout.log("postgres"),
        pidfile=layout.pidfile("postgres"),
        user=user,
    )


def prepare(layout: Layout) -> None:
    _hand_over(socket_dir(layout), run_as())


def _psql(layout: Layout, config: StackConfig, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(bin_dir() / "psql"),
            "-h",
            str(socket_dir(layout)),
            "-p",
            str(config.pg_port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ],
        input=sql,
        capture_output=True,
        text=True,
    )


def accepts_connections(layout: Layout, config: StackConfig) -> bool:
    return _psql(layout, config, "SELECT 1;").returncode == 0


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def ensure_database(layout: Layout, config: StackConfig) -> None:
    """Create the services' role and database unless they exist; keep the password in step."""
    role, database = _ident(config.pg_user), _ident(config.pg_database)
    sql = f"""
SELECT format('CREATE ROLE %I LOGIN', {_literal(config.pg_user)})
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(config.pg_user)}) \\gexec
ALTER ROLE {role} WITH LOGIN CREATEDB PASSWORD {_literal(config.pg_password)};
SELECT format('CREATE DATABASE %I OWNER %I', {_literal(config.pg_database)},
              {_literal(config.pg_user)})
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_literal(config.pg_database)}) \\gexec
ALTER DATABASE {database} OWNER TO {role};
"""
    result = _psql(layout, config, sql)
    if result.returncode != 0:
        raise StackError("postgres", f"creating role and database failed: {result.stderr.strip()}")
