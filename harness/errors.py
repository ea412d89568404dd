"""The one exception type a user's mistake raises.

The CLI prints its message on one line and exits with code 2; anything else that escapes is a bug in
the harness and keeps its traceback.
"""


class HarnessError(Exception):
    """A problem with the user's input: the message says what, where and what to do."""
