#!/usr/bin/env python3
"""hubspot_webhook_load.py - the driver of tests/bench/hubspot_webhook.sh:
offers signed HubSpot webhook requests to a running batond's hubspot
connector, times each answer against HubSpot's 5 s timeout, counts the
batch reads the connector made in a running hubspot_sim.py, and checks
Redis stream PREFIX:events against the answers.  Prints the figures.

Run by hubspot_webhook.sh (which starts redis-server, the simulator and
batond and stops them); by hand:

  hubspot_webhook_load.py --batond 127.0.0.1:PORT --sim http://127.0.0.1:P
      --redis-sock PATH [--connector hs] [--prefix baton]
      [--requests 2000] [--conns 32] [--rate 100] [--events 100]
      [--contacts 30000] [--slow-requests 200] [--latencies 1000,3500]
      [--read-timeout 3]

batond's connector (--connector) must be `type = hubspot` pointed at the
simulator with the simulator's default token, app_secret and app_id,
public_url = http://<--batond>/hooks/<connector> (what the requests are
signed over, signature v3), poll_interval = 0, and no rules (the events
stay in PREFIX:events); the simulator must not rate-limit (its
--ten-secondly-limit raised), since what is measured is the connector,
not a portal's API quota.

A load request carries 1..--events contact.propertyChange events (drawn
uniformly, fixed seed), one per contact, its contacts distinct; contacts
come from a pool of --contacts made in the simulator at the start, so a
contact may be in several requests of a phase (HubSpot too sends one
contact's changes in several requests).  Before each phase the whole pool
gets a new version (one property changed through batch/update, so a new
lastmodifieddate): the connector names a contact's lead.upserted
"<id>:<lastmodifieddate ms>", and a phase's events are told from the
others' by that.

Phases, in this order:
  1. baselines at the same concurrency, as fast as possible: GET /healthz
     (the HTTP stack alone) and the load's very bodies with every event
     marked as this integration's own change (changeSource INTEGRATION,
     sourceId = app_id): signature, parsing and echo check, no read, no
     Redis append (batond answers 204);
  2. load as fast as possible over --conns keep-alive connections, then
     paced at --rate requests a second;
  3. the simulator's batch read slowed by each of --latencies (ms) in
     turn, --slow-requests requests as fast as --conns connections go.
For each: answer time p50/p90/p99/max, 200s and 503s, the simulator's
batch-read calls (ids per call: the coalescing across requests within
read_linger) against the events, whether the slowest answer came before
5 s, and the stream check: each contact of a request answered 200 has
its lead.upserted of this phase's version in PREFIX:events exactly once;
a contact only in requests answered 503 has none (HubSpot sends those
again).
Exits non-zero when a request is unanswered (no answer within 30 s or
the connection lost), answered other than 200/503 (204 for the echo
baseline), or the stream check fails; never because of slowness.
"""

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "sim"))
from benchlib import (BatondHook, Pacer, Redis, SimClient,  # noqa: E402
                      die, mean_ms, pct, read_response)
from hubspot_sim import (DEFAULT_APP_ID, DEFAULT_APP_SECRET,  # noqa: E402
                         DEFAULT_TOKEN, parse_when, sign_v3)

HUBSPOT_TIMEOUT_S = 5.0
ANSWER_WAIT_S = 30.0            # no answer by then: unanswered
BATCH_READ = "/crm/v3/objects/contacts/batch/read"
POOL_CHUNK = 5000               # contacts per /__sim/bulk call


# ---------------------------------------------------------------- simulator

class Sim(SimClient):
    """Blocking calls to the HubSpot simulator: control API and REST."""

    def __init__(self, url):
        super().__init__(url, 120)

    def api(self, method, path, body=None):
        return self.call(method, path, body,
                         {"Authorization": "Bearer " + DEFAULT_TOKEN})

    def calls_since(self, seq):
        """The simulator's REST calls after call number seq (its log keeps
        the last 20,000)."""
        st = self.control("GET", "state?omit=contacts,deals,events,"
                          "deliveries")
        return [c for c in st["calls"] if c["seq"] > seq]

    def last_call(self):
        st = self.control("GET", "state?omit=contacts,deals,events,"
                          "deliveries,calls")
        return st["counters"]["calls"]

    def set_latency(self, ms):
        self.control("POST", "faults", {"latency_ms": ms,
                                        "latency_path_prefix": BATCH_READ})


def make_pool(sim, n):
    """n contacts in the simulator, no webhooks; returns their ids."""
    ids = []
    for start in range(0, n, POOL_CHUNK):
        out = sim.control("POST", "bulk", {
            "object": "contacts", "count": min(POOL_CHUNK, n - start),
            "webhooks": False,
            "properties": {"email": "hsb{id}@bench.example",
                           "firstname": "Bench", "lastname": "Contact {id}",
                           "company": "Acme Bench", "jobtitle": "VP Sales"}})
        ids += [int(i) for i in out["ids"]]
    return ids


def new_version(sim, ids, tag):
    """Changes one property of every contact (batch/update, 100 a call);
    returns {contact id: lastmodifieddate in ms}, the id suffix of the
    connector's lead.upserted for this version."""
    ver = {}
    for start in range(0, len(ids), 100):
        chunk = ids[start:start + 100]
        st, out = sim.api("POST", "/crm/v3/objects/contacts/batch/update", {
            "inputs": [{"id": str(i), "properties": {"firstname":
                                                      f"Bench {tag}"}}
                       for i in chunk]})
        if st != 200:
            die(f"batch/update: {st} {str(out)[:300]}")
        for r in out["results"]:
            ms = parse_when(r["properties"].get("lastmodifieddate") or
                            r["updatedAt"])
            ver[int(r["id"])] = ms
    if len(ver) != len(ids):
        die(f"batch/update: {len(ver)} of {len(ids)} contacts updated")
    return ver


# --------------------------------------------------------------- requests

class Target(BatondHook):
    """batond's hubspot connector: requests signed as HubSpot signs them
    (v3, over the hook's URL), and GET /healthz."""

    def __init__(self, addr, connector):
        super().__init__(addr, connector)
        self.url = f"http://{self.host}:{self.port}{self.path}"

    def webhook(self, body):
        ts = str(int(time.time() * 1000))
        sig = sign_v3(DEFAULT_APP_SECRET, "POST", self.url, body, ts)
        return (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Content-Type: application/json\r\n"
                f"X-HubSpot-Signature-v3: {sig}\r\n"
                f"X-HubSpot-Request-Timestamp: {ts}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def healthz(self):
        return (f"GET /healthz HTTP/1.1\r\nHost: {self.host}\r\n"
                f"\r\n").encode()


class Plan:
    """The requests of one phase: per request its contact ids; bodies are
    made (and signed) before the clock starts."""

    def __init__(self, rng, pool, n, max_events):
        self.contacts = [rng.sample(pool, rng.randint(1, max_events))
                         for _ in range(n)]
        self.events = sum(len(c) for c in self.contacts)

    def bodies(self, t, echo, first_event_id):
        out, eid = [], first_event_id
        now = int(time.time() * 1000)
        for cids in self.contacts:
            evs = []
            for cid in cids:
                e = {"eventId": eid, "subscriptionId": 1001,
                     "portalId": 62515, "appId": DEFAULT_APP_ID,
                     "occurredAt": now, "subscriptionType":
                     "contact.propertyChange", "attemptNumber": 0,
                     "objectId": cid, "propertyName": "firstname",
                     "propertyValue": "Bench"}
                if echo:
                    e["changeSource"] = "INTEGRATION"
                    e["sourceId"] = str(DEFAULT_APP_ID)
                else:
                    e["changeSource"] = "CRM_UI"
                    e["sourceId"] = "userId:7654321"
                evs.append(e)
                eid += 1
            out.append(t.webhook(json.dumps(evs, separators=(",", ":"))
                                 .encode()))
        return out, eid


async def offer(t, reqs, rate, conns):
    """Sends reqs over conns keep-alive connections, at `rate` a second
    (0: each connection sends as soon as its previous answer is read).
    Returns per request (status or None when unanswered, answer seconds,
    detail) and the sender's worst lateness against the schedule."""
    loop = asyncio.get_running_loop()
    res = [None] * len(reqs)
    pacer = Pacer(len(reqs), rate)

    async def worker():
        reader = writer = None
        while (i := await pacer.take()) is not None:
            t0 = loop.time()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(
                        t.host, t.port)
                    t0 = loop.time()
                writer.write(reqs[i])
                status, body, close = await asyncio.wait_for(
                    read_response(reader), ANSWER_WAIT_S)
                res[i] = (status, loop.time() - t0,
                          body if status != 200 else b"")
            except (OSError, asyncio.IncompleteReadError,
                    asyncio.TimeoutError) as e:
                res[i] = (None, loop.time() - t0, repr(e))
                close = True
            if close and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    t_start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return res, pacer.late, time.monotonic() - t_start


# ------------------------------------------------------------------ checks

def stream_last_id(r, key):
    got = r.pipeline([("XREVRANGE", key, "+", "-", "COUNT", "1")])[0]
    return got[0][0] if got else "0-0"


def stream_since(r, key, last):
    """Every entry after id `last`: [(id, {field: value})]."""
    out = []
    while True:
        got = r.pipeline([("XRANGE", key, "(" + last, "+", "COUNT",
                           "10000")])[0]
        if not got:
            return out
        for eid, flat in got:
            out.append((eid, dict(zip(flat[::2], flat[1::2]))))
        last = got[-1][0]


def check_stream(plan, res, ver, entries, connector):
    """Problems (strings) of one phase's stream entries against its
    answers; also returns counts for the report."""
    ok_ids, failed_ids = set(), set()
    for cids, (st, _, _) in zip(plan.contacts, res):
        (ok_ids if st == 200 else failed_ids).update(cids)
    failed_only = failed_ids - ok_ids
    seen = {}
    foreign = 0
    for _, f in entries:
        if f.get("source") != connector or f.get("type") != "lead.upserted":
            foreign += 1
            continue
        seen[f.get("id")] = seen.get(f.get("id"), 0) + 1
    problems = []
    missing = [c for c in ok_ids if seen.get(f"{c}:{ver[c]}", 0) == 0]
    twice = [c for c in ok_ids if seen.get(f"{c}:{ver[c]}", 0) > 1]
    leaked = [c for c in failed_only if f"{c}:{ver[c]}" in seen]
    want = {f"{c}:{ver[c]}" for c in ok_ids | failed_only}
    stray = [k for k in seen if k not in want]
    if missing:
        problems.append(f"{len(missing)} contacts of requests answered 200 "
                        f"have no event in the stream (e.g. "
                        f"{missing[:5]})")
    if twice:
        problems.append(f"{len(twice)} contacts' events are in the stream "
                        f"more than once (e.g. {twice[:5]})")
    if leaked:
        problems.append(f"{len(leaked)} contacts only in requests answered "
                        f"503 are in the stream (e.g. {leaked[:5]})")
    if stray:
        problems.append(f"{len(stray)} stream events belong to no request "
                        f"of this phase (e.g. {stray[:5]})")
    if foreign:
        problems.append(f"{foreign} other entries in the stream")
    return problems, len(ok_ids), len(failed_only), sum(seen.values())


def read_calls(calls):
    """(batch-read calls, ids asked, their statuses) from the simulator's
    call log."""
    n, ids, statuses = 0, 0, {}
    for c in calls:
        if c["path"] != BATCH_READ:
            continue
        n += 1
        statuses[c["status"]] = statuses.get(c["status"], 0) + 1
        m = re.match(r"(\d+) read, (\d+) missing", c.get("note") or "")
        if m:
            ids += int(m.group(1)) + int(m.group(2))
    return n, ids, statuses


# ------------------------------------------------------------------ phases

def times_line(ms):
    return (f"p50 {pct(ms, 50):7.1f} ms   p90 {pct(ms, 90):7.1f} ms   "
            f"p99 {pct(ms, 99):7.1f} ms   max {ms[-1]:7.1f} ms")


def lost(res, allowed):
    bad = [(i, s, d) for i, (s, _, d) in enumerate(res) if s not in allowed]
    return bad


def baseline(t, what, reqs, conns, allowed):
    res, _, secs = asyncio.run(offer(t, reqs, 0, conns))
    bad = lost(res, allowed)
    if bad:
        i, s, d = bad[0]
        die(f"baseline {what}: {len(bad)} requests unanswered or refused "
            f"(request {i}: {s} {d!r})")
    ms = sorted(x[1] * 1000 for x in res)
    print(f"  {what}: {len(reqs) / secs:,.0f} req/s; {times_line(ms)}")
    return ms


class Phase:
    def __init__(self, a, t, sim, r, pool, rng, eid):
        self.a, self.t, self.sim, self.r = a, t, sim, r
        self.pool, self.rng, self.eid = pool, rng, eid
        self.key = f"{a.prefix}:events"
        self.n_phase = 0
        self.failures = []
        self.summary = []

    def run(self, title, n, rate, conns, latency_ms=0):
        a, sim = self.a, self.sim
        self.n_phase += 1
        plan = Plan(self.rng, self.pool, n, a.events)
        ver = new_version(sim, sorted({c for cs in plan.contacts
                                       for c in cs}), f"v{self.n_phase}")
        reqs, self.eid = plan.bodies(self.t, False, self.eid)
        if latency_ms:
            sim.set_latency(latency_ms)
        last = stream_last_id(self.r, self.key)
        seq0 = sim.last_call()
        m0 = self.t.metrics()
        how = (f"paced at {rate:,.0f}/s" if rate else "as fast as possible")
        print(f"== {title}: {n} requests ({plan.events:,} events, 1-"
              f"{a.events} a request, mean {plan.events / n:.1f}), {how} "
              f"over {conns} connections")
        res, late, secs = asyncio.run(offer(self.t, reqs, rate, conns))
        if latency_ms:
            # Reads batond gave up on are still sleeping in the
            # simulator: let them end before counting.
            time.sleep(latency_ms / 1000 + 0.5)
            sim.set_latency(0)
        m1 = self.t.metrics()
        calls = sim.calls_since(seq0)
        entries = stream_since(self.r, self.key, last)

        n200 = sum(1 for s, _, _ in res if s == 200)
        n503 = sum(1 for s, _, _ in res if s == 503)
        bad = lost(res, (200, 503))
        ev200 = sum(len(c) for c, (s, _, _) in zip(plan.contacts, res)
                    if s == 200)
        ms = sorted(x[1] * 1000 for x in res)
        ms200 = sorted(x[1] * 1000 for x in res if x[0] == 200)
        ms503 = sorted(x[1] * 1000 for x in res if x[0] == 503)
        print(f"  answered in {secs:.2f} s ({n / secs:,.0f} req/s, "
              f"{plan.events / secs:,.0f} events/s): 200 x {n200} "
              f"({ev200:,} events), 503 x {n503}"
              + (f", UNANSWERED or refused x {len(bad)}" if bad else "")
              + (f"; sender at most {late * 1000:.0f} ms behind its "
                 f"schedule" if rate else ""))
        print(f"  answer time, all:  {times_line(ms)}")
        if ms200 and ms503:
            print(f"  answer time, 200:  {times_line(ms200)}")
            print(f"  answer time, 503:  {times_line(ms503)}")
        nreads, nids, sts = read_calls(calls)
        cm, cn = mean_ms(m0, m1, "baton_http_client_seconds")
        am, _ = mean_ms(m0, m1, "baton_intake_ack_seconds")
        print(f"  simulator: {nreads} batch-read calls ("
              + ", ".join(f"{v} x {k}" for k, v in sorted(sts.items()))
              + f") for {plan.events:,} events in {n} requests: "
              f"{plan.events / max(nreads, 1):.1f} events and "
              f"{nids / max(nreads, 1):.1f} ids a call, "
              f"{nreads / n:.2f} calls a request")
        ack = "-" if am != am else f"{am:.1f} ms"
        print(f"  batond (/metrics): {cn} calls to the simulator ("
              f"{cn - nreads} never reached it), {cm:.1f} ms mean; request "
              f"parsed to events acknowledged by Redis (reads included) "
              f"{ack} mean")
        why = {}
        for s, d, b in res:
            if s == 503:
                try:
                    m = json.loads(b)["error"]
                except (ValueError, KeyError, TypeError):
                    m = b.decode(errors="replace")
                m = re.sub(r"\d+", "N", m)[:100]
                why[m] = why.get(m, 0) + 1
        for m, k in sorted(why.items(), key=lambda x: -x[1]):
            print(f"    503 x {k}: {m}")
        problems, n_ok, n_only503, n_entries = check_stream(
            plan, res, ver, entries, self.a.connector)
        mx = ms[-1] / 1000
        met = mx < HUBSPOT_TIMEOUT_S
        print(f"  stream: {n_entries:,} new lead.upserted; wanted once "
              f"each: the {n_ok:,} contacts of requests answered 200; "
              f"wanted absent: the {n_only503:,} contacts only in requests "
              f"answered 503: " + ("ok" if not problems else "FAILED"))
        for p in problems:
            print(f"    {p}")
        print(f"  HubSpot's 5 s timeout: {'met' if met else 'NOT met'} "
              f"(slowest answer {mx:.2f} s)")
        if bad:
            i, s, d = bad[0]
            self.failures.append(f"{title}: {len(bad)} requests unanswered "
                                 f"or refused (request {i}: {s} {d!r})")
        self.failures += [f"{title}: {p}" for p in problems]
        self.summary.append((f"{title} {how}" if title == "load" else
                             title, title == "load", ms, n200, n503, nreads,
                             plan.events, met))
        return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batond", required=True, help="HOST:PORT")
    ap.add_argument("--connector", default="hs")
    ap.add_argument("--sim", required=True, help="simulator base URL")
    ap.add_argument("--redis-sock", required=True)
    ap.add_argument("--prefix", default="baton")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--events", type=int, default=100,
                    help="most events in one request (1..100)")
    ap.add_argument("--contacts", type=int, default=30000)
    ap.add_argument("--slow-requests", type=int, default=200)
    ap.add_argument("--latencies", default="1000,3500",
                    help="batch-read latencies (ms) of the slow phases")
    ap.add_argument("--read-timeout", type=float, default=3.0,
                    help="batond's read_timeout in seconds (for the text)")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    if a.requests < 1 or a.conns < 1 or a.rate <= 0 or \
            not 1 <= a.events <= 100 or a.contacts < a.events or \
            a.slow_requests < 0:
        die("bad arguments: --requests, --conns, --rate positive; --events "
            "1..100; --contacts at least --events")
    lats = [int(x) for x in a.latencies.split(",") if x.strip()]

    t = Target(a.batond, a.connector)
    sim = Sim(a.sim)
    r = Redis(a.redis_sock)
    rng = random.Random(a.seed)

    t0 = time.monotonic()
    pool = make_pool(sim, a.contacts)
    print(f"== {len(pool):,} contacts made in the simulator in "
          f"{time.monotonic() - t0:.1f} s")

    # One request to warm up (the connector's connections to the
    # simulator, the stream).
    ph = Phase(a, t, sim, r, pool, rng, 1)
    warm = Plan(rng, pool, 1, a.events)
    new_version(sim, warm.contacts[0], "warm")
    reqs, ph.eid = warm.bodies(t, False, ph.eid)
    res, _, _ = asyncio.run(offer(t, reqs, 0, 1))
    if res[0][0] != 200:
        die(f"warm-up request: {res[0]}")

    print(f"== baselines at {a.conns} connections, as fast as possible")
    hz = baseline(t, f"GET /healthz x {a.requests}",
                  [t.healthz()] * a.requests, a.conns, (200,))
    echo = Plan(rng, pool, a.requests, a.events)
    reqs, ph.eid = echo.bodies(t, True, ph.eid)
    eb = baseline(t, f"webhook, own changes only (no read, 204) x "
                  f"{a.requests}", reqs, a.conns, (204,))

    ph.run("load", a.requests, 0, a.conns)
    ph.run("load", a.requests, a.rate, a.conns)
    for lat in lats:
        if a.slow_requests:
            ph.run(f"batch read slowed to {lat} ms", a.slow_requests, 0,
                   a.conns, lat)

    print()
    print("== summary (answer times; HubSpot's timeout is 5 s, batond's "
          f"read_timeout {a.read_timeout:g} s)")
    print(f"  baseline, no read (204): p50 {pct(eb, 50):.1f} ms, p99 "
          f"{pct(eb, 99):.1f} ms, max {eb[-1]:.1f} ms; GET /healthz p50 "
          f"{pct(hz, 50):.1f} ms")
    for title, ratio, ms, n200, n503, nreads, nev, met in ph.summary:
        r50 = f" ({pct(ms, 50) / pct(eb, 50):.1f}x baseline)" if ratio \
            else ""
        r99 = f" ({pct(ms, 99) / pct(eb, 99):.1f}x)" if ratio else ""
        print(f"  {title}: p50 {pct(ms, 50):.1f} ms{r50}, p99 "
              f"{pct(ms, 99):.1f} ms{r99}, "
              f"max {ms[-1]:.1f} ms; 200 x {n200}, 503 x {n503}; "
              f"{nreads} reads for {nev:,} events; 5 s: "
              f"{'met' if met else 'NOT met'}")
    if ph.failures:
        for f in ph.failures:
            print(f"bench: {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
