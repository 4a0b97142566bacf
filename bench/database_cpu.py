"""The CPU a server's PostgreSQL backends spend: the database's share of a request.

A server's own CPU (bench/alone.py) leaves out the statements it sends. Its backends are the
`postgres` processes at the other end of its TCP connections to the database's port, so their
CPU is read the same way, when PostgreSQL runs on this machine (None when it does not: no
backend is found). Backends opened during a round count from their start; one closed during a
round is left out (a pool closes idle connections only after minutes).
"""

from __future__ import annotations

import psutil


def _backend_pids(server: psutil.Process, port: int) -> set[int]:
    """Pids of the local processes holding the far end of `server`'s connections to `port`."""
    mine = {
        (c.laddr.port, c.raddr.port)
        for c in server.net_connections(kind="tcp")
        if c.raddr and c.laddr and c.raddr.port == port
    }
    return {
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.pid is not None and c.raddr and c.laddr and (c.raddr.port, c.laddr.port) in mine
    }


def backend_cpu_seconds(server: psutil.Process, port: int) -> dict[int, float]:
    """CPU seconds (user + system) so far of each backend serving `server`, by pid."""
    seconds = {}
    for pid in _backend_pids(server, port):
        try:
            seconds[pid] = sum(psutil.Process(pid).cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return seconds


def spent(before: dict[int, float], after: dict[int, float]) -> float | None:
    """CPU seconds the backends spent between two readings (None: no backend was found)."""
    if not after:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
