"""The one exception type a user's mistake raises, and the one way a URI's credentials are hidden.

The CLI prints its message on one line and exits with code 2; anything else that escapes is a bug in
the harness and keeps its traceback.
"""

from __future__ import annotations

import re
import signal

# scheme://user:password@host -> scheme://user:***@host, and password=... / token=... in a query string.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*):(?P<secret>[^\s/]*)@")
_QUERY_SECRET = re.compile(r"(?P<head>[?&](?:password|passwd|pwd|token|secret|access_key|api_key)=)[^\s&]*",
                           re.IGNORECASE)


def mask_credentials(text: str) -> str:
    """`text` with every password in a URI (`postgresql://user:***@host/db`, `?password=***`) masked:
    applied to every line printed, every MLflow param and tag, and every error message."""
    text = _USERINFO.sub(lambda m: f"{m['head']}:***@", str(text))
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}***", text)


class HarnessError(Exception):
    """A problem with the user's input: the message says what, where and what to do."""

    def __init__(self, message: object = ""):
        super().__init__(mask_credentials(str(message)))


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: the running trial ends as `interrupted`, and the process exits 128 + the signal
    (130, 143); running the same command again resumes the study."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + int(signum)

