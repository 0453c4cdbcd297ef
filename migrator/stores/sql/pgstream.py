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
from contextlib import closing
from typing import Any

import psycopg
from psycopg import errors, pq

_ROWS_READY = 0  # get_copy_data: nothing buffered yet
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
    pgconn = connection.pgconn
    pgconn.send_query(statement.encode())  # raises psycopg's OperationalError if it cannot be sent
    first = _next_result(pgconn)
    if first is None or first.status != pq.ExecStatus.COPY_OUT:
        _raise_from(pgconn, first)
    finished = False
    try:
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
        finished = True
        _finish(pgconn)
        if buffer:
            yield bytes(buffer), rows
    finally:
        if not finished:
            _abandon(connection)


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
