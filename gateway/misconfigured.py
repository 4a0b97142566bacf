"""A setting whose value cannot be used, found while the app is built (files it names).

Raised as its own type, not a bare FileNotFoundError or ValueError, so the `marketgraph`
command says it in one line and exits 2, as it does for a value that does not parse
(gateway/cli.py), while any other error keeps its traceback.
"""

from __future__ import annotations


class Misconfigured(ValueError):
    """A setting's value cannot be used; the message names the setting or the file."""


class MissingFiles(Misconfigured, FileNotFoundError):
    """A directory setting names a place without the files it must hold."""
