"""test_hubspot_push.py - the HubSpot connector's push side end to end:
real Redis, real batond (rules worker included) and
tests/sim/hubspot_sim.py.

Role marketing: sales feedback (lead.status and deal.stage events posted
through the generic webhook connector `crm` of rules_helpers, turned into
feedback.* by SPEC's rules) lands on the contact as lifecyclestage
(forward only: a later rejection or recycling never moves it back),
hs_lead_status and the baton_* properties, which the connector creates
through the properties API the first time.  Batches hold at most 100
contacts (the simulator's call log says how many each call carried); a
contact HubSpot refuses goes to PREFIX:dlq with HubSpot's category and
message while the others land; a TEN_SECONDLY_ROLLING 429 storm is waited
out (no call for 10 s after the 429) and everything lands once; what
batond writes never comes back as an event, through webhooks or polling,
while a rep's later edit of the same property does.  Role sales: a
handoff becomes a contact with the lead's attributes and a deal: the
contact's open deal is updated, a contact without one (or whose newest is
closed) gets a new one; a create whose answer was lost makes one deal, not
two; a deal_stage HubSpot refuses sends the handoff to the DLQ with
HubSpot's message; the deal.creation webhook of the connector's own deal is
not ingested, a rep's deal is."""

import datetime
import json
import os
import re
import sys
import time
import urllib.request

import harness
from harness import BatonCase, wait_until
from rules_helpers import (CRM, SPEC_RULES, activity, entries, ev, lead,
                           post, status, upsert, wait_settled, write_rules)

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "sim"))
from hubspot_sim import HubSpotSim  # noqa: E402

NOW = int(time.time() * 1000)
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
BATON_PROPS = ("baton_stage", "baton_reason", "baton_score", "baton_owner",
               "baton_updated")
UPSERT = "/crm/v3/objects/contacts/batch/upsert"


def hs_conf(sim, **extra):
    c = {
        "type": "hubspot",
        "role": "marketing",
        "base_url": sim.base_url,
        "token": TOKEN,
        "app_secret": "baton-hubspot-sim-app-secret",
        "app_id": "123456",
        "poll_interval": "0",
        "retry_base": "100ms",
        "retry_cap": "1s",
        "batch_linger": "20ms",
    }
    c.update(extra)
    return c


def iso_ms(s):
    """Epoch ms of HubSpot's 2024-05-01T12:00:00.123Z."""
    return int(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


class PushCase(BatonCase):

    hs_extra = {}
    role = "marketing"
    webhooks = False

    def setUp(self):
        super().setUp()
        self.sim = HubSpotSim(port=0, retry_schedule=[0.2, 0.5]).start()
        self.addCleanup(self.sim.stop)
        self.start_redis()
        self.rules_path = write_rules(self.tmp, SPEC_RULES)
        conf = hs_conf(self.sim, role=self.role, **self.hs_extra)
        for k in [k for k, v in conf.items() if v is None]:
            del conf[k]
        self.b = self.start_batond(
            {"crm": CRM, "hs": conf},
            daemon={"rules": self.rules_path},
            env={"BATON_TEST_DELIVERY_IDLE_MS": "500"})
        if self.webhooks:
            self.sim.set_config(
                webhook_url=f"http://127.0.0.1:{self.b.port}/hooks/hs")

    # Helpers.

    def qualify(self, email, **attrs):
        """Posts what makes email an MQL under SPEC's rules (75 points:
        title 20, size 15, the demo request 40)."""
        a = {"title": "VP Sales", "company_size": 500}
        a.update(attrs)
        post(self.b, upsert(email, at=NOW, **a))
        post(self.b, activity(email, "form_submit", at=NOW,
                              form="demo-request"))

    def contact(self, email):
        c = self.sim.get_contact(email=email)
        return c["properties"] if c else {}

    def wait_props(self, email, want, timeout=20):
        """Waits until the contact holds every property of want."""
        def ok():
            p = self.contact(email)
            return p if all(p.get(k) == v for k, v in want.items()) \
                else None
        try:
            return wait_until(ok, timeout, interval=0.1,
                              what=f"{email} to hold {want}")
        except AssertionError as e:
            raise AssertionError(f"{e}; contact: {self.contact(email)}") \
                from None

    def feedback(self, email):
        return [f for _, f in entries(self.redis, "feedback", email)]

    def calls(self, path_part=None):
        return [c for c in self.sim.snapshot(
            omit=("contacts", "deals", "events", "deliveries"))["calls"]
            if path_part is None or path_part in c["path"]]

    def hs_events(self, email=None, type_=None):
        return [f for _, f in entries(self.redis, "events", email, type_)
                if f.get("source") == "hs"]

    @staticmethod
    def _xadd_args(stream, type_, email, data, at=None):
        at = at if at is not None else int(time.time() * 1000)
        return ("XADD", f"baton:{stream}", "*", "v", "1", "type", type_,
                "lead", email, "source", "rules",
                "id", f"{type_}:{email}:{at}", "at", str(at),
                "data", json.dumps(data))

    def xadd(self, stream, type_, email, data, at=None):
        """Writes one entry as the rules worker would."""
        return self.redis.command(*self._xadd_args(stream, type_, email,
                                                   data, at))

    def xadd_together(self, stream, items):
        """Writes (type, email, data) entries in one MULTI, so one
        XREADGROUP reads them all: one batch."""
        with self.redis.client() as c:
            c.command("MULTI")
            for type_, email, data in items:
                c.command(*self._xadd_args(stream, type_, email, data))
            c.command("EXEC")

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            self.sim.base_url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": "Bearer " + TOKEN,
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def upserted(self):
        """(created, updated) of each batch upsert in the call log."""
        out = []
        for c in self.calls(UPSERT):
            m = re.match(r"(\d+) created, (\d+) updated", c.get("note", ""))
            if c["status"] == 200 and m:
                out.append((int(m.group(1)), int(m.group(2))))
        return out

    def pending(self, stream="baton:feedback"):
        """Entries read but not acknowledged, over the stream's groups."""
        n = 0
        for g in self.redis.command("XINFO", "GROUPS", stream):
            d = {g[i]: g[i + 1] for i in range(0, len(g), 2)}
            n += d["pending"]
        return n

    def dlq(self):
        return [f for _, f in self.redis.entries("baton:dlq")]


class Lifecycle(PushCase):

    def test_feedback_moves_the_contact_forward_only(self):
        email = "ada@acme.example"
        rep = self.sim.rep_create("contacts", {
            "email": email, "firstname": "Ada", "lifecyclestage": "lead"})
        self.qualify(email)
        # Sales works the lead: feedback.accepted.
        post(self.b, status(email, "working", at=NOW, owner="rep-7"))
        p = self.wait_props(email, {
            "lifecyclestage": "marketingqualifiedlead",
            "hs_lead_status": "IN_PROGRESS", "baton_stage": "sal"})
        self.assertEqual(p["baton_owner"], "rep-7")
        self.assertEqual(p["firstname"], "Ada")
        fb = self.feedback(email)
        self.assertEqual([f["type"] for f in fb], ["feedback.accepted"])
        self.assertEqual(iso_ms(p["baton_updated"]), int(fb[-1]["at"]))
        # The baton_* properties were made through the properties API,
        # once each.
        for name in BATON_PROPS:
            d = self.api("GET", f"/crm/v3/properties/contacts/{name}")
            self.assertEqual(d["name"], name)
            self.assertEqual(d["groupName"], "contactinformation")
        self.assertEqual(len([c for c in self.calls("/crm/v3/properties")
                              if c["method"] == "POST"]), 5)
        self.assertEqual(self.api("GET", "/crm/v3/properties/contacts/"
                                  "baton_score")["type"], "number")
        # Qualified: feedback.sql.
        post(self.b, status(email, "qualified", at=NOW + 1000,
                            owner="rep-7"))
        p = self.wait_props(email, {
            "lifecyclestage": "salesqualifiedlead", "baton_stage": "sql"})
        self.assertEqual(p["hs_lead_status"], "IN_PROGRESS")
        # Rejected later (and so recycled): hs_lead_status and the
        # baton_* properties follow, lifecyclestage stays.
        post(self.b, status(email, "unqualified", at=NOW + 2000,
                            reason="no budget", owner="rep-7"))
        p = self.wait_props(email, {"baton_stage": "recycled",
                                    "hs_lead_status": "UNQUALIFIED"})
        self.assertEqual(p["lifecyclestage"], "salesqualifiedlead")
        self.assertEqual(p["baton_reason"], "no budget")
        self.assertEqual(p["baton_owner"], "rep-7")
        types = [f["type"] for f in self.feedback(email)]
        self.assertEqual(types, ["feedback.accepted", "feedback.sql",
                                 "feedback.rejected", "feedback.recycled"])
        # A score on the feedback, when the rules engine adds one, is
        # baton_score.
        for f in self.feedback(email):
            d = f["data"]
            if "score" in d:
                self.assertEqual(float(p.get("baton_score")),
                                 float(d["score"]))
        # Never a backward value: the simulator ignored none.
        snap = self.sim.snapshot(omit=("contacts", "deals", "events",
                                       "deliveries", "calls"))
        self.assertEqual(snap["counters"]["lifecycle_backward_ignored"], 0)
        wait_until(lambda: lead(self.redis, email).get("ids.hs") ==
                   rep["id"], 15, what="ids.hs on the lead")
        self.assertEqual(self.dlq(), [])

    def test_deal_won_makes_a_customer_who_stays_one(self):
        email = "grace@navy.example"
        self.qualify(email)
        post(self.b, status(email, "working", at=NOW))
        post(self.b, ev("deal.stage", email, at=NOW + 1000,
                        stage="closedwon", amount=5000, outcome="won"))
        p = self.wait_props(email, {"lifecyclestage": "customer",
                                    "baton_stage": "customer"})
        self.assertIn(p["hs_lead_status"], ("IN_PROGRESS",))
        # Sales marks the customer unqualified afterwards: nothing moves
        # back (a customer is not rejected by the rules; were feedback
        # to come, lifecyclestage would still stay).
        post(self.b, status(email, "unqualified", at=NOW + 2000,
                            reason="wrong contact"))
        wait_settled(self.redis)
        self.xadd("feedback", "feedback.recycled", email,
                  {"reason": "wrong contact"})
        p = self.wait_props(email, {"baton_stage": "recycled",
                                    "baton_reason": "wrong contact"})
        self.assertEqual(p["lifecyclestage"], "customer")
        self.assertEqual(self.dlq(), [])


class Batches(PushCase):

    def test_batches_hold_at_most_100_contacts(self):
        n = 250
        for i in range(n):
            self.xadd("feedback", "feedback.accepted", f"b{i}@bulk.example",
                      {"owner": "rep-1", "status": "working"})
        wait_until(lambda: sum(a + b for a, b in self.upserted()) >= n,
                   30, what=f"{n} contacts upserted")
        time.sleep(0.5)
        ups = self.upserted()
        self.assertEqual(sum(a + b for a, b in ups), n, ups)
        self.assertTrue(all(a + b <= 100 for a, b in ups), ups)
        self.assertGreaterEqual(len(ups), 3)
        reads = [c for c in self.calls("/batch/read")]
        self.assertTrue(reads)
        for c in reads:
            m = re.match(r"(\d+) read, (\d+) missing", c.get("note", ""))
            self.assertTrue(m, c)
            self.assertLessEqual(int(m.group(1)) + int(m.group(2)), 100)
        for i in (0, 99, 100, 249):
            p = self.contact(f"b{i}@bulk.example")
            self.assertEqual(p["lifecyclestage"], "marketingqualifiedlead")
            self.assertEqual(p["baton_stage"], "sal")
        self.assertEqual(self.dlq(), [])


class RateBudget(PushCase):
    """The section's budget counts HubSpot calls, not pushes, over a
    rolling window, as HubSpot's TEN_SECONDLY_ROLLING does: with 8 calls
    a second, no second of the call log holds more than 8, though a push
    makes several calls (the baton_* properties, a lookup, an upsert)."""

    hs_extra = {"rate_limit": "8", "rate_window": "1s",
                "batch_size": "25"}

    def test_no_window_holds_more_calls_than_the_budget(self):
        n = 300
        self.xadd_together("feedback", [
            ("feedback.accepted", f"r{i}@rate.example",
             {"owner": "rep-1", "status": "working"}) for i in range(n)])
        wait_until(lambda: sum(a + b for a, b in self.upserted()) >= n,
                   60, what=f"{n} contacts upserted")
        t = sorted(c["t"] for c in self.calls())
        # 5 property creations, then per push of 25: lookup + upsert.
        self.assertGreaterEqual(len(t), 5 + 2 * (n // 25))
        worst = max(sum(1 for x in t[i:] if x < t[i] + 1.0)
                    for i in range(len(t)))
        # The log's times are taken when the simulator answers, a few ms
        # after batond sent: 1 call of slack.
        self.assertLessEqual(worst, 9, t)
        self.assertEqual(self.dlq(), [])


class ItemErrors(PushCase):

    # A lead status HubSpot does not offer: every rejection is refused.
    hs_extra = {"lead_status.rejected": "NOT_A_STATUS"}

    def test_a_refused_contact_alone_goes_to_the_dlq(self):
        good = [f"ok{i}@acme.example" for i in range(3)]
        self.xadd_together("feedback", [
            ("feedback.accepted", good[0], {}),
            ("feedback.accepted", good[1], {}),
            ("feedback.rejected", "bad@acme.example", {"reason": "spam"}),
            ("feedback.accepted", good[2], {})])
        wait_until(lambda: len(self.dlq()) == 1, 20, what="one DLQ entry")
        for e in good:
            self.wait_props(e, {"lifecyclestage": "marketingqualifiedlead"})
        (f,) = self.dlq()
        self.assertEqual(f["connector"], "hs")
        self.assertEqual(f["lead"], "bad@acme.example")
        self.assertTrue(f["error"].startswith(
            "VALIDATION_ERROR: Property values were not valid"), f["error"])
        self.assertIn("NOT_A_STATUS was not one of the allowed options",
                      f["error"])
        self.assertIsNone(self.sim.get_contact(email="bad@acme.example"))
        time.sleep(0.5)
        self.assertEqual(len(self.dlq()), 1)

    def test_207_drops_only_the_item_in_error(self):
        ids = {}
        for e in ("a@multi.example", "b@multi.example", "c@multi.example"):
            ids[e] = self.sim.rep_create("contacts", {"email": e})["id"]
        # Make the properties first, so the next push is one read and
        # one upsert.
        self.xadd("feedback", "feedback.accepted", "warm@multi.example", {})
        self.wait_props("warm@multi.example", {"baton_stage": "sal"})
        # HubSpot answers 207: two contacts written, one refused.
        now = "2025-01-01T00:00:00.000Z"
        self.sim.fail_next(1, 207, path_prefix=UPSERT, body={
            "status": "COMPLETE",
            "results": [
                {"id": ids[e], "properties": {"email": e},
                 "createdAt": now, "updatedAt": now, "archived": False,
                 "new": False}
                for e in ("a@multi.example", "c@multi.example")],
            "numErrors": 1,
            "errors": [{
                "status": "error", "category": "VALIDATION_ERROR",
                "message": "Property values were not valid: "
                           "[{\"isValid\":false,\"message\":\"bad\"}]",
                "context": {"ids": ["b@multi.example"]},
                "errors": [], "links": {}}],
            "startedAt": now, "completedAt": now})
        self.xadd_together("feedback", [
            ("feedback.accepted", e, {})
            for e in ("a@multi.example", "b@multi.example",
                      "c@multi.example")])
        wait_until(lambda: len(self.dlq()) == 1, 20, what="one DLQ entry")
        (f,) = self.dlq()
        self.assertEqual(f["lead"], "b@multi.example")
        self.assertEqual(f["error"], "VALIDATION_ERROR: Property values "
                         "were not valid: [{\"isValid\":false,"
                         "\"message\":\"bad\"}]")
        # The two written contacts were acknowledged: nothing pending,
        # no second upsert.
        wait_until(lambda: self.pending() == 0, 10,
                   what="every feedback entry acknowledged")
        time.sleep(1.0)
        self.assertEqual(len(self.dlq()), 1)
        self.assertEqual(len(self.calls(UPSERT)), 2)


class Storm(PushCase):

    def test_ten_secondly_429_storm_is_waited_out(self):
        # The properties exist already (a first push).
        self.xadd("feedback", "feedback.accepted", "first@storm.example", {})
        self.wait_props("first@storm.example", {"baton_stage": "sal"})
        before = self.calls()[-1]["seq"]
        self.sim.storm(3, "TEN_SECONDLY_ROLLING", path_prefix="/crm/v3")
        emails = [f"s{i}@storm.example" for i in range(30)]
        for e in emails:
            self.xadd("feedback", "feedback.accepted", e, {})
        for e in emails:
            self.wait_props(e, {"baton_stage": "sal"}, timeout=30)
        calls = [c for c in self.calls() if c["seq"] > before]
        first429 = next(c for c in calls if c["status"] == 429)
        after = [c for c in calls if c["seq"] > first429["seq"]]
        self.assertTrue(after)
        # Nothing was sent in the 10 s HubSpot's policy asks for.
        self.assertGreaterEqual(after[0]["t"] - first429["t"], 10.0,
                                (first429, after[0]))
        self.assertEqual([c for c in after if c["status"] == 429], [])
        ups = [(a, b) for a, b in self.upserted()]
        self.assertEqual(sum(a + b for a, b in ups), 31, ups)
        self.assertEqual(self.dlq(), [])
        self.assertIn("HTTP 429", self.b.log_text())


class EchoWebhooks(PushCase):
    """Webhooks on, polling off."""

    webhooks = True

    def test_own_write_never_comes_back_a_rep_edit_does(self):
        email = "echo@acme.example"
        rec = self.sim.rep_create("contacts", {"email": email,
                                               "firstname": "E"})
        self.sim.flush_webhooks()
        wait_until(lambda: self.hs_events(email), 15,
                   what="the contact's first version")
        self.xadd("feedback", "feedback.accepted", email,
                  {"owner": "rep-9"})
        self.wait_props(email, {"lifecyclestage": "marketingqualifiedlead",
                                "hs_lead_status": "IN_PROGRESS"})
        # HubSpot tells batond about batond's own write ...
        self.assertTrue(self.sim.flush_webhooks())
        sent = [d for d in self.sim.get_deliveries()
                if any(e.get("propertyName") == "hs_lead_status"
                       for e in json.loads(d["body"]))]
        self.assertTrue(sent)
        self.assertTrue(all(d["status"] in (200, 204) for d in sent), sent)
        time.sleep(1.0)
        # ... and it is not an event.
        self.assertEqual(len(self.hs_events(email)), 1)
        # A rep changes the same property: that is news.
        self.sim.rep_edit("contacts", rec["id"],
                          {"hs_lead_status": "CONNECTED"})
        self.sim.flush_webhooks()
        wait_until(lambda: len(self.hs_events(email)) == 2, 15,
                   what="the rep's edit as an event")
        time.sleep(1.0)
        self.assertEqual(len(self.hs_events(email)), 2)


class EchoPolling(PushCase):
    """Polling on (every second), no webhooks."""

    hs_extra = {"poll_interval": "1s", "lookback": "5s", "backfill": "1h",
                "search_gap": "50ms"}

    def wait_rounds(self, n):
        start = len(re.findall(r"poll: \d+ event", self.b.log_text()))
        wait_until(lambda: len(re.findall(r"poll: \d+ event",
                                          self.b.log_text())) >= start + n,
                   20, what=f"{n} more poll rounds")

    def test_own_write_never_comes_back_a_rep_edit_does(self):
        email = "pecho@acme.example"
        rec = self.sim.rep_create("contacts", {"email": email,
                                               "firstname": "P"})
        wait_until(lambda: self.hs_events(email), 15,
                   what="the contact from a poll")
        self.xadd("feedback", "feedback.accepted", email,
                  {"owner": "rep-9"})
        self.wait_props(email, {"lifecyclestage": "marketingqualifiedlead",
                                "hs_lead_status": "IN_PROGRESS"})
        # Rounds re-read the contact, now modified by batond: no event.
        self.wait_rounds(3)
        self.assertEqual(len(self.hs_events(email)), 1)
        self.assertIn("1 skipped", self.b.log_text())
        # A rep's edit of the same property within seconds is news.
        self.sim.rep_edit("contacts", rec["id"],
                          {"hs_lead_status": "CONNECTED"})
        wait_until(lambda: len(self.hs_events(email)) == 2, 15,
                   what="the rep's edit from a poll")
        self.wait_rounds(2)
        self.assertEqual(len(self.hs_events(email)), 2)


class SalesHandoff(PushCase):

    role = "sales"
    hs_extra = {"timeout": "1s", "create_settle": "3s"}

    def test_handoff_creates_the_contact(self):
        email = "lin@kernel.example"
        self.qualify(email, first_name="Lin", last_name="Tor",
                     company="Kernel", company_size=500)
        p = self.wait_props(email, {"lifecyclestage":
                                    "marketingqualifiedlead",
                                    "baton_stage": "mql"})
        self.assertEqual(p["firstname"], "Lin")
        self.assertEqual(p["lastname"], "Tor")
        self.assertEqual(p["jobtitle"], "VP Sales")
        self.assertEqual(p["company"], "Kernel")
        # HubSpot's numemployees is a list of ranges: 500 is 500-1000.
        self.assertEqual(p["numemployees"], "500-1000")
        self.assertEqual(float(p["baton_score"]), 75)
        self.assertIn("Qualified because:", p["baton_reason"])
        self.assertIn("rules.conf:2)", p["baton_reason"])
        # The id is recorded by the commit that follows HubSpot's answer.
        want = self.sim.get_contact(email=email)["id"]
        wait_until(lambda: lead(self.redis, email).get("ids.hs") == want,
                   15, what="ids.hs on the lead")
        self.assertEqual(self.dlq(), [])
        # And a deal for sales to work, associated to the contact.
        deals = self.deals_of(email)
        self.assertEqual(len(deals), 1, deals)
        d = deals[0]["properties"]
        self.assertEqual(d["dealname"], f"Kernel - {email}")
        self.assertEqual(d["dealstage"], "appointmentscheduled")
        self.assertEqual(d["pipeline"], "default")
        self.assertIn("Qualified because:", d["description"])
        self.assertEqual(len(self.calls("/deals/batch/create")), 1)

    def deals_of(self, email):
        c = self.sim.get_contact(email=email)
        assoc = self.api("GET", f"/crm/v4/objects/contacts/{c['id']}"
                         f"/associations/deals")["results"]
        return [self.sim.get_deal(a["toObjectId"]) for a in assoc]

    def test_open_deal_is_updated_a_closed_one_gets_a_new_deal(self):
        # Two contacts the sales team already knows: one with an open
        # deal, one whose only deal was lost.
        a = self.sim.rep_create("contacts", {"email": "open@d.example"})
        b = self.sim.rep_create("contacts", {"email": "lost@d.example"})
        da = self.sim.rep_create("deals", {
            "dealname": "Existing", "dealstage": "qualifiedtobuy"},
            associations=[a["id"]])
        self.sim.rep_create("deals", {
            "dealname": "Old", "dealstage": "closedlost"},
            associations=[b["id"]])
        self.qualify("open@d.example", company="Open Co")
        self.qualify("lost@d.example", company="Lost Co")
        for e in ("open@d.example", "lost@d.example"):
            wait_until(lambda: lead(self.redis, e).get("ids.hs"), 20,
                       what=f"{e} delivered")
        wait_until(lambda: self.pending("baton:handoffs") == 0, 10,
                   what="handoffs acknowledged")
        open_deals = self.deals_of("open@d.example")
        self.assertEqual([d["id"] for d in open_deals], [da["id"]])
        p = open_deals[0]["properties"]
        self.assertEqual(p["dealname"], "Existing")       # the rep's
        self.assertEqual(p["dealstage"], "qualifiedtobuy")  # untouched
        self.assertIn("Qualified because:", p["description"])
        lost = sorted(self.deals_of("lost@d.example"),
                      key=lambda d: int(d["id"]))
        self.assertEqual([d["properties"]["dealstage"] for d in lost],
                         ["closedlost", "appointmentscheduled"])
        self.assertEqual(lost[1]["properties"]["dealname"],
                         "Lost Co - lost@d.example")
        self.assertEqual(self.dlq(), [])

    def test_a_create_whose_answer_was_lost_makes_one_deal(self):
        # The create commits after the connector gave up waiting (timeout
        # 1s, the answer 1.5 s late); the retry, after create_settle,
        # finds the deal through the association and updates it.
        self.sim.set_latency(1500, "/crm/v3/objects/deals/batch/create")
        email = "late@d.example"
        self.qualify(email, company="Late")
        wait_until(lambda: self.sim.get_contact(email=email) and
                   self.deals_of(email), 20, what="the late deal")
        self.sim.set_latency(0)
        wait_until(lambda: lead(self.redis, email).get("ids.hs"), 20,
                   what="the handoff delivered")
        # A second create sent before the first landed would land up to
        # 1.5 s later.
        time.sleep(2.0)
        self.assertEqual(len(self.deals_of(email)), 1)
        self.assertEqual(len(self.calls("/deals/batch/create")), 1)
        self.assertEqual(len(self.calls("/deals/batch/update")), 1)
        self.assertEqual(self.dlq(), [])

    def test_a_bad_deal_stage_goes_to_the_dlq_with_hubspots_words(self):
        self.b.stop()
        self.b = self.start_batond(
            {"crm": CRM, "hs": hs_conf(self.sim, role="sales",
                                       deal_stage="nosuchstage")},
            daemon={"rules": self.rules_path})
        self.qualify("bad@d.example")
        d = wait_until(self.dlq, 20, what="a DLQ entry")
        self.assertIn("deal: VALIDATION_ERROR", d[0]["error"])
        self.assertIn("nosuchstage", d[0]["error"])
        # The contact was written; no deal was.
        self.assertTrue(self.sim.get_contact(email="bad@d.example"))
        self.assertEqual(self.deals_of("bad@d.example"), [])


class SalesHandoffEcho(PushCase):
    """Without app_id the connector knows its own deal by the echo
    record: the deal.creation webhook of a deal it made is not a rep's
    deal."""

    role = "sales"
    webhooks = True

    def setUp(self):
        self.hs_extra = {"app_id": None}
        super().setUp()

    def test_own_deal_creation_is_not_ingested(self):
        email = "echo@d.example"
        self.qualify(email, company="Echo")
        wait_until(lambda: lead(self.redis, email).get("ids.hs"), 20,
                   what="the handoff delivered")
        self.sim.flush_webhooks()
        wait_until(lambda: [d for d in self.sim.get_deliveries()
                            if "deal.creation" in json.dumps(d)], 10,
                   what="the deal.creation webhook")
        self.sim.flush_webhooks()
        time.sleep(0.5)
        self.assertEqual(self.hs_events(email, "deal.stage"), [])
        # A rep's deal for the same contact is.
        c = self.sim.get_contact(email=email)
        self.sim.rep_create("deals", {"dealname": "Rep's",
                                      "dealstage": "qualifiedtobuy"},
                            associations=[c["id"]])
        self.sim.flush_webhooks()
        ev = wait_until(lambda: self.hs_events(email, "deal.stage"), 15,
                        what="the rep's deal.stage")
        self.assertEqual(ev[0]["data"]["stage"], "qualifiedtobuy")


if __name__ == "__main__":
    harness.main()
