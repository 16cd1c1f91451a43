"""Postgres connections: a small thread-safe pool over pg8000's native API.

pg8000 connections are not thread-safe and hold no server-side cursors, so each request
borrows one connection for its whole unit of work and every query is kept small (chunked
blobs are fetched one chunk per query).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from dccf.settings import Postgres

log = logging.getLogger(__name__)


# pg8000 has no type hints: its Connection is Any to mypy, which strict mode will not subclass.
class Connection(pg8000.native.Connection):  # type: ignore[misc]
    """Runs each distinct parameterised SQL text as a prepared statement, made once.

    pg8000's plain `run` re-tokenises the SQL in Python on every call (2 ms for a long
    INSERT) and spends three round trips on it; a prepared statement costs one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepared: dict[str, pg8000.native.PreparedStatement] = {}

    def run(self, sql: str, stream: Any = None, types: Any = None, **params: Any) -> Any:
        if stream is not None or types is not None or not params:
            return super().run(sql, stream=stream, types=types, **params)
        statement = self._prepared.get(sql)
        if statement is None:
            statement = self._prepared[sql] = self.prepare(sql)
        return statement.run(**params)


class DatabaseUnavailable(Exception):
    """Postgres cannot be reached; callers answer 503 or retry."""


# pg8000 also raises InterfaceError for programming errors; only these mean "connection lost".
_LOST_CONNECTION_MESSAGES = ("network error", "connection is closed", "communication error")

# SQLSTATE classes meaning "the server is going away or not accepting work yet".
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03", "08")


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OSError | EOFError):
        return True
    if isinstance(exc, InterfaceError):
        return isinstance(exc.__cause__, OSError) or str(exc) in _LOST_CONNECTION_MESSAGES
    if isinstance(exc, DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        code = str(exc.args[0].get("C", ""))
        return code.startswith(_UNAVAILABLE_SQLSTATES)
    return False


def connect(cfg: Postgres, application_name: str = "dccf") -> Connection:
    try:
        conn = Connection(
            user=cfg.user,
            password=cfg.password,
            host=cfg.host,
            port=cfg.port,
            database=cfg.database,
            application_name=application_name,
            timeout=30,
            tcp_keepalive=True,
        )
    except Exception as exc:
        if _is_unavailable(exc):
            raise DatabaseUnavailable(
                f"cannot connect to Postgres at {cfg.host}:{cfg.port}: {exc}"
            ) from exc
        raise
    # pg8000 sends a query as several small writes, each awaiting a reply; with Nagle's
    # algorithm on, about half the submissions stalled 40 ms on a delayed ACK.
    conn._usock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


class Pool:
    """At most `size` connections, handed out one per unit of work.

    A connection that failed mid-use is dropped, not returned, so the next borrower
    reconnects; this is how the services recover by themselves after a Postgres restart.
    """

    def __init__(self, cfg: Postgres, application_name: str = "dccf") -> None:
        self._cfg = cfg
        self._name = application_name
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(cfg.pool_size)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        if not self._slots.acquire(timeout=30):
            raise DatabaseUnavailable("no free Postgres connection within 30 s")
        conn: Connection | None = None
        try:
            conn = self._take_idle() or connect(self._cfg, self._name)
            yield conn
        except BaseException as exc:
            if conn is not None and (_is_unavailable(exc) or _in_transaction(conn)):
                _close_quietly(conn)
                conn = None
            if _is_unavailable(exc) and not isinstance(exc, DatabaseUnavailable):
                raise DatabaseUnavailable(f"lost the Postgres connection: {exc}") from exc
            raise
        finally:
            if conn is not None:
                self._idle.put(conn)
            self._slots.release()

    def _take_idle(self) -> Connection | None:
        """An idle connection the server has not closed, or None.

        After a Postgres restart every pooled connection is dead. The server said so to each
        (a FATAL "terminating connection" message, then EOF), so its socket is readable while
        an idle connection's should be silent. Handed out, each would fail one request.
        """
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return None
            if not _closed_by_server(conn):
                return conn
            _close_quietly(conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Borrow a connection inside BEGIN ... COMMIT; any exception rolls back."""
        with self.connection() as conn:
            conn.run("BEGIN")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.run("ROLLBACK")
                raise
            conn.run("COMMIT")

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        """One autocommitted statement."""
        with self.connection() as conn:
            rows: list[list[Any]] = conn.run(sql, **params)
            return rows

    def close(self) -> None:
        while True:
            try:
                _close_quietly(self._idle.get_nowait())
            except queue.Empty:
                return


def listen(
    cfg: Postgres,
    channel: str,
    name: str,
    stop: threading.Event,
    on_notices: Callable[[list[str]], None],
    on_listening: Callable[[], None] = lambda: None,
) -> None:
    """LISTEN on `channel` until `stop` is set, reconnecting with back-off when Postgres goes.

    `on_notices` gets each batch of payloads; `on_listening` runs after every (re)connect,
    since notices sent while nobody listened are gone.
    """
    backoff = 0.5
    while not stop.is_set():
        try:
            conn = connect(cfg, name)
        except DatabaseUnavailable as exc:
            log.warning("%s cannot connect, retrying: %s", name, exc)
            stop.wait(backoff)
            backoff = min(backoff * 2, 10)
            continue
        backoff = 0.5
        try:
            conn.run(f"LISTEN {channel}")
            on_listening()
            while not stop.is_set():
                payloads = wait_for_notifications(conn, 1.0)
                if payloads:
                    on_notices(payloads)
        except Exception as exc:  # a listener must survive anything and reconnect
            log.warning("%s lost its connection, reconnecting: %s", name, exc)
        finally:
            _close_quietly(conn)


def wait_for_notifications(conn: Connection, timeout: float) -> list[str]:
    """Up to `timeout` seconds for NOTIFY payloads on the channels `conn` LISTENs to.

    pg8000 reads notifications only while a query runs, and has no blocking wait: wait on
    its socket, then run a trivial query (~1 ms wake-ups; polling every 100 ms gave ~46 ms).
    """
    poller = select.poll()  # not select(): a busy master's descriptors pass 1024
    poller.register(conn._usock, select.POLLIN)
    poller.poll(timeout * 1000)
    conn.run("SELECT 1")
    payloads = [payload for _pid, _channel, payload in conn.notifications]
    conn.notifications.clear()
    return payloads


def _in_transaction(conn: Connection) -> bool:
    # An exception may leave a transaction open; such a connection must not be reused.
    return getattr(conn, "_transaction_status", b"I") != b"I"


def _closed_by_server(conn: Connection) -> bool:
    sock = getattr(conn, "_usock", None)  # pg8000 has no public handle on its socket
    if sock is None:
        return False
    # poll, not select: a busy master's descriptors pass select's limit of 1024.
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
    except (OSError, ValueError):  # already closed on our side
        return True
    return bool(poller.poll(0))


def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn.close()
