"""`marketgraph serve` with two workers stops at once when a worker exits while it is pinged.

uvicorn's supervisor pings each worker every half second and waits up to the health-check
timeout (60 s here) for the answer; with its own copy of the worker's pipe end left open, a
worker that exited meanwhile kept it waiting the whole minute (gateway/worker_supervisor.py).
A stopped worker holds the ping unanswered, deterministically; killing it then is the exit
that lands between a ping and its answer. The same stopped worker holds a round open while
a stop signal arrives, for the second test.
"""

from __future__ import annotations

import os
import re
import signal
import time

import httpx

from tests.support.databases import Database
from tests.support.served_process import Served, serve_database

STOPPED_WITHIN_SECONDS = 30.0
"""Far below the 60 s a pending ping waited, far above a normal stop (2-4 s here)."""


def _worker_pids(served: Served) -> list[int]:
    served.wait_until(lambda: len(_started(served)) == 2, timeout=60)
    return [int(re.findall(r"\d+", line)[0]) for line in _started(served)]


def _started(served: Served) -> list[str]:
    return [str(line.get("message")) for line in served.lines
            if "Started server process" in str(line.get("message"))]  # fmt: skip


def test_a_worker_that_exits_while_pinged_does_not_hold_up_the_stop(
    portable_db: Database,
) -> None:
    with serve_database(portable_db, WORKERS="2", ANONYMOUS_READS="true") as served:
        pids = _worker_pids(served)
        assert httpx.get(f"{served.url}/health", timeout=30).status_code == 200
        hung, other = pids
        os.kill(hung, signal.SIGSTOP)  # the supervisor's next ping to it waits for an answer
        time.sleep(2.0)  # four ping rounds: one is pending on the stopped worker by now
        os.kill(hung, signal.SIGKILL)  # it exits with the ping unanswered
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=90)
        took = time.monotonic() - started

    assert took < STOPPED_WITHIN_SECONDS, f"the supervisor took {took:.1f} s to stop"
    assert served.process.returncode == 0
    assert _gone(other)  # the worker still running was stopped too, not left behind


def test_a_stop_signalled_during_a_ping_round_starts_no_replacement_worker(
    portable_db: Database,
) -> None:
    """Ctrl-C reaches the supervisor and its workers together. The supervisor only queues the
    signal until its health round ends; a worker that exited on the same Ctrl-C meanwhile was
    taken for a crash and replaced ("Child process [..] died"), the replacement started only to
    be terminated."""
    with serve_database(portable_db, WORKERS="2", ANONYMOUS_READS="true") as served:
        hung, other = _worker_pids(served)
        os.kill(hung, signal.SIGSTOP)  # the round now waits on its ping
        time.sleep(2.0)
        os.kill(other, signal.SIGINT)  # Ctrl-C, as the terminal sends it to every process
        served.process.send_signal(signal.SIGINT)
        time.sleep(1.0)  # the supervisor has queued it, still waiting on the round
        os.kill(hung, signal.SIGKILL)  # the round ends on a worker gone
        served.process.wait(timeout=90)

    messages = [str(line.get("message")) for line in served.lines]
    assert not [m for m in messages if "died" in m]
    waited_for = {
        int(p) for m in messages for p in re.findall(r"Waiting for child process \[(\d+)\]", m)
    }
    assert waited_for <= {hung, other}, (
        f"workers started after the stop: {waited_for - {hung, other}}"
    )
    assert len(_started(served)) == 2
    assert served.process.returncode == 0


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
