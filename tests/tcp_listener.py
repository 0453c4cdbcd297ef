"""A TCP port on 127.0.0.1 for tests that play a server: each connection accepted is handed, on a thread
of its own, to the test's handler, until the listener is closed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class Listener:
    def __init__(self, on_connection: Callable[[socket.socket], None]) -> None:
        self.connections = 0
        self._on_connection = on_connection
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.socket.accept()
            except OSError:
                return  # closed
            self.connections += 1
            threading.Thread(target=self._on_connection, args=(sock,), daemon=True).start()

    def close(self) -> None:
        self.socket.shutdown(socket.SHUT_RDWR)  # wakes accept(); the port stops listening
        self.socket.close()
