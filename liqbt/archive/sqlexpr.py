"""Check the SQL expressions of a dataset manifest (``filter``, ``time``, ``columns.*``).

A manifest's expressions are pasted into the query that reads its files, so without a check a
manifest is an SQL channel: ``filter = "true; COPY (SELECT 42) TO 'x.csv'; SELECT 1"`` would
write a file and ``read_text('/etc/passwd')`` would read one. Each expression is parsed by
DuckDB's own parser (``json_serialize_sql``) as ``SELECT (<expr>)`` and must be exactly one
scalar expression over the source's columns: one SELECT statement with one item and nothing
else (no FROM, WHERE, CTE, ...), built only from column references, constants, operators,
comparisons, AND/OR/NOT, CASE, CAST, BETWEEN, IN lists and the functions in
:data:`ALLOWED_FUNCTIONS`. Subqueries, table functions, ``*``, window functions, lambdas,
parameters and every other function are refused. The expression is then used as
``(<expr>\\n)``: the same tokens that parsed as one parenthesised expression, so it cannot
close the surrounding query or comment out the rest of it.

>>> check_expression("oi_close IS NOT NULL AND oi_close > 0", "filter")
'(oi_close IS NOT NULL AND oi_close > 0\\n)'
>>> check_expression("true); COPY (SELECT 42) TO 'x.csv'; SELECT (1", "filter")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
liqbt.errors.InputError: filter: not a single expression: ... (expected one boolean/scalar SQL expression ...)
>>> check_expression("read_text('/etc/passwd') <> ''", "filter")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
liqbt.errors.InputError: filter: function read_text is not allowed (expected one of abs, ...)
"""

from __future__ import annotations

import functools
import json
import re
import threading

from liqbt.errors import InputError

ALLOWED_FUNCTIONS = frozenset({
    # text
    "upper", "lower", "ucase", "lcase", "trim", "ltrim", "rtrim", "replace", "regexp_replace",
    "regexp_matches", "regexp_extract", "starts_with", "ends_with", "contains", "prefix", "suffix",
    "concat", "concat_ws", "length", "substr", "substring", "left", "right", "split_part", "lpad",
    "rpad",
    # numbers
    "abs", "round", "floor", "ceil", "ceiling", "sign", "sqrt", "ln", "log", "log10", "exp", "pow",
    "power", "greatest", "least", "isfinite", "isnan", "isinf",
    # NULL handling / conditionals
    "nullif", "ifnull", "coalesce", "if",
    # time
    "epoch_ms", "epoch", "epoch_us", "make_timestamp", "to_timestamp", "strptime", "try_strptime",
    "strftime", "date_trunc", "date_part", "year", "month", "day", "hour", "minute",
})
# expression node classes of DuckDB's parse tree that can only compute over the row
_ALLOWED_CLASSES = frozenset({"CONJUNCTION", "OPERATOR", "COMPARISON", "COLUMN_REF", "CONSTANT",
                              "CASE", "CAST", "BETWEEN", "FUNCTION"})
_OPERATOR = re.compile(r"^[^A-Za-z0-9_]+$|^!?~~\*?$")  # + - * / % || = < ~~ (LIKE) ...
_EXPECTED = "one boolean/scalar SQL expression over the file's columns, e.g. \"oi > 0 AND symbol = 'BTC'\""


_PARSER: list = []  # one private in-memory connection, opened on first use (≈ 10 ms each)
_PARSER_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4096)
def _parse_json(text: str) -> str:
    # A manifest's expressions are checked for every file it matches (hundreds of files, the same
    # few texts): the parse tree of a text never changes, so it is cached, and the parser
    # connection is reused instead of opened and closed per call (that cost ≈ 2 s of a 10 s ingest).
    import duckdb

    with _PARSER_LOCK:
        if not _PARSER:
            _PARSER.append(duckdb.connect())
        return _PARSER[0].execute("SELECT json_serialize_sql(?)", [text]).fetchone()[0]


def _parse(text: str) -> dict:
    return json.loads(_parse_json(text))  # a fresh dict each call: callers may not share it


def check_expression(expr: str, where: str) -> str:
    """Validate ``expr`` (see the module doc) and return it ready to paste: ``(<expr>\\n)``."""
    if not isinstance(expr, str) or not expr.strip():
        raise InputError("empty expression", where=where, expected=_EXPECTED)
    tree = _parse(f"SELECT ({expr}\n)")
    if tree.get("error"):
        detail = tree.get("error_message", "")
        if tree.get("error_type") == "parser":
            raise InputError(f"invalid SQL expression {expr!r} ({detail})", where=where, expected=_EXPECTED)
        raise InputError(f"not a single expression: {expr!r}", where=where, expected=_EXPECTED)
    statements = tree.get("statements", [])
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    plain = (
        node.get("type") == "SELECT_NODE"
        and len(node.get("select_list", [])) == 1
        and (node.get("from_table") or {}).get("type") == "EMPTY"
        and node.get("where_clause") is None
        and not node.get("group_expressions")
        and node.get("having") is None
        and node.get("qualify") is None
        and not node.get("modifiers")
        and not (node.get("cte_map") or {}).get("map")
    )
    if not plain:
        raise InputError(f"not a single expression: {expr!r}", where=where, expected=_EXPECTED)
    _walk(node["select_list"][0], where)
    return f"({expr}\n)"


def _walk(item, where: str) -> None:
    if isinstance(item, list):
        for x in item:
            _walk(x, where)
        return
    if not isinstance(item, dict):
        return
    cls = item.get("class")
    if cls is not None:
        if cls not in _ALLOWED_CLASSES:
            what = {"SUBQUERY": "a subquery", "STAR": "*", "WINDOW": "a window function",
                    "LAMBDA": "a lambda", "PARAMETER": "a parameter"}.get(cls, cls.lower())
            raise InputError(f"{what} is not allowed", where=where, expected=_EXPECTED)
        if cls == "FUNCTION":
            name = str(item.get("function_name", ""))
            if item.get("schema") or item.get("catalog") or not (
                    name.lower() in ALLOWED_FUNCTIONS or _OPERATOR.match(name)):
                raise InputError(f"function {name} is not allowed", where=where,
                                 expected=f"one of {', '.join(sorted(ALLOWED_FUNCTIONS))}, or an operator")
    for value in item.values():
        if isinstance(value, (dict, list)):
            _walk(value, where)
