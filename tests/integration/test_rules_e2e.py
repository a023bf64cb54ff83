"""test_rules_e2e.py - SPEC's rules.conf end to end: webhooks in, the rules
worker's decisions, handoffs, feedback and lead state out of Redis.

Each test starts redis-server and batond with the CRM connector of
rules_helpers (one webhook that carries every event type) and a rules
file, posts events, waits until the consumer group `rules` has applied
everything, then reads the lead hash and the streams."""

import os
import signal
import time

import harness
from harness import BatonCase, wait_until
from rules_helpers import (CRM, DAY, SPEC_RULES, activity, entries, lead,
                           num, post, status, types, upsert, wait_settled,
                           write_rules)

# Event times near the real clock, so SLA deadlines are in the future.
NOW = int(time.time() * 1000)


class RulesCase(BatonCase):

    rules_text = SPEC_RULES

    def setUp(self):
        super().setUp()
        self.start_redis()
        self.rules_path = write_rules(self.tmp, self.rules_text)
        self.b = self.start_batond({"crm": CRM},
                                   daemon={"rules": self.rules_path})

    def settle(self):
        wait_settled(self.redis)


class SpecExample(RulesCase):

    def qualify(self, email, at=NOW):
        post(self.b, upsert(email, at=at, title="VP Sales",
                            company_size=500, company="Acme"))
        post(self.b, activity(email, "form_submit", at=at,
                              form="demo-request"))
        self.settle()

    def test_fit_lead_with_demo_request_is_handed_off_once(self):
        email = "ada@acme.example"
        self.qualify(email)
        h = lead(self.redis, email)
        self.assertEqual(num(h["fit"]), 35)
        self.assertEqual(num(h["score"]), 75)
        self.assertEqual(h["stage"], "mql")
        self.assertEqual(h["seq"], "2")
        offs = entries(self.redis, "handoffs", email, "handoff.mql")
        self.assertEqual(len(offs), 1, offs)
        f = offs[0][1]
        self.assertEqual(f["source"], "rules")
        self.assertEqual(f["v"], "1")
        data = f["data"]
        self.assertEqual(data["episode"], 1)
        self.assertEqual(data["score"], 75)
        reasons = " | ".join(data["reasons"])
        for line in ("rules.conf:2", "rules.conf:3", "rules.conf:5"):
            self.assertIn(line, reasons)
        self.assertEqual(data["attrs"]["title"], "VP Sales")
        # lead.scored and lead.stage went to decisions.
        dec = types(self.redis, "decisions", email)
        self.assertIn("lead.scored", dec)
        stages = [f["data"]["to"] for _, f in
                  entries(self.redis, "decisions", email, "lead.stage")]
        self.assertEqual(stages[-1], "mql")
        # The SLA timer of [sla accept] is set, a day ahead.
        members = self.redis.command("ZRANGE", "baton:sla", 0, -1,
                                     "WITHSCORES")
        self.assertEqual(members[0], f"accept|{email}|1")
        self.assertGreater(int(float(members[1])), NOW + DAY - 60000)

        # A second demo request scores but does not hand off again.
        # (at the same time: no decay in between)
        post(self.b, activity(email, "form_submit", at=NOW,
                              form="demo-request"))
        self.settle()
        h = lead(self.redis, email)
        self.assertEqual(num(h["score"]), 115)
        self.assertEqual(h["seq"], "3")
        self.assertEqual(len(entries(self.redis, "handoffs", email,
                                     "handoff.mql")), 1)

    def test_replay_of_every_entry_changes_nothing(self):
        email = "replay@acme.example"
        self.qualify(email)
        before = lead(self.redis, email)
        ndec = len(self.redis.entries("baton:decisions"))
        # Every entry of the stream delivered again, as after a crash.
        self.redis.command("XGROUP", "SETID", "baton:events", "rules", "0")
        self.settle()
        self.assertEqual(lead(self.redis, email), before)
        self.assertEqual(len(self.redis.entries("baton:decisions")), ndec)
        self.assertEqual(len(entries(self.redis, "handoffs", email,
                                     "handoff.mql")), 1)

    def test_email_clicks_are_capped(self):
        email = "clicker@acme.example"
        post(self.b, *[activity(email, "email_click", at=NOW)
                       for _ in range(6)])
        self.settle()
        h = lead(self.redis, email)
        self.assertEqual(h["seq"], "6")
        self.assertEqual(num(h["engagement"]), 25)
        self.assertEqual(num(h["score"]), 25)

    def test_free_mail_is_a_negative_fit(self):
        email = "someone@gmail.com"
        post(self.b, upsert(email, at=NOW, title="Director of IT"))
        self.settle()
        h = lead(self.redis, email)
        self.assertEqual(num(h["fit"]), -10)
        self.assertEqual(num(h["score"]), -10)

    def test_engagement_decays_by_event_time(self):
        email = "slow@acme.example"
        post(self.b, activity(email, "form_submit", at=NOW - 30 * DAY,
                              form="demo-request"))
        post(self.b, activity(email, "page_view", at=NOW,
                              url="https://acme.example/pricing"))
        self.settle()
        h = lead(self.redis, email)
        # 40 lost 25% over 30 days, then +10.
        self.assertAlmostEqual(num(h["engagement"]), 40.0, places=6)
        self.assertAlmostEqual(num(h["score"]), 40.0, places=6)

    def test_sales_qualified_gives_feedback_sql(self):
        email = "sql@acme.example"
        self.qualify(email)
        post(self.b, status(email, "qualified", at=NOW + 5000,
                            owner="bob@acme.example"))
        self.settle()
        h = lead(self.redis, email)
        self.assertEqual(h["stage"], "sql")
        fb = types(self.redis, "feedback", email)
        self.assertIn("feedback.accepted", fb)
        self.assertIn("feedback.sql", fb)
        sql = entries(self.redis, "feedback", email, "feedback.sql")[0][1]
        self.assertEqual(sql["data"]["owner"], "bob@acme.example")
        # Accepted: the SLA timer is gone.
        self.assertEqual(self.redis.command("ZCARD", "baton:sla"), 0)

    def test_unqualified_with_reason_is_rejected_and_recycled(self):
        email = "nope@acme.example"
        self.qualify(email)
        post(self.b, status(email, "unqualified", at=NOW + 5000,
                            reason="no budget"))
        self.settle()
        h = lead(self.redis, email)
        self.assertEqual(h["stage"], "recycled")
        self.assertEqual(h["stage_reason"], "no budget")
        fb = types(self.redis, "feedback", email)
        self.assertIn("feedback.rejected", fb)
        self.assertIn("feedback.recycled", fb)
        rej = entries(self.redis, "feedback", email,
                      "feedback.rejected")[0][1]
        self.assertEqual(rej["data"]["reason"], "no budget")

    def test_entry_without_seq_is_acknowledged_as_invalid(self):
        self.redis.command("XADD", "baton:events", "*", "v", "1", "type",
                           "lead.activity", "lead", "x@acme.example",
                           "source", "hand", "id", "h1", "at", str(NOW),
                           "data", '{"activity":"page_view"}')
        self.settle()
        inv = entries(self.redis, "decisions", type_="event.invalid")
        self.assertEqual(len(inv), 1, inv)
        self.assertEqual(inv[0][1]["lead"], "x@acme.example")
        self.assertRegex(inv[0][1]["data"]["error"], "no field seq")
        self.assertEqual(inv[0][1]["data"]["id"], "h1")
        self.assertEqual(lead(self.redis, "x@acme.example"), {})

    def test_malformed_entry_with_seq_commits_its_seq(self):
        email = "bad@acme.example"
        post(self.b, upsert(email, at=NOW, title="VP"))
        self.settle()
        # seq 2 with data that is not JSON, then seq 3, a good one.
        self.redis.command("XADD", "baton:events", "*", "v", "1", "type",
                           "lead.activity", "lead", email, "source", "hand",
                           "id", "h2", "at", str(NOW), "data", "{oops",
                           "seq", "2")
        self.redis.command("XADD", "baton:events", "*", "v", "1", "type",
                           "lead.activity", "lead", email, "source", "hand",
                           "id", "h3", "at", str(NOW), "data",
                           '{"activity":"email_click"}', "seq", "3")
        self.settle()
        h = lead(self.redis, email)
        self.assertEqual(h["seq"], "3")
        self.assertEqual(num(h["score"]), 25)
        inv = entries(self.redis, "decisions", email, "event.invalid")
        self.assertEqual(len(inv), 1, inv)
        self.assertRegex(inv[0][1]["data"]["error"],
                         "field data is not JSON")


class SlaBreach(RulesCase):

    rules_text = SPEC_RULES.replace("within = 24h", "within = 2s")

    def test_breach_notifies_and_recycles(self):
        email = "waiting@acme.example"
        now = int(time.time() * 1000)
        post(self.b, upsert(email, at=now, title="VP Sales",
                            company_size=500))
        post(self.b, activity(email, "form_submit", at=now,
                              form="demo-request"))
        self.settle()
        self.assertEqual(lead(self.redis, email)["stage"], "mql")

        def breached():
            return entries(self.redis, "decisions", email, "sla.breached")
        got = wait_until(breached, 15, interval=0.1,
                         what="sla.breached in decisions")
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0][1]["data"]["sla"], "accept")
        self.assertEqual(got[0][1]["data"]["episode"], 1)
        wait_until(lambda: lead(self.redis, email).get("stage") ==
                   "recycled", 5, what="the lead recycled")
        h = lead(self.redis, email)
        self.assertEqual(h["stage_reason"], "sla")
        self.assertEqual(len(entries(self.redis, "handoffs", email,
                                     "sla.breached")), 1)
        self.assertEqual(self.redis.command("ZCARD", "baton:sla"), 0)
        # Handled once: nothing more a few ticks later.
        time.sleep(2.5)
        self.assertEqual(len(breached()), 1)
        self.assertRegex(self.b.get("/metrics").body.decode(),
                         r'baton_sla_breaches_total\{sla="accept"\} 1')


class Reload(RulesCase):

    def test_sighup_applies_new_rules_from_then_on(self):
        email = "reload@acme.example"
        post(self.b, activity(email, "form_submit", at=NOW,
                              form="demo-request"))
        self.settle()
        self.assertEqual(num(lead(self.redis, email)["score"]), 40)
        write_rules(self.tmp, SPEC_RULES.replace(
            "+40 on form_submit", "+7 on form_submit"))
        n = self.b.log_text().count("reloaded ")
        self.b.signal(signal.SIGHUP)
        wait_until(lambda: self.b.log_text().count("reloaded ") > n, 10,
                   what="the reload")
        post(self.b, activity(email, "form_submit", at=NOW,
                              form="demo-request"))
        self.settle()
        h = lead(self.redis, email)
        self.assertEqual(num(h["score"]), 47)
        self.assertEqual(h["seq"], "2")


class TwoProcesses(BatonCase):

    def test_two_batonds_share_the_group_and_hand_off_once(self):
        self.start_redis()
        rules = write_rules(self.tmp, SPEC_RULES)
        b1 = self.start_batond({"crm": CRM}, daemon={"rules": rules},
                               dir=os.path.join(self.tmp, "b1"))
        b2 = self.start_batond({"crm": CRM}, daemon={"rules": rules},
                               dir=os.path.join(self.tmp, "b2"))
        emails = [f"lead{i}@acme.example" for i in range(40)]
        for i, email in enumerate(emails):
            b = (b1, b2)[i % 2]
            post(b, upsert(email, at=NOW, title="Head of Sales",
                           company_size=300))
        for rnd in range(3):
            for i, email in enumerate(emails):
                b = (b1, b2)[(i + rnd + 1) % 2]
                post(b, activity(email, "form_submit", at=NOW,
                                 form="demo-request"))
        wait_settled(self.redis, 30)
        consumers = self.redis.command("XINFO", "CONSUMERS",
                                       "baton:events", "rules")
        self.assertEqual(len(consumers), 2, consumers)
        for email in emails:
            h = lead(self.redis, email)
            self.assertEqual(h["seq"], "4", email)
            self.assertEqual(num(h["score"]), 35 + 120, email)
            self.assertEqual(h["stage"], "mql")
        offs = entries(self.redis, "handoffs", type_="handoff.mql")
        self.assertEqual(sorted(f["lead"] for _, f in offs), sorted(emails))


if __name__ == "__main__":
    harness.main()
