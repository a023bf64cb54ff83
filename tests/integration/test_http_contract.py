"""test_http_contract.py - every status code of SPEC's HTTP contract, and
the flat entry a good request leaves in baton:events."""

import json
import re
import time

import harness
from harness import (BatonCase, SECRET, STREAM_FIELDS, WEBSITE, event, sign,
                     wait_until)


class HttpContract(BatonCase):

    def setUp(self):
        super().setUp()
        self.start_redis()
        self.b = self.start_batond({"website": WEBSITE},
                                   daemon={"max_body": "1KiB"})

    def test_good_request_writes_flat_entry(self):
        body = event("evt-1", email="  Ada.Lovelace@Example.COM ",
                     kind="form_submit", ts=1763900000,
                     form={"name": "demo-request"})
        r = self.b.post("website", body)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json(), {"events": 1, "duplicates": 0})
        entries = self.redis.entries()
        self.assertEqual(len(entries), 1)
        entry_id, f = entries[0]
        self.assertRegex(entry_id, r"^\d+-\d+$")
        self.assertEqual(set(f), STREAM_FIELDS)
        self.assertEqual(f["v"], "1")
        self.assertEqual(f["type"], "lead.activity")
        self.assertEqual(f["lead"], "ada.lovelace@example.com")
        self.assertEqual(f["source"], "website")
        self.assertEqual(f["id"], "evt-1")
        self.assertEqual(f["at"], "1763900000000")
        self.assertEqual(f["seq"], "1")     # the lead's first event
        data = json.loads(f["data"])
        self.assertIsInstance(data, dict)
        self.assertEqual(data.get("activity"), "form_submit")
        self.assertEqual(data.get("form"), "demo-request")

    def test_rfc3339_and_millisecond_times(self):
        r = self.b.post("website", event("t-ms", ts=1763900000123))
        self.assertEqual(r.status, 200, repr(r))
        r = self.b.post("website", event("t-rfc",
                                         ts="2025-11-23T12:13:20.5Z"))
        self.assertEqual(r.status, 200, repr(r))
        at = {f["id"]: f["at"] for _, f in self.redis.entries()}
        self.assertEqual(at, {"t-ms": "1763900000123",
                              "t-rfc": "1763900000500"})

    def test_malformed_json_400(self):
        r = self.b.post("website", b'{"id": "x", "kind": ')
        self.assert_error(r, 400, r"invalid json.*line 1")
        r = self.b.post("website", b"[1, 2, 3]")
        self.assert_error(r, 400, "object")
        r = self.b.post("website", b"")
        self.assertEqual(r.status, 400, repr(r))
        self.assertEqual(self.redis.xlen(), 0)

    def test_bad_field_values_400_name_field(self):
        r = self.b.post("website", event("bad-kind", kind="Not A Token"))
        self.assert_error(r, 400, r"activity.*not a name")
        r = self.b.post("website", event("bad-ts", ts="yesterday"))
        self.assert_error(r, 400, r"map\.at.*not a time")
        r = self.b.post("website", event("num-kind", kind=5))
        self.assert_error(r, 400, r"map\.activity")
        ev = event("no-id")
        del ev["id"]
        r = self.b.post("website", ev)
        self.assert_error(r, 400, r"map\.id.*missing")
        self.assertEqual(self.redis.xlen(), 0)

    def test_missing_email_400_names_field(self):
        ev = event("no-email")
        del ev["contact"]
        r = self.b.post("website", ev)
        self.assert_error(r, 400, r"email.*missing")
        r = self.b.post("website", event("bad-email", email="not-an-email"))
        self.assert_error(r, 400, r"email.*not an email")
        self.assertEqual(self.redis.xlen(), 0)

    def test_signatures_401(self):
        body = json.dumps(event("sig-1")).encode()
        good = sign(body)
        hexpart = good[len("sha256="):]
        cases = {
            "missing": False,
            "empty": "",
            "wrong secret": sign(body, "another-secret"),
            "wrong length": "sha256=" + hexpart[:-2],
            "too long": "sha256=" + hexpart + "00",
            "wrong prefix": "sha1=" + hexpart,
            "no prefix": hexpart,
            "not hex": "sha256=" + "zz" * 32,
            "other body": sign(body + b" "),
        }
        for name, sig in cases.items():
            with self.subTest(name):
                r = self.b.post("website", body, signature=sig)
                self.assertEqual(r.status, 401, f"{name}: {r!r}")
                self.assertIn("error", r.json())
        self.assertEqual(self.redis.xlen(), 0)
        # Upper-case hex is the same digest.
        r = self.b.post("website", body,
                        signature="sha256=" + hexpart.upper())
        self.assertIn(r.status, (200, 401), repr(r))
        r = self.b.post("website", body, signature=good)
        self.assertEqual(r.status, 200, repr(r))

    def test_unknown_connector_404(self):
        r = self.b.post("nosuch", event("x"))
        self.assertEqual(r.status, 404, repr(r))
        self.assertIn("error", r.json())
        r = self.b.get("/nowhere")
        self.assertEqual(r.status, 404, repr(r))

    def test_get_on_hook_405(self):
        r = self.b.get("/hooks/website")
        self.assertEqual(r.status, 405, repr(r))
        self.assertIn("error", r.json())
        r = self.b.get("/hooks/nosuch")
        self.assertEqual(r.status, 404, repr(r))

    def test_body_over_max_body_413(self):
        ev = event("big", padding="x" * 2000)
        r = self.b.post("website", ev)
        self.assertEqual(r.status, 413, repr(r))
        # Just under the limit is fine.
        ev = event("small", padding="x" * 600)
        self.assertLess(len(json.dumps(ev)), 1024)
        r = self.b.post("website", ev)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.stream_ids(), ["small"])

    def test_redis_down_503_healthz_and_recovery(self):
        r = self.b.get("/healthz")
        self.assertEqual(r.status, 200, repr(r))
        self.redis.kill()

        def unhealthy():
            return self.b.get("/healthz").status == 503
        wait_until(unhealthy, 10, what="/healthz 503 with Redis down")

        r = self.b.post("website", event("during-outage"))
        self.assertEqual(r.status, 503, repr(r))
        self.assertRegex(r.headers.get("retry-after", ""), r"^[1-9]\d*$",
                         r.headers)
        self.assertIn("error", r.json())

        self.redis.start()
        wait_until(lambda: self.b.get("/healthz").status == 200, 20,
                   what="/healthz 200 after Redis is back")
        r = self.b.post("website", event("after-outage"))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.stream_ids(), ["after-outage"])

    def test_refusals_flood_neither_log_nor_metrics_lose_count(self):
        start = time.monotonic()
        for i in range(300):
            r = self.b.post("website", event(f"flood-{i}"),
                            signature="sha256=" + "0" * 64)
            self.assertEqual(r.status, 401, repr(r))
        seconds = time.monotonic() - start
        lines = [l for l in self.b.log_text().splitlines()
                 if "does not match the body" in l]
        # At most 10 lines per second of flood (plus the second it
        # started in), and the suppressed ones are counted.
        self.assertLessEqual(len(lines), 10 * (int(seconds) + 2), lines)
        self.assertLess(len(lines), 300)
        if len(lines) > 10:
            self.assertTrue(any("more refusals not logged" in l
                                for l in lines), lines)
        m = re.search(r'^baton_webhook_requests_total\{connector="website",'
                      r'status="401"\} (\d+)$',
                      self.b.get("/metrics").body.decode(), re.M)
        self.assertIsNotNone(m)
        self.assertEqual(int(m.group(1)), 300)

    def test_metrics_prometheus_text(self):
        self.assertEqual(self.b.post("website", event("m-1")).status, 200)
        self.assertEqual(self.b.post("website", b"{").status, 400)
        self.assertEqual(self.b.post("website", event("m-2"),
                                     signature=False).status, 401)
        r = self.b.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("content-type", "")
                        .startswith("text/plain"), r.headers)
        text = r.body.decode()
        self.assertIn("# TYPE baton_webhook_requests_total counter", text)
        for status, n in (("200", 1), ("400", 1), ("401", 1)):
            pat = (r'^baton_webhook_requests_total\{connector="website",'
                   r'status="%s"\} (\d+(?:\.\d+)?)$' % status)
            m = re.search(pat, text, re.M)
            self.assertIsNotNone(m, f"no series for status {status}:\n"
                                 + text)
            self.assertEqual(float(m.group(1)), n)
        # Every sample line is NAME{labels} VALUE or NAME VALUE.
        sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*'
                            r'(\{[^}]*\})? [-+0-9.eEInfa]+$')
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, sample)


if __name__ == "__main__":
    harness.main()
