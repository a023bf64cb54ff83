# tests/bench/lib.sh - sourced by the benchmark scripts (not run): a temp
# dir, processes that are always stopped, and small helpers.
#
# After sourcing: $TMP is a fresh directory under ${TMPDIR:-/tmp} named
# after $BENCH_NAME; append every background pid to PIDS; on any exit
# (or Ctrl-C, even twice) they get SIGTERM, then SIGKILL after 5 s, and
# $TMP is removed.

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
