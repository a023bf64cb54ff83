#!/usr/bin/env python3
"""test_salesforce_sim.py - the Salesforce simulator against the vendor's
published shapes (../shared/vendor-samples/salesforce) and its knobs.

Starts the simulator in-process on port 0; prints "N passed, N failed";
exits non-zero on failure."""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from simtest import run_module, vendor_samples  # noqa: E402
import salesforce_sim  # noqa: E402
from salesforce_sim import SalesforceSim  # noqa: E402


SAMPLES = vendor_samples("salesforce")


def sample(name):
    with open(os.path.join(SAMPLES, name), encoding="utf-8") as f:
        return json.load(f)


CID, CSECRET, RTOKEN = ("baton-client-id", "baton-client-secret",
                        "baton-refresh-token")
V = "/services/data/v60.0"


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = raw

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


class SimCase(unittest.TestCase):

    def setUp(self):
        self.sim = SalesforceSim(port=0).start()
        self.base = self.sim.base_url
        self.token = None

    def tearDown(self):
        self.sim.stop()

    # ------------------------------------------------------------ helpers

    def http(self, method, path, body=None, *, token=None, form=None,
             headers=None, raw=None):
        h = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif raw is not None:
            data = raw
            h.setdefault("Content-Type", "application/json")
        elif body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return Resp(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Resp(e.code, e.headers, e.read())

    def login(self, grant="refresh_token"):
        form = {"grant_type": grant, "client_id": CID,
                "client_secret": CSECRET}
        if grant == "refresh_token":
            form["refresh_token"] = RTOKEN
        r = self.http("POST", "/services/oauth2/token", form=form)
        self.assertEqual(r.status, 200, r)
        self.token = r.body["access_token"]
        return r.body

    def api(self, method, path, body=None, **kw):
        if self.token is None:
            self.login()
        kw.setdefault("token", self.token)
        return self.http(method, path if path.startswith("/") else
                         f"{V}/{path}", body, **kw)

    def soql(self, q, version=V, **kw):
        return self.api("GET", f"{version}/query?q=" +
                        urllib.parse.quote(q), **kw)

    def query_all(self, q, version=V):
        r = self.soql(q, version)
        self.assertEqual(r.status, 200, r)
        pages = [r.body]
        while not pages[-1]["done"]:
            r = self.api("GET", pages[-1]["nextRecordsUrl"])
            self.assertEqual(r.status, 200, r)
            pages.append(r.body)
        return pages

    def lead(self, **fields):
        body = {"LastName": "Lovelace", "Company": "Analytical"}
        body.update(fields)
        r = self.api("POST", "sobjects/Lead", body)
        self.assertEqual(r.status, 201, r)
        return r.body["id"]

    def upsert(self, records, all_or_none=False, field="Baton_Key__c",
               version=V):
        recs = [dict({"attributes": {"type": "Lead"}}, **r) for r in records]
        return self.api("PATCH",
                        f"{version}/composite/sobjects/Lead/{field}",
                        {"allOrNone": all_or_none, "records": recs})

    def control(self, name, body=None, method="POST"):
        return self.http(method, f"/__sim/{name}", body)


# ==========================================================================

class Auth(SimCase):

    def test_refresh_token_grant_matches_sample(self):
        tok = self.login("refresh_token")
        self.assertEqual(set(tok), set(sample("oauth2-token-response.json")))
        self.assertNotIn("refresh_token", tok)
        self.assertEqual(tok["instance_url"], self.base)
        self.assertEqual(tok["token_type"], "Bearer")
        self.assertRegex(tok["issued_at"], r"^\d{13}$")
        self.assertRegex(tok["id"], r"/id/00D\w{15}/005\w{15}$")
        want = base64.b64encode(hmac.new(
            CSECRET.encode(), (tok["id"] + tok["issued_at"]).encode(),
            hashlib.sha256).digest()).decode()
        self.assertEqual(tok["signature"], want)

    def test_client_credentials_grant(self):
        tok = self.login("client_credentials")
        self.assertEqual(set(tok), set(sample("oauth2-token-response.json")))
        r = self.api("GET", "limits")
        self.assertEqual(r.status, 200, r)

    def test_bad_credentials(self):
        def post(**form):
            return self.http("POST", "/services/oauth2/token", form=form)
        cases = [
            ({"grant_type": "refresh_token", "client_id": "nope",
              "client_secret": CSECRET, "refresh_token": RTOKEN},
             "invalid_client_id", "client identifier invalid"),
            ({"grant_type": "client_credentials", "client_id": CID,
              "client_secret": "wrong"},
             "invalid_client", "invalid client credentials"),
            ({"grant_type": "refresh_token", "client_id": CID,
              "client_secret": CSECRET, "refresh_token": "stale"},
             "invalid_grant", "expired access/refresh token"),
            ({"grant_type": "password", "client_id": CID,
              "client_secret": CSECRET, "username": "x", "password": "y"},
             "invalid_grant", "authentication failure"),
            ({"grant_type": "authorization_code", "client_id": CID},
             "unsupported_grant_type", "grant type not supported"),
        ]
        for form, err, desc in cases:
            r = post(**form)
            self.assertEqual(r.status, 400, (form, r))
            self.assertEqual(r.body, {"error": err,
                                      "error_description": desc})
        r = self.http("GET", "/services/oauth2/token")
        self.assertEqual(r.status, 400)
        self.sim.set_config(client_credentials_enabled=False)
        r = post(grant_type="client_credentials", client_id=CID,
                 client_secret=CSECRET)
        self.assertEqual(r.body["error"], "invalid_grant")

    def test_missing_or_bad_token_is_401_like_sample(self):
        want = sample("error-401-invalid-session-id.json")
        r = self.http("GET", f"{V}/limits")
        self.assertEqual((r.status, r.body), (401, want))
        r = self.http("GET", f"{V}/limits", token="00Dxx!bogus")
        self.assertEqual((r.status, r.body), (401, want))

    def test_expired_tokens_answer_401_then_refresh_works(self):
        self.login()
        self.assertEqual(self.api("GET", "limits").status, 200)
        r = self.control("faults", {"expire_tokens": True})
        self.assertEqual(r.status, 200, r)
        r = self.api("GET", "limits")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.body, sample("error-401-invalid-session-id.json"))
        self.login()                       # refresh once, retry
        self.assertEqual(self.api("GET", "limits").status, 200)

    def test_session_timeout_knob(self):
        self.sim.set_config(session_timeout=1.0)
        self.login()
        self.assertEqual(self.api("GET", "limits").status, 200)
        time.sleep(1.3)
        self.assertEqual(self.api("GET", "limits").status, 401)

    def test_versions(self):
        self.login()
        for v in ("37.0", "60.0", "61.0"):
            r = self.api("GET", f"/services/data/v{v}/limits")
            self.assertEqual(r.status, 200, (v, r))
        for v in ("99.0", "60.5", "abc"):
            r = self.api("GET", f"/services/data/v{v}/limits")
            self.assertEqual(r.status, 404, (v, r))
            self.assertEqual(r.body[0]["errorCode"], "NOT_FOUND")
        r = self.http("GET", "/services/data/")
        self.assertEqual(r.status, 200)
        self.assertIn("60.0", [x["version"] for x in r.body])

    def test_identity_url(self):
        tok = self.login()
        r = self.http("GET", tok["id"][len(self.base):], token=self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["user_id"], self.sim.integration_user)


# ==========================================================================

class Query(SimCase):

    def test_paging_matches_samples(self):
        self.sim.bulk_create("Lead", 4021)
        v37 = "/services/data/v37.0"
        pages = self.query_all("SELECT Id FROM Lead", v37)
        self.assertEqual(len(pages), 3)
        p1 = sample("soql-query-response-page1-truncated.json")
        p2 = sample("soql-query-response-page2-truncated.json")
        last = sample("soql-query-response-last-page-truncated.json")
        self.assertEqual(set(pages[0]), set(p1))
        self.assertEqual(set(pages[1]), set(p2))
        self.assertEqual(set(pages[2]), set(last))
        self.assertNotIn("nextRecordsUrl", pages[2])
        pat = r"^/services/data/v37\.0/query/01g\w{15}-%d$"
        self.assertRegex(pages[0]["nextRecordsUrl"], pat % 2000)
        self.assertRegex(pages[1]["nextRecordsUrl"], pat % 4000)
        self.assertEqual(pages[0]["nextRecordsUrl"].split("-")[0],
                         pages[1]["nextRecordsUrl"].split("-")[0])
        self.assertEqual([p["totalSize"] for p in pages], [4021] * 3)
        self.assertEqual([p["done"] for p in pages], [False, False, True])
        self.assertEqual([len(p["records"]) for p in pages],
                         [2000, 2000, 21])
        rec, want = pages[0]["records"][0], p1["records"][0]
        self.assertEqual(set(rec), set(want))
        self.assertEqual(set(rec["attributes"]), set(want["attributes"]))
        self.assertEqual(rec["attributes"]["type"], "Lead")
        self.assertEqual(rec["attributes"]["url"],
                         f"{v37}/sobjects/Lead/{rec['Id']}")
        self.assertRegex(rec["Id"], r"^00Q\w{15}$")
        ids = [r["Id"] for p in pages for r in p["records"]]
        self.assertEqual(len(set(ids)), 4021)
        # a finished cursor is gone
        r = self.api("GET", pages[1]["nextRecordsUrl"])
        self.assertEqual(r.status, 400)
        self.assertEqual(r.body[0]["errorCode"], "INVALID_QUERY_LOCATOR")

    def test_shared_modstamp_across_page_boundary(self):
        self.sim.set_config(page_size=100)
        self.sim.bulk_create("Lead", 20, modstamp="2024-05-01T11:59:59Z")
        made = self.control("bulk", {
            "sobject": "Lead", "count": 250,
            "modstamp": "2024-05-01T12:00:00Z",
            "fields": {"LastName": "Shared {n}", "Company": "Same Second",
                       "Email": "shared{n}@example.com"}}).body
        self.assertEqual(made["SystemModstamp"],
                         "2024-05-01T12:00:00.000+0000")
        pages = self.query_all(
            "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp >= "
            "2024-05-01T12:00:00Z ORDER BY SystemModstamp, Id")
        self.assertEqual([len(p["records"]) for p in pages], [100, 100, 50])
        ids = [r["Id"] for p in pages for r in p["records"]]
        self.assertEqual(ids, sorted(made["ids"]))
        self.assertEqual({r["SystemModstamp"] for p in pages
                          for r in p["records"]},
                         {"2024-05-01T12:00:00.000+0000"})
        # Sforce-Query-Options batchSize is honoured (min 200)
        self.sim.set_config(page_size=2000)
        r = self.soql("SELECT Id FROM Lead",
                      headers={"Sforce-Query-Options": "batchSize=200"})
        self.assertEqual(len(r.body["records"]), 200)
        self.assertTrue(r.body["nextRecordsUrl"].endswith("-200"))

    def test_modstamp_filter_order_and_echo_suppression(self):
        self.sim.advance_clock(-3600)
        a = self.lead(Email="a@example.com")          # API write
        self.sim.advance_clock(600)
        b = self.sim.rep_create("Lead", {"LastName": "B", "Company": "C",
                                         "Email": "b@example.com"})["Id"]
        self.sim.advance_clock(600)
        c = self.lead(Email="c@example.com")
        st = {x["Id"]: x for x in self.sim.snapshot()["leads"]}
        for rid in (a, b, c):
            self.assertRegex(st[rid]["SystemModstamp"],
                             r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")
            self.assertEqual(st[rid]["LastModifiedDate"],
                             st[rid]["SystemModstamp"])
        self.assertEqual(st[a]["LastModifiedById"],
                         self.sim.integration_user)
        self.assertEqual(st[b]["LastModifiedById"], self.sim.rep_user)

        def lit(s):                      # +0000 -> SOQL's Z form
            return s[:19] + "Z"
        since = lit(st[b]["SystemModstamp"])
        r = self.soql(f"SELECT Id FROM Lead WHERE SystemModstamp >= {since} "
                      "ORDER BY SystemModstamp, Id")
        self.assertEqual([x["Id"] for x in r.body["records"]], [b, c])
        r = self.soql("SELECT Id FROM Lead WHERE SystemModstamp > "
                      f"{lit(st[a]['SystemModstamp'])} AND SystemModstamp <= "
                      f"{since} ORDER BY SystemModstamp, Id")
        self.assertEqual([x["Id"] for x in r.body["records"]], [b])
        r = self.soql("SELECT Id FROM Lead WHERE SystemModstamp >= "
                      "2000-01-01T00:00:00Z AND LastModifiedById != "
                      f"'{self.sim.integration_user}' ORDER BY "
                      "SystemModstamp, Id")
        self.assertEqual([x["Id"] for x in r.body["records"]], [b])
        r = self.soql("SELECT Id FROM Lead ORDER BY SystemModstamp DESC, "
                      "Id LIMIT 2")
        self.assertEqual([x["Id"] for x in r.body["records"]], [c, b])
        self.assertEqual(r.body["totalSize"], 2)
        # offsets in the literal; milliseconds; IN; case-insensitive =
        t = st[b]["SystemModstamp"]
        r = self.soql("SELECT Id FROM Lead WHERE SystemModstamp = "
                      f"{t[:19]}.000+00:00")
        self.assertEqual([x["Id"] for x in r.body["records"]], [b])
        r = self.soql("SELECT Id FROM Lead WHERE Email IN "
                      "('A@Example.com', 'c@example.com') ORDER BY Id")
        self.assertEqual([x["Id"] for x in r.body["records"]], [a, c])

    def test_keyset_paging_on_id(self):
        # 250 Leads in one second: (SystemModstamp, Id) keyset pages must
        # cover them all once, however their Ids' letters are cased.
        r = self.sim.bulk_create("Lead", 250)
        stamp = r["SystemModstamp"][:19] + "Z"
        q = ("SELECT Id FROM Lead WHERE SystemModstamp >= {} {}"
             "ORDER BY SystemModstamp, Id LIMIT 100")
        seen, last = [], None
        while True:
            extra = f"AND Id > '{last}' " if last else ""
            got = [x["Id"] for x in
                   self.soql(q.format(stamp, extra)).body["records"]]
            if not got:
                break
            seen += got
            last = got[-1]
        self.assertEqual(len(seen), 250)
        self.assertEqual(sorted(seen), sorted(r["ids"]))
        self.assertEqual(seen, sorted(seen))
        # a 15-character literal compares like its 18-character form
        mid = sorted(r["ids"])[124]
        got = self.soql(f"SELECT Id FROM Lead WHERE Id > '{mid[:15]}' "
                        "AND SystemModstamp >= " + stamp).body["records"]
        self.assertEqual(len(got), 125)

    def test_soql_errors(self):
        self.login()
        want = sample("error-400-soql-invalid-field.json")[0]
        r = self.soql("SELECT Id, Bacon__c FROM Lead LIMIT 2")
        self.assertEqual(r.status, 400)
        self.assertEqual(set(r.body[0]), set(want))
        self.assertEqual(r.body[0]["errorCode"], "INVALID_FIELD")
        self.assertEqual(
            r.body[0]["message"],
            "\nSELECT Id, Bacon__c FROM Lead LIMIT 2\n           ^\n"
            "ERROR at Row:1:Column:12\nNo such column 'Bacon__c' on entity "
            "'Lead'. If you are attempting to use a custom field, be sure "
            "to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate "
            "names.")
        # the sample's own message shape, line by line
        got, exp = r.body[0]["message"].split("\n"), want["message"] \
            .split("\n")
        self.assertEqual(len(got), len(exp))
        self.assertRegex(got[3], r"^ERROR at Row:\d+:Column:\d+$")
        cases = [
            ("SELECT Id FROM Lead WHERE SystemModstamp > "
             "'2024-01-01T00:00:00Z'", "INVALID_FIELD", "must be of type "
             "dateTime and should not be enclosed in quotes"),
            ("SELECT Id FROM Lead WHERE SystemModstamp > "
             "2024-01-01T00:00:00.000+0000", "MALFORMED_QUERY",
             "unexpected token"),
            ("SELECT Id FROM Widget__c", "INVALID_TYPE",
             "sObject type 'Widget__c' is not supported"),
            ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY",
             "unexpected token"),
            ("SELECT Id FROM Lead WHERE IsConverted = 'false'",
             "INVALID_FIELD", "must be of type boolean"),
        ]
        for q, code, text in cases:
            r = self.soql(q)
            self.assertEqual(r.status, 400, (q, r))
            self.assertEqual(r.body[0]["errorCode"], code, (q, r))
            self.assertIn(text, r.body[0]["message"], q)
        r = self.api("GET", f"{V}/query/01g5g0000000999AAA-2000")
        self.assertEqual(r.body[0]["errorCode"], "INVALID_QUERY_LOCATOR")
        r = self.api("GET", f"{V}/query")
        self.assertEqual(r.body[0]["errorCode"], "MALFORMED_QUERY")

    def test_opportunity_query(self):
        lid = self.lead(Email="o@example.com")
        self.sim.rep_convert(lid, opportunity={"Name": "Big deal",
                                               "Amount": 5000})
        r = self.soql("SELECT Id, StageName, IsWon, Amount, "
                      "SystemModstamp, LastModifiedById FROM Opportunity "
                      "WHERE SystemModstamp >= 2000-01-01T00:00:00Z "
                      "ORDER BY SystemModstamp, Id")
        self.assertEqual(r.status, 200, r)
        opp = r.body["records"][0]
        self.assertRegex(opp["Id"], r"^006\w{15}$")
        self.assertEqual(opp["attributes"]["type"], "Opportunity")
        self.assertEqual((opp["StageName"], opp["IsWon"], opp["Amount"]),
                         ("Prospecting", False, 5000.0))


# ==========================================================================

class Writes(SimCase):

    def test_single_create_and_get(self):
        r = self.api("POST", "sobjects/Lead",
                     {"LastName": "Hopper", "Company": "Navy",
                      "Email": "grace@example.com"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(set(r.body),
                         set(sample("sobject-create-response-201.json")))
        self.assertRegex(r.body["id"], r"^00Q\w{15}$")
        self.assertEqual(salesforce_sim.normalize_id(r.body["id"]),
                         r.body["id"])
        g = self.api("GET", f"sobjects/Lead/{r.body['id']}")
        self.assertEqual(g.status, 200, g)
        rec = g.body
        self.assertEqual(rec["Email"], "grace@example.com")
        self.assertEqual(rec["Status"], "Open - Not Contacted")
        self.assertIs(rec["IsConverted"], False)
        self.assertEqual(rec["LastModifiedById"], self.sim.integration_user)
        self.assertRegex(rec["OwnerId"], r"^005\w{15}$")
        for f in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            self.assertRegex(rec[f], r"\.000\+0000$")
        g = self.api("GET", f"sobjects/Lead/{r.body['id'][:15]}"
                     "?fields=Id,Email")
        self.assertEqual(set(g.body), {"attributes", "Id", "Email"})

    def test_single_record_errors_match_samples(self):
        r = self.api("POST", "sobjects/Lead", {"FirstName": "X"})
        self.assertEqual(r.status, 400)
        want = sample("error-400-required-field-missing.json")[0]
        self.assertEqual(set(r.body[0]), set(want))
        self.assertEqual(r.body[0]["errorCode"], "REQUIRED_FIELD_MISSING")
        self.assertEqual(r.body[0]["fields"], ["LastName", "Company"])
        self.assertEqual(r.body[0]["message"],
                         "Required fields are missing:[LastName, Company]")
        r = self.api("POST", "sobjects/Lead", {"LastName": "X",
                                               "Company": "Y",
                                               "Status": "Terrible"})
        want = sample("error-400-invalid-restricted-picklist.json")[0]
        self.assertEqual(set(r.body[0]), set(want))
        self.assertEqual(r.body[0]["message"],
                         "Status: bad value for restricted picklist "
                         "field: Terrible")
        r = self.api("POST", "sobjects/Lead", {"LastName": "X",
                                               "FavoritePet__c": "cat"})
        want = sample("error-400-invalid-field-on-create.json")[0]
        self.assertEqual(set(r.body[0]), set(want))
        self.assertEqual(r.body[0]["message"],
                         "No such column 'FavoritePet__c' on sobject of "
                         "type Lead")
        r = self.api("PATCH", "sobjects/Lead/a00B000000FSjVUIB1",
                     {"Title": "x"})
        want = sample("error-400-malformed-id-on-update.json")[0]
        self.assertEqual(r.status, 400)
        self.assertEqual(set(r.body[0]), set(want))
        self.assertEqual(r.body[0]["message"],
                         "Lead ID: id value of incorrect type: "
                         "a00B000000FSjVUIB1")
        r = self.api("PATCH", "sobjects/Lead/" + salesforce_sim.make_id(
            "00Q", 999), {"Title": "x"})
        self.assertEqual(r.status, 404)
        r = self.api("POST", "sobjects/Lead", {"LastName": "X",
                                               "Company": "Y",
                                               "IsConverted": True})
        self.assertEqual(r.body[0]["errorCode"],
                         "INVALID_FIELD_FOR_INSERT_UPDATE")
        r = self.api("POST", "sobjects/Lead", raw=b"{\"LastName\": ")
        self.assertEqual(r.body[0]["errorCode"], "JSON_PARSER_ERROR")
        r = self.api("PUT", "sobjects/Lead", {"LastName": "X"})
        self.assertEqual(r.status, 405)

    def test_patch_by_id_204(self):
        rid = self.lead()
        r = self.api("PATCH", f"sobjects/Lead/{rid}", {"Title": "CTO"})
        self.assertEqual((r.status, r.raw), (204, b""))
        self.assertEqual(self.api("GET", f"sobjects/Lead/{rid}")
                         .body["Title"], "CTO")

    def test_single_upsert_by_external_id(self):
        v37 = "/services/data/v37.0"
        r = self.api("PATCH", f"{v37}/sobjects/Lead/Baton_Key__c/k-1",
                     {"LastName": "A", "Company": "B"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(set(r.body), set(sample(
            "sobject-upsert-by-external-id-created-201.json")))
        rid = r.body["id"]
        r = self.api("PATCH", f"{v37}/sobjects/Lead/Baton_Key__c/K-1",
                     {"Title": "CEO"})
        self.assertEqual((r.status, r.raw), (204, b""))
        # API 46.0 and later: created flag; update answers 200 with a body
        r = self.api("PATCH", f"{V}/sobjects/Lead/Baton_Key__c/k-1",
                     {"Title": "CFO"})
        self.assertEqual((r.status, r.body), (200, {
            "id": rid, "success": True, "errors": [], "created": False}))
        r = self.api("PATCH", f"{V}/sobjects/Lead/Baton_Key__c/k-2",
                     {"LastName": "A", "Company": "B"})
        self.assertEqual(r.status, 201)
        self.assertIs(r.body["created"], True)
        r = self.api("PATCH", f"{V}/sobjects/Lead/Baton_Key__c/k-3",
                     {"Company": "B"})
        self.assertEqual(r.body[0]["errorCode"], "REQUIRED_FIELD_MISSING")
        r = self.api("PATCH", f"{V}/sobjects/Lead/Title/x", {"Company": "B"})
        self.assertEqual(r.status, 404)

    def test_upsert_on_email_idlookup(self):
        a = self.lead(Email="dup@example.com")
        r = self.api("PATCH", "sobjects/Lead/Email/DUP@example.com",
                     {"Title": "VP"})
        self.assertEqual((r.status, r.body["id"], r.body["created"]),
                         (200, a, False))
        self.lead(Email="dup@example.com")
        r = self.api("PATCH", "sobjects/Lead/Email/dup@example.com",
                     {"Title": "VP"})
        self.assertEqual(r.status, 300)
        self.assertEqual(len(r.body), 2)
        r = self.upsert([{"Email": "dup@example.com", "Title": "x"}],
                        field="Email")
        self.assertEqual(r.body[0]["errors"][0]["statusCode"],
                         "DUPLICATE_EXTERNAL_ID")

    def test_collections_upsert_mixed_results(self):
        existing = self.api("PATCH", f"{V}/sobjects/Lead/Baton_Key__c/old",
                            {"LastName": "Old", "Company": "Co"}).body["id"]
        r = self.upsert([
            {"Baton_Key__c": "new-1", "LastName": "A", "Company": "Co",
             "Email": "a@example.com"},
            {"Baton_Key__c": "bad-1", "Company": "Co"},
            {"Baton_Key__c": "old", "Title": "Updated"},
            {"Baton_Key__c": "bad-2", "LastName": "B", "Company": "Co",
             "Status": "Bogus"},
            {"Baton_Key__c": "twin", "LastName": "T", "Company": "Co"},
            {"Baton_Key__c": "TWIN", "LastName": "T", "Company": "Co"},
            {"LastName": "NoKey", "Company": "Co"},
        ])
        self.assertEqual(r.status, 200, r)
        res = r.body
        self.assertEqual(len(res), 7)
        self.assertEqual([x["success"] for x in res],
                         [True, False, True, False, False, False, False])
        self.assertEqual(set(res[0]), {"id", "success", "errors", "created"})
        self.assertIs(res[0]["created"], True)
        self.assertEqual((res[2]["id"], res[2]["created"]), (existing, False))
        codes = [x["errors"][0]["statusCode"] if x["errors"] else None
                 for x in res]
        self.assertEqual(codes, [None, "REQUIRED_FIELD_MISSING", None,
                                 "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                 "DUPLICATE_VALUE", "DUPLICATE_VALUE",
                                 "MISSING_ARGUMENT"])
        for x in res:
            for e in x["errors"]:
                self.assertEqual(set(e), {"statusCode", "message", "fields"})
        self.assertEqual(res[1]["errors"][0]["fields"], ["LastName"])
        self.assertEqual(res[4]["errors"][0]["message"],
                         "Duplicate external id specified: twin")
        keys = sorted(x["Baton_Key__c"] for x in
                      self.sim.snapshot()["leads"])
        self.assertEqual(keys, ["new-1", "old"])
        old = self.api("GET", f"sobjects/Lead/{existing}").body
        self.assertEqual(old["Title"], "Updated")

    def test_collections_all_or_none_rolls_back(self):
        self.api("PATCH", f"{V}/sobjects/Lead/Baton_Key__c/old",
                 {"LastName": "Old", "Company": "Co"})
        r = self.upsert([
            {"Baton_Key__c": "n1", "LastName": "A", "Company": "Co"},
            {"Baton_Key__c": "old", "Title": "changed"},
            {"Baton_Key__c": "n2", "Company": "Co"},
        ], all_or_none=True)
        self.assertEqual(r.status, 200)
        self.assertEqual([x["success"] for x in r.body], [False] * 3)
        self.assertEqual(r.body[0]["errors"][0]["statusCode"],
                         "ALL_OR_NONE_OPERATION_ROLLED_BACK")
        self.assertNotIn("id", r.body[0])
        self.assertIn("id", r.body[1])
        self.assertEqual(r.body[2]["errors"][0]["statusCode"],
                         "REQUIRED_FIELD_MISSING")
        leads = self.sim.snapshot()["leads"]
        self.assertEqual(len(leads), 1)
        self.assertIsNone(leads[0]["Title"])

    def test_collections_200_record_limit(self):
        recs = [{"Baton_Key__c": f"k{i}", "LastName": "L", "Company": "C"}
                for i in range(201)]
        r = self.upsert(recs)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.body, [{
            "message": "record limit reached. cannot submit more than 200 "
                       "records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT"}])
        self.assertEqual(self.sim.snapshot()["leads"], [])
        r = self.upsert(recs[:200])
        self.assertEqual(r.status, 200)
        self.assertTrue(all(x["success"] and x["created"] for x in r.body))
        self.assertEqual(len(self.sim.snapshot()["leads"]), 200)
        r = self.upsert(recs[:200])
        self.assertTrue(all(x["success"] and not x["created"]
                            for x in r.body))

    def test_collections_create_and_update_by_id(self):
        r = self.api("POST", "composite/sobjects", {"allOrNone": False,
                     "records": [
                         {"attributes": {"type": "Lead"}, "LastName": "A",
                          "Company": "C", "Email": "q@example.com"},
                         {"attributes": {"type": "Lead"}, "LastName": "B"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.body[0]), {"id", "success", "errors"})
        self.assertFalse(r.body[1]["success"])
        rid = r.body[0]["id"]
        r = self.api("PATCH", "composite/sobjects", {"records": [
            {"attributes": {"type": "Lead"}, "id": rid, "Title": "Dr"},
            {"attributes": {"type": "Lead"}, "id": "00Qbogus",
             "Title": "x"}]})
        self.assertEqual(r.body[0], {"id": rid, "success": True,
                                     "errors": []})
        self.assertEqual(r.body[1]["errors"][0]["statusCode"],
                         "MALFORMED_ID")
        r = self.api("GET", f"composite/sobjects/Lead?ids={rid}"
                     "&fields=Id,Title")
        self.assertEqual(r.body[0]["Title"], "Dr")

    def test_assignment_rules_header(self):
        a = self.api("GET", f"sobjects/Lead/{self.lead()}").body
        self.assertEqual(a["OwnerId"], self.sim.rep_user)
        r = self.api("POST", "sobjects/Lead", {"LastName": "X",
                                               "Company": "Y"},
                     headers={"Sforce-Auto-Assign": "FALSE"})
        b = self.api("GET", f"sobjects/Lead/{r.body['id']}").body
        self.assertEqual(b["OwnerId"], self.sim.integration_user)

    def test_body_over_5_mib_is_413(self):
        self.login()
        big = b"{\"LastName\":\"" + b"x" * (5 * 1024 * 1024) + b"\"}"
        r = self.api("POST", "sobjects/Lead", raw=big)
        self.assertEqual(r.status, 413)


# ==========================================================================

class Limits(SimCase):

    def test_limit_header_counts_and_403_past_the_limit(self):
        self.login()
        fmt = re.compile(r"^api-usage=(\d+)/(\d+)$")
        want = open(os.path.join(SAMPLES,
                                 "sobject-create-201-with-limit-header.txt"),
                    encoding="utf-8").read()
        self.assertRegex(re.search(r"Sforce-Limit-Info: (.*)", want)
                         .group(1), fmt)
        seen = []
        for _ in range(3):
            r = self.api("GET", "limits")
            m = fmt.match(r.headers["Sforce-Limit-Info"])
            self.assertIsNotNone(m, r.headers)
            seen.append(int(m.group(1)))
            self.assertEqual(m.group(2), "100000")
        self.assertEqual(seen, [seen[0], seen[0] + 1, seen[0] + 2])
        self.assertEqual(r.body["DailyApiRequests"]["Remaining"],
                         100000 - seen[-1])
        r = self.control("config", {"api_limit": 5, "api_usage": 3})
        self.assertEqual(r.status, 200, r)
        r = self.api("GET", "limits")
        self.assertEqual(r.headers["Sforce-Limit-Info"], "api-usage=4/5")
        r = self.api("POST", "sobjects/Lead", {"LastName": "A",
                                               "Company": "B"})
        self.assertEqual(r.headers["Sforce-Limit-Info"], "api-usage=5/5")
        r = self.api("GET", "limits")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.body, [{"message": "TotalRequests Limit exceeded.",
                                   "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
        # the token endpoint is not an API call
        self.login()
        self.sim.set_config(api_limit=100)
        self.assertEqual(self.api("GET", "limits").status, 200)


# ==========================================================================

class Faults(SimCase):

    def test_fail_next_with_status_and_path_prefix(self):
        self.login()
        r = self.control("faults", {"fail_next": {
            "count": 2, "status": 503, "path_prefix": f"{V}/composite"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.api("GET", "limits").status, 200)
        for _ in range(2):
            r = self.upsert([{"Baton_Key__c": "f", "LastName": "L",
                              "Company": "C"}])
            self.assertEqual(r.status, 503)
            self.assertEqual(r.headers["Retry-After"], "1")
            self.assertEqual(r.body[0]["errorCode"], "SERVER_UNAVAILABLE")
        r = self.upsert([{"Baton_Key__c": "f", "LastName": "L",
                          "Company": "C"}])
        self.assertEqual(r.status, 200)
        self.sim.fail_next(1, 500)
        self.assertEqual(self.api("GET", "limits").status, 500)
        self.sim.fail_next(1, 429, retry_after=7)
        r = self.api("GET", "limits")
        self.assertEqual((r.status, r.headers["Retry-After"]), (429, "7"))
        self.sim.fail_next(1, 503, path_prefix="/services/oauth2")
        r = self.http("POST", "/services/oauth2/token", form={
            "grant_type": "refresh_token", "client_id": CID,
            "client_secret": CSECRET, "refresh_token": RTOKEN})
        self.assertEqual(r.status, 503)
        calls = self.control("state", method="GET").body["calls"]
        self.assertEqual([c["status"] for c in calls
                          if c.get("note") == "injected"],
                         [503, 503, 500, 429, 503])

    def test_storm(self):
        self.login()
        self.control("faults", {"storm": {"seconds": 1.5, "status": 429,
                                          "retry_after": 2}})
        r = self.api("GET", "limits")
        self.assertEqual((r.status, r.headers["Retry-After"]), (429, "2"))
        self.assertEqual(self.api("GET", "limits").status, 429)
        time.sleep(1.7)
        self.assertEqual(self.api("GET", "limits").status, 200)
        self.sim.storm(0.3, status=503)
        self.assertEqual(self.api("GET", "limits").status, 503)

    def test_latency(self):
        self.login()
        self.control("faults", {"latency_ms": 400})
        t = time.monotonic()
        self.assertEqual(self.api("GET", "limits").status, 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.39)
        # only the given prefix is slowed
        self.control("faults", {"latency_ms": 400,
                                "latency_path_prefix": "/services/oauth2"})
        t = time.monotonic()
        self.api("GET", "limits")
        self.assertLess(time.monotonic() - t, 0.39)
        self.control("faults", {"latency_ms": 0})

    def test_drop_connection(self):
        self.login()
        self.control("faults", {"drop_next": {"count": 2}})
        for _ in range(2):
            with self.assertRaises((urllib.error.URLError, ConnectionError,
                                    OSError)) as cm:
                self.api("GET", "limits")
            self.assertNotIsInstance(cm.exception, urllib.error.HTTPError)
        self.assertEqual(self.api("GET", "limits").status, 200)
        # raw socket: nothing at all comes back
        self.sim.drop_next(1)
        s = socket.create_connection(("127.0.0.1", self.sim.port), 5)
        s.sendall(b"GET /services/data/ HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(s.recv(100), b"")
        s.close()
        st = self.sim.snapshot()
        self.assertEqual(st["counters"]["connections_dropped"], 3)

    def test_clear_and_view(self):
        self.sim.fail_next(3, 500)
        v = self.control("faults", method="GET").body
        self.assertEqual(v["fail"][0]["count"], 3)
        self.control("faults", {"clear": True})
        self.assertEqual(self.control("faults", method="GET").body["fail"],
                         [])


# ==========================================================================

class RepAndState(SimCase):

    def test_rep_edit_visible_to_next_query(self):
        lid = self.lead(Email="rep@example.com")
        before = self.api("GET", f"sobjects/Lead/{lid}").body
        self.sim.advance_clock(5)
        r = self.control("rep", {"sobject": "Lead",
                                 "email": "rep@example.com",
                                 "fields": {"Status": "Qualified"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["Status"], "Qualified")
        r = self.soql("SELECT Id, Status, IsConverted, SystemModstamp, "
                      "LastModifiedById FROM Lead WHERE SystemModstamp > "
                      f"{before['SystemModstamp'][:19]}Z AND "
                      f"LastModifiedById != '{self.sim.integration_user}'"
                      " ORDER BY SystemModstamp, Id")
        recs = r.body["records"]
        self.assertEqual([x["Id"] for x in recs], [lid])
        self.assertEqual(recs[0]["Status"], "Qualified")
        self.assertEqual(recs[0]["LastModifiedById"], self.sim.rep_user)
        self.assertGreater(recs[0]["SystemModstamp"],
                           before["SystemModstamp"])
        r = self.control("rep", {"id": lid, "fields": {"Status": "Nope"}})
        self.assertEqual(r.status, 400)

    def test_rep_convert_and_opportunity_changes(self):
        lid = self.lead(Email="conv@example.com")
        r = self.control("rep", {"action": "convert", "id": lid,
                                 "opportunity": {"Amount": 1200}})
        self.assertEqual(r.status, 200, r)
        lead, opp = r.body["lead"], r.body["opportunity"]
        self.assertIs(lead["IsConverted"], True)
        self.assertEqual(lead["ConvertedOpportunityId"], opp["Id"])
        self.assertEqual(lead["Status"], "Closed - Converted")
        r = self.control("rep", {"sobject": "Opportunity", "id": opp["Id"],
                                 "fields": {"StageName": "Closed Won",
                                            "Amount": 1500}})
        self.assertEqual((r.body["IsWon"], r.body["IsClosed"],
                          r.body["Amount"]), (True, True, 1500.0))
        r = self.soql("SELECT Id, IsWon, StageName FROM Opportunity")
        self.assertEqual(r.body["records"][0]["StageName"], "Closed Won")
        r = self.control("rep", {"sobject": "Opportunity", "id": opp["Id"],
                                 "fields": {"IsWon": False}})
        self.assertIs(r.body["IsWon"], False)

    def test_state_and_reset(self):
        self.lead()
        st = self.control("state", method="GET").body
        for k in ("leads", "opportunities", "calls", "counters",
                  "api_usage", "config", "faults"):
            self.assertIn(k, st)
        self.assertEqual(len(st["leads"]), 1)
        c = [x for x in st["calls"] if x["path"] == f"{V}/sobjects/Lead"]
        self.assertEqual((c[0]["method"], c[0]["status"]), ("POST", 201))
        self.assertEqual(st["counters"]["created"], 1)
        self.assertEqual(self.control("reset").status, 200)
        st = self.control("state", method="GET").body
        self.assertEqual((st["leads"], st["api_usage"]), ([], 0))
        self.assertEqual(self.api("GET", "limits").status, 401)

    def test_custom_picklist_and_fields_knobs(self):
        self.sim.set_config(picklists={"Lead.Status": ["Fresh", "Hot"]},
                            default_lead_status="Fresh",
                            custom_fields={"Lead": {"Region__c": {
                                "type": "string", "length": 20}}})
        rid = self.lead(Region__c="EMEA")
        rec = self.api("GET", f"sobjects/Lead/{rid}").body
        self.assertEqual((rec["Status"], rec["Region__c"]), ("Fresh", "EMEA"))
        r = self.api("POST", "sobjects/Lead", {"LastName": "X",
                                               "Company": "Y",
                                               "Status": "Qualified"})
        self.assertEqual(r.body[0]["errorCode"],
                         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
        d = self.api("GET", "sobjects/Lead/describe").body
        f = {x["name"]: x for x in d["fields"]}
        self.assertTrue(f["Baton_Key__c"]["externalId"])
        self.assertTrue(f["Email"]["idLookup"])
        self.assertEqual([p["value"] for p in f["Status"]["picklistValues"]],
                         ["Fresh", "Hot"])


class Cli(unittest.TestCase):

    def start(self, state):
        p = subprocess.Popen([sys.executable,
                              os.path.join(HERE, "salesforce_sim.py"),
                              "--port", "0", "--state-file", state],
                             stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        m = re.match(r"^listening on 127\.0\.0\.1:(\d+)$", line.strip())
        self.assertIsNotNone(m, line)
        return p, f"http://127.0.0.1:{m.group(1)}"

    def test_cli_port_line_and_state_file(self):
        with tempfile.TemporaryDirectory() as d:
            state = os.path.join(d, "sf.json")
            p, base = self.start(state)
            try:
                body = json.dumps({"sobject": "Lead", "count": 3}).encode()
                urllib.request.urlopen(urllib.request.Request(
                    base + "/__sim/bulk", data=body, method="POST"),
                    timeout=10).read()
            finally:
                p.terminate()
                self.assertEqual(p.wait(10), 0)
            self.assertTrue(os.path.exists(state))
            p, base = self.start(state)
            try:
                st = json.load(urllib.request.urlopen(
                    base + "/__sim/state", timeout=10))
                self.assertEqual(len(st["leads"]), 3)
            finally:
                p.terminate()
                p.wait(10)


# ==========================================================================

if __name__ == "__main__":
    sys.exit(run_module(__name__, SAMPLES))
