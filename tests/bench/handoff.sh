#!/usr/bin/env bash
# tests/bench/handoff.sh - how long a qualified lead takes to become a
# Salesforce Lead: from batond's 200 to the webhook that made it an MQL to
# the Lead stored in the Salesforce simulator, and how many leads a second
# go through end to end with batching.
#
# Starts a private redis-server (unix socket, no persistence), the
# Salesforce simulator (tests/sim/salesforce_sim.py, its own process) and
# batond with SPEC's rules.conf, a webhook connector `crm` (the one of
# tests/integration/rules_helpers.py) and `[connector sf] type =
# salesforce` pointed at the simulator with the default keys (match =
# Email, batch_linger 20ms, 200 records a call) except poll_interval = 0:
# the SOQL polling of sales' changes is another load on the simulator, and
# not what is measured here.  Then tests/bench/handoff_load.py:
#   1. one warm-up lead; its Lead's fields are the baseline's records;
#   2. the baseline, on an emptied simulator: BENCH_LEADS Leads created by
#      the bench itself through sObject Collections calls of 200, one call
#      at a time (the most the simulator absorbs), then the same with the
#      lookup query batond makes before each create;
#   3. BENCH_LEADS leads offered at BENCH_RATE a second over BENCH_CONNS
#      keep-alive connections, one request each (a lead.upserted with title
#      "VP Sales" and company_size 500 plus a form_submit "demo-request":
#      score 75, an MQL); per lead, the simulator's arrival time
#      (GET /__sim/arrivals) minus the time its 200 was read: p50, p90, p99,
#      max; the batch sizes (Leads per create call, and batond's
#      baton_delivery_* counters); the simulator's calls;
#   4. the same as fast as BENCH_FAST_CONNS connections go, for
#      throughput end to end
#      (on a small machine the Python sender, intake and rules set that
#      pace, not the delivery);
#   5. delivery alone: BENCH_LEADS copies of a real handoff.mql entry added
#      to baton:handoffs at once; how fast batond turns that backlog into
#      Leads, in full batches; both rates as ratios to the baseline;
#   6. the simulator's own time for one lookup, empty and full.
# Target: p99 under 250 ms on loopback at the paced rate; printed as met or
# NOT met beside the sync intervals of vendor integrations it replaces.
# Figures only: nothing fails because something is slow; it fails when a
# lead is refused, does not arrive within BENCH_TIMEOUT seconds of the last
# send, or arrives twice.  Everything runs on 127.0.0.1, stops by itself
# and is removed on exit.
#
# Binaries: $BATOND (ctest passes it), else a Release build in
# $BATON_BENCH_BUILD_DIR (default build-bench) is made.
# Knobs: BENCH_LEADS=10000 BENCH_RATE=500 BENCH_CONNS=8 BENCH_FAST_CONNS=32
# BENCH_TIMEOUT=120
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LEADS=${BENCH_LEADS:-10000}
RATE=${BENCH_RATE:-500}
CONNS=${BENCH_CONNS:-8}
FAST_CONNS=${BENCH_FAST_CONNS:-32}
TIMEOUT=${BENCH_TIMEOUT:-120}
SECRET=bench-secret-$$

BENCH_NAME=handoff-bench
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
[ -n "${BATOND:-}" ] || release_build batond

echo "== redis-server (unix socket), the Salesforce simulator, batond"
start_redis
start_sim salesforce_sim.py

umask 077
spec_rules "$TMP/rules.conf"
BPORT=$(free_port)
{
	cat <<EOF
[daemon]
listen = 127.0.0.1:$BPORT
log_level = warning
rules = $TMP/rules.conf

[redis]
url = unix://$TMP/redis.sock
prefix = baton

[connector crm]
type = webhook
role = marketing
secret = $SECRET
items = events
map.type = type
map.email = email
map.id = id
map.at = at
EOF
	for f in first_name last_name title company company_size activity form; do
		echo "map.$f = $f"
	done
	cat <<EOF

[connector sf]
type = salesforce
role = sales
base_url = $SIM
client_id = baton-client-id
client_secret = baton-client-secret
refresh_token = baton-refresh-token
poll_interval = 0
EOF
} >"$TMP/batond.conf"
start_batond "$TMP/batond.conf" "$BPORT"
echo "  batond 127.0.0.1:$BPORT (pid $BATOND_PID), simulator $SIM"
echo "  $(nproc) CPUs; load average $(loadavg) before" \
    "the run (other load on the machine moves every figure)"

python3 "$(dirname "$0")/handoff_load.py" --batond "127.0.0.1:$BPORT" \
    --secret "$SECRET" --sim "$SIM" --leads "$LEADS" --rate "$RATE" \
    --conns "$CONNS" --fast-conns "$FAST_CONNS" --timeout "$TIMEOUT" --redis-sock "$TMP/redis.sock" ||
    die "the run failed"

kill -0 "$BATOND_PID" 2>/dev/null || die "batond died during the run"
echo "  load average $(loadavg) after the run"
DLQ=$(redis-cli -s "$TMP/redis.sock" XLEN baton:dlq)
echo "  baton:dlq holds $DLQ entries"
[ "$DLQ" = 0 ] || die "handoffs went to the DLQ"
