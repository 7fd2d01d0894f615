"""One module per CLI command. Each exposes ``register(subparsers)`` which adds its parser and
sets ``func`` (a callable taking the parsed args and returning an exit code or None).

Commands stay thin: parse, call the library, print. Order here is the order in ``--help``.
"""

COMMANDS = [
    "ingest",
    "archive",
    "fetch",
    "simulate",
    "heatmap",
    "validate",
    "run",
    "compare",
    "sweep",
    "new_strategy",
    "check_lookahead",
    "demo",
    "precompile",
]
