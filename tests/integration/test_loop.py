"""test_loop.py - the whole loop of issue #5: HubSpot -> batond ->
Salesforce -> batond -> HubSpot, with real Redis, one real batond (rules
worker included) and both simulators.

A contact created in the HubSpot simulator reaches batond through signed
webhooks; the website (the generic webhook connector `crm` of
rules_helpers: the HubSpot simulator has no forms API) reports a demo
request and a pricing page view; under SPEC's rules the lead qualifies,
which needs the contact's numemployees range "500-1000" to count as
company_size 500 (title scores nothing here), and the handoff becomes a
Lead in the Salesforce simulator.  A rep sets Status = Qualified there;
batond's poll brings lead.status qualified back, the rules emit
feedback.accepted and feedback.sql, and the HubSpot contact ends with
lifecyclestage salesqualifiedlead and baton_stage sql.  Neither
connector's own writes come back as events."""

import os
import sys
import time

import harness
from harness import BatonCase, wait_until
from rules_helpers import (CRM, SPEC_RULES, activity, entries, lead, post,
                           wait_settled, write_rules)

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "sim"))
from hubspot_sim import HubSpotSim  # noqa: E402
from salesforce_sim import SalesforceSim  # noqa: E402


class Loop(BatonCase):

    def setUp(self):
        super().setUp()
        self.hs = HubSpotSim(port=0, retry_schedule=[0.2, 0.5]).start()
        self.addCleanup(self.hs.stop)
        self.sf = SalesforceSim(port=0).start()
        self.addCleanup(self.sf.stop)
        self.start_redis()
        rules = write_rules(self.tmp, SPEC_RULES)
        self.b = self.start_batond({
            "crm": CRM,
            "hs": {
                "type": "hubspot", "role": "marketing",
                "base_url": self.hs.base_url,
                "token": "pat-na1-11111111-2222-3333-4444-555555555555",
                "app_secret": "baton-hubspot-sim-app-secret",
                "app_id": "123456", "poll_interval": "0",
                "retry_base": "100ms", "retry_cap": "1s",
                "batch_linger": "5ms"},
            "sf": {
                "type": "salesforce", "role": "sales",
                "base_url": self.sf.base_url,
                "client_id": "baton-client-id",
                "client_secret": "baton-client-secret",
                "refresh_token": "baton-refresh-token",
                "poll_interval": "1s", "poll_lag": "1s",
                "poll_overlap": "2s", "poll_backfill": "1h",
                "retry_base": "100ms", "retry_cap": "1s",
                "batch_linger": "5ms"},
        }, daemon={"rules": rules})
        self.hs.set_config(
            webhook_url=f"http://127.0.0.1:{self.b.port}/hooks/hs")

    def events(self, source, email, type_=None):
        return [f for _, f in entries(self.redis, "events", email, type_)
                if f.get("source") == source]

    def sf_leads(self, email):
        return [r for r in self.sf.snapshot(include_calls=False)["leads"]
                if (r.get("Email") or "").lower() == email]

    def test_hubspot_to_salesforce_and_back(self):
        email = "ada@acme.example"
        now = int(time.time() * 1000)
        # Marketing's side: a contact in HubSpot ...
        c = self.hs.rep_create("contacts", {
            "email": "Ada@Acme.example", "firstname": "Ada",
            "lastname": "Lovelace", "jobtitle": "Engineering Manager",
            "company": "Acme", "numemployees": "500-1000",
            "lifecyclestage": "lead"}, at=now)
        # (at=now: the contact's version and the activities below share
        # one instant, so no engagement decays between them whatever the
        # machine's load.)
        self.hs.flush_webhooks()
        up = wait_until(lambda: self.events("hs", email, "lead.upserted"),
                        15, what="the contact as lead.upserted")
        self.assertEqual(up[0]["data"]["company_size"], 500)
        # ... engaged on the website: 15 (size) + 40 + 10 = 65.
        post(self.b, activity(email, "form_submit", at=now,
                              form="demo-request"))
        post(self.b, activity(email, "page_view", at=now,
                              url="https://acme.example/pricing"))
        # Sales' side: one Lead in Salesforce.
        rec = wait_until(lambda: self.sf_leads(email), 20,
                         what="the Lead in Salesforce")[0]
        self.assertEqual(rec["FirstName"], "Ada")
        self.assertEqual(rec["LastName"], "Lovelace")
        self.assertEqual(rec["Company"], "Acme")
        self.assertEqual(rec["NumberOfEmployees"], 500)
        self.assertIn("baton score 65 (fit 15, engagement 50), MQL #1.",
                      rec["Description"])
        wait_until(lambda: lead(self.redis, email).get("ids.sf"), 15,
                   what="ids.sf on the lead")
        # A rep qualifies the Lead.
        self.sf.rep_edit("Lead", rec["Id"], {"Status": "Qualified"})
        st = wait_until(lambda: self.events("sf", email, "lead.status"), 15,
                        what="lead.status from Salesforce")
        self.assertEqual(st[0]["data"]["status"], "qualified")
        # Back in HubSpot: a sales qualified lead.
        def done():
            p = self.hs.get_contact(c["id"])["properties"]
            return p if p.get("lifecyclestage") == "salesqualifiedlead" \
                and p.get("baton_stage") == "sql" else None
        try:
            p = wait_until(done, 20, what="the contact to become an SQL")
        except AssertionError as e:
            raise AssertionError(
                f"{e}; contact: {self.hs.get_contact(c['id'])}") from None
        self.assertEqual(p["hs_lead_status"], "IN_PROGRESS")
        self.assertEqual(p["firstname"], "Ada")
        wait_settled(self.redis)
        self.assertEqual(
            [f["type"] for _, f in entries(self.redis, "feedback", email)],
            ["feedback.accepted", "feedback.sql"])
        self.assertEqual(
            [f["type"] for _, f in entries(self.redis, "handoffs", email)],
            ["handoff.mql"])
        state = lead(self.redis, email)
        self.assertEqual(state["ids.sf"], rec["Id"])
        self.assertEqual(state["ids.hs"], c["id"])
        self.assertEqual(state["stage"], "sql")
        # Neither push came back as an event: batond's HubSpot write was
        # announced by webhook and dropped as its own; its Lead create
        # was polled and dropped as its own.
        self.assertTrue(self.hs.flush_webhooks())
        time.sleep(2.5)
        self.assertEqual(len(self.events("hs", email)), 1)
        self.assertEqual([f["type"] for f in self.events("sf", email)],
                         ["lead.status"])
        self.assertEqual(len(self.sf_leads(email)), 1)
        self.assertEqual(self.redis.xlen("baton:dlq"), 0)


if __name__ == "__main__":
    harness.main()
