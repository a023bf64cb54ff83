"""test_delivery_slack.py - the delivery core through the whole loop:
webhooks in, SPEC's rules, PREFIX:handoffs, the consumer group of a
`type = slack` connector, and tests/sim/slack_sim.py answering.

batond runs with the CRM webhook of rules_helpers and one
[connector sales-channel] of type slack whose base_url points at the
simulator.  The cases: one MQL is one message and its handoff entry is
acknowledged; a 429 storm with Retry-After is waited out, never cut
short; refusals (404 no_service, 410 channel_is_archived) land in
PREFIX:dlq with Slack's answer and come back once through `batonctl dlq
replay`; retries end in the DLQ after retry_max; a SIGKILL with a post in
flight loses nothing (the restarted process claims the dead one's
entries), and a SIGTERM does not wait for it; two processes share the
group and the survivor of a kill -9 finishes everything; an SLA breach is
a message of its own; a malformed entry and a replay that fails again
keep in PREFIX:dlq what dlq.h promises.

Every count is exact except where a kill makes a second post possible
(at-least-once), and then the allowance is bounded and tied to the
entries the dead process held."""

import json
import os
import re
import signal
import sys
import threading
import time

import harness
from harness import BatonCase, run_ctl, wait_until
from rules_helpers import (CRM, SPEC_RULES, activity, entries, lead, metric,
                           post, upsert, wait_settled, write_rules)

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "sim"))
from slack_sim import DEFAULT_HOOK, SlackSim  # noqa: E402

NAME = "sales-channel"
HANDOFFS = "baton:handoffs"
DLQ = "baton:dlq"
REPLAY = "baton:replay:" + NAME
HOOK_URL = "https://hooks.slack.com" + DEFAULT_HOOK


def slack_conf(sim, **extra):
    """The notify connector, pointed at the simulator; quick retries and
    a rate budget that does not make 30 messages take 30 s."""
    c = {
        "type": "slack",
        "role": "notify",
        "webhook_url": "env:BATON_IT_SLACK_HOOK",
        "base_url": sim.base_url,
        "retry_base": "100ms",
        "retry_cap": "1s",
        "rate_limit": "100",
        "rate_window": "1s",
    }
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def items_metric(b, result):
    return metric(b, 'baton_delivery_items_total{connector="%s",'
                  'result="%s"}' % (NAME, result))


class SlackCase(BatonCase):

    rules_text = SPEC_RULES
    slack_extra = {}
    env = {}

    def setUp(self):
        super().setUp()
        # No token bucket on the simulator's side: the counts below are
        # of batond's doing only.
        self.sim = SlackSim(port=0, rate_per_sec=0).start()
        self.addCleanup(self.sim.stop)
        # A post whose client was killed ends in EPIPE when the simulator
        # answers it; that is expected here, not worth a traceback.
        self.sim.httpd.handle_error = lambda request, address: None
        self.start_redis()
        self.rules_path = write_rules(self.tmp, self.rules_text)
        self.start_processes()

    def start_processes(self):
        self.b = self.launch()

    def launch(self, dir=None, env=None):
        e = {"BATON_IT_SLACK_HOOK": HOOK_URL}
        e.update(self.env)
        e.update(env or {})
        return self.start_batond(
            {"crm": CRM, NAME: slack_conf(self.sim, **self.slack_extra)},
            daemon={"rules": self.rules_path}, env=e, dir=dir)

    # ---- helpers ---------------------------------------------------------

    def qualify(self, email, b=None, at=None):
        """Posts what makes email an MQL under SPEC's rules (fit 35,
        score 75), in one request."""
        at = at if at is not None else int(time.time() * 1000)
        post(b or self.b,
             upsert(email, at=at, title="VP Sales", company_size=500,
                    company="Acme"),
             activity(email, "form_submit", at=at, form="demo-request"))

    def messages(self, email=None, kind="*New MQL:*"):
        """Accepted messages whose first line starts with kind and names
        email ("... email" or "... Name (email)"); every message when
        both are None."""
        out = []
        for m in self.sim.get_messages():
            head = (m.get("text") or "").split("\n")[0]
            if kind is not None and not head.startswith(kind + " "):
                continue
            if email is not None and not (head.endswith(" " + email) or
                                          head.endswith(f"({email})")):
                continue
            out.append(m)
        return out

    def wait_messages(self, n, email=None, kind="*New MQL:*", timeout=15):
        return wait_until(lambda: len(self.messages(email, kind)) >= n and
                          self.messages(email, kind), timeout,
                          what=f"{n} message(s) {kind} {email or ''}")

    def pending(self, stream=HANDOFFS, group=NAME):
        """XPENDING's count for the group (0 when it has none)."""
        try:
            return self.redis.command("XPENDING", stream, group)[0]
        except harness.RespError as e:
            if "NOGROUP" in str(e):
                return 0
            raise

    def group(self, stream=HANDOFFS, group=NAME):
        for g in self.redis.command("XINFO", "GROUPS", stream):
            d = {g[i]: g[i + 1] for i in range(0, len(g), 2)}
            if d["name"] == group:
                return d
        return None

    def wait_delivered(self, timeout=15):
        """Until the slack group has read every handoff and has nothing
        pending, on the main and the replay stream."""
        def done():
            g = self.group()
            if g is None or g["pending"] != 0 or g.get("lag") != 0:
                return False
            try:
                r = self.group(REPLAY)
            except harness.RespError:
                r = None
            return r is None or (r["pending"] == 0 and r.get("lag") == 0)
        wait_until(done, timeout, interval=0.05,
                   what="the slack group to read and acknowledge every "
                   "handoff")

    def dlq(self):
        return self.redis.entries(DLQ)

    def calls(self, status=None):
        """The simulator's log of webhook POSTs (controls excluded)."""
        snap = self.sim.snapshot(include_messages=False)
        return [c for c in snap["calls"] if c["path"] == DEFAULT_HOOK and
                (status is None or c["status"] == status)]

    def ctl(self, b, *args, rc=0):
        p = run_ctl(b.conf, *args)
        self.assertEqual(p.returncode, rc,
                         f"stdout: {p.stdout!r} stderr: {p.stderr!r}")
        return p

    def kill9(self, b):
        """SIGKILLs b for good: it leaves the cleanup's list (a -9 exit is
        expected), its log is kept for the failure report and checked for
        sanitizer reports here."""
        b.stop(signal.SIGKILL)
        self.batonds.remove(b)
        log = b.log_text()
        self._logs.append(("killed batond stderr", log))
        m = harness.SANITIZER_REPORT.search(log)
        self.assertIsNone(m, m and m.group(0))


class Handoff(SlackCase):

    def test_mql_is_one_message_and_acknowledged(self):
        email = "ada@acme.example"
        self.qualify(email)
        got = self.wait_messages(1, email)
        wait_settled(self.redis)
        self.wait_delivered()
        offs = entries(self.redis, "handoffs", email, "handoff.mql")
        self.assertEqual(len(offs), 1, offs)
        self.assertEqual(self.redis.xlen(HANDOFFS), 1)
        # Exactly one post, one message, in the hook's channel.
        self.assertEqual(len(self.sim.get_messages()), 1)
        self.assertEqual(len(self.calls()), 1)
        m = got[0]
        self.assertEqual(m["channel"], "#sales")
        self.assertEqual(m["content_type"], "application/json")
        r = self.rules_path
        self.assertEqual(m["body"], {"text": (
            f"*New MQL:* {email}\n"
            "*Title:* VP Sales\n"
            "*Company:* Acme (500 employees)\n"
            "*Score:* 75 (fit 35, engagement 40)\n"
            "*Why:*\n"
            '\u2022 +20 if title ~ "vp|vice president|director|head of" '
            f"({r}:2)\n"
            f"\u2022 +15 if company_size &gt;= 200 ({r}:3)\n"
            '\u2022 +40 on form_submit where form == "demo-request" '
            f"({r}:5)"), "unfurl_links": False})
        # Acknowledged: nothing pending for the group, nothing in the DLQ.
        self.assertEqual(self.pending(), 0)
        self.assertEqual(self.redis.command("XPENDING", HANDOFFS, NAME),
                         [0, None, None, None])
        self.assertEqual(self.redis.xlen(DLQ), 0)
        # batonctl lead shows the handoff.
        p = self.ctl(self.b, "lead", email, "--json")
        o = json.loads(p.stdout)
        self.assertEqual(o["stage"], "mql")
        hs = o["handoffs"]
        self.assertEqual(len(hs), 1, hs)
        self.assertEqual(hs[0]["type"], "handoff.mql")
        self.assertEqual(hs[0]["data"]["episode"], 1)
        text = self.ctl(self.b, "lead", email).stdout
        self.assertIn("handed to sales: episode 1, score 75", text)
        self.assertEqual(items_metric(self.b, "ok"), 1)
        self.assertEqual(items_metric(self.b, "retried"), 0)
        self.assertEqual(items_metric(self.b, "dropped"), 0)
        # Nothing more a while later (no second post of the same entry).
        time.sleep(0.5)
        self.assertEqual(len(self.sim.get_messages()), 1)
        self.assertEqual(len(self.calls()), 1)


class RetryAfter(SlackCase):

    STORM = 3          # 429s in a row, each with Retry-After: 2

    def test_429_storm_is_waited_out(self):
        email = "storm@acme.example"
        self.sim.fail_next(self.STORM, 429, retry_after=2)
        t0 = time.time()
        self.qualify(email)
        self.wait_messages(1, email, timeout=20)
        self.wait_delivered()
        calls = self.calls()
        self.assertEqual([c["status"] for c in calls],
                         [429] * self.STORM + [200], calls)
        # Each post after a 429 came at least Retry-After (2 s) later;
        # the message was accepted no sooner than 3 x 2 s after the
        # first refusal.
        for before, after in zip(calls, calls[1:]):
            self.assertGreaterEqual(after["t"] - before["t"], 1.95,
                                    (before, after))
        msgs = self.sim.get_messages()
        self.assertEqual(len(msgs), 1)
        self.assertGreaterEqual(msgs[0]["t"] - calls[0]["t"],
                                2 * self.STORM - 0.05)
        self.assertGreater(msgs[0]["t"], t0 + 2 * self.STORM - 0.05)
        self.assertEqual(items_metric(self.b, "retried"), self.STORM)
        self.assertEqual(items_metric(self.b, "ok"), 1)
        self.assertEqual(items_metric(self.b, "dropped"), 0)
        self.assertEqual(self.pending(), 0)
        self.assertEqual(self.redis.xlen(DLQ), 0)


class Refused(SlackCase):

    def test_refusals_go_to_the_dlq_and_replay_once(self):
        a, z = "gone@acme.example", "archived@acme.example"
        # 404 no_service: the webhook was removed.
        self.sim.set_hook_status(None, "removed")
        self.qualify(a)
        wait_until(lambda: len(self.dlq()) == 1, 15, what="a DLQ entry")
        # 410 channel_is_archived.
        self.sim.archive()
        self.qualify(z)
        wait_until(lambda: len(self.dlq()) == 2, 15,
                   what="a second DLQ entry")
        self.wait_delivered()
        self.assertEqual(self.sim.get_messages(), [])
        self.assertEqual([c["status"] for c in self.calls()], [404, 410])

        offs = {f["lead"]: eid for eid, f in self.redis.entries(HANDOFFS)}
        (_, fa), (_, fz) = self.dlq()
        for f, email, err in ((fa, a, "HTTP 404: no_service"),
                              (fz, z, "HTTP 410: channel_is_archived")):
            self.assertEqual(f["lead"], email)
            self.assertEqual(f["type"], "handoff.mql")
            self.assertEqual(f["source"], "rules")
            self.assertEqual(f["connector"], NAME)
            self.assertEqual(f["stream"], "handoffs")
            self.assertEqual(f["entry"], offs[email])
            self.assertEqual(f["error"], err)
            self.assertEqual(f["attempts"], "1")
            self.assertEqual(json.loads(f["data"])["episode"], 1)
        self.assertEqual(items_metric(self.b, "dropped"), 2)
        self.assertEqual(items_metric(self.b, "retried"), 0)

        listing = self.ctl(self.b, "dlq", "list").stdout
        for eid, f in self.dlq():
            self.assertIn(eid + "  failed ", listing)
            self.assertIn(f"  lead       {f['lead']}\n", listing)
            self.assertIn(f"  error      {f['error']}\n", listing)
            self.assertIn(f"  from       handoffs {f['entry']}\n", listing)
        self.assertEqual(listing.count(f"  connector  {NAME}\n"), 2)

        # Replay after the channel is fixed: each arrives once.
        self.sim.clear_faults()
        p = self.ctl(self.b, "dlq", "replay")
        self.assertEqual(p.stdout, "replayed 2 entries, 0 missing\n")
        self.wait_messages(1, a)
        self.wait_messages(1, z)
        self.wait_delivered()
        self.assertEqual(len(self.messages(a)), 1)
        self.assertEqual(len(self.messages(z)), 1)
        self.assertEqual(len(self.sim.get_messages()), 2)
        self.assertEqual(self.dlq(), [])
        self.assertEqual(self.ctl(self.b, "dlq", "list").stdout,
                         "no entries in baton:dlq\n")
        # The replay entries were acknowledged and removed.
        self.assertEqual(self.redis.xlen(REPLAY), 0)
        self.assertEqual(self.pending(REPLAY), 0)
        self.assertEqual(items_metric(self.b, "ok"), 2)


    def test_replay_that_fails_again_names_the_original_entry(self):
        # dlq.h: `stream` and `entry` say where the entry came from; a
        # replay entry carries `entry` (its handoffs id) for that.
        email = "again@acme.example"
        self.sim.set_hook_status(None, "removed")
        self.qualify(email)
        wait_until(lambda: len(self.dlq()) == 1, 15, what="a DLQ entry")
        (first_id, first), = self.dlq()
        handoff_id = self.redis.entries(HANDOFFS)[0][0]
        self.assertEqual(first["entry"], handoff_id)
        self.ctl(self.b, "dlq", "replay")
        wait_until(lambda: [i for i, _ in self.dlq()] not in ([], [first_id]),
                   15, what="the replayed entry back in the DLQ")
        self.wait_delivered()
        (_, again), = self.dlq()
        self.assertEqual(again["error"], "HTTP 404: no_service")
        self.assertEqual((again["stream"], again["entry"]),
                         ("handoffs", handoff_id))


class Malformed(SlackCase):

    def test_malformed_entry_keeps_its_fields_in_the_dlq(self):
        # dlq.h: a DLQ entry is the failed entry's flat fields; a
        # malformed one "goes to the DLQ with its fields as they were".
        eid = self.redis.command(
            "XADD", HANDOFFS, "*", "v", "1", "type", "handoff.mql", "lead",
            "x@acme.example", "source", "hand", "id", "h1", "at",
            "1763900000000", "data", "{oops")
        wait_until(lambda: len(self.dlq()) == 1, 15, what="a DLQ entry")
        self.wait_delivered()
        (_, f), = self.dlq()
        self.assertEqual(f["entry"], eid)
        self.assertRegex(f["error"], "^malformed entry: field data is not "
                         "a JSON object")
        self.assertEqual(f["data"], "{oops")
        self.assertEqual(self.sim.get_messages(), [])
        self.assertEqual({k: f[k] for k in ("v", "type", "lead", "source",
                                            "id", "at")},
                         {"v": "1", "type": "handoff.mql",
                          "lead": "x@acme.example", "source": "hand",
                          "id": "h1", "at": "1763900000000"})


class Exhausted(SlackCase):

    slack_extra = {"retry_max": "2"}

    def test_gives_up_after_retry_max(self):
        email = "flaky@acme.example"
        self.sim.fail_next(100, 500)
        self.qualify(email)
        wait_until(lambda: len(self.dlq()) == 1, 15, what="a DLQ entry")
        self.wait_delivered()
        (_, f), = self.dlq()
        self.assertEqual(f["lead"], email)
        self.assertEqual(f["attempts"], "2")
        self.assertEqual(f["error"], "gave up after 2 attempts; last "
                         "error: HTTP 500: rollup_error")
        self.assertEqual([c["status"] for c in self.calls()], [500, 500])
        self.assertEqual(self.sim.get_messages(), [])
        self.assertEqual(items_metric(self.b, "retried"), 1)
        self.assertEqual(items_metric(self.b, "dropped"), 1)
        self.assertEqual(items_metric(self.b, "ok"), 0)
        # No third post later on.
        time.sleep(0.5)
        self.assertEqual(len(self.calls()), 2)


class InFlight:
    """Counts the webhook POSTs the simulator has started to answer and
    holds the first one until release(): a post that is out, for as long
    as the test needs, whatever the machine's speed.  Once released, the
    simulator answers it as usual (and records the message)."""

    def __init__(self, sim):
        self.lock = threading.Lock()
        self.started = 0
        self.gate = threading.Event()
        orig = sim.take_fault

        def take_fault(path):
            if path == DEFAULT_HOOK:
                with self.lock:
                    self.started += 1
                    first = self.started == 1
                if first:
                    self.gate.wait(60)
            return orig(path)
        sim.take_fault = take_fault

    def count(self):
        with self.lock:
            return self.started

    def release(self):
        self.gate.set()


class KilledInFlight(SlackCase):

    N = 20

    def test_sigkill_with_a_post_out(self):
        flight = InFlight(self.sim)
        self.addCleanup(flight.release)
        emails = [f"kill{i}@acme.example" for i in range(self.N)]
        for email in emails:
            self.qualify(email)
        wait_settled(self.redis)
        # The first post is held by the simulator; the process has read
        # every handoff (one batch out, the rest waiting for it).
        wait_until(lambda: flight.count() >= 1, 10, what="a post out")
        wait_until(lambda: self.pending() == self.N, 10,
                   what=f"{self.N} handoffs read by the slack group")
        self.assertEqual(flight.count(), 1)
        self.assertEqual(self.sim.get_messages(), [])
        self.assertEqual(len(self.redis.command(
            "XINFO", "CONSUMERS", HANDOFFS, NAME)), 1)
        first = self.redis.entries(HANDOFFS)[0][1]["lead"]
        self.b.stop(signal.SIGKILL)
        # A new process (a new consumer name) claims what the dead one
        # held once it has been idle 500 ms.
        self.b.env["BATON_TEST_DELIVERY_IDLE_MS"] = "500"
        self.b.start()

        for email in emails:
            self.wait_messages(1, email, timeout=20)
        self.wait_delivered(20)
        # The post that was out reaches Slack after the kill (the
        # simulator records it when released; nobody reads the answer),
        # and the new process posted that handoff again: at least once,
        # at most twice, and only that one.
        self.assertEqual(len(self.sim.get_messages()), self.N)
        flight.release()
        wait_until(lambda: len(self.sim.get_messages()) == self.N + 1, 10,
                   what="the post held across the kill to land")
        counts = {e: len(self.messages(e)) for e in emails}
        for e in emails:
            self.assertGreaterEqual(counts[e], 1, counts)
            self.assertLessEqual(counts[e], 2, counts)
        self.assertEqual(counts[first], 2, counts)
        self.assertEqual(sum(counts.values()), self.N + 1, counts)
        self.assertEqual(self.pending(), 0)
        self.assertEqual(self.redis.xlen(DLQ), 0)
        m = re.findall(r"claimed (\d+) entr(?:y|ies) another consumer "
                       r"left unacknowledged", self.b.log_text())
        self.assertEqual(sum(int(n) for n in m), self.N, m)
        self.assertEqual(items_metric(self.b, "ok"), self.N)

    def test_sigterm_with_a_post_out(self):
        # A clean stop does not wait for Slack: the post is cancelled,
        # its entry stays pending, and the next process finishes it.
        flight = InFlight(self.sim)
        self.addCleanup(flight.release)
        email = "term@acme.example"
        self.qualify(email)
        wait_until(lambda: flight.count() >= 1, 10, what="a post out")
        self.assertEqual(self.b.stop(signal.SIGTERM), 0)
        self.assertEqual(self.pending(), 1)
        self.assertEqual(self.redis.xlen(DLQ), 0)
        self.b.env["BATON_TEST_DELIVERY_IDLE_MS"] = "500"
        self.b.start()
        self.wait_messages(1, email)
        self.wait_delivered()
        self.assertRegex(self.b.log_text(), r"claimed 1 entry another "
                         r"consumer left unacknowledged")
        # The cancelled post had reached Slack whole: once answered, it
        # is a second message (at least once, never lost).
        self.assertEqual(len(self.sim.get_messages()), 1)
        flight.release()
        wait_until(lambda: len(self.messages(email)) == 2, 10,
                   what="the cancelled post to land too")
        self.assertEqual(len(self.sim.get_messages()), 2)
        self.assertEqual(self.redis.xlen(DLQ), 0)


class TwoProcesses(SlackCase):

    N = 30
    IDLE_MS = int(500 * harness.SLOW)
    env = {"BATON_TEST_DELIVERY_IDLE_MS": str(IDLE_MS),
           "BATON_TEST_RULES_IDLE_MS": "1000"}

    def start_processes(self):
        self.b1 = self.launch(dir=os.path.join(self.tmp, "b1"))
        self.b2 = self.launch(dir=os.path.join(self.tmp, "b2"))

    def held_by_others(self, me):
        """Entry ids pending for group members other than consumer me."""
        out = set()
        for c in self.redis.command("XINFO", "CONSUMERS", HANDOFFS, NAME):
            d = {c[i]: c[i + 1] for i in range(0, len(c), 2)}
            if d["name"] == me or d["pending"] == 0:
                continue
            for eid, _, _, _ in self.redis.command(
                    "XPENDING", HANDOFFS, NAME, "-", "+", 1000, d["name"]):
                out.add(eid)
        return out

    def consumer_of(self, b):
        """b's consumer name in consumer groups: "<hostname>-<pid>"."""
        return f"{os.uname().nodename}-{b.proc.pid}"

    def test_two_batonds_share_the_group_and_survive_a_kill(self):
        # Slow answers, so that the kill lands while b2 holds entries.
        self.sim.set_latency(200)
        emails = [f"pair{i}@acme.example" for i in range(self.N)]
        half = self.N // 2
        for i, email in enumerate(emails[:half]):
            self.qualify(email, b=(self.b1, self.b2)[i % 2])
        wait_until(lambda: len(self.sim.get_messages()) >= 4, 15,
                   what="the first messages")
        consumers = self.redis.command("XINFO", "CONSUMERS", HANDOFFS, NAME)
        me = self.consumer_of(self.b1)
        # What b2 held when it died: the only entries that may be posted
        # twice (by b2 before the kill, then by b1 after claiming them).
        held = self.held_by_others(me)
        self.kill9(self.b2)
        b2_log = self._logs[-1][1]
        held |= self.held_by_others(me)
        self.assertTrue(held, "the kill should land while b2 holds "
                        "entries")
        self.sim.set_latency(0)
        for email in emails[half:]:
            self.qualify(email, b=self.b1)

        for email in emails:
            self.wait_messages(1, email, timeout=20)
        wait_settled(self.redis, 20)
        self.wait_delivered(20)
        self.assertEqual(self.pending(), 0)
        self.assertEqual(self.redis.xlen(DLQ), 0)
        self.assertEqual(self.redis.xlen(HANDOFFS), self.N)
        # Both processes were consumers of the group before the kill.
        names = {c[c.index("name") + 1] for c in consumers}
        self.assertEqual(len(names), 2, consumers)
        self.assertIn(me, names)
        entry_of = {f["lead"]: eid for eid, f in
                    self.redis.entries(HANDOFFS)}
        counts = {e: len(self.messages(e)) for e in emails}
        for e, n in counts.items():
            if n != 1:
                self.assertEqual(n, 2, counts)
                self.assertIn(entry_of[e], held,
                              f"{e} posted twice but its handoff was not "
                              f"held by the killed process ({held})")
        self.assertEqual(sum(counts.values()), len(self.sim.get_messages()))
        # Both delivered some (the group was shared), and none was posted
        # by both unless the dead one held it.
        posted = re.compile(r"\[slack:%s\] entry (\S+) posted" % NAME)
        by1 = set(posted.findall(self.b1.log_text()))
        by2 = set(posted.findall(b2_log))
        self.assertTrue(by1 and by2, (len(by1), len(by2)))
        self.assertEqual((by1 & by2) - held, set())
        self.assertEqual(len(by1 | by2), self.N)
        # The survivor claimed what b2 left.
        m = re.findall(r"claimed (\d+) entr(?:y|ies) another consumer "
                       r"left unacknowledged", self.b1.log_text())
        self.assertGreaterEqual(sum(int(n) for n in m), 1, m)


class Breach(SlackCase):

    rules_text = SPEC_RULES.replace("within = 24h", "within = 2s").replace(
        "on_breach = notify, recycle", "on_breach = notify")

    def test_sla_breach_is_a_message(self):
        email = "waiting@acme.example"
        self.qualify(email)
        self.wait_messages(1, email)
        got = self.wait_messages(1, email, kind="*SLA breached:*",
                                 timeout=20)
        self.wait_delivered()
        self.assertEqual(len(got), 1)
        lines = got[0]["text"].split("\n")
        self.assertEqual(len(lines), 4, lines)
        self.assertEqual(lines[0], f"*SLA breached:* accept for {email}")
        self.assertRegex(lines[1], r"^\*Limit:\* 2s after mql \(deadline "
                         r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)$")
        self.assertEqual(lines[2:], ["*Owner:* nobody assigned",
                                     "*On breach:* notify"])
        self.assertEqual(len(entries(self.redis, "handoffs", email,
                                     "sla.breached")), 1)
        self.assertEqual(len(self.messages(email)), 1)
        self.assertEqual(len(self.sim.get_messages()), 2)
        self.assertEqual(items_metric(self.b, "ok"), 2)
        self.assertEqual(self.pending(), 0)
        self.assertEqual(lead(self.redis, email)["stage"], "mql")


if __name__ == "__main__":
    harness.main()
