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
# more.
#
# Baseline, measured in the same run on the same entries before batond
# starts: a tiny C client (compiled here against hiredis) reads them
# through a consumer group of its own, `baseline` (XREADGROUP COUNT 256,
# then one XACK of the ids read), with no rules and no writes: the rate at
# which Redis alone hands the entries out and takes them back.  The
# worker's rate is printed as a ratio of that, which says more than the
# raw figure on a machine whose speed (and other load) varies; so do the
# CPU microseconds per event of batond (/proc) and of redis-server (INFO
# used_cpu_*), and each command's Redis time per event (commandstats).
# The bench needs a C compiler ($CC, default cc) and hiredis' headers.
#
# Figures only: nothing here fails because something is slow; it fails
# when the run does not finish (BENCH_TIMEOUT seconds) or leaves the group
# unsettled.
#
# Binaries: $BATOND (ctest passes it), else a Release build in
# $BATON_BENCH_BUILD_DIR (default build-bench) is made.
# Knobs: BENCH_EVENTS=200000 BENCH_PER_LEAD=4 BENCH_TIMEOUT=120
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EVENTS=${BENCH_EVENTS:-200000}
PER_LEAD=${BENCH_PER_LEAD:-4}
TIMEOUT=${BENCH_TIMEOUT:-120}

BENCH_NAME=rules-bench
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
[ -n "${BATOND:-}" ] || release_build batond
CC=${CC:-cc}

# The baseline client: argv socket stream count; prints "<entries>
# <seconds>".  Blocking hiredis is fine here: this is a bench tool.
cat >"$TMP/baseline.c" <<'CEOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	redisContext *c;
	redisReply *r, *e;
	const char *av[3 + 256];
	long want, n = 0;
	double t0;

	if (argc != 4 || (c = redisConnectUnix(argv[1])) == NULL || c->err) {
		fprintf(stderr, "baseline: cannot connect\n");
		return 1;
	}
	want = atol(argv[3]);
	freeReplyObject(redisCommand(c, "XGROUP CREATE %s baseline 0",
	    argv[2]));
	t0 = now();
	while (n < want) {
		r = redisCommand(c, "XREADGROUP GROUP baseline b COUNT 256 "
		    "STREAMS %s >", argv[2]);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 1) {
			fprintf(stderr, "baseline: bad XREADGROUP reply\n");
			return 1;
		}
		e = r->element[0]->element[1];
		av[0] = "XACK";
		av[1] = argv[2];
		av[2] = "baseline";
		for (size_t i = 0; i < e->elements; i++)
			av[3 + i] = e->element[i]->element[0]->str;
		freeReplyObject(redisCommandArgv(c, 3 + (int)e->elements, av,
		    NULL));
		n += (long)e->elements;
		freeReplyObject(r);
	}
	printf("%ld %.6f\n", n, now() - t0);
	freeReplyObject(redisCommand(c, "XGROUP DESTROY %s baseline",
	    argv[2]));
	redisFree(c);
	return 0;
}
CEOF
# shellcheck disable=SC2046
"$CC" -O2 -o "$TMP/baseline" "$TMP/baseline.c" \
    $(pkg-config --cflags --libs hiredis) || die "cannot build the baseline"

echo "== redis-server (unix socket)"
start_redis

umask 077
spec_rules "$TMP/rules.conf"
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
# It takes its Redis client from benchlib.py, beside this script.
PYTHONPATH="$ROOT/tests/bench${PYTHONPATH:+:$PYTHONPATH}" \
    python3 - "$TMP/redis.sock" "$EVENTS" "$PER_LEAD" "$TIMEOUT" \
    "$TMP/batond.log" "$TMP/baseline" "$BATOND" -c "$TMP/batond.conf" \
    <<'PYEOF'
import json, os, subprocess, sys, time

from benchlib import Redis

sock_path, events, per_lead, timeout, log, baseline = sys.argv[1:7]
events, per_lead, timeout = int(events), int(per_lead), float(timeout)
batond_argv = sys.argv[7:]


r = Redis(sock_path)
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

# The baseline: Redis alone handing the entries out through a group.
out = subprocess.run([baseline, sock_path, "baton:events", str(events)],
                     check=True, capture_output=True, text=True).stdout
base_n, base_secs = out.split()
base_rate = int(base_n) / float(base_secs)
print(f"== baseline: XREADGROUP COUNT 256 + XACK of the same entries, no "
      f"rules: {base_rate:,.0f} entries/s")


def stats():
    info = r.command("INFO", "all")
    total, calls, usec = 0, {}, {}
    for line in info.splitlines():
        if line.startswith("total_commands_processed:"):
            total = int(line.split(":")[1])
        elif line.startswith(("used_cpu_user:", "used_cpu_sys:")):
            usec["cpu"] = usec.get("cpu", 0) + \
                int(float(line.split(":")[1]) * 1e6)
        elif line.startswith("cmdstat_"):
            name, rest = line[8:].split(":", 1)
            kv = dict(f.split("=") for f in rest.split(","))
            calls[name] = int(kv["calls"])
            usec[name] = int(kv["usec"])
    return total, calls, usec


total0, calls0, usec0 = stats()
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
    time.sleep(0.02)
t1 = time.monotonic()
if not done:
    proc.terminate()
    raise SystemExit(f"bench: not settled after {timeout:.0f}s: {g}")
total1, calls1, usec1 = stats()
# batond's CPU time (user + system) so far, from /proc.
with open(f"/proc/{proc.pid}/stat") as f:
    fields = f.read().rsplit(")", 1)[1].split()
batond_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
proc.terminate()
rc = proc.wait(20)
secs = t1 - t0
# Commands run inside scripts count in INFO too, so the round trips are
# the commands a client can send: scripts, loads, reads, claims (XACK is
# inside the commit script except for redeliveries, none here).
client = ("evalsha", "eval", "hgetall", "xreadgroup", "xautoclaim",
          "xgroup|create", "ping")
trips = sum(calls1.get(k, 0) - calls0.get(k, 0) for k in client)
rate = events / secs
print(f"== {events} events applied in {secs:.3f} s (from batond's start): "
      f"{rate:,.0f} events/s (target 20,000)")
print(f"   ratio to the baseline: {rate / base_rate:.3f} "
      f"({rate:,.0f} / {base_rate:,.0f})")
redis_cpu = (usec1["cpu"] - usec0["cpu"]) / 1e6
print(f"   CPU per event: batond {batond_cpu / events * 1e6:.1f} us, "
      f"redis-server {redis_cpu / events * 1e6:.1f} us (user + system; "
      f"with other load on the machine these vary less than the rate)")
print(f"   Redis round trips (client commands, pipelined): {trips} = "
      f"{trips / events:.3f} per event; Redis executed "
      f"{(total1 - total0) / events:.2f} commands per event in all")
top = client
for name in top:
    d = calls1.get(name, 0) - calls0.get(name, 0)
    if name in ("xgroup|create", "ping"):
        continue
    if d:
        us = usec1.get(name, 0) - usec0.get(name, 0)
        print(f"     {name:<12} {d / events:8.3f} per event, "
              f"{us / events:6.1f} us of Redis time per event")
inner = sorted(((calls1.get(k, 0) - calls0.get(k, 0), k) for k in calls1
                if k not in top and k not in ("info", "xinfo|groups",
                                              "xlen", "xadd")),
               reverse=True)
print("   inside the scripts (calls per event, us per event): " +
      ", ".join(f"{k} {d / events:.2f} "
                f"{(usec1.get(k, 0) - usec0.get(k, 0)) / events:.1f}us"
                for d, k in inner if d > 0))
xadd = calls1.get("xadd", 0) - calls0.get("xadd", 0)
xus = usec1.get("xadd", 0) - usec0.get("xadd", 0)
print(f"     xadd (derived entries) {xadd / events:.2f} per event, "
      f"{xus / events:.1f} us per event")
print(f"   batond exit status {rc}")
PYEOF
