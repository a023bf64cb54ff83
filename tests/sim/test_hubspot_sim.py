#!/usr/bin/env python3
"""test_hubspot_sim.py - the HubSpot simulator against the vendor's
published shapes (../shared/vendor-samples/hubspot: the webhook body and
the signature vectors) and its knobs: CRM v3 objects, batch, search and its
10,000 cap, properties, associations, merge, GDPR delete, 429 policies,
lifecyclestage, and webhook delivery with signatures and retries.

Starts the simulator in-process on port 0; prints "N passed, N failed";
exits non-zero on failure."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from simtest import run_module, vendor_samples  # noqa: E402
from hubspot_sim import (DEFAULT_TOKEN, AUTH_MESSAGE, HsError, HubSpotSim,  # noqa
                         sign_v1, sign_v2, sign_v3)

SAMPLES = vendor_samples("hubspot")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                  r"[0-9a-f]{12}$")
C = "/crm/v3/objects/contacts"
D = "/crm/v3/objects/deals"


def sample(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()


def ms(iso):
    from datetime import datetime
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00"))
               .timestamp() * 1000)


class Receiver:
    """batond's place: records webhook POSTs, answers from a script of
    statuses (then 200); a status "sleep:S" waits S seconds first."""

    def __init__(self):
        self.posts = []
        self.script = []
        self.lock = threading.Lock()
        me = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with me.lock:
                    me.posts.append({"path": self.path, "body": body,
                                     "headers": dict(self.headers),
                                     "t": time.time()})
                    st = me.script.pop(0) if me.script else 200
                if isinstance(st, str) and st.startswith("sleep:"):
                    time.sleep(float(st[6:]))
                    st = 200
                try:
                    self.send_response(st)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever,
                         kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}" \
                   f"/hooks/hubspot"

    def events(self):
        with self.lock:
            return [e for p in self.posts for e in json.loads(p["body"])]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Base(unittest.TestCase):

    def setUp(self):
        self.rx = Receiver()
        self.addCleanup(self.rx.stop)
        self.sim = HubSpotSim(port=0, webhook_url=self.rx.url,
                              retry_schedule=[0.05] * 9).start()
        self.sim.set_config(batch_linger_ms=10)
        self.addCleanup(self.sim.stop)

    def call(self, method, path, body=None, token=DEFAULT_TOKEN,
             headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.port,
                                          timeout=10)
        try:
            h = dict(headers or {})
            if token is not None:
                h["Authorization"] = "Bearer " + token
            data = None
            if body is not None:
                data = body if isinstance(body, bytes) else \
                    json.dumps(body).encode()
                h["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            hdr = {k.lower(): v for k, v in r.getheaders()}
            return r.status, (json.loads(raw) if raw else None), hdr
        finally:
            conn.close()

    def ok(self, method, path, body=None, status=200):
        st, b, _ = self.call(method, path, body)
        self.assertEqual(st, status, b)
        return b

    def contact(self, **props):
        return self.ok("POST", C, {"properties": props}, 201)

    def search(self, body, otype="contacts"):
        return self.call("POST", f"/crm/v3/objects/{otype}/search", body)

    def assertError(self, st, b, status, category, message=None):
        self.assertEqual(st, status, b)
        self.assertEqual(b["status"], "error")
        self.assertEqual(b["category"], category)
        self.assertRegex(b["correlationId"], UUID)
        if message is not None:
            self.assertEqual(b["message"], message)


# --------------------------------------------------------------- signatures

class TestSignatures(Base):

    def test_vendor_vectors(self):
        v = json.loads(sample("signature-test-vectors.json"))
        s = v["clientSecret"]
        self.assertEqual(sign_v1(s, v["v1"]["body"]), v["v1"]["signature"])
        for k in ("v2_get", "v2_post"):
            self.assertEqual(sign_v2(s, v[k]["method"], v[k]["uri"],
                                     v[k]["body"]), v[k]["signature"])
        x = v["v3"]
        self.assertEqual(sign_v3(s, x["method"], x["uri"], x["body"],
                                 x["timestamp"]), x["signature"])
        self.assertNotEqual(sign_v3(s, x["method"], x["uri"], x["body"],
                                    int(x["timestamp"]) + 1),
                            x["signature"])

    def test_rebuilds_vendor_webhook_body_and_v1_signature(self):
        v = json.loads(sample("signature-test-vectors.json"))
        self.sim.set_config(app_id=54321, portal_id=62515,
                            app_secret=v["clientSecret"],
                            subscription_ids={"contact.creation": 12345},
                            next_event_id=1, property_subscriptions=[],
                            signature_version="v1")
        self.sim.rep_create("contacts", {"email": "x@example.com"},
                            rid=123, at=1564113600000,
                            source={"changeSource": "CRM"})
        self.assertTrue(self.sim.flush_webhooks())
        p = self.rx.posts[0]
        self.assertEqual(p["body"], sample(
            "webhook-contact-creation-body.json"))
        self.assertEqual(p["headers"]["X-HubSpot-Signature"],
                         v["v1"]["signature"])
        self.assertEqual(p["headers"]["X-HubSpot-Signature-Version"], "v1")
        self.assertNotIn("X-HubSpot-Signature-v3", p["headers"])

    def test_v3_signature_over_exact_url_and_body(self):
        self.sim.set_config(app_secret="s3cret")
        t0 = int(time.time() * 1000)
        self.contact(email="a@example.com")
        self.assertTrue(self.sim.flush_webhooks())
        p = self.rx.posts[0]
        h = p["headers"]
        ts = h["X-HubSpot-Request-Timestamp"]
        self.assertLessEqual(abs(int(ts) - t0), 5000)
        msg = b"POST" + self.rx.url.encode() + p["body"] + ts.encode()
        want = base64.b64encode(hmac.new(b"s3cret", msg,
                                         hashlib.sha256).digest()).decode()
        self.assertEqual(h["X-HubSpot-Signature-v3"], want)
        self.assertEqual(h["X-HubSpot-Signature"], hashlib.sha256(
            b"s3cret" + p["body"]).hexdigest())
        self.assertEqual(h["Content-Type"], "application/json")
        # signed_url: the URL batond is known by outside (public_url)
        self.sim.set_config(signed_url="https://baton.example.com/hooks/x")
        self.sim.rep_edit("contacts", "101", {"firstname": "Z"})
        self.assertTrue(self.sim.flush_webhooks())
        p = self.rx.posts[-1]
        ts = p["headers"]["X-HubSpot-Request-Timestamp"]
        self.assertEqual(p["headers"]["X-HubSpot-Signature-v3"], sign_v3(
            "s3cret", "POST", "https://baton.example.com/hooks/x",
            p["body"], ts))

    def test_v2_and_clock_shift(self):
        self.sim.set_config(signature_version="v2", app_secret="k")
        self.contact(email="b@example.com")
        self.assertTrue(self.sim.flush_webhooks())
        p = self.rx.posts[0]
        self.assertEqual(p["headers"]["X-HubSpot-Signature"], hashlib.sha256(
            b"kPOST" + self.rx.url.encode() + p["body"]).hexdigest())
        self.assertEqual(p["headers"]["X-HubSpot-Signature-Version"], "v2")
        # a clock shifted back makes the v3 timestamp stale (> 5 min)
        self.sim.set_config(signature_version="v3")
        self.ok("POST", "/__sim/clock", {"advance_seconds": -600})
        self.sim.rep_edit("contacts", "101", {"firstname": "Q"})
        self.assertTrue(self.sim.flush_webhooks())
        ts = int(self.rx.posts[-1]["headers"]["X-HubSpot-Request-Timestamp"])
        self.assertGreater(time.time() * 1000 - ts, 300000)


# ---------------------------------------------------------- auth, objects

class TestObjects(Base):

    def test_auth(self):
        for tok in (None, "wrong"):
            st, b, h = self.call("GET", C, token=tok)
            self.assertError(st, b, 401, "INVALID_AUTHENTICATION",
                             AUTH_MESSAGE)
            self.assertEqual(set(b), {"status", "message", "correlationId",
                                      "category"})
            self.assertEqual(h["x-hubspot-correlation-id"],
                             b["correlationId"])
        st, _, _ = self.call("GET", C, headers={"Authorization":
                                                DEFAULT_TOKEN}, token=None)
        self.assertEqual(st, 401)
        self.sim.set_config(token="pat-new")
        self.assertEqual(self.call("GET", C)[0], 401)
        self.assertEqual(self.call("GET", C, token="pat-new")[0], 200)

    def test_create_get_update_delete(self):
        b = self.contact(email="Ann@Example.com", firstname="Ann",
                         annualrevenue=50)
        self.assertEqual(set(b), {"id", "properties", "createdAt",
                                  "updatedAt", "archived"})
        self.assertEqual(b["id"], "101")
        p = b["properties"]
        self.assertEqual(p["email"], "ann@example.com")
        self.assertEqual(p["hs_object_id"], "101")
        self.assertEqual(p["annualrevenue"], "50")
        self.assertIsNone(p["lastname"])
        self.assertRegex(p["createdate"], ISO_MS)
        self.assertEqual(p["createdate"], p["lastmodifieddate"])
        self.assertEqual(b["createdAt"], p["createdate"])
        self.assertIs(b["archived"], False)
        # default properties
        g = self.ok("GET", C + "/101")
        self.assertEqual(sorted(g["properties"]), [
            "createdate", "email", "firstname", "hs_object_id",
            "lastmodifieddate", "lastname"])
        g = self.ok("GET", C + "/101?properties=email,annualrevenue"
                    "&properties=jobtitle,nosuch")
        self.assertEqual(g["properties"], {"email": "ann@example.com",
                                           "annualrevenue": "50",
                                           "jobtitle": None})
        g = self.ok("GET", C + "/ann%40example.com?idProperty=email"
                    "&properties=firstname")
        self.assertEqual((g["id"], g["properties"]["firstname"]),
                         ("101", "Ann"))
        st, e, _ = self.call("POST", C, {"properties": {
            "email": "ANN@example.com"}})
        self.assertError(st, e, 409, "CONFLICT",
                         "Contact already exists. Existing ID: 101")
        time.sleep(0.005)
        u = self.ok("PATCH", C + "/ann@example.com?idProperty=email",
                    {"properties": {"jobtitle": "CTO"}})
        self.assertEqual(u["properties"]["jobtitle"], "CTO")
        self.assertGreater(ms(u["properties"]["lastmodifieddate"]),
                           ms(u["properties"]["createdate"]))
        self.assertEqual(u["updatedAt"], u["properties"]["lastmodifieddate"])
        st, e, _ = self.call("GET", C + "/999")
        self.assertError(st, e, 404, "OBJECT_NOT_FOUND")
        st, e, _ = self.call("GET", C + "/abc")
        self.assertError(st, e, 404, "OBJECT_NOT_FOUND",
                         "Object not found.  objectId are usually numeric.")
        self.assertEqual(e["context"], {"id": ["abc"]})
        self.assertEqual(self.call("PATCH", C + "/999", {
            "properties": {"firstname": "x"}})[0], 404)
        self.assertEqual(self.call("DELETE", C + "/101")[:2], (204, None))
        self.assertEqual(self.call("GET", C + "/101")[0], 404)
        self.assertEqual(self.call("DELETE", C + "/101")[0], 204)
        a = self.ok("GET", C + "/101?archived=true")
        self.assertIs(a["archived"], True)
        self.assertRegex(a["archivedAt"], ISO_MS)
        # the email is free again once archived
        self.assertEqual(self.contact(email="ann@example.com")["id"], "102")

    def test_property_validation(self):
        self.contact(email="v@example.com")
        st, b, _ = self.call("PATCH", C + "/101", {"properties": {
            "nosuch": "1", "hs_lead_status": "HOT", "email": "bad",
            "annualrevenue": "many", "numemployees": "12",
            "lastmodifieddate": "0",
            "firstname": "ok"}})
        self.assertError(st, b, 400, "VALIDATION_ERROR")
        codes = {e["context"]["propertyName"][0]: e["code"]
                 for e in b["errors"]}
        self.assertEqual(codes, {"nosuch": "PROPERTY_DOESNT_EXIST",
                                 "hs_lead_status": "INVALID_OPTION",
                                 "email": "INVALID_EMAIL",
                                 "annualrevenue": "INVALID_LONG",
                                 "numemployees": "INVALID_OPTION",
                                 "lastmodifieddate": "READ_ONLY_VALUE"})
        self.assertTrue(b["message"].startswith(
            "Property values were not valid: ["))
        listed = json.loads(b["message"][len(
            "Property values were not valid: "):])
        self.assertEqual(listed[0], {
            "isValid": False, "message": 'Property "nosuch" does not exist',
            "error": "PROPERTY_DOESNT_EXIST", "name": "nosuch",
            "localizedErrorMessage": 'Property "nosuch" does not exist',
            "portalId": 62515})
        # nothing written
        self.assertIsNone(self.sim.get_contact("101")["properties"].get(
            "firstname"))
        st, b, _ = self.call("POST", C, b"{nope")
        self.assertError(st, b, 400, "VALIDATION_ERROR")
        self.assertIn("Invalid input JSON", b["message"])
        for s in ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED",
                  "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING"):
            self.ok("PATCH", C + "/101", {"properties": {
                "hs_lead_status": s}})

    def test_properties_api(self):
        r = self.ok("GET", "/crm/v3/properties/contacts")
        byname = {p["name"]: p for p in r["results"]}
        self.assertEqual([o["value"] for o in
                          byname["lifecyclestage"]["options"]],
                         ["subscriber", "lead", "marketingqualifiedlead",
                          "salesqualifiedlead", "opportunity", "customer",
                          "evangelist", "other"])
        self.assertTrue(byname["email"]["hasUniqueValue"])
        body = {"name": "baton_score", "label": "Baton score",
                "type": "number", "fieldType": "number",
                "groupName": "contactinformation"}
        p = self.ok("POST", "/crm/v3/properties/contacts", body, 201)
        for k in ("name", "label", "type", "fieldType", "groupName",
                  "options", "hasUniqueValue", "hidden", "formField",
                  "calculated", "externalOptions", "modificationMetadata",
                  "createdAt", "updatedAt", "archived", "displayOrder",
                  "description"):
            self.assertIn(k, p)
        st, e, _ = self.call("POST", "/crm/v3/properties/contacts", body)
        self.assertError(st, e, 409, "OBJECT_ALREADY_EXISTS",
                         "Property named 'baton_score' already exists.")
        st, e, _ = self.call("POST", "/crm/v3/properties/contacts",
                             {"name": "baton_x"})
        self.assertError(st, e, 400, "VALIDATION_ERROR",
                         "Missing required fields: label, type, fieldType, "
                         "groupName")
        self.assertEqual(self.ok("GET", "/crm/v3/properties/contacts/"
                                 "baton_score")["type"], "number")
        self.assertEqual(self.call("GET", "/crm/v3/properties/contacts/"
                                   "nosuch")[0], 404)
        self.contact(email="s@example.com", baton_score="42.5")
        self.assertEqual(self.ok("GET", C + "/101?properties=baton_score")
                         ["properties"]["baton_score"], "42.5")

    def test_deals_and_associations(self):
        self.contact(email="d@example.com")
        d = self.ok("POST", D, {"properties": {
            "dealname": "Big", "amount": 5000, "dealstage": "qualifiedtobuy"},
            "associations": [{"to": {"id": "101"}, "types": [{
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": 3}]}]}, 201)
        self.assertEqual(d["id"], "5001")
        self.assertEqual(d["properties"]["pipeline"], "default")
        self.assertEqual(d["properties"]["amount"], "5000")
        self.assertRegex(d["properties"]["hs_lastmodifieddate"], ISO_MS)
        g = self.ok("GET", D + "/5001?associations=contacts")
        self.assertEqual(g["associations"], {"contacts": {"results": [
            {"id": "101", "type": "deal_to_contact"}]}})
        g = self.ok("GET", C + "/101?associations=deals")
        self.assertEqual(g["associations"]["deals"]["results"][0]["id"],
                         "5001")
        v4 = self.ok("GET", "/crm/v4/objects/contacts/101/associations/deals")
        self.assertEqual(v4, {"results": [{"toObjectId": 5001,
                                           "associationTypes": [{
                                               "category": "HUBSPOT_DEFINED",
                                               "typeId": 4,
                                               "label": None}]}]})
        st, e, _ = self.call("POST", D, {"properties": {"dealname": "x"},
                                         "associations": [{"to": {
                                             "id": "999"}, "types": [{
                                                 "associationCategory":
                                                 "HUBSPOT_DEFINED",
                                                 "associationTypeId": 3}]}]})
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        st, e, _ = self.call("POST", D, {"properties": {
            "dealstage": "won"}})
        self.assertEqual(e["errors"][0]["code"], "INVALID_OPTION")
        d2 = self.ok("POST", D, {"properties": {"dealname": "Two"}}, 201)
        r = self.ok("PUT", f"/crm/v4/objects/deals/{d2['id']}/associations/"
                    f"default/contacts/101")
        self.assertEqual(r["status"], "COMPLETE")
        self.assertEqual(r["results"][0]["associationSpec"],
                         {"associationCategory": "HUBSPOT_DEFINED",
                          "associationTypeId": 3})
        self.assertEqual(len(self.ok("GET", "/crm/v4/objects/contacts/101/"
                                     "associations/deals")["results"]), 2)
        self.assertEqual(self.call("DELETE", f"/crm/v4/objects/deals/"
                                   f"{d2['id']}/associations/contacts/101"
                                   )[0], 204)
        self.assertEqual(len(self.ok("GET", "/crm/v4/objects/contacts/101/"
                                     "associations/deals")["results"]), 1)

    def test_v4_batch_association_read(self):
        self.contact(email="a@example.com")            # 101
        self.contact(email="b@example.com")            # 102
        self.ok("POST", D, {"properties": {"dealname": "One"},
                            "associations": [{"to": {"id": "101"},
                                              "types": [{
                                                  "associationCategory":
                                                  "HUBSPOT_DEFINED",
                                                  "associationTypeId": 3}]}]},
                201)
        path = "/crm/v4/associations/contacts/deals/batch/read"
        st, r, _ = self.call("POST", path, {"inputs": [{"id": "101"},
                                                       {"id": "102"}]})
        self.assertEqual(st, 207)
        self.assertEqual(r["results"], [{"from": {"id": "101"}, "to": [
            {"toObjectId": 5001, "associationTypes": [{
                "category": "HUBSPOT_DEFINED", "typeId": 4,
                "label": None}]}]}])
        self.assertEqual(r["numErrors"], 1)
        self.assertEqual(r["errors"][0]["context"], {"fromObjectId": ["102"]})
        r = self.ok("POST", path, {"inputs": [{"id": "101"}]})
        self.assertEqual(r["status"], "COMPLETE")
        st, e, _ = self.call("POST", path, {"inputs": [{"id": str(i)}
                                                       for i in range(101)]})
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        st, e, _ = self.call("GET", path)
        self.assertEqual(st, 405)

    def test_form_submission_and_email_events_roll_up(self):
        self.contact(email="f@example.com")
        self.sim.rep_form_submit("demo-request", email="f@example.com",
                                 page="Pricing", at=1717243200000)
        self.sim.rep_form_submit("webinar", email="f@example.com",
                                 at=1717243260000)
        self.sim.rep_email_event("click", "June", email="f@example.com",
                                 at=1717243320000)
        p = self.sim.get_contact(email="f@example.com")["properties"]
        self.assertEqual(p["recent_conversion_event_name"], "webinar")
        self.assertEqual(p["first_conversion_event_name"],
                         "demo-request: Pricing")
        self.assertEqual(p["recent_conversion_date"],
                         "2024-06-01T12:01:00.000Z")
        self.assertEqual(p["num_conversion_events"], "2")
        self.assertEqual(p["hs_email_last_click_date"],
                         "2024-06-01T12:02:00.000Z")
        self.assertEqual(p["hs_email_click"], "1")
        self.assertEqual(p["lastmodifieddate"], "2024-06-01T12:02:00.000Z")
        # HubSpot sets them, not the API.
        st, e, _ = self.call("PATCH", C + "/101", {"properties": {
            "recent_conversion_date": "2024-01-01T00:00:00Z"}})
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        with self.assertRaises(HsError):
            self.sim.rep_email_event("bounce", "x", email="f@example.com")

    def test_list_paging(self):
        for i in range(5):
            self.contact(email=f"l{i}@example.com")
        r = self.ok("GET", C + "?limit=2&properties=email")
        self.assertEqual([x["id"] for x in r["results"]], ["101", "102"])
        self.assertEqual(r["paging"]["next"]["after"], "103")
        self.assertTrue(r["paging"]["next"]["link"].endswith("after=103"))
        r = self.ok("GET", C + "?limit=2&after=105")
        self.assertEqual([x["id"] for x in r["results"]], ["105"])
        self.assertNotIn("paging", r)

    def test_unknown_route_and_method(self):
        st, e, _ = self.call("GET", "/crm/v3/objects/companies")
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        st, e, _ = self.call("GET", "/nope")
        self.assertError(st, e, 404, "OBJECT_NOT_FOUND")
        st, e, _ = self.call("PUT", C + "/101", {})
        self.assertEqual(st, 405)


# ------------------------------------------------------------------- batch

class TestBatch(Base):

    def test_batch_read(self):
        for i in range(3):
            self.contact(email=f"r{i}@example.com", firstname=f"R{i}")
        r = self.ok("POST", C + "/batch/read", {
            "inputs": [{"id": "101"}, {"id": "103"}],
            "properties": ["firstname"]})
        self.assertEqual(r["status"], "COMPLETE")
        self.assertEqual([x["properties"] for x in r["results"]],
                         [{"firstname": "R0"}, {"firstname": "R2"}])
        self.assertRegex(r["startedAt"], ISO_MS)
        self.assertRegex(r["completedAt"], ISO_MS)
        self.assertNotIn("errors", r)
        st, r, _ = self.call("POST", C + "/batch/read", {
            "inputs": [{"id": "101"}, {"id": "777"}, {"id": "778"}],
            "properties": ["email"]})
        self.assertEqual(st, 207)
        self.assertEqual(r["numErrors"], 1)
        self.assertEqual(r["errors"], [{
            "status": "error", "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some CONTACT objects, they may be "
                       "deleted or not exist. Check that ids are valid.",
            "context": {"ids": ["777", "778"]}, "errors": [], "links": {}}])
        r = self.ok("POST", C + "/batch/read", {
            "idProperty": "email", "properties": ["firstname"],
            "inputs": [{"id": "R1@example.com"}]})
        self.assertEqual(r["results"][0]["id"], "102")
        st, e, _ = self.call("POST", C + "/batch/read", {
            "inputs": [{"id": str(i)} for i in range(101)]})
        self.assertError(st, e, 400, "VALIDATION_ERROR",
                         "Batch input of 101 exceeds the limit of 100 "
                         "inputs")
        # archived: deleted and merged-away records
        self.call("DELETE", C + "/102")
        self.ok("POST", C + "/merge", {"primaryObjectId": "101",
                                       "objectIdToMerge": "103"})
        st, r, _ = self.call("POST", C + "/batch/read?archived=true", {
            "inputs": [{"id": "101"}, {"id": "102"}, {"id": "103"}],
            "properties": ["email"]})
        self.assertEqual(st, 207)
        self.assertEqual(sorted(x["id"] for x in r["results"]),
                         ["102", "103"])
        self.assertTrue(all(x["archived"] for x in r["results"]))
        self.assertEqual(r["errors"][0]["context"]["ids"], ["101"])
        st, r, _ = self.call("POST", C + "/batch/read", {
            "inputs": [{"id": "102"}, {"id": "103"}]})
        self.assertEqual(st, 207)
        self.assertEqual([x["id"] for x in r["results"]], ["101"])

    def test_batch_create_update(self):
        r = self.ok("POST", C + "/batch/create", {"inputs": [
            {"properties": {"email": f"c{i}@example.com"}}
            for i in range(3)]}, 201)
        self.assertEqual([x["id"] for x in r["results"]],
                         ["101", "102", "103"])
        st, e, _ = self.call("POST", C + "/batch/create", {"inputs": [
            {"properties": {"email": "new@example.com"}},
            {"properties": {"email": "x@example.com", "bogus": 1}}]})
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        st, e, _ = self.call("POST", C + "/batch/create", {"inputs": [
            {"properties": {"email": "new@example.com"}},
            {"properties": {"email": "c1@example.com"}}]})
        self.assertError(st, e, 409, "CONFLICT")
        self.assertIsNone(self.sim.get_contact(email="new@example.com"))
        st, e, _ = self.call("POST", C + "/batch/create", {"inputs": [
            {"properties": {}}] * 101})
        self.assertEqual(st, 400)
        r = self.ok("POST", C + "/batch/update", {"inputs": [
            {"id": "101", "properties": {"firstname": "A"}},
            {"id": "c2@example.com", "idProperty": "email",
             "properties": {"firstname": "C"}}]})
        self.assertEqual([x["properties"]["firstname"]
                          for x in r["results"]], ["A", "C"])
        st, r, _ = self.call("POST", C + "/batch/update", {"inputs": [
            {"id": "102", "properties": {"firstname": "B"}},
            {"id": "999", "properties": {"firstname": "Z"}}]})
        self.assertEqual(st, 207)
        self.assertEqual(r["errors"][0]["category"], "OBJECT_NOT_FOUND")
        self.assertEqual(r["errors"][0]["context"], {"ids": ["999"]})
        self.assertEqual(self.sim.get_contact("102")["properties"]
                         ["firstname"], "B")
        st, e, _ = self.call("POST", C + "/batch/update", {"inputs": [
            {"id": "101", "properties": {"nosuch": 1}}]})
        self.assertEqual(e["errors"][0]["code"], "PROPERTY_DOESNT_EXIST")

    def test_batch_upsert(self):
        self.contact(email="old@example.com", firstname="Old")
        r = self.ok("POST", C + "/batch/upsert", {"inputs": [
            {"id": "OLD@example.com", "idProperty": "email",
             "properties": {"firstname": "Older"}},
            {"id": "new@example.com", "idProperty": "email",
             "properties": {"firstname": "New"}}]})
        self.assertEqual(r["status"], "COMPLETE")
        got = [(x["id"], x["new"], x["properties"]["firstname"],
                x["properties"]["email"]) for x in r["results"]]
        self.assertEqual(got, [("101", False, "Older", "old@example.com"),
                               ("102", True, "New", "new@example.com")])
        for x in r["results"]:
            self.assertEqual(set(x), {"id", "properties", "createdAt",
                                      "updatedAt", "archived", "new"})
        st, e, _ = self.call("POST", C + "/batch/upsert", {"inputs": [
            {"id": "x", "idProperty": "firstname", "properties": {}}]})
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        st, e, _ = self.call("POST", C + "/batch/upsert", {"inputs": [
            {"id": "a@example.com", "idProperty": "email"}] * 101})
        self.assertEqual(st, 400)


# ------------------------------------------------------------------ search

class TestSearch(Base):

    def setUp(self):
        super().setUp()
        self.sim.set_config(search_per_second=0)

    def ids(self, body, otype="contacts"):
        st, b, h = self.search(body, otype)
        self.assertEqual(st, 200, b)
        return [x["id"] for x in b["results"]]

    def f(self, *filters, **kw):
        return dict({"filterGroups": [{"filters": list(filters)}],
                     "limit": 100}, **kw)

    def test_operators_sorts_paging(self):
        for i, (n, ls) in enumerate([(10, "lead"), (20, "customer"),
                                     (30, None), (40, "lead")]):
            p = {"email": f"s{i}@example.com", "annualrevenue": n}
            if ls:
                p["lifecyclestage"] = ls
            self.contact(**p)
        N = "annualrevenue"
        self.assertEqual(self.ids(self.f({"propertyName": N, "operator":
                                          "EQ", "value": "20"})), ["102"])
        self.assertEqual(self.ids(self.f({"propertyName": N, "operator":
                                          "NEQ", "value": 20})),
                         ["101", "103", "104"])
        self.assertEqual(self.ids(self.f({"propertyName": N, "operator":
                                          "GT", "value": "20"})),
                         ["103", "104"])
        self.assertEqual(self.ids(self.f({"propertyName": N, "operator":
                                          "GTE", "value": "20"})),
                         ["102", "103", "104"])
        self.assertEqual(self.ids(self.f({"propertyName": N, "operator":
                                          "LT", "value": "20"})), ["101"])
        self.assertEqual(self.ids(self.f({"propertyName": N, "operator":
                                          "LTE", "value": "20"})),
                         ["101", "102"])
        self.assertEqual(self.ids(self.f({"propertyName": N, "operator":
                                          "BETWEEN", "value": "15",
                                          "highValue": "30"})),
                         ["102", "103"])
        self.assertEqual(self.ids(self.f({"propertyName": "lifecyclestage",
                                          "operator": "HAS_PROPERTY"})),
                         ["101", "102", "104"])
        self.assertEqual(self.ids(self.f({"propertyName": "lifecyclestage",
                                          "operator": "NOT_HAS_PROPERTY"})),
                         ["103"])
        self.assertEqual(self.ids(self.f({"propertyName": "lifecyclestage",
                                          "operator": "IN",
                                          "values": ["customer", "other"]})),
                         ["102"])
        self.assertEqual(self.ids(self.f({"propertyName": "email",
                                          "operator": "EQ",
                                          "value": "S3@EXAMPLE.com"})),
                         ["104"])
        # groups OR, filters AND
        self.assertEqual(self.ids({"filterGroups": [
            {"filters": [{"propertyName": N, "operator": "EQ",
                          "value": "10"}]},
            {"filters": [{"propertyName": N, "operator": "GT",
                          "value": "10"}, {"propertyName":
                                           "lifecyclestage",
                                           "operator": "EQ",
                                           "value": "lead"}]}]}),
            ["101", "104"])
        self.assertEqual(self.ids({"sorts": [{"propertyName": N,
                                              "direction": "DESCENDING"}]}),
                         ["104", "103", "102", "101"])
        self.assertEqual(self.ids({"sorts": ["-annualrevenue"]}),
                         ["104", "103", "102", "101"])
        st, b, h = self.search({"limit": 3, "properties": ["email"],
                                "sorts": [{"propertyName": N,
                                           "direction": "ASCENDING"}]})
        self.assertEqual(b["total"], 4)
        self.assertEqual(b["paging"], {"next": {"after": "3"}})
        self.assertEqual(b["results"][0]["properties"],
                         {"email": "s0@example.com"})
        self.assertNotIn("x-hubspot-ratelimit-remaining", h)
        st, b, _ = self.search({"limit": 3, "after": "3"})
        self.assertEqual(([x["id"] for x in b["results"]], b["total"]),
                         (["104"], 4))
        self.assertNotIn("paging", b)
        st, b, _ = self.search({"query": "s2@"})
        self.assertEqual([x["id"] for x in b["results"]], ["103"])

    def test_search_errors(self):
        st, e, _ = self.search({"limit": 201})
        self.assertError(st, e, 400, "VALIDATION_ERROR",
                         "limit must be between 0 and 200; got 201")
        st, e, _ = self.search(self.f({"propertyName": "email",
                                       "operator": "LIKE", "value": "x"}))
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        st, e, _ = self.search(self.f({"propertyName": "nosuch",
                                       "operator": "EQ", "value": "x"}))
        self.assertError(st, e, 400, "VALIDATION_ERROR",
                         'Property "nosuch" does not exist')
        st, e, _ = self.search({"filterGroups": [{"filters": []}] * 6})
        self.assertEqual(st, 400)
        st, e, _ = self.search({"filterGroups": [{"filters": [{
            "propertyName": "email", "operator": "HAS_PROPERTY"}] * 11}]})
        self.assertEqual(st, 400)
        st, e, _ = self.search({"sorts": ["email", "firstname"]})
        self.assertEqual(st, 400)
        self.assertEqual(self.search({"limit": 200})[0], 200)

    def test_window_search_and_10k_cap(self):
        r = self.sim.bulk_create("contacts", 10050,
                                 modified="2024-05-01T12:00:00.000Z",
                                 webhooks=False)
        self.assertEqual(r["lastmodifieddate"], "2024-05-01T12:00:00.000Z")
        self.assertEqual(len(r["ids"]), 10050)
        self.sim.rep_create("contacts", {"email": "later@example.com"},
                            at="2024-05-01T12:00:00.001Z")
        win = {"propertyName": "lastmodifieddate", "operator": "BETWEEN",
               "value": "2024-05-01T12:00:00.000Z",
               "highValue": str(ms("2024-05-01T12:00:00.000Z"))}
        st, b, _ = self.search(dict(self.f(win), limit=200, after="9800",
                                    sorts=[{"propertyName":
                                            "lastmodifieddate",
                                            "direction": "ASCENDING"}]))
        self.assertEqual((st, b["total"], len(b["results"])),
                         (200, 10050, 200))
        self.assertEqual(b["paging"]["next"]["after"], "10000")
        st, b, _ = self.search(dict(self.f(win), limit=100, after="9950"))
        self.assertEqual(len(b["results"]), 50)        # cut at 10,000
        st, e, _ = self.search(dict(self.f(win), limit=10, after="10000"))
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        self.assertIn("10000", e["message"])
        self.assertEqual(e["context"], {"after": ["10000"]})
        # splitting the window by id (keyset) reaches every record
        last = ids = None
        seen = 0
        after_id = "0"
        while True:
            st, b, _ = self.search({"filterGroups": [{"filters": [
                win, {"propertyName": "hs_object_id", "operator": "GT",
                      "value": after_id}]}], "limit": 200,
                "sorts": [{"propertyName": "hs_object_id",
                           "direction": "ASCENDING"}],
                "properties": ["lastmodifieddate"]})
            self.assertEqual(st, 200)
            if not b["results"]:
                break
            ids = [int(x["id"]) for x in b["results"]]
            self.assertEqual(ids, sorted(ids))
            if last is not None:
                self.assertGreater(ids[0], last)
            last = ids[-1]
            seen += len(ids)
            after_id = str(last)
            if b["total"] <= 200:
                st, b, _ = self.search({"filterGroups": [{"filters": [
                    win, {"propertyName": "hs_object_id", "operator": "GT",
                          "value": after_id}]}], "limit": 1})
                self.assertEqual(b["total"], 0)
                break
        self.assertEqual(seen, 10050)
        # the later record is outside the window, found by GT
        self.assertEqual(self.ids(self.f({
            "propertyName": "lastmodifieddate", "operator": "GT",
            "value": str(ms("2024-05-01T12:00:00.000Z"))})), ["10151"])

    def test_index_delay_writes_timestamps_late(self):
        self.sim.set_config(index_delay_ms=300)
        t0 = int(time.time() * 1000)
        self.contact(email="late@example.com")
        win = self.f({"propertyName": "lastmodifieddate", "operator": "GTE",
                      "value": str(t0)})
        self.assertEqual(self.ids(win), [])
        self.assertEqual(self.ok("GET", C + "/101")["id"], "101")
        time.sleep(0.2)
        self.ok("PATCH", C + "/101", {"properties": {"firstname": "L"}})
        time.sleep(0.15)
        st, b, _ = self.search(dict(win, properties=["firstname",
                                                     "lastmodifieddate"]))
        # the creation is searchable now, the edit not yet
        self.assertEqual(b["total"], 1)
        self.assertIsNone(b["results"][0]["properties"]["firstname"])
        self.assertLess(ms(b["results"][0]["properties"]
                           ["lastmodifieddate"]),
                        int(time.time() * 1000) - 300)
        time.sleep(0.2)
        st, b, _ = self.search(dict(win, properties=["firstname"]))
        self.assertEqual(b["results"][0]["properties"]["firstname"], "L")

    def test_deal_search(self):
        self.ok("POST", D, {"properties": {"dealname": "A", "amount": 5}},
                201)
        self.ok("POST", D, {"properties": {"dealname": "B", "amount": 50}},
                201)
        self.assertEqual(self.ids(self.f({"propertyName": "amount",
                                          "operator": "GT", "value": 10}),
                                  "deals"), ["5002"])
        self.assertEqual(self.ids(self.f({
            "propertyName": "hs_lastmodifieddate", "operator": "GTE",
            "value": "0"}), "deals"), ["5001", "5002"])


# --------------------------------------------------------- lifecyclestage

class TestLifecycle(Base):

    def test_forward_only_through_the_api(self):
        self.contact(email="l@example.com", lifecyclestage="opportunity")
        r = self.ok("PATCH", C + "/101", {"properties": {
            "lifecyclestage": "lead", "jobtitle": "CEO"}})
        self.assertEqual(r["properties"]["lifecyclestage"], "opportunity")
        self.assertEqual(r["properties"]["jobtitle"], "CEO")
        self.assertEqual(self.sim.snapshot()["counters"]
                         ["lifecycle_backward_ignored"], 1)
        calls = self.sim.snapshot()["calls"]
        self.assertEqual(calls[-1]["note"],
                         "lifecyclestage backward move ignored")
        r = self.ok("PATCH", C + "/101", {"properties": {
            "lifecyclestage": "customer"}})
        self.assertEqual(r["properties"]["lifecyclestage"], "customer")
        # batch update and upsert follow the same rule
        self.ok("POST", C + "/batch/update", {"inputs": [{
            "id": "101", "properties": {"lifecyclestage": "subscriber"}}]})
        self.ok("POST", C + "/batch/upsert", {"inputs": [{
            "id": "l@example.com", "idProperty": "email",
            "properties": {"lifecyclestage": "lead"}}]})
        self.assertEqual(self.sim.get_contact("101")["properties"]
                         ["lifecyclestage"], "customer")
        # cleared first, then any stage
        self.ok("PATCH", C + "/101", {"properties": {"lifecyclestage": ""}})
        self.assertIsNone(self.sim.get_contact("101")["properties"].get(
            "lifecyclestage"))
        r = self.ok("PATCH", C + "/101", {"properties": {
            "lifecyclestage": "lead"}})
        self.assertEqual(r["properties"]["lifecyclestage"], "lead")
        # the ignored move sent no propertyChange
        self.assertTrue(self.sim.flush_webhooks())
        vals = [e["propertyValue"] for e in self.rx.events()
                if e.get("propertyName") == "lifecyclestage"]
        self.assertEqual(vals, ["opportunity", "customer", "", "lead"])

    def test_error_mode_and_rep(self):
        self.sim.set_config(lifecycle_backward="error")
        self.contact(email="m@example.com", lifecyclestage="customer")
        st, e, _ = self.call("PATCH", C + "/101", {"properties": {
            "lifecyclestage": "lead"}})
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        self.assertEqual(e["errors"][0]["context"],
                         {"propertyName": ["lifecyclestage"]})
        # a UI user may move it back
        self.sim.rep_edit("contacts", "101", {"lifecyclestage": "lead"})
        self.assertEqual(self.sim.get_contact("101")["properties"]
                         ["lifecyclestage"], "lead")


# ------------------------------------------------------- merge and GDPR

class TestMergeGdpr(Base):

    def test_merge(self):
        self.contact(email="p@example.com", firstname="P")
        self.contact(email="o@example.com", firstname="O", jobtitle="VP")
        r = self.ok("POST", C + "/merge", {"primaryObjectId": "101",
                                           "objectIdToMerge": "102"})
        self.assertEqual(r["id"], "101")
        p = r["properties"]
        self.assertEqual((p["firstname"], p["jobtitle"],
                          p["hs_merged_object_ids"],
                          p["hs_additional_emails"]),
                         ("P", "VP", "102", "o@example.com"))
        g = self.ok("GET", C + "/102?properties=email")
        self.assertEqual((g["id"], g["properties"]["email"]),
                         ("101", "p@example.com"))
        g = self.ok("GET", C + "/o@example.com?idProperty=email")
        self.assertEqual(g["id"], "101")
        a = self.ok("GET", C + "/102?archived=true")
        self.assertTrue(a["archived"])
        st, e, _ = self.call("POST", C + "/merge", {
            "primaryObjectId": "101", "objectIdToMerge": "102"})
        self.assertError(st, e, 400, "VALIDATION_ERROR")
        st, e, _ = self.call("POST", C + "/merge", {
            "primaryObjectId": "101", "objectIdToMerge": "101"})
        self.assertError(st, e, 400, "VALIDATION_ERROR",
                         "Cannot merge a contact with itself")
        self.assertEqual(self.call("POST", C + "/merge", {
            "primaryObjectId": "101", "objectIdToMerge": "999"})[0], 404)
        self.assertTrue(self.sim.flush_webhooks())
        m = [e for e in self.rx.events()
             if e["subscriptionType"] == "contact.merge"]
        self.assertEqual(len(m), 1)
        self.assertEqual({k: m[0][k] for k in (
            "objectId", "primaryObjectId", "mergedObjectIds", "newObjectId",
            "changeFlag", "changeSource", "sourceId", "appId")},
            {"objectId": 101, "primaryObjectId": 101,
             "mergedObjectIds": [102], "newObjectId": 101,
             "changeFlag": "MERGED", "changeSource": "INTEGRATION",
             "sourceId": "123456", "appId": 123456})
        self.assertIsInstance(m[0]["numberOfPropertiesMoved"], int)

    def test_gdpr_delete(self):
        self.contact(email="g@example.com")
        self.contact(email="h@example.com")
        self.assertEqual(self.call("POST", C + "/gdpr-delete", {
            "objectId": "101"})[:2], (204, None))
        self.assertEqual(self.call("POST", C + "/gdpr-delete", {
            "objectId": "h@example.com", "idProperty": "email"})[0], 204)
        for path in (C + "/101", C + "/101?archived=true", C + "/102"):
            self.assertEqual(self.call("GET", path)[0], 404)
        self.assertIsNone(self.sim.get_contact("101"))
        st, e, _ = self.call("POST", C + "/gdpr-delete", {"objectId": "101"})
        self.assertError(st, e, 404, "OBJECT_NOT_FOUND")
        self.assertTrue(self.sim.flush_webhooks())
        pd = [e for e in self.rx.events()
              if e["subscriptionType"] == "contact.privacyDeletion"]
        self.assertEqual([e["objectId"] for e in pd], [101, 102])
        self.assertNotIn("g@example.com", json.dumps(pd))


# ------------------------------------------------------------ rate limits

class TestRateLimits(Base):

    def test_ten_secondly(self):
        self.sim.set_config(ten_secondly_limit=3)
        hs = [self.call("GET", C)[2] for _ in range(3)]
        self.assertEqual([h["x-hubspot-ratelimit-remaining"] for h in hs],
                         ["2", "1", "0"])
        self.assertEqual(hs[0]["x-hubspot-ratelimit-max"], "3")
        self.assertEqual(hs[0]["x-hubspot-ratelimit-interval-milliseconds"],
                         "10000")
        st, b, h = self.call("GET", C)
        self.assertEqual(st, 429)
        self.assertEqual(set(b), {"status", "message", "errorType",
                                  "correlationId", "policyName",
                                  "requestId"})
        self.assertEqual((b["status"], b["message"], b["errorType"],
                          b["policyName"]),
                         ("error", "You have reached your "
                          "ten_secondly_rolling limit.", "RATE_LIMIT",
                          "TEN_SECONDLY_ROLLING"))
        self.assertNotIn("retry-after", h)
        self.assertEqual(self.sim.snapshot()["counters"]["rate_limited"]
                         ["TEN_SECONDLY_ROLLING"], 1)
        # search has its own limit
        self.assertEqual(self.search({})[0], 200)

    def test_search_secondly_and_daily(self):
        self.sim.set_config(search_per_second=2)
        self.assertEqual([self.search({})[0] for _ in range(2)], [200, 200])
        st, b, _ = self.search({})
        self.assertEqual((st, b["message"], b["errorType"]),
                         (429, "You have reached your secondly limit.",
                          "RATE_LIMIT"))
        time.sleep(1.05)
        self.assertEqual(self.search({})[0], 200)
        self.sim.set_config(daily_limit=10, daily_used=10)
        st, b, _ = self.call("GET", C)
        self.assertEqual((st, b["policyName"], b["message"]),
                         (429, "DAILY", "You have reached your daily "
                          "limit."))
        self.assertEqual(self.call("GET", C, token="bad")[0], 401)

    def test_storms_and_faults(self):
        self.ok("POST", "/__sim/faults", {"storm": {
            "seconds": 0.3, "policy": "SECONDLY",
            "path_prefix": C + "/search"}})
        self.assertEqual(self.search({})[1]["message"],
                         "You have reached your secondly limit.")
        self.assertEqual(self.call("GET", C)[0], 200)
        time.sleep(0.35)
        self.assertEqual(self.search({})[0], 200)
        self.sim.storm(0.3)
        st, b, _ = self.call("GET", C)
        self.assertEqual((st, b["policyName"]), (429,
                                                 "TEN_SECONDLY_ROLLING"))
        self.sim.clear_faults()
        self.sim.fail_next(2, 503, path_prefix=C + "/batch", method="POST")
        body = {"inputs": [{"id": "1"}]}
        self.assertEqual([self.call("POST", C + "/batch/read", body)[0]
                          for _ in range(3)], [503, 503, 207])
        self.sim.fail_next(1, 429)
        st, b, _ = self.call("GET", C)
        self.assertEqual((st, b["policyName"]), (429,
                                                 "TEN_SECONDLY_ROLLING"))
        self.sim.drop_next(1)
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.call("GET", C)
        self.assertEqual(self.call("GET", C)[0], 200)
        self.sim.set_latency(150)
        t = time.time()
        self.call("GET", C)
        self.assertGreaterEqual(time.time() - t, 0.14)
        self.sim.set_config(retry_after_header=True)
        self.sim.storm(0.2)
        self.assertEqual(self.call("GET", C)[2]["retry-after"], "10")


# ---------------------------------------------------------------- webhooks

class TestWebhooks(Base):

    def test_sources_and_shapes(self):
        self.sim.set_config(tokens={"pat-other": 999})
        self.contact(email="w@example.com", firstname="W")
        self.sim.rep_edit("contacts", "101", {"jobtitle": "Rep set"})
        self.call("PATCH", C + "/101", {"properties": {"city": "Oslo"}},
                  token="pat-other")
        self.call("PATCH", C + "/101", {"properties": {"city": "Oslo"}})
        self.ok("POST", D, {"properties": {"dealname": "Dl"}}, 201)
        self.call("DELETE", C + "/101")
        self.assertTrue(self.sim.flush_webhooks())
        ev = self.rx.events()
        got = [(e["subscriptionType"], e.get("propertyName"),
                e.get("propertyValue"), e["changeSource"], e.get("sourceId"),
                e.get("changeFlag")) for e in ev]
        self.assertEqual(got, [
            ("contact.creation", None, None, "INTEGRATION", "123456", "NEW"),
            ("contact.propertyChange", "email", "w@example.com",
             "INTEGRATION", "123456", None),
            ("contact.propertyChange", "firstname", "W", "INTEGRATION",
             "123456", None),
            ("contact.propertyChange", "jobtitle", "Rep set", "CRM_UI",
             "userId:7654321", None),
            ("contact.propertyChange", "city", "Oslo", "INTEGRATION", "999",
             None),
            ("deal.creation", None, None, "INTEGRATION", "123456", "NEW"),
            ("deal.propertyChange", "dealname", "Dl", "INTEGRATION",
             "123456", None),
            ("deal.propertyChange", "pipeline", "default", "INTEGRATION",
             "123456", None),
            ("contact.deletion", None, None, "INTEGRATION", "123456",
             "DELETED")])
        for e in ev:
            self.assertEqual((e["appId"], e["portalId"], e["attemptNumber"]),
                             (123456, 62515, 0))
            self.assertIsInstance(e["occurredAt"], int)
            self.assertIsInstance(e["eventId"], int)
        self.assertEqual(len({e["eventId"] for e in ev}), len(ev))
        self.assertEqual(list(ev[0]), [
            "eventId", "subscriptionId", "portalId", "occurredAt",
            "subscriptionType", "attemptNumber", "objectId", "changeSource",
            "sourceId", "changeFlag", "appId"])
        st = self.sim.snapshot()
        self.assertTrue(all(e["status"] == "delivered"
                            for e in st["events"]))
        self.assertEqual(st["deliveries"][0]["status"], 200)

    def test_batches_of_100(self):
        self.sim.pause_webhooks()
        self.sim.bulk_create("contacts", 150)
        time.sleep(0.05)
        self.assertEqual(self.rx.posts, [])
        self.assertTrue(self.sim.flush_webhooks())
        sizes = sorted(len(json.loads(p["body"])) for p in self.rx.posts)
        self.assertEqual(sizes, [50, 100])
        ev = self.rx.events()
        self.assertEqual({e["changeSource"] for e in ev}, {"IMPORT"})
        self.assertEqual({e["subscriptionType"] for e in ev},
                         {"contact.creation"})

    def test_retries_then_delivered(self):
        self.rx.script = [500, 503, 404]
        self.contact(email="r@example.com")
        self.sim.set_config(property_subscriptions=["email"])
        deadline = time.time() + 5
        while time.time() < deadline and len(self.rx.posts) < 4:
            time.sleep(0.02)
        time.sleep(0.05)
        self.assertEqual(len(self.rx.posts), 4)
        bodies = [json.loads(p["body"]) for p in self.rx.posts]
        self.assertEqual([[e["attemptNumber"] for e in b] for b in bodies],
                         [[0, 0], [1, 1], [2, 2], [3, 3]])
        self.assertEqual({tuple(e["eventId"] for e in b) for b in bodies},
                         {(1, 2)})
        ts = [p["headers"]["X-HubSpot-Request-Timestamp"]
              for p in self.rx.posts]
        self.assertEqual(len(set(ts)), 4)
        d = self.sim.get_deliveries()
        self.assertEqual([(x["attempt"], x["status"]) for x in d],
                         [(0, 500), (1, 503), (2, 404), (3, 200)])
        self.assertEqual(d[0]["events"], [1, 2])

    def test_retries_exhausted_and_timeout(self):
        self.sim.set_config(retry_schedule=[0.02, 0.02],
                            webhook_timeout=0.3,
                            property_subscriptions=[])
        self.rx.script = ["sleep:0.6", 500, 500]
        self.contact(email="t@example.com")
        deadline = time.time() + 5
        while time.time() < deadline and \
                self.sim.snapshot()["counters"]["webhooks_failed"] < 1:
            time.sleep(0.02)
        d = self.sim.get_deliveries()
        self.assertEqual([(x["attempt"], x["status"]) for x in d],
                         [(0, 0), (1, 500), (2, 500)])
        self.assertEqual(d[0]["error"], "timeout")
        ev = self.sim.get_events()
        self.assertEqual([(e["status"], e["attempts"]) for e in ev],
                         [("failed", 3)])

    def test_default_schedule_is_hubspots(self):
        sim = HubSpotSim(port=0)
        self.assertEqual(len(sim.config["retry_schedule"]) + 1, 10)
        self.assertEqual(sim.config["webhook_timeout"], 5.0)
        self.assertGreaterEqual(sum(sim.config["retry_schedule"]),
                                12 * 3600)

    def test_subscriptions_pause_and_no_target(self):
        self.ok("POST", "/__sim/webhooks", {"subscriptions": {
            "contact.propertyChange": False}})
        self.contact(email="s@example.com")
        self.assertTrue(self.sim.flush_webhooks())
        self.assertEqual([e["subscriptionType"] for e in self.rx.events()],
                         ["contact.creation"])
        self.sim.set_config(webhook_url=None)
        self.sim.rep_create("contacts", {"email": "q@example.com"})
        time.sleep(0.1)
        self.assertEqual(len(self.rx.posts), 1)
        self.sim.set_config(webhook_url=self.rx.url)
        r = self.ok("POST", "/__sim/webhooks", {"flush": True})
        self.assertEqual(r["flushed"], True)
        self.assertEqual(len(self.rx.posts), 2)
        with self.assertRaises(ValueError):
            self.sim.set_subscriptions(**{"contact.bogus": True})


# ------------------------------------------------------ controls and CLI

class TestControls(Base):

    def test_http_controls(self):
        r = self.ok("POST", "/__sim/rep", {"action": "create",
                                           "properties": {
                                               "email": "c@example.com"}})
        self.assertEqual(r["id"], "101")
        self.ok("POST", "/__sim/rep", {"email": "c@example.com",
                                       "properties": {"firstname": "C"}})
        r = self.ok("POST", "/__sim/bulk", {
            "count": 3, "lastmodifieddate": "2024-01-02T03:04:05.678Z",
            "properties": {"email": "b{n}@example.com"}, "webhooks": False})
        self.assertEqual((r["ids"], r["lastmodifieddate"]),
                         (["102", "103", "104"],
                          "2024-01-02T03:04:05.678Z"))
        self.ok("POST", "/__sim/rep", {"action": "merge",
                                       "primaryObjectId": "101",
                                       "objectIdToMerge": "102"})
        self.ok("POST", "/__sim/rep", {"action": "privacy_delete",
                                       "id": "103"})
        self.ok("POST", "/__sim/rep", {"action": "delete", "id": "104"})
        st = self.ok("GET", "/__sim/state?omit=calls")
        self.assertNotIn("calls", st)
        byid = {c["id"]: c for c in st["contacts"]}
        self.assertEqual(sorted(byid), ["101", "102", "104"])
        self.assertEqual(byid["102"]["mergedInto"], "101")
        self.assertEqual(byid["101"]["properties"]["firstname"], "C")
        self.assertEqual(byid["104"]["properties"]["lastmodifieddate"],
                         "2024-01-02T03:04:05.678Z")
        self.assertTrue(byid["104"]["archived"])
        r = self.ok("POST", "/__sim/clock", {"advance_seconds": -86400})
        self.assertLess(ms(r["now"]), time.time() * 1000 - 86000 * 1000)
        c = self.contact(email="late@example.com")
        self.assertLess(ms(c["properties"]["createdate"]),
                        time.time() * 1000 - 86000 * 1000)
        cfg = self.ok("POST", "/__sim/config", {"app_id": 42})
        self.assertEqual(cfg["app_id"], 42)
        st, b, _ = self.call("POST", "/__sim/config", {"bogus": 1})
        self.assertEqual(st, 400)
        st, b, _ = self.call("POST", "/__sim/rep", {"action": "edit",
                                                    "id": "999",
                                                    "properties": {}})
        self.assertEqual((st, b["category"]), (404, "OBJECT_NOT_FOUND"))
        self.assertEqual(self.ok("GET", "/__sim/faults")["fail"], [])
        self.ok("POST", "/__sim/faults", {"fail_next": {"count": 1,
                                                        "status": 500}})
        self.assertEqual(self.call("GET", C)[0], 500)
        d = self.ok("GET", "/__sim/deliveries?since=0")
        self.assertIn("deliveries", d)
        self.ok("POST", "/__sim/reset")
        st = self.ok("GET", "/__sim/state")
        self.assertEqual((st["contacts"], st["config"]["app_id"]),
                         ([], 123456))

    def test_cli(self):
        p = subprocess.Popen([sys.executable, os.path.join(
            HERE, "hubspot_sim.py"), "--port", "0", "--token", "pat-cli",
            "--ten-secondly-limit", "7"], stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline().strip()
            m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", line)
            self.assertIsNotNone(m, line)
            conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)),
                                              timeout=5)
            conn.request("GET", C, headers={"Authorization":
                                            "Bearer pat-cli"})
            r = conn.getresponse()
            r.read()
            self.assertEqual((r.status,
                              r.getheader("X-HubSpot-RateLimit-Max")),
                             (200, "7"))
            conn.close()
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(10), 0)
            p.stdout.close()


if __name__ == "__main__":
    sys.exit(run_module(__name__, SAMPLES))
