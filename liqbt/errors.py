"""Exception types and the exit codes the CLI maps them to.

Bad input (a file, a line, a config key the user can fix) raises :class:`InputError`
and the CLI exits with code 2; anything else is a bug and exits with code 1.
"""

from __future__ import annotations


class LiqbtError(Exception):
    """Base class of every error liqbt raises on purpose."""

    exit_code = 1


class InputError(LiqbtError):
    """The user's input is wrong: the message names the file/line/key and what was expected.

    >>> raise InputError("bad price", where="klines.csv:12", expected="a number")
    Traceback (most recent call last):
    ...
    liqbt.errors.InputError: klines.csv:12: bad price (expected a number)
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, expected: str | None = None):
        self.message = message  # without where/expected: for errors that wrap this one
        self.where = where
        self.expected = expected
        text = message
        if where:
            text = f"{where}: {text}"
        if expected:
            text = f"{text} (expected {expected})"
        super().__init__(text)


class ArchiveLockedError(InputError):
    """The DuckDB file is held by another writer."""
