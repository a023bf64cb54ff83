"""test_feedback_order.py - a lead's feedback reaches HubSpot in the order
the rules wrote it, even when the earlier entry needs a retry.

Found by the soak (300 s, seed 100438105): feedback.rejected and then
feedback.recycled for one lead; the push of rejected got a 500 and waited
in backoff, recycled went out meanwhile, and the retried rejected (an
explicit move back, always written) overwrote it, leaving baton_stage
'rejected'.  The delivery core now holds a lead's later entry back while
an earlier one waits (daemon/delivery.c, eligible()).

Deterministic: batch_size = 1 splits the two entries (the rules write them
together); the first push gets a 500 and waits retry_base = 2s.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "sim"))

import harness  # noqa: E402
from harness import BatonCase, wait_until  # noqa: E402
from rules_helpers import (CRM, SPEC_RULES, activity, entries, post,  # noqa
                           status, upsert, write_rules)
from hubspot_sim import HubSpotSim  # noqa: E402


class FeedbackOrder(BatonCase):

    def test_rejected_then_recycled_lands_as_recycled(self):
        hs = HubSpotSim(port=0).start()
        self.addCleanup(hs.stop)
        self.start_redis()
        rules = write_rules(self.tmp, SPEC_RULES)
        b = self.start_batond({"crm": CRM, "hs": {
            "type": "hubspot", "role": "marketing", "base_url": hs.base_url,
            "token": "pat-na1-11111111-2222-3333-4444-555555555555",
            "app_secret": "baton-hubspot-sim-app-secret", "app_id": "123456",
            "poll_interval": "0", "batch_size": "1", "batch_linger": "5ms",
            "retry_base": "2s", "retry_cap": "2s"}},
            daemon={"rules": rules})
        email = "ada@acme.example"
        at = int(time.time() * 1000)
        post(b, upsert(email, at=at, title="VP Sales", company_size=500,
                       company="Acme"),
             activity(email, "form_submit", at=at, form="demo-request"))
        wait_until(lambda: entries(self.redis, "handoffs", email), 10,
                   what="the MQL")
        # The first contact write (feedback.rejected's) gets a 500.
        hs.fail_next(1, 500, path_prefix="/crm/v3/objects/contacts/batch/"
                     "upsert")
        post(b, status(email, "unqualified", at=at + 1000))
        fb = wait_until(lambda: len(entries(self.redis, "feedback", email))
                        == 2 and entries(self.redis, "feedback", email), 10,
                        what="feedback.rejected and feedback.recycled")
        self.assertEqual([f["type"] for _, f in fb],
                         ["feedback.rejected", "feedback.recycled"])

        def delivered():
            g = [x for x in self.redis.command("XINFO", "GROUPS",
                                               "baton:feedback")]
            d = {g[0][i]: g[0][i + 1] for i in range(0, len(g[0]), 2)}
            return d["pending"] == 0 and d.get("lag") == 0
        wait_until(delivered, 20, what="both feedback entries delivered")
        c = hs.get_contact(email=email)
        self.assertEqual(c["properties"].get("baton_stage"), "recycled",
                         "the older feedback landed last")


if __name__ == "__main__":
    harness.main()
