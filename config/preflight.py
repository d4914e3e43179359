"""`make test` runs this first: one line saying which PostgreSQL the suite uses, or one clear
line and a non-zero exit if PostgreSQL or Redis cannot be reached.

With DATABASE_URL set it creates that (empty) main database, which the test database is
named after; without it, it starts the embedded server of this checkout (config/embedded_db.py).
"""

import os
import sys

import environ
import psycopg
import redis

from config.embedded_db import PGDATA, EmbeddedDatabaseUnavailable, database_url

HINT = "start it with `docker compose up -d db redis` (or your local service)"


def connection_params(url: str) -> dict:
    """psycopg keyword arguments for a postgres:// URL, the way Django would connect."""
    db = environ.Env.db_url_config(url)
    params = {
        "dbname": db["NAME"],
        "host": db.get("HOST") or db.get("OPTIONS", {}).get("host") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or None,
    }
    return params


def main() -> int:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    database = os.environ.get("DATABASE_URL", "")
    if database:
        params = connection_params(database)
        if environ.Env.db_url_config(database)["ENGINE"] != "django.db.backends.postgresql":
            print("DATABASE_URL must name a PostgreSQL database (postgres://...).", file=sys.stderr)
            return 1
        try:
            admin = {**params, "dbname": "postgres"}
            with psycopg.connect(autocommit=True, connect_timeout=3, **admin) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [params["dbname"]]
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{params["dbname"]}"')
        except psycopg.Error as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else error
            print(
                f"PostgreSQL is unreachable at {params['host']}:{params['port']} "
                f"({first_line}): {HINT}.",
                file=sys.stderr,
            )
            return 1
        print(f"Engine: PostgreSQL at DATABASE_URL ({params['host']}:{params['port']})")
    else:
        try:
            database_url()
        except (EmbeddedDatabaseUnavailable, psycopg.Error) as error:
            print(f"The embedded PostgreSQL did not start: {error}", file=sys.stderr)
            return 1
        print(f"Engine: embedded PostgreSQL in {PGDATA} (DATABASE_URL is not set)")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as error:
        print(f"Redis is unreachable at {redis_url} ({error}): {HINT}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
