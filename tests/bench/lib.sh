# tests/bench/lib.sh - sourced by the benchmark scripts (not run): a temp
# dir, processes that are always stopped, and the start-up every bench
# repeats (a Release build when no binaries are given, a private Redis, a
# simulator, batond), each wait bounded, so that each script says only
# what it measures.
#
# Set ROOT (the source tree; found from here when unset) and BENCH_NAME
# before sourcing.  After sourcing: $TMP is a fresh directory under
# ${TMPDIR:-/tmp} named after $BENCH_NAME; append every background pid to
# PIDS; on any exit (or Ctrl-C, even twice) they get SIGTERM, then SIGKILL
# after 5 s, and $TMP is removed.  The start_* helpers append their pids
# themselves; call them in the script's own shell (not in $(...)), since
# they set variables and PIDS.
# shellcheck shell=bash

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/baton-${BENCH_NAME:-bench}.XXXXXX")
PIDS=()

bench_cleanup()
{
	local rc=$? pid
	trap - EXIT
	# A second Ctrl-C must not cut the cleanup short.
	trap "" INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die()
{
	echo "bench: $*" >&2
	[ -s "$TMP/batond.log" ] && tail -n 20 "$TMP/batond.log" >&2
	exit 1
}

free_port()
{
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# release_build TARGET...: builds the targets in Release in
# $BATON_BENCH_BUILD_DIR (default build-bench in the source tree); sets B
# to that directory and BATOND to its batond.  For a script given no
# binaries; cmake's own output is not shown, a failure ends the script.
release_build()
{
	B=${BATON_BENCH_BUILD_DIR:-$ROOT/build-bench}
	echo "== building $B (Release)"
	cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$B" --target "$@" -j"$(nproc)" >/dev/null
	BATOND=$B/daemon/batond
}

# wait_http PORT: until GET /healthz on 127.0.0.1:PORT answers 200
# (bounded, 10 s); non-zero when it never does.
wait_http()
{
	python3 - "$1" <<'EOF'
import http.client, sys, time
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]),
                                       timeout=1)
        c.request("GET", "/healthz")
        if c.getresponse().status == 200:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF
}

# start_redis: a private redis-server ($REDIS_SERVER, default
# redis-server) on the unix socket $TMP/redis.sock only (no TCP, no
# persistence, log in $TMP/redis.log); returns once the socket exists
# (bounded, 10 s), dies otherwise.
start_redis()
{
	"${REDIS_SERVER:-redis-server}" --port 0 \
	    --unixsocket "$TMP/redis.sock" --unixsocketperm 700 --dir "$TMP" \
	    --save "" --appendonly no --daemonize no \
	    --logfile "$TMP/redis.log" </dev/null &
	PIDS+=($!)
	for _ in $(seq 100); do
		[ -S "$TMP/redis.sock" ] && break
		sleep 0.1
	done
	[ -S "$TMP/redis.sock" ] || die "redis-server did not start"
}

# start_listener NAME WHAT CMD [ARG...]: runs CMD in the background
# (stdout to $TMP/NAME.out, stderr to $TMP/NAME.err) and waits (bounded,
# 10 s) for its first line, "listening on 127.0.0.1:PORT"; sets
# LISTEN_PORT to PORT.  Dies naming WHAT, with CMD's stderr, when no such
# line comes.
start_listener()
{
	local name=$1 what=$2
	shift 2
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null &
	PIDS+=($!)
	for _ in $(seq 100); do
		[ -s "$TMP/$name.out" ] && break
		sleep 0.1
	done
	LISTEN_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
	    "$TMP/$name.out")
	[ -n "$LISTEN_PORT" ] ||
	    die "$what did not start: $(cat "$TMP/$name.err")"
}

# start_sim SCRIPT [ARG...]: the simulator tests/sim/SCRIPT (its own
# process) on a free port, with ARGs; sets SIM to its base URL.
start_sim()
{
	start_listener sim "the simulator" \
	    python3 "$ROOT/tests/sim/$1" --port 0 "${@:2}"
	# shellcheck disable=SC2034 # for the caller
	SIM=http://127.0.0.1:$LISTEN_PORT
}

# start_batond CONF PORT: $BATOND -c CONF in the background (stderr in
# $TMP/batond.log, which die shows), its pid in BATOND_PID; returns once
# it answers GET /healthz on PORT, dies otherwise.
start_batond()
{
	"$BATOND" -c "$1" </dev/null 2>"$TMP/batond.log" &
	BATOND_PID=$!
	PIDS+=("$BATOND_PID")
	wait_http "$2" || die "batond did not come up on $2"
}

# spec_rules FILE: writes SPEC's example rules.conf to FILE.
spec_rules()
{
	cat >"$1" <<'EOF'
[score]
rule = +20 if title ~ "vp|vice president|director|head of"
rule = +15 if company_size >= 200
rule = -30 if email ~ "@(gmail|yahoo|hotmail)\."
rule = +40 on form_submit where form == "demo-request"
rule = +5 on email_click cap 25 per 30d
rule = +10 on page_view where url ~ "/pricing"
decay = 25% per 30d

[stage mql]
when = score >= 60 and fit >= 15

[stage sql]
when = sales.status == "qualified" or deal.stage != ""

[sla accept]
after = mql
within = 24h
on_breach = notify, recycle
EOF
}

# loadavg: the machine's 1, 5 and 15 minute load averages (other load
# moves every figure a bench prints).
loadavg()
{
	cut -d' ' -f1-3 /proc/loadavg
}
