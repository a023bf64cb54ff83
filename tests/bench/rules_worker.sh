#!/usr/bin/env bash
# tests/bench/rules_worker.sh - events per second through the rules worker,
# with Redis on the same machine, and the Redis round trips per event.
#
# Starts a private redis-server (unix socket only, no persistence), preloads
# BENCH_EVENTS events into baton:events in the flat format the intake
# writes (with each lead's `seq`; BENCH_PER_LEAD events per lead: one
# lead.upserted, then lead.activity events scored by SPEC's rules.conf),
# then starts batond with those rules and no connector, and times how long
# the consumer group `rules` takes until every entry is read and
# acknowledged (XINFO GROUPS: pending 0, lag 0).  Prints events/s, the
# Redis round trips per event (the commands a client sent: scripts, loads,
# reads, claims; from INFO commandstats, since commands run inside scripts
# count in INFO stats too), the calls per event of each, and of the
# commands run inside the worker's scripts.  Target: 20,000 events/s or
# more.  Figures only: nothing
# here fails because something is slow; it fails when the run does not
# finish (BENCH_TIMEOUT seconds) or leaves the group unsettled.
#
# Binaries: $BATOND (ctest passes it), else a Release build in
# $BATON_BENCH_BUILD_DIR (default build-bench) is made.
# Knobs: BENCH_EVENTS=200000 BENCH_PER_LEAD=4 BENCH_TIMEOUT=120
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EVENTS=${BENCH_EVENTS:-200000}
PER_LEAD=${BENCH_PER_LEAD:-4}
TIMEOUT=${BENCH_TIMEOUT:-120}
REDIS_SERVER=${REDIS_SERVER:-redis-server}

if [ -z "${BATOND:-}" ]; then
	B=${BATON_BENCH_BUILD_DIR:-$ROOT/build-bench}
	echo "== building $B (Release)"
	cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$B" --target batond -j"$(nproc)" >/dev/null
	BATOND=$B/daemon/batond
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/baton-rules-bench.XXXXXX")
PIDS=()

cleanup()
{
	local rc=$? pid
	trap - EXIT
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
trap cleanup EXIT
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

echo "== redis-server (unix socket)"
"$REDIS_SERVER" --port 0 --unixsocket "$TMP/redis.sock" \
    --unixsocketperm 700 --dir "$TMP" --save "" --appendonly no \
    --daemonize no --logfile "$TMP/redis.log" </dev/null &
PIDS+=($!)
for _ in $(seq 100); do
	[ -S "$TMP/redis.sock" ] && break
	sleep 0.1
done
[ -S "$TMP/redis.sock" ] || die "redis-server did not start"

umask 077
cat >"$TMP/rules.conf" <<'EOF'
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
BPORT=$(free_port)
cat >"$TMP/batond.conf" <<EOF
[daemon]
listen = 127.0.0.1:$BPORT
log_level = warning
rules = $TMP/rules.conf

[redis]
url = unix://$TMP/redis.sock
prefix = baton
EOF

# The driver: preload, start batond (its command line in argv), measure.
python3 - "$TMP/redis.sock" "$EVENTS" "$PER_LEAD" "$TIMEOUT" \
    "$TMP/batond.log" "$BATOND" -c "$TMP/batond.conf" <<'PYEOF'
import json, os, socket, subprocess, sys, time

sock_path, events, per_lead, timeout, log = sys.argv[1:6]
events, per_lead, timeout = int(events), int(per_lead), float(timeout)
batond_argv = sys.argv[6:]


class Resp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = b""
        self.sent = 0

    def pack(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise SystemExit("bench: redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        k, rest = line[:1], line[1:]
        if k == b"+":
            return rest.decode()
        if k == b"-":
            raise SystemExit("bench: redis error: " + rest.decode())
        if k == b":":
            return int(rest)
        if k == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(1 << 20)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if k == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise SystemExit("bench: bad reply %r" % line)

    def pipeline(self, cmds):
        self.s.sendall(b"".join(self.pack(*c) for c in cmds))
        self.sent += len(cmds)
        return [self.reply() for _ in cmds]

    def command(self, *args):
        return self.pipeline([args])[0]


r = Resp(sock_path)
now = int(time.time() * 1000)
leads = max(1, events // per_lead)
print(f"== preloading {events} events ({leads} leads, {per_lead} each)")
kinds = [("form_submit", {"form": "demo-request"}),
         ("email_click", {}),
         ("page_view", {"url": "https://acme.example/pricing"})]
batch = []
n = 0
# Round by round, so one lead's events are spread over the stream.
for k in range(per_lead):
    for i in range(leads):
        if n == events:
            break
        email = f"bench{i}@acme.example"
        if k == 0:
            typ, data = "lead.upserted", {"email": email, "title": "VP Sales",
                                          "company_size": 500}
        else:
            act, extra = kinds[(i + k) % len(kinds)]
            typ, data = "lead.activity", dict(activity=act, **extra)
        batch.append(("XADD", "baton:events", "*", "v", "1", "type", typ,
                      "lead", email, "source", "bench", "id", f"b{i}-{k}",
                      "at", now + k * 1000,
                      "data", json.dumps(data, sort_keys=True,
                                         separators=(",", ":")),
                      "seq", k + 1))
        n += 1
        if len(batch) == 5000:
            r.pipeline(batch)
            batch = []
if batch:
    r.pipeline(batch)
assert r.command("XLEN", "baton:events") == events


def stats():
    info = r.command("INFO", "all")
    total, calls = 0, {}
    for line in info.splitlines():
        if line.startswith("total_commands_processed:"):
            total = int(line.split(":")[1])
        elif line.startswith("cmdstat_"):
            name, rest = line[8:].split(":", 1)
            calls[name] = int(rest.split(",")[0].split("=")[1])
    return total, calls


total0, calls0 = stats()
sent0 = r.sent
logf = open(log, "wb")
t0 = time.monotonic()
proc = subprocess.Popen(batond_argv, stdin=subprocess.DEVNULL,
                        stdout=logf, stderr=logf)
done = False
g = {}
while time.monotonic() - t0 < timeout:
    if proc.poll() is not None:
        raise SystemExit(f"bench: batond exited ({proc.returncode})")
    groups = r.command("XINFO", "GROUPS", "baton:events") or []
    for grp in groups:
        d = {grp[i]: grp[i + 1] for i in range(0, len(grp), 2)}
        if d["name"] == "rules":
            g = d
    if g and g["pending"] == 0 and g["lag"] == 0 and \
            g["entries-read"] is not None and g["entries-read"] >= events:
        done = True
        break
    time.sleep(0.005)
t1 = time.monotonic()
if not done:
    proc.terminate()
    raise SystemExit(f"bench: not settled after {timeout:.0f}s: {g}")
total1, calls1 = stats()
proc.terminate()
rc = proc.wait(20)
secs = t1 - t0
# Commands run inside scripts count in INFO too, so the round trips are
# the commands a client can send: scripts, loads, reads, claims (XACK is
# inside the commit script except for redeliveries, none here).
client = ("evalsha", "eval", "hgetall", "xreadgroup", "xautoclaim",
          "xgroup|create", "ping")
trips = sum(calls1.get(k, 0) - calls0.get(k, 0) for k in client)
print(f"== {events} events applied in {secs:.3f} s (from batond's start): "
      f"{events / secs:,.0f} events/s (target 20,000)")
print(f"   Redis round trips (client commands, pipelined): {trips} = "
      f"{trips / events:.3f} per event; Redis executed "
      f"{(total1 - total0) / events:.2f} commands per event in all")
top = client
for name in top:
    d = calls1.get(name, 0) - calls0.get(name, 0)
    if name in ("xgroup|create", "ping"):
        continue
    if d:
        print(f"     {name:<12} {d / events:8.3f} per event")
inner = sorted(((calls1.get(k, 0) - calls0.get(k, 0), k) for k in calls1
                if k not in top and k not in ("info", "xinfo|groups",
                                              "xlen", "xadd")),
               reverse=True)
print("   inside the scripts: " + ", ".join(
    f"{k} {d / events:.2f}" for d, k in inner if d > 0))
xadd = calls1.get("xadd", 0) - calls0.get("xadd", 0)
print(f"     xadd (derived entries) {xadd / events:.2f} per event")
print(f"   batond exit status {rc}")
PYEOF
