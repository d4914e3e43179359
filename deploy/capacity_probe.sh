#!/bin/sh
# The measurements behind docs/scaling.md, interleaved so that each ledger figure has a
# pgbench figure from the same minutes (the machine may be shared: compare ratios).
#   sh deploy/capacity_probe.sh [rounds] > probe.log
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust) and pgbench; uses and drops
# the throw-away databases jifen_capacity_pgbench and jifen_capacity_probe.
set -eu
ROUNDS=${1:-3}
PG="-h 127.0.0.1 -U postgres"
PY=${PYTHON:-.venv/bin/python}
dropdb $PG --if-exists jifen_capacity_pgbench
createdb $PG jifen_capacity_pgbench
pgbench $PG -i -s 10 -q jifen_capacity_pgbench >/dev/null 2>&1
for round in $(seq 1 "$ROUNDS"); do
  for clients in 1 4; do
    echo "round $round: load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "round $round: pgbench tpcb-like, scale 10, $clients client(s), 20 s"
    pgbench $PG -b tpcb-like -c "$clients" -j "$clients" -T 20 -n jifen_capacity_pgbench 2>&1 |
      grep -E "^tps|latency average"
    echo "round $round: ledger_post earns, $clients process(es)"
    env -u DATABASE_URL -u REDIS_URL "$PY" deploy/capacity_probe.py \
      --postings 6000 --members 4000 --processes "$clients" --dashboard-requests 300
  done
done
dropdb $PG jifen_capacity_pgbench
