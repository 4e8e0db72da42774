"""What ``finops costs --sql`` may run: one read-only SELECT over the table ``costs``, nothing else.

Pure rules (statement kinds, the one-line refusals) and the DuckDB configuration that closes
every way out of the table: files, the network, extensions, attached databases and settings.
:meth:`tasks.costs.store.CostStore.query` opens its connection with :data:`QUERY_CONFIG` and
checks the statements with :func:`read_only_refusal` before it runs anything.
"""

from __future__ import annotations

from collections.abc import Sequence

#: What :meth:`~tasks.costs.store.CostStore.query` runs; every refusal ends with it.
ALLOWED_SQL = "allowed: one read-only SELECT (or WITH ... SELECT) over the table costs"

#: The DuckDB configuration of the query's connection: no file or network access (so no COPY,
#: ATTACH, read_csv/read_text, INSTALL), no extension loaded or installed behind the query's
#: back, no Python variables scanned as tables, and the configuration locked from the start so
#: that no SET/PRAGMA/RESET or table function can undo any of it.
QUERY_CONFIG: dict[str, bool] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "python_enable_replacements": False,
    "lock_configuration": True,
}

#: DuckDB errors that mean "this reaches outside the table costs" rather than a mistake in it.
_OUTSIDE_ERRORS = ("Catalog Error", "Parser Error", "Permission Error", "has been locked")

#: The SQL words behind DuckDB statement types whose name hides them (INSTALL parses as LOAD).
_STATEMENT_WORDS = {
    "LOAD": "INSTALL/LOAD",
    "SET": "SET/PRAGMA/RESET/USE",
    "VARIABLE_SET": "SET VARIABLE",
}


def read_only_refusal(kinds: Sequence[str]) -> str | None:
    """Why statements of these DuckDB statement types may not run as a query; None when allowed.

    Only exactly one SELECT passes (DuckDB parses WITH ... SELECT, VALUES, FROM-first and
    DESCRIBE as SELECT too): anything else can write, attach, load or reconfigure.

    Example:
        >>> read_only_refusal(["SELECT"]) is None
        True
        >>> read_only_refusal(["LOAD"])
        'INSTALL/LOAD statements are not read-only; allowed: one read-only SELECT (or WITH ... \
SELECT) over the table costs'
        >>> read_only_refusal(["SELECT", "COPY"]).startswith("2 statements given; allowed: ")
        True
    """
    if not kinds:
        return f"no statement given; {ALLOWED_SQL}"
    if len(kinds) > 1:
        return f"{len(kinds)} statements given; {ALLOWED_SQL}"
    if kinds[0] != "SELECT":
        words = _STATEMENT_WORDS.get(kinds[0], kinds[0])
        return f"{words} statements are not read-only; {ALLOWED_SQL}"
    return None


def query_failure(error: Exception) -> str:
    """The one line a failed query gives: DuckDB's first line, and what is allowed when the SQL
    tried to reach outside the table ``costs`` (a file, a setting, a table that is not there).

    Example:
        >>> query_failure(RuntimeError("Binder Error: column nope not found\\nLINE 1: ..."))
        'query failed: Binder Error: column nope not found'
        >>> query_failure(RuntimeError("Permission Error: Cannot access file x.csv")).endswith(
        ...     "; " + ALLOWED_SQL)
        True
    """
    lines = str(error).strip().splitlines()
    first_line = lines[0] if lines else type(error).__name__
    if any(marker in first_line for marker in _OUTSIDE_ERRORS):
        return f"query failed: {first_line}; {ALLOWED_SQL}"
    return f"query failed: {first_line}"
