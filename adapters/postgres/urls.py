"""Connection strings: libpq accepts URIs and ``key=value`` pairs; some tools only URIs."""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

__all__ = ["as_url"]


def as_url(conninfo: str, *, scheme: str = "postgresql") -> str:
    """The URI form of a libpq connection string (URI or ``key=value`` pairs). A socket
    directory or a list of hosts goes in the query, as libpq reads it there."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"not a PostgreSQL connection string: {exc}") from exc
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    host = str(params.pop("host", ""))
    port = params.pop("port", None)
    dbname = quote(str(params.pop("dbname", "")), safe="")
    netloc = ""
    if password is not None:
        netloc = f"{user}:{quote(str(password), safe='')}@"
    elif user:
        netloc = f"{user}@"
    if host and not host.startswith("/") and "," not in host:
        netloc += host + (f":{port}" if port else "")
    else:
        if host:
            params["host"] = host
        if port:
            params["port"] = port
    query = urlencode({k: str(v) for k, v in params.items()})
    return urlunsplit((scheme, netloc, f"/{dbname}", query, ""))
