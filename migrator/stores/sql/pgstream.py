"""`COPY ... TO STDOUT` read straight from libpq, in pieces of whole rows.

libpq hands COPY data over one row per call. psycopg's `Copy` iterator spends a generator round
trip and a wait on every one of those calls, about twice what the database takes to produce the
row; at a million rows that was the largest cost of the whole relay. Here the rows that libpq has
already buffered are taken in a tight loop, and only when its buffer is empty do we wait on the
socket (in `select`, which releases the GIL, so other workers run meanwhile). Errors are psycopg's
own, raised from the server's result as psycopg would; a piece left unread is cancelled and
drained as psycopg does, so the connection stays usable.
"""

from __future__ import annotations

import select
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from typing import Any

import psycopg
from psycopg import errors, pq

_ROWS_READY = 0  # get_copy_data: nothing buffered yet
_TRAILER_LENGTH = 2  # the binary format's last message: a field count of -1
BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
BINARY_HEADER = BINARY_SIGNATURE + bytes(8)  # no flags, no extension
BINARY_TRAILER = b"\xff\xff"
_WAIT_SECONDS = 1.0  # select() timeout; the loop just waits again, so a long query is fine


def copy_out_pieces(connection: psycopg.Connection[Any], statement: str, rows_per_piece: int) -> Iterator[bytes]:
    """The COPY text of `statement` (a `COPY ... TO STDOUT`), `rows_per_piece` rows at a time."""
    with closing(copy_out_counted(connection, statement, rows_per_piece)) as pieces:
        for data, _ in pieces:
            yield data


def copy_out_counted(
    connection: psycopg.Connection[Any], statement: str, rows_per_piece: int
) -> Generator[tuple[bytes, int], None, None]:
    """`copy_out_pieces`, each piece with its rows, counted as they came (one message is one row):
    counting a piece's lines again took 40% of the time of hashing it."""
    pgconn = _started(connection, statement)
    with _abandoned_unless_read(connection):
        buffer, rows = bytearray(), 0
        get = pgconn.get_copy_data
        while True:
            nbytes, data = get(1)
            if nbytes > 0:
                buffer += data
                rows += 1
                if rows == rows_per_piece:
                    yield bytes(buffer), rows
                    buffer, rows = bytearray(), 0
            elif nbytes == _ROWS_READY:
                _wait_readable(pgconn)
                pgconn.consume_input()
            else:  # -1: the data is over; -2: an error, which the final result names
                break
    _finish(pgconn)
    if buffer:
        yield bytes(buffer), rows


def copy_out_binary(
    connection: psycopg.Connection[Any], statement: str, rows_per_piece: int
) -> Generator[tuple[bytes, int, bytes], None, None]:
    """The tuples of `statement` (a `COPY ... TO STDOUT (FORMAT binary)`), `rows_per_piece` at a
    time, without the format's header and trailer: each piece with its rows and its last tuple (for
    the key to resume after: tuples have no end mark to find the last one by)."""
    pgconn = _started(connection, statement)
    with _abandoned_unless_read(connection):
        buffer, rows, last = bytearray(), 0, b""
        nbytes, data = _first_message(pgconn)
        if nbytes > 0:  # the header, then the first tuple or (no rows) the trailer
            data = data[_header_length(data) :]
            nbytes = len(data)
        get = pgconn.get_copy_data
        while True:
            if nbytes > _TRAILER_LENGTH:  # a tuple (one of no column, also 2 bytes, is never copied)
                buffer += data
                rows += 1
                last = data
                if rows == rows_per_piece:
                    yield bytes(buffer), rows, bytes(last)
                    buffer, rows = bytearray(), 0
            elif nbytes == _ROWS_READY:
                _wait_readable(pgconn)
                pgconn.consume_input()
            elif nbytes < 0:  # as copy_out_counted
                break
            nbytes, data = get(1)
    _finish(pgconn)
    if buffer:
        yield bytes(buffer), rows, bytes(last)


def _first_message(pgconn: pq.abc.PGconn) -> tuple[int, Any]:
    """The COPY's first message (its size and data), or its end (-1, -2), once it has come."""
    while True:
        nbytes, data = pgconn.get_copy_data(1)
        if nbytes != _ROWS_READY:
            return nbytes, data
        _wait_readable(pgconn)
        pgconn.consume_input()


def _header_length(message: Any) -> int:
    """The length of the binary format's header that begins `message`: its signature, flags and
    extension area (PostgreSQL writes none, but the format allows one)."""
    if bytes(message[: len(BINARY_SIGNATURE)]) != BINARY_SIGNATURE:
        raise psycopg.DataError("the binary COPY does not begin with the format's signature")
    extension = int.from_bytes(message[len(BINARY_SIGNATURE) + 4 : len(BINARY_SIGNATURE) + 8], "big")
    return len(BINARY_SIGNATURE) + 8 + extension


def _started(connection: psycopg.Connection[Any], statement: str) -> pq.abc.PGconn:
    """The connection's libpq connection, with the `COPY ... TO STDOUT` sent and its data coming."""
    pgconn = connection.pgconn
    pgconn.send_query(statement.encode())  # raises psycopg's OperationalError if it cannot be sent
    first = _next_result(pgconn)
    if first is None or first.status != pq.ExecStatus.COPY_OUT:
        _raise_from(pgconn, first)
    return pgconn


@contextmanager
def _abandoned_unless_read(connection: psycopg.Connection[Any]) -> Iterator[None]:
    """Left before the data ended (an error downstream, a piece left unread, Ctrl-C): the COPY is
    cancelled and drained (`_abandon`), so that the connection stays usable."""
    try:
        yield
    except BaseException:
        _abandon(connection)
        raise


def _wait_readable(pgconn: pq.abc.PGconn) -> None:
    while not select.select([pgconn.socket], [], [], _WAIT_SECONDS)[0]:
        continue


def _next_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    pgconn.flush()
    while pgconn.is_busy():
        _wait_readable(pgconn)
        pgconn.consume_input()
    return pgconn.get_result()


def _finish(pgconn: pq.abc.PGconn) -> None:
    """The results after the data: one COMMAND_OK, then none; anything else is the error."""
    result = _next_result(pgconn)
    failed = result if result is None or result.status != pq.ExecStatus.COMMAND_OK else None
    while _next_result(pgconn) is not None:
        continue
    if failed is not None or result is None:
        _raise_from(pgconn, failed)


def _raise_from(pgconn: pq.abc.PGconn, result: pq.abc.PGresult | None) -> None:
    if result is not None and result.status == pq.ExecStatus.FATAL_ERROR:
        while _next_result(pgconn) is not None:
            continue
        raise errors.error_from_result(result, encoding="utf-8")
    raise psycopg.OperationalError(_message(pgconn))


def _message(pgconn: pq.abc.PGconn) -> str:
    return pgconn.error_message.decode("utf-8", "replace").strip() or "the COPY failed"


def _abandon(connection: psycopg.Connection[Any]) -> None:
    """Stopped before the end (an error downstream, Ctrl-C): cancel, then read what is left."""
    pgconn = connection.pgconn
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
        return
    try:
        connection.cancel_safe()
        while True:
            nbytes, _ = pgconn.get_copy_data(1)
            if nbytes == _ROWS_READY:
                _wait_readable(pgconn)
                pgconn.consume_input()
            elif nbytes < 0:
                break
        while _next_result(pgconn) is not None:
            continue
    except (psycopg.Error, OSError):
        pass  # the connection is lost anyway; its owner finds out and discards it
