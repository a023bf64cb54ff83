#!/usr/bin/env bash
# tests/bench/intake.sh - how fast batond's intake is, next to the bare HTTP
# stack it is built on.
#
# Starts a private redis-server (unix socket, no TCP, no persistence), batond
# with one `[connector bench] type = webhook` on a free loopback port, and
# bare_responder (libevent's evhttp answering 200, nothing else).  Then:
#   1. batond's idle RSS, then after each of three BENCH_RSS_EVENTS-event
#      runs (the first run warms the allocator; flat afterwards means
#      nothing grows per event);
#   2. BENCH_ROUNDS rounds of loadgen, BENCH_SECONDS each, against batond
#      and the bare responder alternately (BENCH_CONNS keep-alive
#      connections), after a short warm-up of each;
#   3. a table of requests/s, p50 and p99 per target, and the ratios
#      batond/bare (bare_responder with batond's loop settings, the fair
#      baseline) and batond/plain (bare_responder -L: evhttp with
#      libevent's defaults, what "a bare evhttp server" usually means) of
#      the best round of each.
# Everything runs on 127.0.0.1, stops by itself and is removed on exit.
# Figures only: nothing here fails because something is slow.
#
# Binaries: $BATOND $LOADGEN $BARE_RESPONDER (ctest passes them), else a
# Release build in $BATON_BENCH_BUILD_DIR (default build-bench) is made.
# Knobs: BENCH_ROUNDS=3 BENCH_SECONDS=5 BENCH_CONNS=64 BENCH_RSS_EVENTS=100000
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-64}
RSS_EVENTS=${BENCH_RSS_EVENTS:-100000}
SECRET=bench-secret-$$

BENCH_NAME=bench
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
if [ -z "${BATOND:-}" ] || [ -z "${LOADGEN:-}" ] ||
    [ -z "${BARE_RESPONDER:-}" ]; then
	release_build batond loadgen bare_responder
	LOADGEN=$B/tests/bench/loadgen
	BARE_RESPONDER=$B/tests/bench/bare_responder
fi

rss_kib()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# run NAME PORT SECONDS COUNT: one loadgen run; prints its human line and
# appends "NAME rps p50 p99" to $TMP/results.
run()
{
	local name=$1 port=$2 secs=$3 count=$4 out
	out=$("$LOADGEN" -p "$port" -c "$CONNS" -d "$secs" -n "$count" \
	    -s "$SECRET" -r "$name-$RANDOM$RANDOM") ||
	    die "loadgen against $name failed: $out"
	printf '  %-6s %s\n' "$name" "$(head -n 1 <<<"$out" |
	    sed 's/^loadgen: //')"
	grep -v '^RESULT\|^loadgen: 127' <<<"$out" | sed 's/^/         /' || true
	sed -n 's/^RESULT .*rps=\([0-9.]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\).*/\1 \2 \3/p' \
	    <<<"$out" | sed "s/^/$name /" >>"$TMP/results"
}

echo "== redis-server (unix socket), batond, bare_responder"
start_redis

BPORT=$(free_port)
umask 077
cat >"$TMP/batond.conf" <<EOF
[daemon]
listen = 127.0.0.1:$BPORT
log_level = warning
max_body = 64KiB

[redis]
url = unix://$TMP/redis.sock
prefix = baton

[connector bench]
type = webhook
role = marketing
secret = $SECRET
event = lead.activity
map.email = contact.email
map.activity = kind
map.url = page.url
map.id = id
map.at = ts
EOF
start_batond "$TMP/batond.conf" "$BPORT"

start_listener bare bare_responder "$BARE_RESPONDER" -p 0
RPORT=$LISTEN_PORT
start_listener plain "bare_responder -L" "$BARE_RESPONDER" -p 0 -L
PPORT=$LISTEN_PORT
echo "  batond 127.0.0.1:$BPORT (pid $BATOND_PID), bare 127.0.0.1:$RPORT," \
    "plain 127.0.0.1:$PPORT"

echo
echo "== batond's memory: idle VmRSS before and after each of 3 runs of $RSS_EVENTS events"
RSS0=$(rss_kib "$BATOND_PID")
RSSLIST="$RSS0"
for _ in 1 2 3; do
	run rss "$BPORT" 120 "$RSS_EVENTS"
	sleep 1
	RSSLIST="$RSSLIST $(rss_kib "$BATOND_PID")"
done
RSS1=$(rss_kib "$BATOND_PID")
echo "  idle VmRSS (KiB): $RSSLIST (before, then after each run)"
: >"$TMP/results"

echo
echo "== $ROUNDS rounds of ${SECS}s, $CONNS connections (after a 1 s warm-up)"
run warm "$BPORT" 1 100000 >/dev/null
run warm "$RPORT" 1 100000 >/dev/null
run warm "$PPORT" 1 100000 >/dev/null
: >"$TMP/results"
for r in $(seq "$ROUNDS"); do
	echo "  round $r"
	run batond "$BPORT" "$SECS" 300000
	run bare "$RPORT" "$SECS" 300000
	run plain "$PPORT" "$SECS" 300000
done

echo
echo "== summary (best round of each)"
awk -v rss0="$RSS0" -v rss1="$RSS1" '
$2 > best[$1] { best[$1] = $2; p50[$1] = $3; p99[$1] = $4 }
END {
	printf "  %-8s %12s %10s %10s\n", "target", "requests/s", "p50 ms", "p99 ms"
	split("batond bare plain", order, " ")
	for (i = 1; i <= 3; i++) {
		t = order[i]
		printf "  %-8s %12.0f %10.3f %10.3f\n", t, best[t], p50[t], p99[t]
	}
	if (best["bare"] > 0)
		printf "  ratio batond/bare: %.2f   (bare: the same loop settings as batond)\n", best["batond"] / best["bare"]
	if (best["plain"] > 0)
		printf "  ratio batond/plain: %.2f  (plain: evhttp with libevent defaults)\n", best["batond"] / best["plain"]
	printf "  batond idle VmRSS: %d KiB before, %d KiB after all runs\n", rss0, rss1
}' "$TMP/results"
echo "  baton:events holds $(redis-cli -s "$TMP/redis.sock" XLEN baton:events)" \
    "entries (every 2xx from batond, warm-up included)"
kill -0 "$BATOND_PID" 2>/dev/null || die "batond died during the run"
