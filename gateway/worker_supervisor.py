"""uvicorn's supervisor of several workers, told of a worker's exit at once.

Every half second uvicorn's supervisor pings each worker through a pipe and waits up to
`timeout_worker_healthcheck` for the answer (60 s here: gateway/cli.py says why). It keeps its
own copy of the worker's end of that pipe open, so when a worker exits between a ping and its
answer no end of file comes, and the supervisor waits out the whole timeout. Ctrl-C in a
terminal, or systemd stopping the service, signals the workers together with the supervisor:
`marketgraph serve` with two workers then sometimes took a minute to stop (seen in the suite's
deployment test). uvicorn 0.54 has no fix released (its rework of worker control,
Kludex/uvicorn#3082, is open). Here the supervisor's copy is closed once the worker has its own,
so a worker's exit ends the wait.

The supervisor's signal handler only queues a signal; it is acted on between health rounds.
Ctrl-C reaches the workers too, so a worker that stopped on it while a round was under way
was taken for a crash, logged as "died" and replaced, the replacement started only to be
terminated. Here a queued stop signal counts as the supervisor stopping already.
"""

from __future__ import annotations

import signal
import threading
from socket import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

STOP_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name)
)


class StopRequested(threading.Event):
    """Set by the supervisor, or a stop signal is waiting in its queue: what it checks
    before replacing a worker that is gone."""

    def __init__(self, signal_queue: list[int]) -> None:
        super().__init__()
        self._queue = signal_queue

    def is_set(self) -> bool:
        return super().is_set() or not STOP_SIGNALS.isdisjoint(self._queue)


class WorkerSupervisor(Multiprocess):
    """uvicorn's `Multiprocess`, with each health round starting from a closed copy of every
    worker's end of its pipe (workers are started by then; closing again does nothing), and
    no worker replaced once a stop signal is queued."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket]) -> None:
        super().__init__(config, sockets)
        self.should_exit = StopRequested(self.signal_queue)

    def keep_subprocess_alive(self) -> None:
        for process in self.processes:
            process.child_conn.close()
        super().keep_subprocess_alive()


def run_workers(config: uvicorn.Config) -> None:
    """Serve `config` (the app as an import string, `workers` > 1) as `uvicorn.run` does."""
    WorkerSupervisor(config, sockets=[config.bind_socket()]).run()
