"""Alerts: rules over a known window, deduplication and rate limit, email to a real SMTP
server (aiosmtpd on 127.0.0.1, started by the test)."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Iterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.observability import stats
from gateway.observability.alert_email import EmailAlerts
from gateway.observability.alert_rules import P95_SAMPLE, Rules, Watched, check, checking
from gateway.observability.alerts import AlertCenter, log_alert
from gateway.observability.metrics import Metrics
from gateway.observability.upstream_calls import UpstreamCalls
from gateway.observability.window import RequestWindow
from tests.support.ports import free_port
from tests.support.time import FakeTime


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def mailer(port: int) -> EmailAlerts:
    return EmailAlerts("127.0.0.1", port, "marketgraph@test", ["ops@example.com"])


async def wait_for(inbox: Inbox, count: int) -> None:
    for _ in range(200):  # aiosmtpd hands messages over in its own thread
        if len(inbox.messages) >= count:
            return
        await asyncio.sleep(0.01)


async def test_an_alert_is_mailed_once_within_the_dedupe_window(
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    time = FakeTime()
    center = AlertCenter([log_alert, mailer(port)], dedupe_seconds=600, clock=time.clock)
    assert await center.fire("breaker_open", "critical", "Polygon circuit open", "open!")
    time.advance(599)
    assert not await center.fire("breaker_open", "critical", "Polygon circuit open", "open!")
    await wait_for(inbox, 1)
    (message,) = inbox.messages
    assert message["Subject"] == "[marketgraph critical] Polygon circuit open"
    assert message["To"] == "ops@example.com"
    assert "type: breaker_open" in message.get_payload()
    time.advance(2)  # the window has passed: the same alert may fire again
    assert await center.fire("breaker_open", "critical", "Polygon circuit open", "still open")
    await wait_for(inbox, 2)
    assert len(inbox.messages) == 2
    assert [a["message"] for a in center.history()] == ["still open", "open!"]


async def test_alerts_are_rate_limited_per_hour() -> None:
    time, fired = FakeTime(), []

    async def record(alert: object) -> None:
        fired.append(alert)

    center = AlertCenter([record], max_per_hour=2, clock=time.clock)
    assert [await center.fire(kind, "warning", kind, kind) for kind in "abc"] == [
        True, True, False,
    ]  # fmt: skip
    time.advance(3600)
    assert await center.fire("c", "warning", "c", "c")
    assert (len(fired), center.suppressed) == (3, 1)


async def test_a_failing_mail_server_does_not_stop_the_alert() -> None:
    port = free_port()  # a port nobody listens on
    center = AlertCenter([mailer(port)])
    assert await center.fire("database_unreachable", "critical", "Database unreachable", "down")
    assert center.history(1)[0]["type"] == "database_unreachable"


def watched(window: RequestWindow, upstream: UpstreamCalls, db_ok: bool, breaker: str) -> Watched:
    async def database_ok() -> bool:
        return db_ok

    return Watched(window, upstream, database_ok, lambda: breaker)


async def test_rules_fire_for_each_threshold_crossed() -> None:
    time = FakeTime(1_800_000_000)
    window, upstream = RequestWindow(clock=time.clock), UpstreamCalls(Metrics(), clock=time.clock)
    for i in range(40):  # 40 requests, 10 % failing, every fourth slow
        window.record("GET /x", 503 if i % 10 == 0 else 200, 3000 if i % 4 == 0 else 5, None,
                      i % 10 == 0)  # fmt: skip
    for _ in range(5):
        upstream("http_5xx", 0.1)
    center = AlertCenter()
    rules = Rules(stats.Thresholds(error_rate_pct=5, p95_ms=2000), upstream_failures=5)
    await check(rules, watched(window, upstream, db_ok=False, breaker="open"), center)
    assert sorted(a["type"] for a in center.history()) == [
        "breaker_open", "database_unreachable", "error_rate", "latency_p95", "upstream_failures",
    ]  # fmt: skip
    quiet = AlertCenter()
    time.advance(600)  # all of that is older than the 5 minutes the rules look at
    await check(rules, watched(window, upstream, db_ok=True, breaker="closed"), quiet)
    assert quiet.history() == []


def p95_alerted(count: int) -> tuple[float, list[float]]:
    """The p95 the check alerts on over `count` recent requests of 0..count-1 ms (shuffled),
    and those durations."""
    time = FakeTime(1_800_000_000)
    window = RequestWindow(clock=time.clock, max_samples=count)
    durations = [float((i * 7919) % count) for i in range(count)]  # a permutation of 0..count-1
    for ms in durations:
        window.record("GET /x", 200, ms, None, False)
    center = AlertCenter()
    rules = Rules(stats.Thresholds(p95_ms=0.5))
    asyncio.run(check(rules, watched(window, UpstreamCalls(Metrics()), True, "closed"), center))
    (alert,) = center.history()
    assert (alert["type"], alert["metadata"]["requests"]) == ("latency_p95", count)
    return alert["metadata"]["p95_ms"], durations


@pytest.mark.parametrize("count", [P95_SAMPLE - 1, P95_SAMPLE])
def test_the_p95_alerted_on_is_exact_up_to_the_sample_size(count: int) -> None:
    p95, durations = p95_alerted(count)
    assert p95 == stats.percentile(sorted(durations), 95)


@pytest.mark.parametrize("count", [P95_SAMPLE + 1, 100_000])
def test_beyond_it_the_p95_is_read_off_an_even_spread_of_requests(count: int) -> None:
    p95, durations = p95_alerted(count)
    ordered = sorted(durations)  # 0..count-1: a value is its own rank
    assert stats.percentile(ordered, 94.5) <= p95 <= stats.percentile(ordered, 95.5)


async def test_the_checks_run_periodically_while_the_app_runs() -> None:
    window = RequestWindow()
    center = AlertCenter()
    rules = Rules(stats.Thresholds())
    async with checking(rules, watched(window, UpstreamCalls(Metrics()), False, "closed"),
                        center, interval_seconds=0.01):  # fmt: skip
        for _ in range(500):
            if center.history():
                break
            await asyncio.sleep(0.01)
    assert [a["type"] for a in center.history()] == ["database_unreachable"]
