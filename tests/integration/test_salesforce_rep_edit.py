"""test_salesforce_rep_edit.py - a rep's change to a Lead that batond
itself updated before a poll read the change: real Redis, real batond,
SPEC's rules and tests/sim/salesforce_sim.py.

A poll sees only a record's last modifier, and batond skips the records
its own integration user changed last (its pushes echoed back).  When a
rep changes a Lead and batond updates it before a poll has read the
change, the Lead's last modifier is batond, yet it holds the rep's
Status: it must come back as lead.status, exactly once, while batond's
own writes still never do.

  * a create whose answer was lost (timeout 1 s, served 1.5 s late) is
    retried after create_settle and updates the Lead the create made; a
    rep qualified it in between (it was assigned to them at once): the
    Lead's Qualified comes back once, and marketing hears feedback.sql;
  * a Lead the poll has read (rejected by its rep, recycled), batond
    restarted, then a rep marks it Working just before the lead qualifies
    again and batond updates it for the new MQL episode: Working comes
    back once and accepts the new episode, so what the poll had read
    survives the restart (it travels in the cursor);
  * the same without the rep's edit: the update for the new episode
    brings back nothing, so the Lead's old Unqualified does not reject
    the new episode.

poll_lag is a few seconds and batond's update follows the rep's edit
within one, so the edit is still unread when the update lands; each test
checks that the event it waits for carries the id of batond's version of
the Lead (Id:SystemModstamp), which only the fixed path can give it."""

import json
import os
import sys
import time

import harness
from harness import BatonCase, wait_until
from rules_helpers import (CRM, SPEC_RULES, activity, entries, lead, post,
                           upsert, wait_settled, write_rules)
from test_salesforce_faults import COLLECTIONS, Slow, quiet_when_client_gone

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "sim"))
from salesforce_sim import SalesforceSim  # noqa: E402


def stamp_ms(stamp):
    """ms of a Salesforce dateTime such as 2024-05-01T12:00:00.000+0000."""
    import datetime
    return int(datetime.datetime.strptime(
        stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)


class RepEditCase(BatonCase):

    sf_extra = {}
    lag = 5

    def setUp(self):
        super().setUp()
        self.sim = SalesforceSim(port=0).start()
        self.addCleanup(self.sim.stop)
        self.sim.httpd.handle_error = lambda request, address: None
        quiet_when_client_gone(self.sim)
        self.start_redis()
        rules = write_rules(self.tmp, SPEC_RULES)
        conf = {
            "type": "salesforce", "role": "sales",
            "base_url": self.sim.base_url, "client_id": "baton-client-id",
            "client_secret": "baton-client-secret",
            "refresh_token": "baton-refresh-token",
            "poll_interval": "1s", "poll_lag": f"{self.lag}s",
            "poll_overlap": "2s", "retry_base": "100ms", "retry_cap": "1s",
            "batch_linger": "5ms"}
        conf.update(self.sf_extra)
        self.b = self.start_batond({"crm": CRM, "sf": conf},
                                   daemon={"rules": rules})

    # Helpers.

    def qualify(self, email, first=True):
        """Posts what makes email an MQL (again, after a recycle)."""
        at = int(time.time() * 1000)
        evs = [activity(email, "form_submit", at=at, form="demo-request")]
        if first:
            evs.insert(0, upsert(email, at=at, title="VP Sales",
                                 company_size=500, company="Acme"))
        post(self.b, *evs)

    def the_lead(self):
        recs = self.sim.snapshot(include_calls=False)["leads"]
        self.assertEqual(len(recs), 1, recs)
        return recs[0]

    def updates(self):
        return [c for c in self.sim.snapshot(include_records=False)["calls"]
                if c["path"] == COLLECTIONS and c["method"] == "PATCH" and
                c["status"] == 200]

    def statuses(self, email):
        return [f for _, f in entries(self.redis, "events", email,
                                      "lead.status")
                if f.get("source") == "sf"]

    def feedback(self, email, type_):
        return [f for _, f in entries(self.redis, "feedback", email, type_)]

    def rounds_past_lag(self):
        """Long enough for rounds to read what is there now."""
        time.sleep(self.lag + 2.5)

    def assert_ours(self, ev, rec):
        """ev is the event of batond's own version of rec (the Lead now),
        not of the rep's: the rep's edit was read through our update."""
        self.assertEqual(rec["LastModifiedById"], self.sim.integration_user)
        self.assertEqual(ev["id"], "%s:%d" % (rec["Id"],
                                              stamp_ms(rec["SystemModstamp"])))

    def update_after(self, t0, before):
        """Waits for batond's next update; asserts it came well within
        poll_lag of t0 (else no poll could have missed the edit)."""
        wait_until(lambda: len(self.updates()) > before, 20,
                   what="batond's update of the Lead")
        took = time.monotonic() - t0
        self.assertLess(took, self.lag - 0.5, "the update came too late for "
                        "this test: a poll may have read the rep's edit")


class LostCreateAnswer(RepEditCase):

    sf_extra = {"timeout": "1s", "create_settle": "3s"}

    def setUp(self):
        super().setUp()
        # The create is served 1.5 s late: committed, its answer lost.
        Slow(self.sim, COLLECTIONS, 1, 1.5, method="POST")

    def test_rep_edit_before_the_retry_update_comes_back_once(self):
        email = "late@acme.example"
        self.qualify(email)
        wait_until(lambda: self.sim.snapshot(include_calls=False)["leads"],
                   20, what="the late-answered Lead")
        # The rep qualifies it before batond's retry updates it.
        self.sim.rep_edit("Lead", self.the_lead()["Id"],
                          {"Status": "Qualified"})
        t0 = time.monotonic()
        self.update_after(t0, 0)
        rec = self.the_lead()
        self.assertEqual(rec["Status"], "Qualified")
        ev = wait_until(lambda: self.statuses(email), 15,
                        what="lead.status from sf")
        self.assertEqual(ev[0]["data"], {"status": "qualified",
                                         "id": rec["Id"],
                                         "owner": rec["OwnerId"]})
        self.assert_ours(ev[0], rec)
        wait_settled(self.redis)
        wait_until(lambda: self.feedback(email, "feedback.sql"), 10,
                   what="feedback.sql")
        # Rounds go on reading the overlap: still one event.
        self.rounds_past_lag()
        self.assertEqual(len(self.statuses(email)), 1)
        self.assertEqual(len(self.feedback(email, "feedback.accepted")), 1)


class NewEpisode(RepEditCase):

    def rejected_then_restarted(self, email):
        """A Lead batond made, read by the poll, rejected by its rep (the
        lead is recycled), and batond restarted."""
        self.qualify(email)
        rec = wait_until(lambda: self.sim.snapshot(include_calls=False)
                         ["leads"], 15, what="the Lead")[0]
        rec = self.sim.rep_edit("Lead", rec["Id"], {"Status": "Unqualified"})
        wait_until(lambda: self.statuses(email), 20,
                   what="lead.status unqualified")
        wait_settled(self.redis)
        self.assertEqual(lead(self.redis, email)["stage"], "recycled")
        # The poll's watermark moves on until no round reads the Lead
        # again (poll_overlap is 2 s): from now on only what the poll
        # remembers of the Lead tells our update's echo from a rep's edit.
        edited = stamp_ms(rec["SystemModstamp"])
        wait_until(lambda: json.loads(self.redis.command(
            "GET", "baton:cursor:sf"))["Lead"]["ts"] > edited + 3000, 15,
            what="the poll watermark past the Lead")
        self.b.stop()
        self.b.start()
        return rec

    def test_rep_edit_before_the_update_for_a_new_mql_comes_back(self):
        email = "again@acme.example"
        rec = self.rejected_then_restarted(email)
        n = len(self.updates())
        # The rep takes the Lead up again just as it qualifies again.
        self.sim.rep_edit("Lead", rec["Id"], {"Status": "Working - "
                                                        "Contacted"})
        t0 = time.monotonic()
        self.qualify(email, first=False)
        self.update_after(t0, n)
        rec = self.the_lead()
        self.assertEqual(rec["Status"], "Working - Contacted")
        ev = wait_until(lambda: [f for f in self.statuses(email)
                                 if f["data"]["status"] == "working"], 20,
                        what="lead.status working")
        self.assert_ours(ev[0], rec)
        wait_settled(self.redis)
        acc = wait_until(lambda: [f for f in self.feedback(
            email, "feedback.accepted") if f["data"]["episode"] == 2], 10,
            what="feedback.accepted of episode 2")
        self.assertEqual(len(acc), 1)
        self.rounds_past_lag()
        self.assertEqual([f["data"]["status"] for f in self.statuses(email)],
                         ["unqualified", "working"])
        self.assertEqual(len(self.feedback(email, "feedback.rejected")), 1)

    def test_update_for_a_new_mql_brings_back_nothing(self):
        email = "quiet@acme.example"
        self.rejected_then_restarted(email)
        n = len(self.updates())
        self.qualify(email, first=False)
        wait_until(lambda: len(self.updates()) > n, 20,
                   what="batond's update of the Lead")
        self.assertEqual(self.the_lead()["LastModifiedById"],
                         self.sim.integration_user)
        self.rounds_past_lag()
        wait_settled(self.redis)
        self.assertEqual(len(self.statuses(email)), 1)
        ld = lead(self.redis, email)
        self.assertEqual((ld["stage"], ld["mql_episode"]), ("mql", "2"))
        self.assertNotIn("accepted_at", ld)
        self.assertEqual(len(self.feedback(email, "feedback.rejected")), 1)


if __name__ == "__main__":
    harness.main()
