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


class InputErrors(InputError):
    """Several problems found in one pass (a config with two misspelled keys), one per line, so
    the user fixes them all at once instead of one run per typo.

    >>> raise_all([InputError("unknown key 'a'", where="x.toml [data]"),
    ...            InputError("unknown key 'b'", where="x.toml [heatmap]")])
    Traceback (most recent call last):
    ...
    liqbt.errors.InputErrors: 2 problems:
      x.toml [data]: unknown key 'a'
      x.toml [heatmap]: unknown key 'b'
    """

    def __init__(self, errors: list[InputError]):
        flat: list[InputError] = []
        for e in errors:
            flat.extend(e.errors if isinstance(e, InputErrors) else [e])
        self.errors = flat
        self.where = None
        self.expected = None
        LiqbtError.__init__(self, f"{len(flat)} problems:\n  " + "\n  ".join(str(e) for e in flat))


def raise_all(errors: list[InputError]) -> None:
    """Raise nothing, the one error, or all of them together as :class:`InputErrors`."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)


class ArchiveLockedError(InputError):
    """The DuckDB file is held by another writer."""


class LookaheadError(LiqbtError):
    """A run's strategy uses data from later bars (``liqbt run``'s look-ahead guard, exit 3, the
    same code as ``liqbt check-lookahead``)."""

    exit_code = 3
