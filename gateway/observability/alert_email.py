"""Alerts by email, sent with aiosmtplib (async: a slow mail server never blocks requests)."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

import aiosmtplib
import orjson

from gateway.observability.alerts import Alert


class EmailAlerts:
    """An alert handler mailing each alert to `recipients` through one SMTP server."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        if not recipients:
            raise ValueError("an email alert handler needs at least one recipient")
        self._host, self._port = host, port
        self._sender, self._recipients = sender, list(recipients)
        self._username, self._password = username, password
        self._starttls, self._timeout = starttls, timeout

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = ", ".join(self._recipients)
        message["Subject"] = f"[marketgraph {alert.severity}] {alert.title}"
        details = orjson.dumps(alert.metadata, option=orjson.OPT_INDENT_2, default=str).decode()
        message.set_content(
            f"{alert.message}\n\ntype: {alert.type}\nseverity: {alert.severity}\n"
            f"time: {alert.timestamp.isoformat()}\n\n{details}\n"
        )
        return message

    async def __call__(self, alert: Alert) -> None:
        await aiosmtplib.send(
            self.message(alert),
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._starttls,
            timeout=self._timeout,
        )
