"""test_ctl_lead_stats.py - `batonctl lead` and `batonctl stats` over data
seeded straight into Redis in the layout daemon/lead.h specifies (the lead
hash, its history list of JSON lines, and flat entries in the decisions,
handoffs and feedback streams), checked exactly in both output forms."""

import json
import os
import re
import time

import harness
from harness import BatonCase, conf_text, run_ctl, write_file

DAY_MS = 86400000

# Three contributions, as the worker keeps them in the hash's contribs.
C_TITLE = {"rule": '+20 if title ~ "vp"', "file": "rules.conf", "line": 2,
           "points": 20, "event": "1763900000000-0", "at": 1763900000000,
           "kind": "fit"}
C_SIZE = {"rule": "+15 if company_size >= 100", "file": "rules.conf",
          "line": 3, "points": 15, "event": "1763900000000-0",
          "at": 1763900000000, "kind": "fit"}
C_DEMO = {"rule": '+40 on form_submit where form ~ "demo"',
          "file": "rules.conf", "line": 5, "points": 37.5,
          "event": "1763900100000-0", "at": 1763900100000,
          "kind": "engagement"}


def hline(stream, type_, id_, at, data):
    return {"stream": stream, "type": type_, "id": id_, "at": at,
            "data": data}


# Ada's history, oldest first (LPUSHed in this order: the list is newest
# first, as the worker keeps it).
ADA_HISTORY = [
    hline("decisions", "lead.stage", "1763900000000-0/0", 1763900000000,
          {"from": None, "to": "subscriber", "why": "new lead",
           "event": "1763900000000-0", "episode": 0}),
    hline("decisions", "lead.scored", "1763900000000-0/1", 1763900000000,
          {"old": 0, "new": 35, "fit": 35, "engagement": 0,
           "contributions": [C_TITLE, C_SIZE],
           "event": "1763900000000-0"}),
    hline("decisions", "lead.stage", "1763900000000-0/2", 1763900000000,
          {"from": "subscriber", "to": "lead", "why": "fit 35",
           "event": "1763900000000-0", "episode": 0}),
    hline("decisions", "lead.scored", "1763900100000-0/0", 1763900100000,
          {"old": 35, "new": 72.5, "fit": 35, "engagement": 37.5,
           "contributions": [C_DEMO], "event": "1763900100000-0"}),
    hline("decisions", "lead.stage", "1763900100000-0/1", 1763900100000,
          {"from": "lead", "to": "mql",
           "why": "score >= 60 and fit >= 15 (rules.conf:10)",
           "event": "1763900100000-0", "episode": 1}),
    hline("handoffs", "handoff.mql", "1763900100000-0/2", 1763900100000,
          {"episode": 1, "score": 72.5, "fit": 35, "engagement": 37.5,
           "attrs": {"email": "ada@example.com"}, "ids": {"hubspot": "501"},
           "reasons": ['+20 if title ~ "vp" (rules.conf:2)',
                       '+40 on form_submit where form ~ "demo" '
                       '(rules.conf:5)']}),
    hline("feedback", "feedback.accepted", "1763903700000-0/0",
          1763903700000,
          {"episode": 1, "status": "working", "owner": "jo@acme.test",
           "mql_at": 1763900100000, "event": "1763903700000-0"}),
    hline("decisions", "lead.stage", "1763903700000-0/1", 1763903700000,
          {"from": "mql", "to": "sal", "why": "sales.status working",
           "event": "1763903700000-0", "episode": 1}),
    hline("feedback", "feedback.opportunity", "1763990000000-0/0",
          1763990000000,
          {"episode": 1, "stage": "proposal", "amount": 12000,
           "currency": "EUR", "owner": "jo@acme.test",
           "mql_at": 1763900100000, "event": "1763990000000-0"}),
]

ADA_HASH = {
    "email": "ada@example.com", "first_name": "Ada",
    "last_name": "Lovelace", "title": "VP Engineering", "company": "Acme",
    "custom.plan": "pro",
    "ids.hubspot": "501", "ids.salesforce": "00Q1",
    "fit": "35", "engagement": "37.5", "engagement_at": "1763900100000",
    "stage": "sal", "stage_at": "1763903700000",
    "sales.status": "working", "sales.owner": "jo@acme.test",
    "deal.stage": "proposal", "deal.amount": "12000",
    "mql_episode": "1", "created_at": "1763900000000",
    "handoff_at": "1763900100000", "accepted_at": "1763903700000",
    "seq": "4", "ver": "6", "seq_in": "4", "caps": "{}",
    "contribs": json.dumps([C_TITLE, C_SIZE, C_DEMO]),
}

ADA_REPORT = """\
ada@example.com: sal since 2025-11-23T13:15:00.000Z
score 72.5 = fit 35 + engagement 37.5
attributes: company=Acme custom.plan=pro email=ada@example.com \
first_name=Ada last_name=Lovelace title="VP Engineering"
ids: hubspot=501 salesforce=00Q1
sales: owner=jo@acme.test status=working
deal: amount=12000 stage=proposal
contributions:
  points  kind        where         event            rule
  +20     fit         rules.conf:2  1763900000000-0  +20 if title ~ "vp"
  +15     fit         rules.conf:3  1763900000000-0  +15 if company_size >= 100
  +37.5   engagement  rules.conf:5  1763900100000-0  \
+40 on form_submit where form ~ "demo"
history (newest first):
  2025-11-24T13:13:20.000Z  feedback.opportunity  \
owner jo@acme.test, stage proposal, amount 12000 EUR [event 1763990000000-0]
  2025-11-23T13:15:00.000Z  lead.stage            \
mql -> sal: sales.status working [event 1763903700000-0]
  2025-11-23T13:15:00.000Z  feedback.accepted     \
status working, owner jo@acme.test [event 1763903700000-0]
  2025-11-23T12:15:00.000Z  handoff.mql           \
handed to sales: episode 1, score 72.5: +20 if title ~ "vp" (rules.conf:2); \
+40 on form_submit where form ~ "demo" (rules.conf:5)
  2025-11-23T12:15:00.000Z  lead.stage            \
lead -> mql: score >= 60 and fit >= 15 (rules.conf:10) [event 1763900100000-0]
  2025-11-23T12:15:00.000Z  lead.scored           \
score 35 -> 72.5: +40 on form_submit where form ~ "demo" (rules.conf:5) \
[event 1763900100000-0]
  2025-11-23T12:13:20.000Z  lead.stage            \
subscriber -> lead: fit 35 [event 1763900000000-0]
  2025-11-23T12:13:20.000Z  lead.scored           \
score 0 -> 35: +20 if title ~ "vp" (rules.conf:2); \
+15 if company_size >= 100 (rules.conf:3) [event 1763900000000-0]
  2025-11-23T12:13:20.000Z  lead.stage            \
new -> subscriber: new lead [event 1763900000000-0]
"""

# Grace: recycled after an SLA breach; one malformed history line.
GRACE_HASH = {"email": "grace@example.com", "fit": "0",
              "engagement": "0", "score": "5", "stage": "recycled",
              "stage_at": "1763914500000", "stage_reason": "sla"}

GRACE_HISTORY = [
    hline("decisions", "sla.breached", "sla:1/0", 1763914500000,
          {"sla": "accept", "episode": 1, "after": "mql",
           "within_ms": 14400000, "deadline": 1763914500000,
           "on_breach": ["notify", "recycle"]}),
    "not json",
    hline("decisions", "lead.stage", "sla:1/1", 1763914500000,
          {"from": "mql", "to": "recycled", "why": "sla accept breached",
           "reason": "sla", "episode": 1}),
]

GRACE_REPORT = """\
grace@example.com: recycled since 2025-11-23T16:15:00.000Z (sla)
score 5 = fit 0 + engagement 0
attributes: email=grace@example.com
ids: none
contributions: none
history (newest first):
  2025-11-23T16:15:00.000Z  lead.stage    \
mql -> recycled: sla accept breached (reason: sla)
  2025-11-23T16:15:00.000Z  sla.breached  \
sla accept not met within 4h after mql; then notify, recycle
"""


class CtlCase(BatonCase):
    """Redis alone, and a batond.conf holding [redis] only."""

    def setUp(self):
        super().setUp()
        self.start_redis()
        self.conf = write_file(
            os.path.join(self.tmp, "batond.conf"),
            conf_text(redis={"url": self.redis.url, "prefix": "baton"}))

    def ctl(self, *args, rc=0):
        p = run_ctl(self.conf, *args)
        self.assertEqual(p.returncode, rc, p.stdout + p.stderr)
        return p

    def seed_lead(self, key, fields, history):
        flat = [x for kv in fields.items() for x in kv]
        self.redis.command("HSET", f"baton:lead:{key}", *flat)
        with self.redis.client() as c:
            for line in history:
                c.command("LPUSH", f"baton:lead:{key}:history",
                          line if isinstance(line, str)
                          else json.dumps(line))

    def xadd(self, stream, type_, data, at=None, lead="x@example.com",
             entry_id="*", c=None):
        args = ["XADD", f"baton:{stream}", entry_id, "v", "1",
                "type", type_, "lead", lead, "source", "rules",
                "id", f"{type_}-{time.monotonic_ns()}",
                "at", str(at if at is not None else int(time.time() * 1000)),
                "data", json.dumps(data)]
        if c is not None:
            return c.command(*args)
        return self.redis.command(*args)


class Lead(CtlCase):

    def test_report(self):
        self.seed_lead("ada@example.com", ADA_HASH, ADA_HISTORY)
        # The email is normalized like the intake does.
        p = self.ctl("lead", "  Ada@Example.COM ")
        self.assertEqual(p.stderr, "")
        self.assertEqual(p.stdout, ADA_REPORT)

    def test_json(self):
        self.seed_lead("ada@example.com", ADA_HASH, ADA_HISTORY)
        p = self.ctl("lead", "ada@example.com", "--json")
        self.assertEqual(p.stderr, "")
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        o = json.loads(lines[0])
        newest_first = list(reversed(ADA_HISTORY))
        self.assertEqual(o, {
            "lead": "ada@example.com",
            "stage": "sal", "stage_at": 1763903700000,
            "stage_reason": None,
            "score": 72.5, "fit": 35, "engagement": 37.5,
            "engagement_at": 1763900100000,
            "episode": 1, "created_at": 1763900000000,
            "handoff_at": 1763900100000, "accepted_at": 1763903700000,
            "ids": {"hubspot": "501", "salesforce": "00Q1"},
            "attrs": {"email": "ada@example.com", "first_name": "Ada",
                      "last_name": "Lovelace", "title": "VP Engineering",
                      "company": "Acme", "custom.plan": "pro"},
            "sales": {"status": "working", "owner": "jo@acme.test"},
            "deal": {"stage": "proposal", "amount": "12000"},
            "contributions": [C_TITLE, C_SIZE, C_DEMO],
            "history": newest_first,
            "handoffs": [h for h in newest_first
                         if h["stream"] == "handoffs"],
            "feedback": [h for h in newest_first
                         if h["stream"] == "feedback"],
        })

    def test_recycled_and_bad_history_line(self):
        self.seed_lead("grace@example.com", GRACE_HASH, GRACE_HISTORY)
        p = self.ctl("lead", "grace@example.com")
        self.assertEqual(p.stdout, GRACE_REPORT)
        self.assertEqual(p.stderr,
                         "batonctl lead: baton:lead:grace@example.com:"
                         "history: entry 1 is not a JSON object; "
                         "skipped\n")
        o = json.loads(self.ctl("lead", "grace@example.com",
                                "--json").stdout)
        self.assertEqual((o["score"], o["fit"], o["engagement"]), (5, 0, 0))
        self.assertEqual(o["stage_reason"], "sla")
        self.assertEqual(o["contributions"], [])
        self.assertEqual(o["ids"], {})
        self.assertEqual([h["type"] for h in o["history"]],
                         ["lead.stage", "sla.breached"])
        self.assertEqual(o["handoffs"], [])

    def test_unknown_lead(self):
        p = self.ctl("lead", "Nobody@Example.com", rc=1)
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr,
                         "batonctl: no lead nobody@example.com in baton\n")
        p = self.ctl("lead", "nobody@example.com", "--json", rc=1)
        self.assertEqual(p.stdout, "")

    def test_malformed_hash(self):
        self.seed_lead("ada@example.com", dict(ADA_HASH, fit="lots"), [])
        p = self.ctl("lead", "ada@example.com", rc=1)
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr,
                         "batonctl lead: baton:lead:ada@example.com: "
                         "field 'fit' is not a number ('lots')\n")
        self.seed_lead("ada@example.com",
                       dict(ADA_HASH, contribs='{"no": 1}'), [])
        p = self.ctl("lead", "ada@example.com", rc=1)
        self.assertEqual(p.stderr,
                         "batonctl lead: baton:lead:ada@example.com: "
                         "field 'contribs' is not a JSON array\n")

    def test_usage(self):
        p = self.ctl("lead", rc=2)
        self.assertEqual(p.stdout, "")
        self.assertTrue(p.stderr.startswith(
            "batonctl lead: missing EMAIL\nusage: batonctl lead EMAIL"),
            p.stderr)
        p = self.ctl("lead", "not-an-email", rc=2)
        self.assertRegex(p.stderr,
                         r"^batonctl lead: 'not-an-email': .*@.*\n$")
        p = self.ctl("lead", "a@example.com", "b@example.com", rc=2)
        self.assertIn("unexpected argument 'b@example.com'", p.stderr)
        p = self.ctl("lead", "--bogus", "a@example.com", rc=2)
        self.assertIn("usage: batonctl lead", p.stderr)


STATS_REPORT = """\
funnel since {since} ({arg})
  new leads                 {new}
  MQLs                      2
  accepted                  2
  rejected                  3
  SQLs                      1
  opportunities             1
  won                       1
  lost                      0
  recycled                  1
conversion:
  MQL / new leads           2 / {new:<8} {mql_rate:>7}
  accepted / MQL            2 / 2         100.0%
  SQL / accepted            1 / 2          50.0%
  opportunity / SQL         1 / 1         100.0%
  won / opportunity         1 / 1         100.0%
median MQL to acceptance: 1h 30m (2 accepted)
SLA breaches: 1 (accept 1)
top rejection reasons:
         2  budget
         1  no fit
"""


class Stats(CtlCase):

    def seed_funnel(self):
        now = int(time.time() * 1000)
        # Older than 30 days: only a longer --since counts it.
        self.xadd("decisions", "lead.stage",
                  {"from": None, "to": "subscriber"},
                  entry_id=f"{now - 40 * DAY_MS}-0")
        for n in range(4):
            self.xadd("decisions", "lead.stage",
                      {"from": None, "to": "subscriber", "why": "new"},
                      lead=f"l{n}@example.com")
        for n in range(2):
            self.xadd("decisions", "lead.stage",
                      {"from": "lead", "to": "mql", "why": "score"})
            self.xadd("handoffs", "handoff.mql", {"episode": 1})
        self.xadd("decisions", "lead.scored", {"old": 0, "new": 10})
        self.xadd("decisions", "sla.breached",
                  {"sla": "accept", "episode": 1, "after": "mql"})
        # The notify copy in handoffs is not a second breach.
        self.xadd("handoffs", "sla.breached",
                  {"sla": "accept", "episode": 1, "after": "mql"})
        at = now - 1000
        self.xadd("feedback", "feedback.accepted",
                  {"episode": 1, "mql_at": at - 3600000}, at=at)
        self.xadd("feedback", "feedback.accepted",
                  {"episode": 1, "mql_at": at - 7200000}, at=at)
        for reason in ("budget", "no fit", "budget"):
            self.xadd("feedback", "feedback.rejected", {"reason": reason})
        for t in ("sql", "opportunity", "won", "recycled"):
            self.xadd("feedback", "feedback." + t, {"episode": 1})
        return now

    def since_text(self, out):
        m = re.match(r"funnel since (\S+) \(", out)
        self.assertIsNotNone(m, out)
        return m.group(1)

    def test_report(self):
        self.seed_funnel()
        p = self.ctl("stats")
        self.assertEqual(p.stderr, "")
        self.assertEqual(p.stdout, STATS_REPORT.format(
            since=self.since_text(p.stdout), arg="30d", new="4",
            mql_rate="50.0%"))
        p = self.ctl("stats", "--since", "60d")
        self.assertEqual(p.stdout, STATS_REPORT.format(
            since=self.since_text(p.stdout), arg="60d", new="5",
            mql_rate="40.0%"))

    def test_json(self):
        before = int(time.time() * 1000)
        self.seed_funnel()
        p = self.ctl("stats", "--json")
        after = int(time.time() * 1000)
        self.assertEqual(p.stderr, "")
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        o = json.loads(lines[0])
        since = o.pop("since")
        self.assertLessEqual(before - 30 * DAY_MS, since)
        self.assertLessEqual(since, after - 30 * DAY_MS)
        self.assertEqual(o, {
            "since_text": "30d",
            "new_leads": 4, "mqls": 2, "accepted": 2, "rejected": 3,
            "sqls": 1, "opportunities": 1, "won": 1, "lost": 0,
            "recycled": 1,
            "conversion": [
                {"step": "mql_per_new_lead", "count": 2, "of": 4,
                 "percent": 50.0},
                {"step": "accepted_per_mql", "count": 2, "of": 2,
                 "percent": 100.0},
                {"step": "sql_per_accepted", "count": 1, "of": 2,
                 "percent": 50.0},
                {"step": "opportunity_per_sql", "count": 1, "of": 1,
                 "percent": 100.0},
                {"step": "won_per_opportunity", "count": 1, "of": 1,
                 "percent": 100.0},
            ],
            "rejected_reasons": [{"reason": "budget", "count": 2},
                                 {"reason": "no fit", "count": 1}],
            "mql_to_accept_median_ms": 5400000,
            "mql_to_accept_samples": 2,
            "sla_breaches": 1,
            "sla_breaches_by_sla": {"accept": 1},
        })

    def test_empty(self):
        p = self.ctl("stats", "--since", "1h")
        self.assertEqual(p.stderr, "")
        since = self.since_text(p.stdout)
        self.assertEqual(p.stdout, f"""\
funnel since {since} (1h)
  new leads                 0
  MQLs                      0
  accepted                  0
  rejected                  0
  SQLs                      0
  opportunities             0
  won                       0
  lost                      0
  recycled                  0
conversion:
  MQL / new leads           0 / 0              -
  accepted / MQL            0 / 0              -
  SQL / accepted            0 / 0              -
  opportunity / SQL         0 / 0              -
  won / opportunity         0 / 0              -
median MQL to acceptance: - (0 accepted)
SLA breaches: 0
top rejection reasons: none
""")
        o = json.loads(self.ctl("stats", "--json").stdout)
        self.assertIsNone(o["mql_to_accept_median_ms"])
        self.assertEqual([c["percent"] for c in o["conversion"]],
                         [None] * 5)

    def test_pages_and_top_five(self):
        # More than one XRANGE page (1000) in a stream; seven reasons of
        # which the five most frequent are shown, ties by name.
        with self.redis.client() as c:
            for n in range(2345):
                self.xadd("decisions", "lead.stage", {"from": None},
                          c=c)
            reasons = {"a": 1, "b": 5, "c": 3, "d": 3, "e": 2, "f": 1,
                       "g": 4}
            for r, k in reasons.items():
                for _ in range(k):
                    self.xadd("feedback", "feedback.rejected",
                              {"reason": r}, c=c)
            for n in range(1200):
                self.xadd("feedback", "feedback.accepted",
                          {"mql_at": 1000}, at=1000 + n * 1000, c=c)
        o = json.loads(self.ctl("stats", "--json").stdout)
        self.assertEqual(o["new_leads"], 2345)
        self.assertEqual(o["rejected"], 19)
        self.assertEqual(o["accepted"], 1200)
        self.assertEqual(o["mql_to_accept_samples"], 1200)
        # 0 .. 1199 s: the middle two are 599 s and 600 s.
        self.assertEqual(o["mql_to_accept_median_ms"], 599500)
        self.assertEqual(o["rejected_reasons"], [
            {"reason": "b", "count": 5}, {"reason": "g", "count": 4},
            {"reason": "c", "count": 3}, {"reason": "d", "count": 3},
            {"reason": "e", "count": 2}])

    def test_usage_and_errors(self):
        p = self.ctl("stats", "--since", "soon", rc=2)
        self.assertEqual(p.stderr, "batonctl stats: --since: 'soon' is "
                         "not a duration (30s, 5m, 1h, 7d)\n")
        p = self.ctl("stats", "extra", rc=2)
        self.assertTrue(p.stderr.startswith(
            "batonctl stats: unexpected argument 'extra'\n"
            "usage: batonctl stats"), p.stderr)
        # A stream key of the wrong type is reported with its name.
        self.redis.command("SET", "baton:handoffs", "oops")
        p = self.ctl("stats", rc=1)
        self.assertEqual(p.stdout, "")
        self.assertRegex(p.stderr, r"^batonctl stats: reading "
                         r"baton:handoffs: WRONGTYPE .*\n$")

    def test_redis_unreachable(self):
        conf = write_file(os.path.join(self.tmp, "gone.conf"), conf_text(
            redis={"url": "unix://" + os.path.join(self.tmp, "none.sock"),
                   "connect_timeout": "300ms"}))
        for verb in (["stats"], ["lead", "ada@example.com"]):
            p = run_ctl(conf, *verb)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertEqual(p.stdout, "")
            self.assertIn(f"batonctl {verb[0]}: cannot reach Redis at "
                          f"{self.tmp}/none.sock within 300 ms\n",
                          p.stderr)


if __name__ == "__main__":
    harness.main()
