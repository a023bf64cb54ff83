"""soak.py - the whole loop under sustained load and chaos, then a
reconciliation that fails on any lost, doubled or stuck item (issue #7,
deliverable 1).

    # short mode (what scripts/test runs as ctest soak.short): about 45 s
    # of load, then a bounded settle (usually 5-20 s)
    python3 tests/soak/soak.py
    # long mode, on demand: ten minutes of load (or more)
    BATON_SOAK_SECONDS=600 python3 tests/soak/soak.py
    # the same chaos again: the seed is printed on the first line
    BATON_SOAK_SEED=1234 BATON_SOAK_SECONDS=300 python3 tests/soak/soak.py

It needs $BATOND, $BATONCTL and $REDIS_SERVER like the integration tests
(ctest sets them; by hand: BATOND=build-x/daemon/batond ...).

What runs (all on 127.0.0.1 or unix sockets, in one private temporary
directory, removed at the end unless BATON_KEEP_TMP=1):
  * redis-server with appendonly yes, appendfsync always, so a write
    Redis acknowledged survives a SIGKILL;
  * one batond (sometimes two on the same Redis) with the generic
    `webhook` connector `crm` of tests/integration/rules_helpers.py, SPEC's
    rules, and a `salesforce` connector `sf` (role sales) pushing handoffs
    to tests/sim/salesforce_sim.py (in process) and polling it every
    second, and a `hubspot` connector `hs` (role marketing) pushing the
    feedback to tests/sim/hubspot_sim.py (in process).
    BATON_SOAK_HUBSPOT=0 leaves HubSpot out: nothing pushes feedback then
    (the webhook connector cannot), and it is reconciled in PREFIX:feedback
    only;
  * load threads posting signed webhooks at a steady rate (BATON_SOAK_RATE
    requests a second): new leads that qualify at once ("hot": VP, 500
    people, demo form), leads that qualify after some engagement ("warm"),
    leads that never do ("cold", gmail), engagement for known leads, and a
    few redeliveries of requests already answered 2xx.  A request that
    gets no 2xx (connection refused, 503 while Redis is down, a timeout)
    is sent again, as a webhook sender would, until it gets one;
  * simulated sales reps in the Salesforce simulator: a Lead that batond
    has recorded (ids.sf set) gets, once, Status Qualified, Working -
    Contacted or Unqualified, or is left alone.  BATON_SOAK_EAGER_REPS=1
    drops the wait for ids.sf, so reps also edit Leads batond is about to
    update (the retry of a create whose answer was lost), which the poll's
    record of what it read must still report;
  * chaos, in the main thread, at random moments from a seeded RNG (each
    kind once per shuffled round, so a short run sees them all): SIGKILL a
    batond and restart it; start a second batond and SIGKILL one of the
    two; SIGKILL redis-server and restart it; make the Salesforce
    simulator answer 500/503 (and drop connections), storm 429 with
    Retry-After, and stall (latency above the connector's 2 s timeout) for
    a few seconds; make the HubSpot simulator storm 429 (its
    TEN_SECONDLY_ROLLING policy, no Retry-After, as HubSpot), then answer
    5xx and drop connections.
    Knobs: claims after 6 s idle (above the timeout plus the longest
    stall, as production's 60 s is above its 30 s timeout: a claim never
    races a request still being served), rules claims after 1 s, the poll
    lease 2 s; create_settle 5 s; retry_max 40, so the transient faults
    never exhaust the retries.

At the end the load stops, faults are cleared and exactly one batond runs;
the settle waits (bounded: BATON_SOAK_SETTLE seconds) until every request
was answered 2xx and every group has read and acknowledged everything,
then the reconciliation prints its counts and fails (exit 1, one line per
mismatch) unless:
  * every event of a request answered 2xx is in PREFIX:events exactly once
    (by source and id), and no (source, id) is there twice;
  * every lead with a handoff.mql in PREFIX:handoffs is exactly one Lead in
    the simulator (by email), every simulator Lead came from a handoff,
    the lead's ids.sf is that Lead's Id, and every acknowledged "hot" lead
    was handed off;
  * every rep decision came back once as lead.status from `sf` and became
    its feedback exactly once: Qualified -> feedback.accepted and
    feedback.sql, Working -> feedback.accepted, Unqualified ->
    feedback.rejected and feedback.recycled; no other lead has feedback;
    and the marketing side shows it: exactly the leads with feedback are
    HubSpot contacts, one per email, with lifecyclestage, hs_lead_status
    and baton_stage as hs_push.c maps that feedback (Qualified:
    salesqualifiedlead, IN_PROGRESS, sql; Working: marketingqualifiedlead,
    IN_PROGRESS, sal; Unqualified: UNQUALIFIED, recycled);
  * nothing is pending or unread in any consumer group (events/rules,
    handoffs/sf, feedback/hs, the replay streams);
  * the DLQ is empty (the faults are transient); its entries are printed
    otherwise, and one without an error reason is called out;
  * every batond still running exits 0 on SIGTERM, and no batond's stderr
    (killed ones included) holds a sanitizer report.

Known bugs, each with a deterministic reproduction beside this file:
  * repro_feedback_order.py: the delivery core sends a lead's later entry
    while an earlier one waits in backoff (daemon/delivery.c,
    delivery_kick()), so after a HubSpot fault a lead sales rejected can
    end with baton_stage "rejected" instead of "recycled".  The soak
    reports it as "HubSpot contacts that do not show their feedback"; it
    shows up when a HubSpot fault hits a batch holding such a pair (9
    contacts in a 300 s run, none in four short ones).

Environment: BATON_SOAK_SECONDS (load, default 45), BATON_SOAK_SEED
(default: random), BATON_SOAK_RATE (requests/s, default 20),
BATON_SOAK_SETTLE (seconds, default 120), BATON_SOAK_HUBSPOT=0,
BATON_SOAK_EAGER_REPS=1, BATON_KEEP_TMP=1; BATON_TEST_DELIVERY_IDLE_MS,
BATON_TEST_RULES_IDLE_MS and BATON_TEST_LEASE_MS replace the knobs above.
The seed fixes the chaos schedule and the load's content, not the exact
interleaving with batond, so two runs of one seed differ in their counts.
Every process it starts dies with it (PR_SET_PDEATHSIG) and is stopped on
any exit, failure or Ctrl-C.
"""

import collections
import ctypes
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("BATON_SOURCE_DIR",
                            os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "sim"))

import harness  # noqa: E402
from rules_helpers import CRM, SPEC_RULES, write_rules  # noqa: E402
from salesforce_sim import SalesforceSim  # noqa: E402

PREFIX = "baton"
SF = "sf"
HS = "hs"
API = "/services/data/v60.0"
T0 = time.monotonic()

# ---- children die with us ---------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # In the child, between fork and exec: SIGKILL when the thread that
    # forked it ends (every start happens in the main thread).
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class _Subprocess:
    """subprocess as harness sees it: Popen sets PR_SET_PDEATHSIG, so a
    soak killed by ctest's timeout leaves no batond or redis behind."""

    def __getattr__(self, name):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args, **kw):
        kw.setdefault("preexec_fn", _die_with_parent)
        return subprocess.Popen(*args, **kw)


harness.subprocess = _Subprocess()


def say(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


class Interrupted(Exception):
    """SIGTERM or SIGINT."""


def _on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


# ---- configuration ----------------------------------------------------------

def env_num(name, default, kind=float):
    v = os.environ.get(name)
    if v in (None, ""):
        return default
    try:
        return kind(v)
    except ValueError:
        sys.exit(f"soak: {name}={v!r} is not a number")


class Cfg:
    def __init__(self):
        self.seconds = env_num("BATON_SOAK_SECONDS", 45.0)
        self.rate = env_num("BATON_SOAK_RATE", 20.0)
        self.settle = env_num("BATON_SOAK_SETTLE", 120.0)
        seed = os.environ.get("BATON_SOAK_SEED")
        self.seed = int(seed) if seed else random.SystemRandom().randrange(
            1, 10 ** 9)
        self.hubspot = os.environ.get("BATON_SOAK_HUBSPOT", "1") != "0"
        self.threads = 4
        if self.seconds < 5 or self.rate <= 0 or self.settle < 10:
            sys.exit("soak: BATON_SOAK_SECONDS >= 5, BATON_SOAK_RATE > 0 "
                     "and BATON_SOAK_SETTLE >= 10 please")


# The test knobs (the environment may override them, to experiment).
ENV = {k: os.environ.get(k, v) for k, v in (
    ("BATON_TEST_DELIVERY_IDLE_MS", "6000"),
    ("BATON_TEST_RULES_IDLE_MS", "1000"),
    ("BATON_TEST_LEASE_MS", "2000"))}
TIMEOUT_S = 2.0                 # the sf connector's timeout
STALL_MS = (2500, 3500)         # simulator latency while it stalls


def sf_conf(sim):
    return {
        "type": "salesforce", "role": "sales", "base_url": sim.base_url,
        "client_id": "baton-client-id",
        "client_secret": "baton-client-secret",
        "refresh_token": "baton-refresh-token",
        "poll_interval": "1s", "poll_lag": "1s", "poll_overlap": "2s",
        "timeout": f"{int(TIMEOUT_S)}s", "connect_timeout": "1s",
        "create_settle": "5s",
        "retry_base": "200ms", "retry_cap": "2s", "retry_max": "40",
        "batch_linger": "20ms", "batch_size": "50",
    }


def hs_conf(sim):
    return {
        "type": "hubspot", "role": "marketing", "base_url": sim.base_url,
        "token": "pat-na1-11111111-2222-3333-4444-555555555555",
        "app_secret": "baton-hubspot-sim-app-secret",
        "app_id": "123456", "poll_interval": "0",
        "retry_base": "200ms", "retry_cap": "2s", "retry_max": "40",
        "batch_linger": "20ms",
    }


def quiet(sim):
    """An answer to a client that is gone (killed, or timed out) is not a
    simulator error: no traceback."""
    sim.httpd.handle_error = lambda request, address: None
    base = sim.httpd.RequestHandlerClass
    if not hasattr(base, "send"):
        return

    class Quiet(base):
        def send(self, *args, **kw):
            try:
                return base.send(self, *args, **kw)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
    sim.httpd.RequestHandlerClass = Quiet


# ---- the load ---------------------------------------------------------------

class Request:
    __slots__ = ("rid", "body", "events", "kind", "email", "tries",
                 "statuses", "acked", "permanent")

    def __init__(self, rid, events, kind, email):
        self.rid = rid
        self.events = [e["id"] for e in events]
        self.body = json.dumps({"events": events}).encode()
        self.kind = kind
        self.email = email
        self.tries = 0
        self.statuses = collections.Counter()
        self.acked = False
        self.permanent = None


class Load:
    """cfg.threads threads posting at cfg.rate requests a second in all to
    whichever batond is up; each request is retried until it gets a 2xx
    (or give_up is set)."""

    def __init__(self, soak, cfg):
        self.soak = soak
        self.cfg = cfg
        self.lock = threading.Lock()
        self.requests = []
        self.redeliveries = []          # Requests posted again
        self.acked = []                 # Requests answered 2xx
        self.hot = set()                # emails of hot leads, once acked
        self.stop_new = threading.Event()
        self.give_up = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,),
                                         daemon=True, name=f"load{i}")
                        for i in range(cfg.threads)]
        self.tag = f"s{cfg.seed % 100000}"

    def start(self):
        for t in self.threads:
            t.start()

    def run(self, n):
        rng = random.Random(self.cfg.seed * 1009 + n)
        leads = []              # (email, kind)
        seq = [0]
        interval = self.cfg.threads / self.cfg.rate
        nxt = time.monotonic()

        def eid():
            seq[0] += 1
            return f"{self.tag}-w{n}-{seq[0]}"

        while not self.stop_new.is_set():
            nxt += interval * rng.uniform(0.5, 1.5)
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                nxt = time.monotonic()
            req = self.make(rng, n, leads, eid)
            self.send(req, rng)
            if req.acked and req.kind == "hot":
                with self.lock:
                    self.hot.add(req.email)

    def make(self, rng, n, leads, eid):
        now = int(time.time() * 1000)
        r = rng.random()
        with self.lock:
            old = rng.choice(self.acked) if self.acked else None
        if old is not None and r < 0.03:
            # A redelivery: the same body again, after its 2xx.
            q = Request(old.rid + "+", [], "redelivery", old.email)
            q.body, q.events = old.body, list(old.events)
            with self.lock:
                self.redeliveries.append(q)
            return q
        if not leads or r < 0.35:
            kind = rng.choices(("hot", "warm", "cold"), (3, 4, 3))[0]
            k = len(leads)
            if kind == "cold":
                email = f"cold{n}-{k}.{self.tag}@gmail.com"
                attrs = {"title": "Student", "company_size": 1}
                act = ("page_view", {"url": "/pricing"})
            elif kind == "warm":
                email = f"warm{n}-{k}.{self.tag}@acme{k % 7}.example"
                attrs = {"title": "Director of Operations",
                         "company_size": 50, "company": f"Acme {k % 7}"}
                act = ("page_view", {"url": "/blog"})
            else:
                email = f"hot{n}-{k}.{self.tag}@corp{k % 5}.example"
                attrs = {"title": "VP Sales", "company_size": 500,
                         "company": f"Corp {k % 5}"}
                act = ("form_submit", {"form": "demo-request"})
            leads.append((email, kind))
            evs = [dict(type="lead.upserted", email=email, id=eid(), at=now,
                        first_name="Soak", last_name=f"Lead{n}x{k}",
                        **attrs),
                   dict(type="lead.activity", email=email, id=eid(),
                        at=now, activity=act[0], **act[1])]
            return self.track(Request(evs[0]["id"], evs, kind, email))
        email, kind = rng.choice(leads)
        evs = []
        for _ in range(rng.randint(1, 3)):
            a = rng.choices(("email_click", "pricing", "page_view",
                             "email_open"), (4, 3, 2, 1))[0]
            if a == "pricing":
                evs.append(dict(type="lead.activity", email=email,
                                id=eid(), at=now, activity="page_view",
                                url="/pricing"))
            elif a == "page_view":
                evs.append(dict(type="lead.activity", email=email,
                                id=eid(), at=now, activity="page_view",
                                url="/docs"))
            else:
                evs.append(dict(type="lead.activity", email=email,
                                id=eid(), at=now, activity=a))
        return self.track(Request(evs[0]["id"], evs, "engage", email))

    def track(self, req):
        with self.lock:
            self.requests.append(req)
        return req

    def send(self, req, rng):
        backoff = 0.05
        while not self.give_up.is_set():
            ports = self.soak.ports
            if not ports:
                time.sleep(0.05)
                continue
            port = rng.choice(ports)
            req.tries += 1
            try:
                status = post(port, req.body, timeout=10)
            except OSError as e:
                status = type(e).__name__
            req.statuses[status] += 1
            if status in (200, 204):
                req.acked = True
                if req.kind != "redelivery":
                    with self.lock:
                        self.acked.append(req)
                return
            if status in (400, 401, 404, 413):
                req.permanent = status
                return
            time.sleep(backoff * rng.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 1.0)

    def stop(self, deadline):
        self.stop_new.set()
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        if any(t.is_alive() for t in self.threads):
            self.give_up.set()
            for t in self.threads:
                t.join(15)

    def unanswered(self):
        with self.lock:
            return [q for q in self.requests + self.redeliveries
                    if not q.acked]


def vm_hwm(pid):
    """A process's peak resident set size as /proc tells it."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return " ".join(line.split()[1:])
    except OSError:
        pass
    return "unknown"


def post(port, body, timeout):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/hooks/crm", body=body, headers={
            "Content-Type": "application/json",
            "X-Baton-Signature": harness.sign(body)})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


# ---- the reps ---------------------------------------------------------------

DECISIONS = (("Qualified", 35), ("Working - Contacted", 15),
             ("Unqualified", 15), (None, 35))
FEEDBACK_OF = {
    "Qualified": {"feedback.accepted": 1, "feedback.sql": 1},
    "Working - Contacted": {"feedback.accepted": 1},
    "Unqualified": {"feedback.rejected": 1, "feedback.recycled": 1},
    None: {},
}

# What a lead's HubSpot contact shows after its feedback (hs_push.c,
# hs_proto.c hs_feedback_map): forward-only lifecycle and baton_stage,
# rejected and recycled written as moves back.
HUBSPOT_OF = {
    "Qualified": {"lifecyclestage": "salesqualifiedlead",
                  "hs_lead_status": "IN_PROGRESS", "baton_stage": "sql"},
    "Working - Contacted": {"lifecyclestage": "marketingqualifiedlead",
                            "hs_lead_status": "IN_PROGRESS",
                            "baton_stage": "sal"},
    "Unqualified": {"hs_lead_status": "UNQUALIFIED",
                    "baton_stage": "recycled"},
}


class Reps:
    """Every half second, each Lead batond has recorded (the lead's ids.sf
    is its Id) and that no rep looked at yet gets one decision."""

    def __init__(self, soak, seed):
        self.soak = soak
        self.rng = random.Random(seed * 7 + 3)
        # Eager reps do not wait for batond to record the Lead (see the
        # docstring).
        self.eager = os.environ.get("BATON_SOAK_EAGER_REPS") == "1"
        self.decided = {}               # email -> Status or None
        self.acted = {}                 # email -> Status (edits made)
        self.errors = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True,
                                       name="reps")

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_ev.set()
        self.thread.join(30)

    def run(self):
        while not self.stop_ev.wait(0.5):
            try:
                self.round()
            except (OSError, harness.RespError):
                pass            # Redis restarting: next round

    def round(self):
        sim = self.soak.sf
        leads = sim.snapshot(include_calls=False)["leads"]
        todo = [r for r in leads
                if (r.get("Email") or "").lower() not in self.decided]
        if not todo:
            return
        with self.soak.redis.client(timeout=2) as c:
            for r in todo:
                if self.stop_ev.is_set():
                    return
                email = r["Email"].lower()
                if not self.eager and c.command(
                        "HGET", f"{PREFIX}:lead:{email}",
                        "ids." + SF) != r["Id"]:
                    continue
                st = self.rng.choices([d for d, _ in DECISIONS],
                                      [w for _, w in DECISIONS])[0]
                self.decided[email] = st
                if st is None:
                    continue
                try:
                    sim.rep_edit("Lead", r["Id"], {"Status": st})
                    self.acted[email] = st
                except Exception as e:          # a simulator refusal
                    self.errors.append(f"{email}: {e!r}")


# ---- the soak ---------------------------------------------------------------

class Soak:

    def __init__(self, cfg):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.tmp = tempfile.mkdtemp(prefix="baton-soak-")
        self.redis = None
        self.sf = None
        self.hs = None
        self.slots = [None, None]       # two batond, by slot
        self.all_batonds = []           # every Batond object, for logs
        self.ports = []                 # live ports, for the load
        self.load = None
        self.reps = None
        self.chaos = collections.Counter()
        self.problems = []
        self.exit_codes = []

    # ---- processes -------------------------------------------------------

    def connectors(self):
        c = {"crm": CRM, SF: sf_conf(self.sf)}
        if self.hs is not None:
            c[HS] = hs_conf(self.hs)
        return c

    def batond(self, slot):
        b = self.slots[slot]
        if b is None:
            d = os.path.join(self.tmp, f"b{slot + 1}")
            os.makedirs(d, exist_ok=True)
            b = harness.Batond(d, self.redis.url, self.connectors(),
                               daemon={"rules": self.rules,
                                       "log_level": "info"},
                               env=ENV)
            self.slots[slot] = b
            self.all_batonds.append(b)
        return b

    def live(self):
        return [i for i, b in enumerate(self.slots)
                if b is not None and b.alive()]

    def publish_ports(self):
        self.ports = [self.slots[i].port for i in self.live()]

    def start_batond(self, slot):
        b = self.batond(slot)
        b.start(wait=False)
        try:
            b.wait_healthy(30)
        finally:
            self.publish_ports()
        return b

    def kill_batond(self, slot, unpublish=True):
        """SIGKILLs the batond of slot; its port stays in the load's list
        (connections refused) unless unpublish."""
        b = self.slots[slot]
        pid = b.proc.pid
        if unpublish:
            self.ports = [p for p in self.ports if p != b.port]
        rc = b.stop(signal.SIGKILL)
        if rc != -signal.SIGKILL:
            self.problems.append(f"batond b{slot + 1} (pid {pid}) had "
                                 f"exited with status {rc} before the "
                                 f"chaos killed it")
        if unpublish:
            self.publish_ports()
        return pid

    def setup(self):
        self.redis = harness.Redis(self.tmp, appendonly=True).start()
        self.sf = SalesforceSim(port=0).start()
        quiet(self.sf)
        if self.cfg.hubspot:
            from hubspot_sim import HubSpotSim
            self.hs = HubSpotSim(port=0).start()
            quiet(self.hs)
        self.rules = write_rules(self.tmp, SPEC_RULES)
        self.start_batond(0)
        say(f"redis {self.redis.sock} (appendonly, fsync always), "
            f"salesforce sim {self.sf.base_url}"
            + (f", hubspot sim {self.hs.base_url}" if self.hs else "")
            + f", batond b1 on 127.0.0.1:{self.slots[0].port}")

    def cleanup(self):
        for t in (self.load, self.reps):
            if t is not None:
                if isinstance(t, Load):
                    t.stop_new.set()
                    t.give_up.set()
                else:
                    t.stop_ev.set()
        for b in self.all_batonds:
            try:
                b.stop(signal.SIGKILL, timeout=5)
            except Exception:
                pass
        for s in (self.sf, self.hs):
            if s is not None:
                try:
                    s.stop()
                except Exception:
                    pass
        if self.redis is not None:
            try:
                self.redis.stop()
            except Exception:
                pass
        if os.environ.get("BATON_KEEP_TMP") == "1":
            say(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- chaos -----------------------------------------------------------

    def act(self, kind):
        rng = self.rng
        if kind == "kill":
            slot = rng.choice(self.live())
            # Senders keep calling it meanwhile: connections refused.
            pid = self.kill_batond(slot, unpublish=False)
            pause = rng.uniform(0.1, 2.0)
            time.sleep(pause)
            self.start_batond(slot)
            say(f"chaos: SIGKILL batond b{slot + 1} (pid {pid}), "
                f"restarted after {pause:.1f}s (pid "
                f"{self.slots[slot].proc.pid})")
        elif kind == "pair":
            live = self.live()
            other = 1 - live[0]
            if len(live) == 1:
                self.start_batond(other)
            run = rng.uniform(2.0, 6.0)
            say(f"chaos: two batond on one Redis (b1, b2) for {run:.1f}s")
            time.sleep(run)
            slot = rng.choice(self.live())
            pid = self.kill_batond(slot)
            say(f"chaos: SIGKILL batond b{slot + 1} (pid {pid}); "
                f"b{2 - slot} carries on")
        elif kind == "redis":
            self.redis.kill(signal.SIGKILL)
            pause = rng.uniform(0.2, 2.0)
            time.sleep(pause)
            self.redis.start()
            say(f"chaos: SIGKILL redis-server, restarted from its AOF "
                f"after {pause:.1f}s")
        elif kind == "sf500":
            n = rng.randint(3, 15)
            st = rng.choice((500, 503))
            drops = rng.randint(0, 3)
            self.sf.fail_next(n, status=st, path_prefix=API)
            if drops:
                self.sf.drop_next(drops, path_prefix=API,
                                  mode=rng.choice(("close", "reset")))
            say(f"chaos: salesforce answers the next {n} calls {st}, "
                f"drops {drops} connections")
        elif kind == "sf429":
            secs = rng.uniform(2.0, 6.0)
            ra = rng.randint(1, 2)
            self.sf.storm(secs, status=429, retry_after=ra, path_prefix=API)
            say(f"chaos: salesforce 429 storm for {secs:.1f}s "
                f"(Retry-After: {ra})")
        elif kind == "stall":
            ms = rng.randint(*STALL_MS)
            secs = rng.uniform(3.0, 6.0)
            self.sf.set_latency(ms, path_prefix=API)
            say(f"chaos: salesforce stalls {ms} ms per call (timeout "
                f"{TIMEOUT_S:.0f}s) for {secs:.1f}s")
            self.stall_until = time.monotonic() + secs
        elif kind == "hubspot":
            n = rng.randint(2, 8)
            st = rng.choice((500, 502, 503))
            secs = rng.uniform(1.0, 4.0)
            drops = rng.randint(0, 2)
            self.hs.fail_next(n, st, path_prefix="/crm/")
            self.hs.storm(secs, "TEN_SECONDLY_ROLLING", path_prefix="/crm/")
            if drops:
                self.hs.drop_next(drops, path_prefix="/crm/")
            say(f"chaos: hubspot 429 storm for {secs:.1f}s, then {n} "
                f"calls {st}, {drops} connections dropped")
        self.chaos[kind] += 1

    def chaos_loop(self, until):
        kinds = ["kill", "pair", "redis", "sf500", "sf429", "stall"]
        if self.hs is not None:
            kinds.append("hubspot")
        bag = []
        self.stall_until = None
        nxt = time.monotonic() + self.rng.uniform(2.0, 4.0)
        while True:
            now = time.monotonic()
            if self.stall_until is not None and now >= self.stall_until:
                self.sf.set_latency(0)
                self.stall_until = None
                say("chaos: salesforce answers at full speed again")
            if now >= until:
                break
            if now < nxt:
                time.sleep(min(0.1, nxt - now))
                continue
            if not bag:
                bag = kinds[:]
                self.rng.shuffle(bag)
            self.act(bag.pop())
            nxt = time.monotonic() + self.rng.uniform(2.0, 5.0)
        # The end of chaos: no faults, Redis up, exactly one batond.
        self.sf.clear_faults()
        self.sf.set_latency(0)
        if self.hs is not None:
            self.hs.clear_faults()
        live = self.live()
        if not live:
            self.start_batond(0)
        elif len(live) == 2:
            slot = self.rng.choice(live)
            self.kill_batond(slot)
            say(f"chaos over: SIGKILL batond b{slot + 1}, one remains")

    # ---- reading Redis ---------------------------------------------------

    def xrange_all(self, stream):
        out = []
        start = "-"
        with self.redis.client(timeout=30) as c:
            while True:
                page = harness.parse_entries(c.command(
                    "XRANGE", stream, start, "+", "COUNT", 5000))
                if not page:
                    return out
                out.extend(page)
                if len(page) < 5000:
                    return out
                start = "(" + page[-1][0]

    def groups(self, stream):
        try:
            gs = self.redis.command("XINFO", "GROUPS", stream)
        except harness.RespError:
            return []
        return [{g[i]: g[i + 1] for i in range(0, len(g), 2)} for g in gs]

    def group_problems(self):
        """Every group of every stream baton reads that has pending or
        unread entries, as text (empty: all quiet)."""
        out = []
        want = {f"{PREFIX}:events": {"rules"},
                f"{PREFIX}:handoffs": {SF}}
        if self.hs is not None:
            want[f"{PREFIX}:feedback"] = {HS}
        streams = set(want)
        for s in self.redis.command("KEYS", f"{PREFIX}:replay:*") or []:
            streams.add(s)
        last = {}
        for s in sorted(streams):
            gs = self.groups(s)
            names = {g["name"] for g in gs}
            for name in want.get(s, set()) - names:
                out.append(f"{s}: no consumer group {name}")
            try:
                info = self.redis.command("XINFO", "STREAM", s)
                last[s] = dict(zip(info[::2], info[1::2])).get(
                    "last-generated-id")
            except harness.RespError:
                last[s] = None
            for g in gs:
                lag = g.get("lag")
                caught_up = lag == 0 or (lag is None and g.get(
                    "last-delivered-id") == last[s])
                if g["pending"] != 0 or not caught_up:
                    out.append(f"{s} group {g['name']}: pending "
                               f"{g['pending']}, lag {lag}")
        return out

    # ---- settle and reconcile --------------------------------------------

    def snapshot_state(self):
        """What the settle watches and the reconciliation checks."""
        st = {}
        st["events"] = self.xrange_all(f"{PREFIX}:events")
        st["handoffs"] = self.xrange_all(f"{PREFIX}:handoffs")
        st["feedback"] = self.xrange_all(f"{PREFIX}:feedback")
        st["dlq"] = self.xrange_all(f"{PREFIX}:dlq")
        st["groups"] = self.group_problems()
        st["leads"] = self.sf.snapshot(include_calls=False)["leads"]
        return st

    def expectations_met(self, st):
        """The reasons the loop is not finished yet (empty: it is)."""
        why = []
        if st["groups"]:
            why.append("; ".join(st["groups"]))
        sf_emails = {(r.get("Email") or "").lower() for r in st["leads"]}
        handed = {f["lead"] for _, f in st["handoffs"]
                  if f.get("type") == "handoff.mql"}
        missing = handed - sf_emails
        if missing:
            why.append(f"{len(missing)} handoffs not in Salesforce yet")
        fb = collections.Counter((f["lead"], f["type"])
                                 for _, f in st["feedback"])
        short = 0
        for email, status in self.reps.acted.items():
            for t, n in FEEDBACK_OF[status].items():
                if fb[(email, t)] < n:
                    short += 1
        if short:
            why.append(f"{short} feedback entries not written yet")
        if self.hs is not None:
            _, props = self.hubspot_view()
            short = sum(1 for e in {f["lead"] for _, f in st["feedback"]}
                        if e not in props)
            short += sum(1 for e, status in self.reps.acted.items()
                         if e in props and {k: props[e].get(k) for k in
                                            HUBSPOT_OF[status]} !=
                         HUBSPOT_OF[status])
            if short:
                why.append(f"{short} HubSpot contacts not up to date yet")
        return why

    def settle(self, deadline):
        say("settle: waiting for every group to drain (at most "
            f"{deadline - time.monotonic():.0f}s)")
        why = ["not looked yet"]
        stable_since = None
        last_sizes = None
        while time.monotonic() < deadline:
            try:
                st = self.snapshot_state()
                why = self.expectations_met(st)
            except (OSError, harness.RespError) as e:
                why = [f"redis: {e!r}"]
                st = None
            if not why:
                sizes = (len(st["events"]), len(st["handoffs"]),
                         len(st["feedback"]), len(st["leads"]))
                # Past poll_lag + poll_overlap with nothing new: settled.
                if sizes != last_sizes:
                    stable_since, last_sizes = time.monotonic(), sizes
                elif time.monotonic() - stable_since >= 4.0:
                    say("settle: done")
                    return st
            else:
                stable_since = last_sizes = None
            time.sleep(0.5)
        self.problems.append("settle: not finished in time: "
                             + "; ".join(why))
        return self.snapshot_state()

    def reconcile(self, st):
        p = self.problems
        load, reps = self.load, self.reps

        # Requests and events.
        reqs = load.requests
        acked = [q for q in reqs if q.acked]
        retried = sum(1 for q in reqs if q.tries > 1)
        non2xx = collections.Counter()
        for q in reqs + load.redeliveries:
            for s, n in q.statuses.items():
                if s not in (200, 204):
                    non2xx[s] += n
        for q in reqs + load.redeliveries:
            if q.permanent is not None:
                p.append(f"request {q.rid} refused with {q.permanent}")
        unanswered = load.unanswered()
        if unanswered:
            p.append(f"{len(unanswered)} requests never answered 2xx, "
                     f"e.g. {unanswered[0].rid} "
                     f"({dict(unanswered[0].statuses)})")
        red_ok = sum(1 for q in load.redeliveries if q.acked)
        seen = collections.Counter((f.get("source"), f.get("id"))
                                   for _, f in st["events"])
        twice = {k: n for k, n in seen.items() if n > 1}
        if twice:
            p.append(f"{len(twice)} (source, id) pairs more than once in "
                     f"{PREFIX}:events, e.g. {sorted(twice.items())[:5]}")
        acked_ids = [i for q in acked for i in q.events]
        lost = [i for i in acked_ids if seen[("crm", i)] == 0]
        if lost:
            p.append(f"{len(lost)} events answered 2xx missing from "
                     f"{PREFIX}:events, e.g. {lost[:5]}")
        from_sf = [f for _, f in st["events"] if f.get("source") == SF]
        say(f"load: {len(reqs)} requests ({len(acked)} answered 2xx, "
            f"{retried} needed retries; non-2xx answers "
            f"{dict(non2xx) or 0}), {len(load.redeliveries)} redeliveries "
            f"({red_ok} 2xx); {len(acked_ids)} events acknowledged, "
            f"{len(st['events'])} in {PREFIX}:events ({len(from_sf)} from "
            f"{SF}'s polls), {len(lost)} lost, {len(twice)} doubled")

        # Handoffs and Salesforce Leads.
        handed = collections.Counter(f["lead"] for _, f in st["handoffs"]
                                     if f.get("type") == "handoff.mql")
        sfc = collections.Counter((r.get("Email") or "").lower()
                                  for r in st["leads"])
        not_once = {e: sfc[e] for e in handed if sfc[e] != 1}
        if not_once:
            p.append(f"{len(not_once)} handed-off leads not exactly one "
                     f"Lead in Salesforce, e.g. "
                     f"{sorted(not_once.items())[:5]}")
        strays = [e for e in sfc if e not in handed]
        if strays:
            p.append(f"{len(strays)} Salesforce Leads without a handoff, "
                     f"e.g. {strays[:5]}")
        hot_missing = [e for e in load.hot if e not in handed]
        if hot_missing:
            p.append(f"{len(hot_missing)} hot leads (acknowledged) never "
                     f"handed off, e.g. {hot_missing[:5]}")
        ids_wrong = []
        by_email = {(r.get("Email") or "").lower(): r["Id"]
                    for r in st["leads"]}
        with self.redis.client(timeout=10) as c:
            for e in handed:
                got = c.command("HGET", f"{PREFIX}:lead:{e}", "ids." + SF)
                if e in by_email and got != by_email[e]:
                    ids_wrong.append((e, got, by_email[e]))
        if ids_wrong:
            p.append(f"{len(ids_wrong)} leads whose ids.{SF} is not their "
                     f"Lead's Id, e.g. {ids_wrong[:3]}")
        episodes = sum(handed.values())
        counters = self.sf.snapshot(False, False)["counters"]
        say(f"handoffs: {episodes} handoff.mql for {len(handed)} leads "
            f"({len(load.hot)} hot), {len(st['leads'])} Salesforce Leads "
            f"({counters['created']} created, {counters['updated']} "
            f"updates, {counters['faults_injected']} faults injected, "
            f"{counters['connections_dropped']} connections dropped), "
            f"{len(not_once)} not exactly once, {len(strays)} strays")

        # The rules worker: each lead's events numbered 1..N by the
        # intake, all N applied (the hash's seq), one handoff per episode.
        seqs = collections.defaultdict(list)
        for _, f in st["events"]:
            seqs[f.get("lead")].append(int(f.get("seq") or 0))
        gaps, behind, episodes_off = [], [], []
        with self.redis.client(timeout=10) as c:
            for email, got in seqs.items():
                n = len(got)
                if sorted(got) != list(range(1, n + 1)):
                    gaps.append(email)
                flat = c.command("HMGET", f"{PREFIX}:lead:{email}", "seq_in",
                                 "seq", "mql_episode")
                if flat[0] != str(n) or flat[1] != str(n):
                    behind.append((email, n, flat[0], flat[1]))
                if int(flat[2] or 0) != handed[email]:
                    episodes_off.append((email, flat[2], handed[email]))
        if gaps:
            p.append(f"{len(gaps)} leads whose events' seq are not 1..N, "
                     f"e.g. {gaps[:5]}")
        if behind:
            p.append(f"{len(behind)} leads whose seq_in/seq differ from "
                     f"their event count (email, events, seq_in, seq), "
                     f"e.g. {behind[:5]}")
        if episodes_off:
            p.append(f"{len(episodes_off)} leads whose mql_episode is not "
                     f"their count of handoff.mql (email, episode, "
                     f"handoffs), e.g. {episodes_off[:5]}")
        say(f"rules: {len(seqs)} leads, {len(gaps)} with seq gaps, "
            f"{len(behind)} not fully applied, {len(episodes_off)} with "
            f"episodes != handoffs")

        # Rep decisions, lead.status events and feedback.
        status_ev = collections.Counter(f["lead"] for f in from_sf
                                        if f.get("type") == "lead.status")
        bad_status = {e: status_ev[e] for e in reps.acted
                      if status_ev[e] != 1}
        bad_status.update({e: n for e, n in status_ev.items()
                           if e not in reps.acted})
        if bad_status:
            p.append(f"{len(bad_status)} leads whose lead.status events "
                     f"from {SF} are not one per rep edit, e.g. "
                     f"{sorted(bad_status.items())[:5]}")
        if reps.errors:
            p.append(f"{len(reps.errors)} rep edits refused, e.g. "
                     f"{reps.errors[:3]}")
        fb = collections.Counter((f["lead"], f["type"])
                                 for _, f in st["feedback"])
        want = collections.Counter()
        for email, status in reps.acted.items():
            for t, n in FEEDBACK_OF[status].items():
                want[(email, t)] = n
        wrong = {k: (fb[k], want[k]) for k in set(fb) | set(want)
                 if fb[k] != want[k]}
        if wrong:
            p.append(f"{len(wrong)} (lead, feedback type) counts differ "
                     f"from the rep decisions (got, want), e.g. "
                     f"{sorted(wrong.items())[:5]}")
        by_status = collections.Counter(reps.acted.values())
        say(f"reps: {len(reps.decided)} Leads looked at, "
            f"{len(reps.acted)} edited ({dict(by_status)}); "
            f"{sum(status_ev.values())} lead.status events back; "
            f"{len(st['feedback'])} feedback entries "
            f"({dict(collections.Counter(t for _, t in fb.elements()))}), "
            f"{len(wrong)} mismatched")
        if self.hs is not None:
            self.reconcile_hubspot(st)
        else:
            say(f"feedback: no marketing connector pushes it "
                f"(BATON_SOAK_HUBSPOT=0; the webhook connector cannot): "
                f"reconciled in {PREFIX}:feedback above")

        # Groups and DLQ.
        for g in st["groups"]:
            p.append("consumer group not drained: " + g)
        no_reason = [(i, f) for i, f in st["dlq"] if not f.get("error")]
        if no_reason:
            p.append(f"{len(no_reason)} DLQ entries without an error "
                     f"reason: {no_reason[:3]}")
        if st["dlq"]:
            p.append(f"{len(st['dlq'])} entries in {PREFIX}:dlq (the "
                     f"faults were transient: none expected)")
            for i, f in st["dlq"][:20]:
                say(f"  dlq {i}: {f.get('connector')} {f.get('type')} "
                    f"{f.get('lead')} attempts {f.get('attempts')}: "
                    f"{f.get('error')}")
        say(f"groups: {len(st['groups'])} with pending or unread entries; "
            f"dlq: {len(st['dlq'])} entries")

    def hubspot_view(self):
        """HubSpot's live contacts: count per email, properties by email."""
        contacts = collections.Counter()
        props = {}
        for c in self.hs.snapshot(omit=("deliveries", "events", "calls"))[
                "contacts"]:
            if c.get("archived"):
                continue
            email = ((c.get("properties") or {}).get("email") or "").lower()
            contacts[email] += 1
            props[email] = c.get("properties") or {}
        return contacts, props

    def reconcile_hubspot(self, st):
        """The marketing side: one contact per lead with feedback, none
        other, each showing its rep decision as hs_push.c maps it."""
        contacts, props = self.hubspot_view()
        with_fb = {f["lead"] for _, f in st["feedback"]}
        missing = sorted(with_fb - set(contacts))
        strays = sorted(set(contacts) - with_fb)
        doubled = sorted(e for e, n in contacts.items() if n > 1)
        wrong = []
        for email, status in self.reps.acted.items():
            want = HUBSPOT_OF[status]
            got = {k: props.get(email, {}).get(k) for k in want}
            if email in contacts and got != want:
                wrong.append((email, status, got))
        p = self.problems
        if missing:
            p.append(f"{len(missing)} leads with feedback not in HubSpot, "
                     f"e.g. {missing[:5]}")
        if strays:
            p.append(f"{len(strays)} HubSpot contacts without feedback, "
                     f"e.g. {strays[:5]}")
        if doubled:
            p.append(f"{len(doubled)} emails with several HubSpot "
                     f"contacts, e.g. {doubled[:5]}")
        if wrong:
            p.append(f"{len(wrong)} HubSpot contacts that do not show their "
                     f"feedback (email, rep status, properties), e.g. "
                     f"{wrong[:3]}")
        counters = self.hs.snapshot(omit=("contacts", "deals", "deliveries",
                                          "events", "calls"))["counters"]
        say(f"hubspot: {len(with_fb)} leads with feedback, "
            f"{sum(contacts.values())} contacts ({counters['calls']} API "
            f"calls), {len(missing)} missing, {len(strays)} strays, "
            f"{len(doubled)} doubled, {len(wrong)} not showing their "
            f"feedback")

    def finish_processes(self):
        """SIGTERM for the live batond (exit 0 expected); every batond's
        stderr, killed ones included, free of sanitizer reports."""
        for i in self.live():
            b = self.slots[i]
            say(f"batond b{i + 1} (pid {b.proc.pid}, up since the last "
                f"restart): peak RSS {vm_hwm(b.proc.pid)}")
            rc = b.stop(signal.SIGTERM, timeout=20)
            if rc != 0:
                self.problems.append(f"batond b{i + 1} exited with status "
                                     f"{rc} on SIGTERM (0 expected)")
        self.ports = []
        for b in self.all_batonds:
            m = harness.SANITIZER_REPORT.search(b.log_text())
            if m:
                self.problems.append(f"{b.stderr_path}: {m.group(0)}")

    # ---- the run ---------------------------------------------------------

    def run(self):
        cfg = self.cfg
        say(f"soak: seed {cfg.seed} (BATON_SOAK_SEED), {cfg.seconds:.0f}s "
            f"of load at {cfg.rate:g} requests/s, settle at most "
            f"{cfg.settle:.0f}s, marketing side: "
            + ("HubSpot" if cfg.hubspot else
               f"{PREFIX}:feedback"))
        self.setup()
        self.load = Load(self, cfg)
        self.reps = Reps(self, cfg.seed)
        self.load.start()
        self.reps.start()
        load_end = time.monotonic() + cfg.seconds
        self.chaos_loop(load_end)
        say(f"chaos: {sum(self.chaos.values())} actions "
            f"({dict(sorted(self.chaos.items()))}); load stops")
        deadline = time.monotonic() + cfg.settle
        self.load.stop(deadline)
        self.reps.stop()
        st = self.settle(deadline)
        self.reconcile(st)
        self.finish_processes()
        if self.problems:
            say(f"soak: FAILED (seed {cfg.seed}), {len(self.problems)} "
                f"problem(s):")
            for x in self.problems:
                print("  - " + x, flush=True)
            self.dump_logs()
            return 1
        say(f"soak: OK (seed {cfg.seed})")
        return 0

    def dump_logs(self):
        for b in self.all_batonds:
            text = b.log_text()
            sys.stderr.write(f"\n----- {b.stderr_path} (last 6000 "
                             f"characters) -----\n{text[-6000:]}\n")
        if self.redis is not None:
            sys.stderr.write(f"\n----- redis log -----\n"
                             f"{self.redis.log_text()[-3000:]}\n")


def main():
    cfg = Cfg()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    soak = Soak(cfg)
    rc = 1
    try:
        rc = soak.run()
    except Interrupted as e:
        say(f"soak: interrupted ({e}), seed {cfg.seed}; cleaning up")
        rc = 130
    except AssertionError as e:
        say(f"soak: FAILED (seed {cfg.seed}): {e}")
        soak.dump_logs()
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        soak.cleanup()
    sys.exit(rc)


if __name__ == "__main__":
    main()
