"""test_identity.py - lead.merged and lead.forget through real batond and
Redis: a merged-away address's later events belong to the survivor, and a
privacy deletion leaves no state and no address behind, only the fact."""

import hashlib
import time

from harness import BatonCase, wait_until
from rules_helpers import (CRM, SPEC_RULES, activity, entries, ev, lead,
                           post, upsert, wait_settled, write_rules)

NOW = int(time.time() * 1000)


class Identity(BatonCase):

    def setUp(self):
        super().setUp()
        self.start_redis()
        rules = write_rules(self.tmp, SPEC_RULES)
        self.b = self.start_batond({"crm": CRM}, daemon={"rules": rules})

    def qualify(self, email):
        post(self.b, upsert(email, at=NOW, title="VP Sales",
                            company_size=500, company="Acme"))
        post(self.b, activity(email, "form_submit", at=NOW,
                              form="demo-request"))
        wait_settled(self.redis)

    def test_merged_address_follows_the_survivor(self):
        post(self.b, upsert("old@acme.example", at=NOW, title="CTO"))
        self.qualify("keep@acme.example")
        post(self.b, ev("lead.merged", "keep@acme.example", at=NOW,
                        **{"from": "Old@Acme.example"}))
        wait_settled(self.redis)
        self.assertEqual(self.redis.command(
            "GET", "baton:alias:old@acme.example"), "keep@acme.example")
        self.assertEqual(lead(self.redis, "old@acme.example")
                         ["merged_into"], "keep@acme.example")
        merged = entries(self.redis, "decisions", "keep@acme.example",
                         "lead.merged")
        self.assertEqual(len(merged), 1)
        self.assertEqual(merged[0][1]["data"]["from"], "old@acme.example")
        self.assertEqual(merged[0][1]["data"]["source"], "crm")
        # What arrives for the old address now is the survivor's.
        before = int(lead(self.redis, "keep@acme.example")["seq"])
        post(self.b, activity("old@acme.example", "page_view", at=NOW,
                              url="/pricing"))
        wait_settled(self.redis)
        last = entries(self.redis, "events")[-1][1]
        self.assertEqual(last["lead"], "keep@acme.example")
        h = lead(self.redis, "keep@acme.example")
        self.assertEqual(int(h["seq"]), before + 1)
        self.assertEqual(float(h["score"]), 85)
        # The old lead got nothing more.
        self.assertEqual(lead(self.redis, "old@acme.example")["seq"], "1")

    def test_forget_erases_state_and_names_no_one(self):
        email = "gone@acme.example"
        self.qualify(email)
        self.assertTrue(self.redis.command("ZRANGE", "baton:sla", 0, -1))
        self.assertTrue(self.redis.command(
            "EXISTS", f"baton:lead:{email}:history"))
        post(self.b, ev("lead.forget", email, at=NOW, reason="privacy"))
        wait_settled(self.redis)
        self.assertEqual(self.redis.command("EXISTS", f"baton:lead:{email}",
                                            f"baton:lead:{email}:history"),
                         0)
        self.assertEqual([m for m in self.redis.command(
            "ZRANGE", "baton:sla", 0, -1) if email in m], [])
        digest = hashlib.sha256(email.encode()).hexdigest()
        gone = entries(self.redis, "decisions", f"sha256:{digest}",
                       "lead.forgotten")
        self.assertEqual(len(gone), 1)
        self.assertEqual(gone[0][1]["data"]["reason"], "privacy")
        self.assertNotIn(email, repr(gone[0][1]))
        # A later event starts a new lead from nothing.
        post(self.b, upsert(email, at=NOW + 1000, title="Intern"))
        wait_settled(self.redis)
        h = lead(self.redis, email)
        self.assertEqual(h["seq"], "1")
        self.assertEqual(float(h["score"]), 0)

    def test_forget_takes_the_merged_addresses_along(self):
        # old -> mid -> keep: forgetting keep leaves no key naming any of
        # the three addresses.
        post(self.b, upsert("old@acme.example", at=NOW, title="CTO"))
        post(self.b, upsert("mid@acme.example", at=NOW, title="CFO"))
        self.qualify("keep@acme.example")
        post(self.b, ev("lead.merged", "mid@acme.example", at=NOW,
                        **{"from": "old@acme.example"}))
        wait_settled(self.redis)
        post(self.b, ev("lead.merged", "keep@acme.example", at=NOW,
                        **{"from": "mid@acme.example"}))
        wait_settled(self.redis)
        self.assertEqual(self.redis.command(
            "SMEMBERS", "baton:lead:keep@acme.example:merged"),
            ["mid@acme.example"])
        post(self.b, ev("lead.forget", "keep@acme.example", at=NOW,
                        reason="privacy"))
        wait_settled(self.redis)
        left = [k for k in self.redis.command("KEYS", "baton:*")
                if "acme.example" in k]
        self.assertEqual(left, [])
        self.assertEqual([m for m in self.redis.command(
            "ZRANGE", "baton:sla", 0, -1) if "acme.example" in m], [])

    def test_bad_merge_is_refused_with_the_field(self):
        r = self.b.post("crm", {"events": [ev(
            "lead.merged", "keep@acme.example", at=NOW,
            **{"from": "not-an-address"})]})
        self.assertEqual(r.status, 400)
        self.assertIn("from", r.json()["error"])
        self.assertIn("not an email address", r.json()["error"])


if __name__ == "__main__":
    import unittest
    unittest.main()
