"""A TCP proxy on 127.0.0.1 that adds a fixed latency to every round trip: a LAN between two machines.

    python bench/delay_proxy.py --port 6543 --upstream-port 5432 --rtt-ms 5

Accepts connections on 127.0.0.1:PORT and relays each to 127.0.0.1:UPSTREAM-PORT. Every chunk of
bytes read from either side is written to the other side RTT/2 milliseconds after it arrived, in
the order it arrived: a request and its answer so cross the proxy RTT milliseconds later than
they would directly, while bandwidth is not limited (chunks in flight overlap, as on a real link).
bench/dask.py runs it between migrator (its client and its Dask workers) and PostgreSQL, so that
a run pays a round trip's latency per query, per chunk committed, per ledger mark, which more
workers in parallel can hide and one worker cannot.

Prints "listening on PORT" once it accepts connections; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Sequence

CHUNK = 256 * 1024  # bytes read at once; a COPY stream crosses in chunks of up to this size
# Reading pauses while this many bytes wait for their time: the proxy's memory stays bounded even
# if one side writes far faster than the other reads.
MAX_IN_FLIGHT = 64 * 1024 * 1024


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader to writer, each chunk written `delay` seconds after it was read, in order, until
    the reader's end of stream (passed on after the same delay) or an error on either side."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    room = asyncio.Semaphore(max(1, MAX_IN_FLIGHT // CHUNK))

    async def read() -> None:
        try:
            while True:
                await room.acquire()
                data = await reader.read(CHUNK)
                queue.put_nowait((time.monotonic() + delay, data))
                if not data:
                    return
        except Exception:  # a reset connection ends this direction like an end of stream
            queue.put_nowait((time.monotonic(), b""))

    reading = asyncio.create_task(read())
    try:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            room.release()
            if not data:
                return
            writer.write(data)
            await writer.drain()
    except Exception:
        return  # the other side is gone
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


async def _serve_one(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, upstream_port: int, delay: float
) -> None:
    """Relay one connection both ways. PostgreSQL's protocol has no half-closed phase (a client sends
    Terminate and closes; a server closes when it ends the session), so the first direction to end
    ends the connection: both sockets are closed, without waiting on a peer that may be gone."""
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream_port, limit=CHUNK)
    except OSError:
        client_writer.close()
        return
    directions = [
        asyncio.create_task(_relay(client_reader, server_writer, delay)),
        asyncio.create_task(_relay(server_reader, client_writer, delay)),
    ]
    try:
        await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        pass  # the proxy is stopping: the connection is cut
    finally:
        for direction in directions:
            direction.cancel()
        await asyncio.gather(*directions, return_exceptions=True)
        client_writer.close()
        server_writer.close()


async def serve(port: int, upstream_port: int, rtt_ms: float) -> None:
    delay = rtt_ms / 2000  # half the round trip each way
    server = await asyncio.start_server(
        lambda r, w: _serve_one(r, w, upstream_port, delay), "127.0.0.1", port, limit=CHUNK
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on {bound}", flush=True)
    await stop.wait()
    server.close()
    # The connections still open are cut, quietly: the benchmark stops the proxy between its runs.
    current = asyncio.current_task()
    relays = [task for task in asyncio.all_tasks() if task is not current]
    for task in relays:
        task.cancel()
    await asyncio.gather(*relays, return_exceptions=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one, printed)")
    parser.add_argument("--upstream-port", type=int, default=5432, help="the server's port on 127.0.0.1")
    parser.add_argument("--rtt-ms", type=float, required=True, help="milliseconds added to each round trip")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.upstream_port, args.rtt_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
