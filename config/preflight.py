"""`make test` runs this first: one clear line, and a non-zero exit, if PostgreSQL or Redis
cannot be reached. It also creates the (empty) main database the test database is named after.
"""

import os
import sys

import environ
import psycopg
import redis

HINT = "start it with `docker compose up -d db redis` (or your local service)"


def main() -> int:
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jifen")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    db = environ.Env.db_url_config(database_url)
    if db["ENGINE"] == "django.db.backends.postgresql":
        params = {
            "host": db.get("HOST") or "127.0.0.1",
            "port": db.get("PORT") or 5432,
            "user": db.get("USER") or "postgres",
            "password": db.get("PASSWORD") or None,
            "connect_timeout": 3,
        }
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
        except psycopg.Error as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else error
            print(
                f"PostgreSQL is unreachable at {params['host']}:{params['port']} "
                f"({first_line}): {HINT}.",
                file=sys.stderr,
            )
            return 1
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as error:
        print(f"Redis is unreachable at {redis_url} ({error}): {HINT}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
