#!/usr/bin/env bash
# tests/bench/hubspot_webhook.sh - whether batond's HubSpot connector
# answers HubSpot's webhooks within HubSpot's 5 s timeout under load,
# although each contact event needs a batch read of the contact from
# HubSpot before the answer.
#
# Starts a private redis-server (unix socket, no persistence), the HubSpot
# simulator (tests/sim/hubspot_sim.py, its own process, its rate limit
# raised out of the way: the connector is measured, not a portal's API
# quota) and batond with `[connector hs] type = hubspot` pointed at the
# simulator with the defaults (read_linger 50ms, read_timeout 3s; no
# polling, no rules).  Then tests/bench/hubspot_webhook_load.py:
#   1. baselines at the same concurrency: GET /healthz, and the load's
#      bodies with every event marked as this integration's own change
#      (signature, parsing, echo check; no read, no Redis append);
#   2. BENCH_REQUESTS signed requests of 1-100 contact.propertyChange
#      events (contacts distinct within a request, from a pool of
#      BENCH_CONTACTS) over BENCH_CONNS keep-alive connections, as fast as
#      possible and then at BENCH_RATE requests a second: answer time
#      p50/p90/p99/max, 200s and 503s, the simulator's batch-read calls
#      against the events (coalescing across requests);
#   3. the same as fast as possible with the simulator's batch read slowed
#      by each of BENCH_LATENCIES ms (default 1 s, then 3.5 s: past
#      read_timeout), BENCH_SLOW_REQUESTS requests each.
# Every phase prints whether its slowest answer came before 5 s (met / NOT
# met) and checks Redis stream baton:events against the answers: every
# contact of a request answered 200 has its event exactly once, a contact
# only in requests answered 503 has none (HubSpot sends those again).
# Figures only: nothing fails because something is slow; it fails when a
# request is unanswered or the stream check fails.  Everything runs on
# 127.0.0.1, stops by itself and is removed on exit.
#
# Binaries: $BATOND (ctest passes it), else a Release build in
# $BATON_BENCH_BUILD_DIR (default build-bench) is made.
# Knobs: BENCH_REQUESTS=2000 BENCH_CONNS=32 BENCH_RATE=100
# BENCH_CONTACTS=30000 BENCH_SLOW_REQUESTS=200 BENCH_LATENCIES=1000,3500
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REQUESTS=${BENCH_REQUESTS:-2000}
CONNS=${BENCH_CONNS:-32}
RATE=${BENCH_RATE:-100}
CONTACTS=${BENCH_CONTACTS:-30000}
SLOW_REQUESTS=${BENCH_SLOW_REQUESTS:-200}
LATENCIES=${BENCH_LATENCIES:-1000,3500}
READ_TIMEOUT=3

BENCH_NAME=hubspot-webhook-bench
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
[ -n "${BATOND:-}" ] || release_build batond

echo "== redis-server (unix socket), the HubSpot simulator, batond"
start_redis
start_sim hubspot_sim.py --ten-secondly-limit 1000000000 \
    --search-per-second 1000000 --daily-limit 1000000000

umask 077
BPORT=$(free_port)
# The simulator's default token, app secret and app id.
cat >"$TMP/batond.conf" <<EOF
[daemon]
listen = 127.0.0.1:$BPORT
log_level = error

[redis]
url = unix://$TMP/redis.sock
prefix = baton

[connector hs]
type = hubspot
role = marketing
base_url = $SIM
token = pat-na1-11111111-2222-3333-4444-555555555555
app_secret = baton-hubspot-sim-app-secret
app_id = 123456
public_url = http://127.0.0.1:$BPORT/hooks/hs
poll_interval = 0
read_timeout = ${READ_TIMEOUT}s
EOF
start_batond "$TMP/batond.conf" "$BPORT"
echo "  batond 127.0.0.1:$BPORT (pid $BATOND_PID), simulator $SIM"
echo "  $(nproc) CPUs; load average $(loadavg) before" \
    "the run (other load on the machine moves every figure)"

python3 "$(dirname "$0")/hubspot_webhook_load.py" --batond "127.0.0.1:$BPORT" \
    --sim "$SIM" --redis-sock "$TMP/redis.sock" --requests "$REQUESTS" \
    --conns "$CONNS" --rate "$RATE" --contacts "$CONTACTS" \
    --slow-requests "$SLOW_REQUESTS" --latencies "$LATENCIES" \
    --read-timeout "$READ_TIMEOUT" ||
    die "the run failed"

kill -0 "$BATOND_PID" 2>/dev/null || die "batond died during the run"
echo "  load average $(loadavg) after the run"
