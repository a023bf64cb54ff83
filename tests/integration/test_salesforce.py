"""test_salesforce.py - the Salesforce connector end to end: real Redis,
real batond, the rules worker, and tests/sim/salesforce_sim.py.

batond runs with the CRM webhook of rules_helpers (events in), SPEC's
rules and one [connector sf] of type salesforce pointed at the simulator.
Handoffs must land as exactly one Lead despite injected faults; a
validation error goes to the DLQ; an expired session is refreshed; what a
rep does to Leads and Opportunities comes back as lead.status and
deal.stage events (but not the connector's own writes); 250 Leads sharing
one SystemModstamp across a page boundary all arrive once; a restart
resumes from the watermark; polling pauses at the API budget while
pushes go on."""

import os
import sys
import time

import harness
from harness import BatonCase, wait_until
from rules_helpers import (CRM, SPEC_RULES, activity, entries, lead, post,
                           upsert, wait_settled, write_rules)

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "sim"))
from salesforce_sim import SalesforceSim  # noqa: E402

NOW = int(time.time() * 1000)


def sf_conf(sim, **extra):
    c = {
        "type": "salesforce",
        "role": "sales",
        "base_url": sim.base_url,
        "client_id": "baton-client-id",
        "client_secret": "baton-client-secret",
        "refresh_token": "baton-refresh-token",
        "poll_interval": "1s",
        "poll_lag": "1s",
        "poll_overlap": "2s",
        "retry_base": "100ms",
        "retry_cap": "1s",
        "batch_linger": "5ms",
    }
    c.update(extra)
    return c


class SalesforceCase(BatonCase):

    sf_extra = {}
    sim_config = {}

    def setUp(self):
        super().setUp()
        self.sim = SalesforceSim(port=0).start()
        self.addCleanup(self.sim.stop)
        if self.sim_config:
            self.sim.set_config(**self.sim_config)
        self.start_redis()
        self.rules_path = write_rules(self.tmp, SPEC_RULES)
        # A dead process's unacknowledged handoffs are claimed quickly.
        self.b = self.start_batond(
            {"crm": CRM, "sf": sf_conf(self.sim, **self.sf_extra)},
            daemon={"rules": self.rules_path},
            env={"BATON_TEST_DELIVERY_IDLE_MS": "500"})

    # Helpers.

    def qualify(self, email, **attrs):
        """Posts what makes email an MQL under SPEC's rules."""
        a = {"title": "VP Sales", "company_size": 500}
        a.update(attrs)
        post(self.b, upsert(email, at=NOW, **a))
        post(self.b, activity(email, "form_submit", at=NOW,
                              form="demo-request"))

    def leads(self, email):
        snap = self.sim.snapshot(include_calls=False)
        return [r for r in snap["leads"]
                if (r.get("Email") or "").lower() == email]

    def wait_lead(self, email, timeout=15):
        return wait_until(lambda: self.leads(email), timeout,
                          what=f"a Lead for {email} in the simulator")[0]

    def sf_events(self, type_=None, email=None):
        return [f for _, f in entries(self.redis, "events", email, type_)
                if f.get("source") == "sf"]

    def calls(self, path_part, method=None):
        snap = self.sim.snapshot(include_records=False)
        return [c for c in snap["calls"] if path_part in c["path"] and
                (method is None or c["method"] == method)]


class Push(SalesforceCase):

    def test_mql_becomes_one_lead_despite_faults(self):
        email = "ada@acme.example"
        # The first pushes fail: 500, then 429 with Retry-After, then a
        # dropped connection; the handoff is retried until it lands.
        self.sim.fail_next(1, 500, path_prefix="/services/data",
                           method="POST")
        self.sim.fail_next(1, 429, path_prefix="/services/data",
                           retry_after=1, method="POST")
        self.sim.drop_next(1, path_prefix="/services/data/v60.0/composite")
        self.qualify(email, company="Acme", first_name="Ada")
        rec = self.wait_lead(email, timeout=30)
        wait_until(lambda: lead(self.redis, email).get("ids.sf"), 15,
                   what="ids.sf on the lead")
        time.sleep(1.0)
        self.assertEqual(len(self.leads(email)), 1)
        self.assertEqual(rec["LastName"], "[not provided]")
        self.assertEqual(rec["FirstName"], "Ada")
        self.assertEqual(rec["Company"], "Acme")
        self.assertEqual(rec["Title"], "VP Sales")
        self.assertEqual(rec["NumberOfEmployees"], 500)
        self.assertEqual(rec["LeadSource"], "baton")
        self.assertIn("baton score 75 (fit 35, engagement 40), MQL #1.",
                      rec["Description"])
        self.assertIn("Qualified because:", rec["Description"])
        self.assertIn("rules.conf:2)", rec["Description"])
        # The assignment rules chose the owner: the rep.
        self.assertEqual(rec["OwnerId"],
                         self.sim.snapshot(False, False)["rep_user_id"])
        self.assertEqual(lead(self.redis, email)["ids.sf"], rec["Id"])
        self.assertEqual(self.redis.xlen("baton:dlq"), 0)
        # The token was asked for once, whatever the retries.
        self.assertEqual(len(self.calls("/services/oauth2/token")), 1)

    def test_existing_lead_is_updated_not_duplicated(self):
        email = "grace@navy.example"
        rep = self.sim.rep_create("Lead", {"Email": "Grace@Navy.example",
                                           "LastName": "Hopper",
                                           "Company": "US Navy"})
        self.qualify(email)
        wait_until(lambda: lead(self.redis, email).get("ids.sf"), 20,
                   what="ids.sf on the lead")
        recs = self.leads(email)
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["Id"], rep["Id"])
        # What the rep typed is kept; no placeholder overwrites it.
        self.assertEqual(recs[0]["LastName"], "Hopper")
        self.assertEqual(recs[0]["Company"], "US Navy")
        self.assertIn("MQL #1", recs[0]["Description"])
        self.assertEqual(lead(self.redis, email)["ids.sf"], rep["Id"])
        self.assertEqual(len(self.calls("/composite/sobjects", "PATCH")), 1)
        self.assertEqual(len(self.calls("/composite/sobjects", "POST")), 0)

    def test_expired_session_is_refreshed_once(self):
        self.qualify("one@acme.example")
        self.wait_lead("one@acme.example")
        self.sim.expire_tokens()
        self.qualify("two@acme.example")
        self.wait_lead("two@acme.example")
        self.assertEqual(len(self.calls("/services/oauth2/token")), 2)
        self.assertEqual(len(self.leads("two@acme.example")), 1)
        self.assertEqual(self.redis.xlen("baton:dlq"), 0)

    def test_stop_mid_push_then_restart_lands_once(self):
        email = "slow@acme.example"
        self.sim.set_latency(1500, path_prefix="/services/data")
        self.qualify(email)
        wait_until(lambda: entries(self.redis, "handoffs", email), 10,
                   what="the handoff")
        time.sleep(0.5)     # the lookup is out, answered in 1.5 s
        # SIGTERM while the call is out: stop() cancels it, the batch is
        # retried after the restart, and the Lead lands once.
        self.assertEqual(self.b.stop(), 0)
        self.sim.set_latency(0)
        self.b.start()
        self.wait_lead(email)
        time.sleep(1.0)
        self.assertEqual(len(self.leads(email)), 1)
        self.assertEqual(self.redis.xlen("baton:dlq"), 0)


class Upsert(SalesforceCase):

    sf_extra = {"match": "Baton_Key__c", "score_field": "Baton_Score__c"}

    def test_external_id_upsert(self):
        email = "linus@kernel.example"
        self.qualify(email, last_name="Torvalds")
        rec = self.wait_lead(email)
        self.assertEqual(rec["Baton_Key__c"], email)
        self.assertEqual(rec["Baton_Score__c"], 75)
        self.assertEqual(rec["LastName"], "Torvalds")
        self.assertEqual(len(self.calls("/composite/sobjects/Lead/"
                                        "Baton_Key__c", "PATCH")), 1)


class Dlq(SalesforceCase):

    # A valid-looking OwnerId the org does not have.
    sf_extra = {"owner": "005000000000099AAA"}

    def test_rejected_record_goes_to_dlq_with_the_vendor_error(self):
        email = "bad@acme.example"
        self.qualify(email)
        wait_until(lambda: self.redis.xlen("baton:dlq") == 1, 20,
                   what="one DLQ entry")
        (_, f), = self.redis.entries("baton:dlq")
        self.assertEqual(f["connector"], "sf")
        self.assertEqual(f["lead"], email)
        self.assertTrue(f["error"].startswith(
            "INVALID_CROSS_REFERENCE_KEY: "), f["error"])
        self.assertEqual(self.leads(email), [])


class Poll(SalesforceCase):

    sf_extra = {"poll_backfill": "1h"}

    def test_rep_status_comes_back_and_own_writes_do_not(self):
        email = "ada@acme.example"
        self.qualify(email, company="Acme")
        rec = self.wait_lead(email)
        # Our own create is echoed by the poll but ignored.
        time.sleep(3.5)
        self.assertEqual(self.sf_events(email=email), [])
        self.sim.rep_edit("Lead", rec["Id"], {"Status": "Qualified"})
        ev = wait_until(lambda: self.sf_events("lead.status", email), 15,
                        what="lead.status from sf")
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0]["data"], {"status": "qualified",
                                         "id": rec["Id"],
                                         "owner": rec["OwnerId"]})
        self.assertTrue(ev[0]["id"].startswith(rec["Id"] + ":"))
        wait_settled(self.redis)
        fb = wait_until(lambda: entries(self.redis, "feedback", email,
                                        "feedback.sql"), 10,
                        what="feedback.sql")
        self.assertEqual(len(fb), 1)
        # Rounds go on re-reading the overlap: still one event.
        time.sleep(3)
        self.assertEqual(len(self.sf_events("lead.status", email)), 1)
        # A rep's edit that changes nothing a lead.status carries (the
        # phone) is not a new decision: nothing comes back.
        self.sim.rep_edit("Lead", rec["Id"], {"Phone": "+1 555 0100"})
        rounds = self.sim.snapshot(False)["counters"]["queries"]
        wait_until(lambda: self.sim.snapshot(False)["counters"]["queries"]
                   >= rounds + 4, 15, what="more poll rounds")
        self.assertEqual(len(self.sf_events("lead.status", email)), 1)

    def test_conversion_and_opportunity_stages(self):
        email = "opp@acme.example"
        self.sim.rep_create("Lead", {"Email": email, "LastName": "Opp",
                                     "Company": "Acme"})
        self.sim.rep_convert(email=email, opportunity={"Amount": 5000})
        ev = wait_until(lambda: self.sf_events("deal.stage", email), 15,
                        what="deal.stage from sf")
        self.assertEqual(ev[0]["data"]["stage"], "Prospecting")
        self.assertEqual(ev[0]["data"]["amount"], 5000)
        self.assertEqual(ev[0]["data"]["outcome"], "open")
        st = [e["data"]["status"] for e in
              self.sf_events("lead.status", email)]
        self.assertEqual(st[-1], "converted")
        opp = self.sim.snapshot(False)["opportunities"][0]
        self.sim.rep_edit("Opportunity", opp["Id"],
                          {"StageName": "Closed Won"})
        wait_until(lambda: [e for e in self.sf_events("deal.stage", email)
                            if e["data"]["outcome"] == "won"], 15,
                   what="deal.stage won")

    def test_restart_resumes_from_the_watermark(self):
        email = "resume@acme.example"
        rec = self.sim.rep_create("Lead", {"Email": email, "LastName": "R",
                                           "Company": "Acme"})
        wait_until(lambda: self.sf_events("lead.status", email), 15,
                   what="the first lead.status")
        cursor = self.redis.command("GET", "baton:cursor:sf")
        self.assertIsNotNone(cursor)
        self.b.stop()
        self.sim.rep_edit("Lead", rec["Id"], {"Status": "Working - "
                                                        "Contacted"})
        self.b.start()
        ev = wait_until(lambda: [e for e in self.sf_events("lead.status",
                                                           email)
                                 if e["data"]["status"] == "working"], 15,
                        what="lead.status working after the restart")
        self.assertEqual(len(ev), 1)
        self.assertEqual(len(self.sf_events("lead.status", email)), 2)


class RejectReason(SalesforceCase):

    sf_extra = dict(Poll.sf_extra, reason_field="Unqualified_Reason__c")
    sim_config = {"custom_fields": {"Lead": {
        "Unqualified_Reason__c": {"type": "string", "length": 255}}}}

    def test_rejection_reason_comes_back(self):
        # reason_field is polled with the Status; the rep's reason is the
        # lead.status reason and travels on in feedback.rejected.
        email = "nope@acme.example"
        self.qualify(email, company="Acme")
        rec = self.wait_lead(email)
        self.sim.rep_edit("Lead", rec["Id"], {
            "Status": "Unqualified", "Unqualified_Reason__c": "no budget"})
        ev = wait_until(lambda: self.sf_events("lead.status", email), 15,
                        what="lead.status from sf")
        self.assertEqual(ev[0]["data"]["reason"], "no budget")
        fb = wait_until(lambda: entries(self.redis, "feedback", email,
                                        "feedback.rejected"), 15,
                        what="feedback.rejected")
        self.assertEqual(fb[0][1]["data"]["reason"], "no budget")


class SharedModstamp(SalesforceCase):

    # Pages of 200 and one page a round: the 250 Leads span a page
    # boundary inside a query and a round boundary (keyset resume).
    sf_extra = {"poll_pages": "1"}
    sim_config = {"page_size": 200}

    def test_250_records_on_one_modstamp_across_pages(self):
        r = self.sim.bulk_create("Lead", 250)
        wait_until(lambda: len(self.sf_events("lead.status")) >= 250, 30,
                   what="250 lead.status events")
        time.sleep(3)
        evs = self.sf_events("lead.status")
        self.assertEqual(len(evs), 250)
        self.assertEqual(len({e["lead"] for e in evs}), 250)
        self.assertEqual(len({e["id"] for e in evs}), 250)
        self.assertEqual({e["data"]["status"] for e in evs}, {"open"})
        self.assertEqual({e["id"].split(":")[1] for e in evs},
                         {str(harness_ms(r["SystemModstamp"]))})
        # One round stopped at its page cap and asked for another.
        self.assertIn("more to read", self.b.log_text())


def harness_ms(stamp):
    """ms of a Salesforce dateTime such as 2024-05-01T12:00:00.000+0000."""
    import datetime
    return int(datetime.datetime.strptime(
        stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)


class Budget(SalesforceCase):

    sf_extra = {"api_budget": "50%", "poll_interval": "500ms",
                "budget_pause": "1s"}
    sim_config = {"api_limit": 1000, "api_usage": 600}

    def test_polling_pauses_at_the_budget_and_pushes_go_on(self):
        self.qualify("push@acme.example")
        self.wait_lead("push@acme.example")
        wait_until(lambda: "reached api_budget 50%" in self.b.log_text(), 10,
                   what="the budget notice")
        time.sleep(0.5)
        before = len(self.calls("/query"))
        self.sim.rep_create("Lead", {"Email": "rep@acme.example",
                                     "LastName": "R", "Company": "Acme"})
        time.sleep(3)
        self.assertEqual(len(self.calls("/query")), before)
        self.assertEqual(self.sf_events(email="rep@acme.example"), [])
        self.assertEqual(self.b.log_text().count("reached api_budget"), 1)
        # Under the budget again (the daily window moved on): polling
        # resumes and the rep's Lead comes in.
        self.sim.set_config(api_usage=10)
        wait_until(lambda: self.sf_events(email="rep@acme.example"), 20,
                   what="the rep's Lead after the budget recovered")
        self.assertIn("is back under api_budget 50%: polling resumes",
                      self.b.log_text())


if __name__ == "__main__":
    harness.main()
