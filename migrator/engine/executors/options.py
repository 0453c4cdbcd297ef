"""`--executor dask`'s options, and the refusals that need no cluster: which address may be used
without TLS, and which stores cannot share one snapshot across machines. Imports nothing of Dask,
so that a refused command stays as fast as any other."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from migrator.errors import UsageError

SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"


@dataclass(frozen=True)
class DaskOptions:
    """How to reach the cluster: no address means a LocalCluster of `workers` processes here."""

    scheduler: str | None = None
    insecure_scheduler: bool = False
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def tls(self) -> bool:
        return any((self.tls_ca_file, self.tls_cert, self.tls_key))


def dask_options(
    scheduler: str | None,
    *,
    insecure_scheduler: bool = False,
    tls_ca_file: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> DaskOptions:
    """The options checked: the address given, or DASK_SCHEDULER_ADDRESS; a scheduler runs any code it
    is sent, so a plain tcp:// address off this host is refused unless --insecure-scheduler says so."""
    env = os.environ if environ is None else environ
    address = scheduler or env.get(SCHEDULER_VARIABLE) or None
    options = DaskOptions(address, insecure_scheduler, tls_ca_file, tls_cert, tls_key)
    if bool(tls_cert) != bool(tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if address is not None and not options.tls and not insecure_scheduler and not _loopback_or_tls(address):
        raise UsageError(
            f"refusing the Dask scheduler {address}: a scheduler runs any code it is sent, and this address "
            "is reached without TLS off this host; use tls:// (with --tls-ca-file, --tls-cert, --tls-key or "
            "dask's config), or --insecure-scheduler on a network you trust"
        )
    return options


def _loopback_or_tls(address: str) -> bool:
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme in ("tls", "wss", "inproc"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_stores(source_backend: str, target_backend: str) -> None:
    """Workers on other machines must read the one snapshot the client holds: only PostgreSQL exports
    one; and a SQLite target is a file on this machine that has one writer."""
    if source_backend != "postgresql":
        raise UsageError(
            f"--executor dask needs a PostgreSQL source: a {source_backend} source cannot share its snapshot "
            "with workers on other machines, so they would read different data (use --executor local)"
        )
    if target_backend == "sqlite":
        raise UsageError(
            "--executor dask cannot write a SQLite target: it is a file on this machine with one writer at "
            "a time (use --executor local)"
        )
