"""test_ctl_dlq.py - `batonctl dlq list | replay | drop` against a real
redis-server: PREFIX:dlq seeded with XADD in daemon/dlq.h's format, then
the readable and JSON listings, replays (the entry leaves the DLQ and lands
in PREFIX:replay:<connector> with the fields dlq.h names), missing IDs,
drops, paging past one XRANGE page, an empty DLQ and bad arguments."""

import json
import os

import harness
from harness import BatonCase, conf_text, run_ctl, write_file

A_ID = "1763900000000-0"
B_ID = "1763900001000-0"
C_ID = "1763900002000-0"

A_DATA = {"episode": 1, "score": 72.5, "attrs": {"email": "ada@example.com"},
          "reasons": ['+20 if title ~ "vp" (rules.conf:2)']}
B_DATA = {"sla": "accept", "within_ms": 86400000, "owner": "jo@acme.test"}
C_DATA = {"episode": 1, "score": 61, "attrs": {"email": "grace@example.com"}}

# (DLQ id, fields in dlq.h's order)
SEED = [
    (A_ID, [("v", "1"), ("type", "handoff.mql"), ("lead", "ada@example.com"),
            ("source", "rules"), ("id", "1763899990000-0/2"),
            ("at", "1763899990000"),
            ("data", json.dumps(A_DATA, separators=(",", ":"))),
            ("connector", "salesforce"), ("stream", "handoffs"),
            ("entry", "1763899990001-0"),
            ("error", "HTTP 400: REQUIRED_FIELD_MISSING: Required fields "
                      "are missing: [LastName]"),
            ("attempts", "1"), ("failed_at", "1763900000000")]),
    (B_ID, [("v", "1"), ("type", "sla.breached"),
            ("lead", "ada@example.com"), ("source", "rules"),
            ("id", "sla:accept:1/0"), ("at", "1763990000000"),
            ("data", json.dumps(B_DATA, separators=(",", ":"))),
            ("connector", "sales-channel"), ("stream", "handoffs"),
            ("entry", "1763990000001-0"), ("error", "HTTP 404: no_service"),
            ("attempts", "1"), ("failed_at", "1763990001000")]),
    (C_ID, [("v", "1"), ("type", "handoff.mql"),
            ("lead", "grace@example.com"), ("source", "rules"),
            ("id", "1763899995000-0/1"), ("at", "1763899995000"),
            ("data", json.dumps(C_DATA, separators=(",", ":"))),
            ("connector", "salesforce"), ("stream", "handoffs"),
            ("entry", "1763899995001-0"),
            ("error", "retries exhausted: HTTP 503"),
            ("attempts", "8"), ("failed_at", "1763900002000")]),
]

BLOCK_A = """1763900000000-0  failed 2025-11-23T12:13:20.000Z
  connector  salesforce
  lead       ada@example.com
  type       handoff.mql
  attempts   1
  error      HTTP 400: REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]
  from       handoffs 1763899990001-0
"""
BLOCK_B = """1763900001000-0  failed 2025-11-24T13:13:21.000Z
  connector  sales-channel
  lead       ada@example.com
  type       sla.breached
  attempts   1
  error      HTTP 404: no_service
  from       handoffs 1763990000001-0
"""
BLOCK_C = """1763900002000-0  failed 2025-11-23T12:13:22.000Z
  connector  salesforce
  lead       grace@example.com
  type       handoff.mql
  attempts   8
  error      retries exhausted: HTTP 503
  from       handoffs 1763899995001-0
"""

REPLAY_FIELDS = ["v", "type", "lead", "source", "id", "at", "data", "entry",
                 "dlq"]


class Dlq(BatonCase):

    def setUp(self):
        super().setUp()
        self.start_redis()
        self.conf = write_file(os.path.join(self.tmp, "batond.conf"),
                               conf_text({}, {"url": self.redis.url,
                                              "prefix": "baton",
                                              "connect_timeout": "1s"}))

    def seed(self, entries=SEED):
        for eid, fields in entries:
            args = ["XADD", "baton:dlq", eid]
            for k, v in fields:
                args += [k, v]
            self.assertEqual(self.redis.command(*args), eid)

    def dlq(self, *args, rc=0):
        p = run_ctl(self.conf, "dlq", *args)
        self.assertEqual(p.returncode, rc,
                         f"stdout: {p.stdout!r} stderr: {p.stderr!r}")
        return p

    def dlq_ids(self):
        return [eid for eid, _ in self.redis.entries("baton:dlq")]

    def replayed(self, connector):
        return self.redis.entries("baton:replay:" + connector)

    # ---- list ------------------------------------------------------------

    def test_list(self):
        self.seed()
        p = self.dlq("list")
        self.assertEqual(p.stdout, BLOCK_A + "\n" + BLOCK_B + "\n" + BLOCK_C)
        self.assertEqual(p.stderr, "")
        # -c after the verb works like before it.
        p = harness.subprocess.run([harness.BATONCTL, "dlq", "list", "-c",
                                    self.conf], capture_output=True,
                                   text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, BLOCK_A + "\n" + BLOCK_B + "\n" + BLOCK_C)

    def test_list_filters(self):
        self.seed()
        self.assertEqual(self.dlq("list", "--connector", "salesforce").stdout,
                         BLOCK_A + "\n" + BLOCK_C)
        self.assertEqual(self.dlq("list", "--connector",
                                  "sales-channel").stdout, BLOCK_B)
        self.assertEqual(self.dlq("list", "--connector", "nosuch").stdout,
                         "no entries for connector nosuch in baton:dlq\n")
        self.assertEqual(self.dlq("list", "-n", "1").stdout, BLOCK_A)
        self.assertEqual(self.dlq("list", "-n", "1", "--connector",
                                  "sales-channel").stdout, BLOCK_B)
        self.assertEqual(self.dlq("list", "-n", "5").stdout,
                         BLOCK_A + "\n" + BLOCK_B + "\n" + BLOCK_C)

    def test_list_json(self):
        self.seed()
        lines = self.dlq("list", "--json").stdout.splitlines()
        self.assertEqual(len(lines), 3)
        objs = [json.loads(ln) for ln in lines]
        for (eid, fields), o in zip(SEED, objs):
            want = dict(fields)
            want["dlq_id"] = eid
            want["data"] = json.loads(want["data"])
            self.assertEqual(o, want)
        self.assertEqual(objs[0]["data"], A_DATA)
        lines = self.dlq("list", "--json", "--connector", "sales-channel",
                         "-n", "10").stdout.splitlines()
        self.assertEqual([json.loads(ln)["dlq_id"] for ln in lines], [B_ID])
        # Data that is not JSON stays a string.
        self.redis.command("XADD", "baton:dlq", "1763900003000-0", "v", "1",
                           "type", "handoff.mql", "data", "{broken",
                           "connector", "x")
        o = json.loads(self.dlq("list", "--json", "--connector",
                                "x").stdout)
        self.assertEqual(o, {"dlq_id": "1763900003000-0", "v": "1",
                             "type": "handoff.mql", "data": "{broken",
                             "connector": "x"})
        # ... and its block shows "-" for what is missing.
        self.assertEqual(self.dlq("list", "--connector", "x").stdout,
                         "1763900003000-0  failed -\n"
                         "  connector  x\n  lead       -\n"
                         "  type       handoff.mql\n  attempts   -\n"
                         "  error      -\n  from       - -\n")

    # ---- replay ----------------------------------------------------------

    def test_replay_ids(self):
        self.seed()
        p = self.dlq("replay", A_ID)
        self.assertEqual(p.stdout, "replayed 1 entry, 0 missing\n")
        self.assertEqual(p.stderr, "")
        self.assertEqual(self.dlq_ids(), [B_ID, C_ID])
        got = self.replayed("salesforce")
        self.assertEqual(len(got), 1)
        rid, fields = got[0]
        self.assertEqual(list(fields), REPLAY_FIELDS)
        seeded = dict(SEED[0][1])
        self.assertEqual(fields, {
            "v": "1", "type": "handoff.mql", "lead": "ada@example.com",
            "source": "rules", "id": "1763899990000-0/2",
            "at": "1763899990000", "data": seeded["data"],
            "entry": "1763899990001-0", "dlq": A_ID})
        self.assertEqual(self.redis.xlen("baton:replay:sales-channel"), 0)
        # Twice: gone now.
        p = self.dlq("replay", A_ID, rc=1)
        self.assertEqual(p.stdout, "replayed 0 entries, 1 missing\n")
        self.assertEqual(p.stderr, "batonctl dlq replay: no entry "
                         "1763900000000-0 in baton:dlq\n")
        self.assertEqual(len(self.replayed("salesforce")), 1)

    def test_replay_some_missing(self):
        self.seed()
        p = self.dlq("replay", B_ID, "1-1", C_ID, "2-0", rc=1)
        self.assertEqual(p.stdout, "replayed 2 entries, 2 missing\n")
        self.assertEqual(p.stderr,
                         "batonctl dlq replay: no entry 1-1 in baton:dlq\n"
                         "batonctl dlq replay: no entry 2-0 in baton:dlq\n")
        self.assertEqual(self.dlq_ids(), [A_ID])
        self.assertEqual([f["dlq"] for _, f in
                          self.replayed("sales-channel")], [B_ID])
        self.assertEqual([f["dlq"] for _, f in
                          self.replayed("salesforce")], [C_ID])

    def test_replay_connector(self):
        self.seed()
        p = self.dlq("replay", "--connector", "salesforce")
        self.assertEqual(p.stdout, "replayed 2 entries, 0 missing\n")
        self.assertEqual(self.dlq_ids(), [B_ID])
        self.assertEqual([(f["dlq"], f["lead"]) for _, f in
                          self.replayed("salesforce")],
                         [(A_ID, "ada@example.com"),
                          (C_ID, "grace@example.com")])
        p = self.dlq("replay", "--connector", "salesforce")
        self.assertEqual(p.stdout, "replayed 0 entries, 0 missing\n")

    def test_replay_all(self):
        self.seed()
        p = self.dlq("replay")
        self.assertEqual(p.stdout, "replayed 3 entries, 0 missing\n")
        self.assertEqual(self.dlq_ids(), [])
        self.assertEqual(len(self.replayed("salesforce")), 2)
        self.assertEqual(len(self.replayed("sales-channel")), 1)
        self.assertEqual(self.dlq("list").stdout, "no entries in baton:dlq\n")

    def test_many_entries(self):
        # More than one XRANGE page (500), two connectors interleaved.
        entries = []
        for i in range(1201):
            conn = "salesforce" if i % 2 == 0 else "sales-channel"
            entries.append((f"1763900000000-{i}",
                            [("v", "1"), ("type", "handoff.mql"),
                             ("lead", f"l{i}@example.com"),
                             ("data", "{}"), ("connector", conn),
                             ("error", "x"), ("attempts", "1"),
                             ("failed_at", "1763900000000")]))
        self.seed(entries)
        lines = self.dlq("list", "--json").stdout.splitlines()
        self.assertEqual([json.loads(ln)["dlq_id"] for ln in lines],
                         [e[0] for e in entries])
        lines = self.dlq("list", "--json", "-n", "700", "--connector",
                         "sales-channel").stdout.splitlines()
        self.assertEqual(len(lines), 600)
        lines = self.dlq("list", "--json", "-n", "501").stdout.splitlines()
        self.assertEqual(len(lines), 501)
        p = self.dlq("replay", "--connector", "sales-channel")
        self.assertEqual(p.stdout, "replayed 600 entries, 0 missing\n")
        self.assertEqual(self.redis.xlen("baton:dlq"), 601)
        self.assertEqual(self.redis.xlen("baton:replay:sales-channel"), 600)
        p = self.dlq("replay")
        self.assertEqual(p.stdout, "replayed 601 entries, 0 missing\n")
        self.assertEqual(self.redis.xlen("baton:dlq"), 0)

    # ---- drop ------------------------------------------------------------

    def test_drop(self):
        self.seed()
        p = self.dlq("drop", B_ID)
        self.assertEqual(p.stdout, "dropped 1 entry, 0 missing\n")
        self.assertEqual(p.stderr, "")
        self.assertEqual(self.dlq_ids(), [A_ID, C_ID])
        p = self.dlq("drop", A_ID, B_ID, C_ID, rc=1)
        self.assertEqual(p.stdout, "dropped 2 entries, 1 missing\n")
        self.assertEqual(p.stderr, "batonctl dlq drop: no entry "
                         "1763900001000-0 in baton:dlq\n")
        self.assertEqual(self.dlq_ids(), [])
        # Nothing was replayed by a drop.
        self.assertEqual(self.redis.command("KEYS", "baton:replay:*"), [])

    # ---- empty, errors ---------------------------------------------------

    def test_empty(self):
        self.assertEqual(self.dlq("list").stdout, "no entries in baton:dlq\n")
        self.assertEqual(self.dlq("list", "--json").stdout, "")
        self.assertEqual(self.dlq("replay").stdout,
                         "replayed 0 entries, 0 missing\n")
        self.assertEqual(self.dlq("replay", "--connector", "x").stdout,
                         "replayed 0 entries, 0 missing\n")
        p = self.dlq("drop", A_ID, rc=1)
        self.assertEqual(p.stdout, "dropped 0 entries, 1 missing\n")
        # Nothing was created.
        self.assertEqual(self.redis.command("KEYS", "*"), [])

    def test_usage_errors(self):
        cases = [
            ((), "batonctl dlq: missing command (list, replay or drop)"),
            (("frob",), "batonctl dlq: unknown command 'frob' (expected "
                        "list, replay or drop)"),
            (("drop",), "batonctl dlq drop: name the entries to drop (IDs "
                        "from `batonctl dlq list`)"),
            (("drop", "abc"), "batonctl dlq drop: 'abc' is not an entry ID "
                              "(1700000000000-0)"),
            (("replay", "1-"), "batonctl dlq replay: '1-' is not an entry "
                               "ID (1700000000000-0)"),
            (("drop", "--connector", "x", A_ID),
             "batonctl dlq drop: --connector does not apply to drop: name "
             "the IDs"),
            (("replay", "--connector", "x", A_ID),
             "batonctl dlq replay: give IDs or --connector, not both"),
            (("replay", "--json"),
             "batonctl dlq replay: --json applies to list only"),
            (("list", A_ID), "batonctl dlq list: unexpected argument "
                             "'1763900000000-0'"),
            (("list", "-n", "0"), "batonctl dlq list: -n: '0' is not a "
                                  "number from 1 to 100000000"),
            (("list", "--connector", ""),
             "batonctl dlq list: --connector: empty name"),
        ]
        self.seed()
        for args, first in cases:
            p = self.dlq(*args, rc=2)
            self.assertEqual(p.stdout, "")
            self.assertEqual(p.stderr.splitlines()[0], first, args)
            self.assertIn("usage: batonctl dlq list", p.stderr)
        p = self.dlq("list", "--bogus", rc=2)
        self.assertIn("usage: batonctl dlq list", p.stderr)
        p = self.dlq("--help")
        self.assertIn("usage: batonctl dlq list", p.stdout)
        # Nothing changed.
        self.assertEqual(self.dlq_ids(), [A_ID, B_ID, C_ID])
        # The verb is in batonctl's own help.
        p = run_ctl(self.conf, "--help")
        self.assertIn("dlq replay [--connector NAME] [ID...]", p.stdout)

    def test_redis_down(self):
        self.seed()
        self.redis.stop()
        for args in (("list",), ("replay",), ("drop", A_ID)):
            p = self.dlq(*args, rc=1)
            self.assertEqual(p.stdout, "")
            self.assertIn("batonctl dlq: cannot reach Redis at", p.stderr)


if __name__ == "__main__":
    harness.main()
