#!/usr/bin/env python3
"""test_slack_sim.py - the Slack incoming-webhook simulator against the
vendor's published shapes (../shared/vendor-samples/slack) and its knobs.

Starts the simulator in-process on port 0; prints "N passed, N failed";
exits non-zero on failure."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from simtest import run_module, vendor_samples  # noqa: E402
from slack_sim import DEFAULT_HOOK, SlackSim  # noqa: E402


SAMPLES = vendor_samples("slack")


def sample_bytes(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()


# The client's header, as the vendor SDKs send it (python slack_sdk
# WebhookClient: "application/json;charset=utf-8").
JSON_CT = "application/json;charset=utf-8"
OTHER_HOOK = "/services/TBATON0001/BOTHER0002/anothersecret0002"


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.text = raw.decode("utf-8", "replace")

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.raw[:200]!r}>"


class SimCase(unittest.TestCase):

    def setUp(self):
        self.sim = SlackSim(port=0, hooks={DEFAULT_HOOK: "#sales",
                                           OTHER_HOOK: "#ops"}).start()
        self.addCleanup(self.sim.stop)

    # ------------------------------------------------------------ helpers

    def http(self, method, path, body=None, ctype=JSON_CT, headers=None,
             timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.port,
                                          timeout=timeout)
        try:
            h = dict(headers or {})
            if ctype is not None:
                h["Content-Type"] = ctype
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            raw = r.read()
            return Resp(r.status, {k.lower(): v for k, v in r.getheaders()},
                        raw)
        finally:
            conn.close()

    def post(self, body, hook=DEFAULT_HOOK, **kw):
        return self.http("POST", hook, body, **kw)

    def control(self, method, name, body=None):
        r = self.http(method, "/__sim/" + name, body,
                      ctype="application/json")
        self.assertEqual(r.status, 200, r)
        return json.loads(r.raw)

    def assertVendorError(self, r, status, text):
        self.assertEqual((r.status, r.text), (status, text), r)

    def messages(self, hook=None):
        q = "?hook=" + urllib.parse.quote(hook) if hook else ""
        return self.control("GET", "messages" + q)

    def no_rate_limit(self):
        self.control("POST", "config", {"rate_per_sec": 0})


# ==========================================================================

class Samples(SimCase):

    def test_text_sample_answered_exactly_ok(self):
        raw = sample_bytes("incoming-webhook-request-text.json")
        r = self.post(raw)
        # incoming-webhook-response.txt: HTTP 200, body "ok" (and nothing
        # else: no JSON, no newline)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw, b"ok")
        self.assertTrue(r.header("content-type").startswith("text/"), r)
        self.assertEqual(r.header("content-length"), "2")
        msgs = self.messages()
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0]["body"], json.loads(raw))
        self.assertEqual(msgs[0]["text"], "I've got news for you...")
        self.assertEqual(msgs[0]["hook"], DEFAULT_HOOK)
        self.assertEqual(msgs[0]["channel"], "#sales")

    def test_metadata_sample_kept_whole(self):
        raw = sample_bytes("incoming-webhook-request-with-metadata.json")
        r = self.post(raw)
        self.assertEqual((r.status, r.raw), (200, b"ok"))
        m = self.messages()[0]
        self.assertEqual(m["body"], json.loads(raw))
        self.assertEqual(m["body"]["metadata"]["event_payload"],
                         {"foo": "bar"})

    def test_response_matches_sample_file(self):
        desc = sample_bytes("incoming-webhook-response.txt").decode()
        m = re.match(r"HTTP (\d+), body \([^)]*\): (\S+)", desc)
        self.assertIsNotNone(m, desc)
        r = self.post({"text": "x"})
        self.assertEqual(r.status, int(m.group(1)))
        self.assertEqual(r.text, m.group(2))

    def test_sdk_keys_accepted(self):
        # the keys @slack/webhook's IncomingWebhook passes through
        body = {"text": "hi", "username": "baton", "icon_emoji": ":fire:",
                "icon_url": "https://example.com/i.png", "channel": "#x",
                "link_names": True, "unfurl_links": False,
                "unfurl_media": False,
                "attachments": [{"fallback": "f", "text": "t",
                                 "color": "#36a64f"}],
                "blocks": [{"type": "section",
                            "text": {"type": "mrkdwn", "text": "*hi*"}}]}
        r = self.post(body)
        self.assertEqual((r.status, r.raw), (200, b"ok"))
        self.assertEqual(self.messages()[0]["body"], body)

    def test_form_encoded_payload(self):
        form = urllib.parse.urlencode(
            {"payload": json.dumps({"text": "from a form"})})
        r = self.post(form, ctype="application/x-www-form-urlencoded")
        self.assertEqual((r.status, r.raw), (200, b"ok"))
        m = self.messages()[0]
        self.assertTrue(m["form_encoded"])
        self.assertEqual(m["text"], "from a form")

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.port,
                                          timeout=10)
        try:
            for i in range(3):
                conn.request("POST", DEFAULT_HOOK,
                             json.dumps({"text": f"n{i}"}),
                             {"Content-Type": JSON_CT})
                r = conn.getresponse()
                self.assertEqual((r.status, r.read()), (200, b"ok"))
        finally:
            conn.close()
        self.assertEqual([m["text"] for m in self.messages()],
                         ["n0", "n1", "n2"])


class Payloads(SimCase):

    def setUp(self):
        super().setUp()
        self.no_rate_limit()

    def test_content_type_required(self):
        for ct in (None, "text/plain", "application/xml"):
            self.assertVendorError(self.post('{"text":"x"}', ctype=ct),
                                   400, "invalid_payload")
        self.assertEqual(self.messages(), [])

    def test_bad_json(self):
        for raw in ("", "   ", "{", "{'text': 'x'}", "[1, 2]", '"text"',
                    "null", b"\xff\xfe"):
            self.assertVendorError(self.post(raw), 400, "invalid_payload")

    def test_bad_form(self):
        ct = "application/x-www-form-urlencoded"
        self.assertVendorError(self.post("text=hello", ctype=ct), 400,
                               "invalid_payload")
        self.assertVendorError(self.post("payload=%7Bnope", ctype=ct), 400,
                               "invalid_payload")

    def test_no_text(self):
        for body in ({}, {"text": ""}, {"username": "x"}, {"blocks": []},
                     {"attachments": []}, {"text": None}):
            self.assertVendorError(self.post(body), 400, "no_text")

    def test_text_wrong_type(self):
        self.assertVendorError(self.post({"text": 5}), 400,
                               "invalid_payload")
        self.assertVendorError(self.post({"text": "x", "attachments": "a"}),
                               400, "invalid_payload")

    def test_blocks(self):
        ok = [{"type": "header",
               "text": {"type": "plain_text", "text": "New MQL"}},
              {"type": "section", "fields": [
                  {"type": "mrkdwn", "text": "*Score*\n87"}]},
              {"type": "divider"},
              {"type": "context",
               "elements": [{"type": "mrkdwn", "text": "why"}]}]
        r = self.post({"blocks": ok})
        self.assertEqual((r.status, r.raw), (200, b"ok"), r)
        # blocks as a JSON string (Slack takes that too)
        r = self.post({"text": "t", "blocks": json.dumps(ok)})
        self.assertEqual(r.status, 200, r)
        bad = [
            ({"text": "t", "blocks": {"type": "divider"}},
             "invalid_blocks_format"),
            ({"text": "t", "blocks": "not json"}, "invalid_blocks_format"),
            ({"text": "t", "blocks": [{"text": "no type"}]},
             "invalid_blocks"),
            ({"text": "t", "blocks": ["divider"]}, "invalid_blocks"),
            ({"text": "t", "blocks": [{"type": "nonsense"}]},
             "invalid_blocks"),
            ({"text": "t", "blocks": [{"type": "divider"}] * 51},
             "invalid_blocks"),
            ({"text": "t", "blocks": [{"type": "section"}]},
             "invalid_blocks"),
            ({"text": "t", "blocks": [{"type": "section", "text": {
                "type": "mrkdwn", "text": "x" * 3001}}]}, "invalid_blocks"),
            ({"text": "t", "blocks": [{"type": "header", "text": {
                "type": "mrkdwn", "text": "x"}}]}, "invalid_blocks"),
        ]
        for body, err in bad:
            self.assertVendorError(self.post(body), 400, err)
        # 50 blocks is the limit, not over it
        r = self.post({"text": "t", "blocks": [{"type": "divider"}] * 50})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.messages()), 3)

    def test_attachments(self):
        r = self.post({"attachments": [{"fallback": "f", "text": "t"}]})
        self.assertEqual(r.status, 200, r)
        self.assertVendorError(
            self.post({"text": "t", "attachments": [{"text": "a"}] * 101}),
            400, "too_many_attachments")
        r = self.post({"text": "t", "attachments": [{"text": "a"}] * 100})
        self.assertEqual(r.status, 200, r)

    def test_long_text_truncated_not_refused(self):
        r = self.post({"text": "a" * 40000})
        self.assertEqual((r.status, r.raw), (200, b"ok"))
        r = self.post({"text": "b" * 40500})
        self.assertEqual((r.status, r.raw), (200, b"ok"))
        m1, m2 = self.messages()
        self.assertFalse(m1["truncated"])
        self.assertTrue(m2["truncated"])
        self.assertEqual(len(m2["text"]), 40000)
        self.assertEqual(len(m2["body"]["text"]), 40500)
        st = self.control("GET", "state?omit=calls")
        self.assertEqual(st["counters"]["truncated"], 1)

    def test_rejected_posts_not_recorded_but_logged(self):
        self.post({})
        self.post({"text": "fine"})
        st = self.control("GET", "state")
        self.assertEqual([m["text"] for m in st["messages"]], ["fine"])
        self.assertEqual([c["status"] for c in st["calls"]], [400, 200])
        self.assertEqual(st["hooks"][DEFAULT_HOOK]["rejected"], 1)
        self.assertEqual(st["hooks"][DEFAULT_HOOK]["received"], 1)


class Hooks(SimCase):

    def test_unknown_hook(self):
        wrong_secret = "/services/TBATON0001/BBATON0001/wrongsecret00000"
        self.assertVendorError(self.post({"text": "x"}, hook=wrong_secret),
                               404, "no_service")
        wrong_bot = "/services/TBATON0001/BNOPE00001/batonsimwebhooksecret001"
        self.assertVendorError(self.post({"text": "x"}, hook=wrong_bot),
                               404, "no_service")
        other_team = "/services/TOTHER0001/BBATON0001/batonsimwebhooksecret001"
        self.assertVendorError(self.post({"text": "x"}, hook=other_team),
                               404, "no_team")
        for p in ("/", "/services/", "/services/TBATON0001", "/api/x"):
            self.assertVendorError(self.post({"text": "x"}, hook=p), 404,
                                   "no_service")
        self.assertEqual(self.messages(), [])

    def test_wrong_method(self):
        r = self.http("GET", DEFAULT_HOOK, ctype=None)
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("allow"), "POST")

    def test_two_hooks_separate(self):
        self.assertEqual(self.post({"text": "a"}).status, 200)
        self.assertEqual(self.post({"text": "b"}, hook=OTHER_HOOK).status,
                         200)
        self.assertEqual([m["text"] for m in self.messages(OTHER_HOOK)],
                         ["b"])
        self.assertEqual(self.messages(OTHER_HOOK)[0]["channel"], "#ops")

    def test_add_and_remove_hook(self):
        new = "/services/TNEW000001/BNEW000001/newhooksecret0001"
        self.assertVendorError(self.post({"text": "x"}, hook=new), 404,
                               "no_team")
        out = self.control("POST", "hooks", {"hook": new,
                                             "channel": "#new"})
        self.assertEqual(out["url"], self.sim.base_url + new)
        self.assertEqual(self.post({"text": "x"}, hook=new).status, 200)
        self.assertIn(new, self.control("GET", "hooks"))
        self.control("POST", "hooks", {"remove": new})
        self.assertVendorError(self.post({"text": "x"}, hook=new), 404,
                               "no_team")
        r = self.http("POST", "/__sim/hooks", {"hook": "/services/bad"})
        self.assertEqual(r.status, 400)

    def test_hook_url(self):
        self.assertEqual(self.sim.hook_url(),
                         self.sim.base_url + DEFAULT_HOOK)
        self.assertEqual(self.sim.hook_url("https://hooks.slack.com"
                                           + OTHER_HOOK),
                         self.sim.base_url + OTHER_HOOK)


class RateLimit(SimCase):

    def test_default_bucket_then_429_then_recovery(self):
        # default: 1 message/s per webhook, bursts of 5 (a slow machine
        # may refill a token meanwhile, so post until the first 429)
        sent = 0
        for i in range(10):
            r = self.post({"text": f"m{i}"})
            if r.status != 200:
                break
            sent += 1
        self.assertIn(sent, (5, 6, 7), r)
        self.assertVendorError(r, 429, "rate_limited")
        ra = r.header("retry-after")
        self.assertIsNotNone(ra)
        self.assertTrue(ra.isdigit() and int(ra) >= 1, ra)
        # the other webhook has its own bucket
        self.assertEqual(self.post({"text": "x"}, hook=OTHER_HOOK).status,
                         200)
        time.sleep(int(ra) + 0.05)
        r = self.post({"text": "after waiting"})
        self.assertEqual((r.status, r.raw), (200, b"ok"), r)
        texts = [m["text"] for m in self.messages(DEFAULT_HOOK)]
        self.assertEqual(texts, [f"m{i}" for i in range(sent)] +
                         ["after waiting"])
        st = self.control("GET", "state?omit=messages,calls")
        self.assertEqual(st["hooks"][DEFAULT_HOOK]["rate_limited"], 1)
        self.assertEqual(st["counters"]["rate_limited"], 1)

    def test_steady_rate_is_fine(self):
        self.control("POST", "config", {"rate_per_sec": 20, "burst": 1})
        for i in range(6):
            self.assertEqual(self.post({"text": str(i)}).status, 200)
            time.sleep(0.06)

    def test_configured_rate_and_retry_after(self):
        self.control("POST", "config", {"rate_per_sec": 0.25, "burst": 2})
        self.assertEqual(self.post({"text": "1"}).status, 200)
        self.assertEqual(self.post({"text": "2"}).status, 200)
        r = self.post({"text": "3"})
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("retry-after"), "4")

    def test_rate_zero_means_unlimited(self):
        self.no_rate_limit()
        for i in range(30):
            self.assertEqual(self.post({"text": str(i)}).status, 200)


class Faults(SimCase):

    def setUp(self):
        super().setUp()
        self.no_rate_limit()

    def test_fail_next_with_status(self):
        f = self.control("POST", "faults",
                         {"fail_next": {"count": 2, "status": 503}})
        self.assertEqual(f["fail"][0]["count"], 2)
        for _ in range(2):
            r = self.post({"text": "x"})
            self.assertEqual(r.status, 503)
            self.assertEqual(r.header("retry-after"), "1")
        self.assertEqual(self.post({"text": "x"}).status, 200)
        self.assertEqual(len(self.messages()), 1)
        self.assertEqual(self.control("GET", "faults")["fail"], [])

    def test_fail_next_bodies_and_retry_after(self):
        self.control("POST", "faults", {"fail_next": [
            {"status": 500}, {"status": 429, "retry_after": 3},
            {"status": 400, "body": "invalid_blocks"}, {"status": 502}]})
        self.assertVendorError(self.post({"text": "x"}), 500,
                               "rollup_error")
        r = self.post({"text": "x"})
        self.assertVendorError(r, 429, "rate_limited")
        self.assertEqual(r.header("retry-after"), "3")
        self.assertVendorError(self.post({"text": "x"}), 400,
                               "invalid_blocks")
        r = self.post({"text": "x"})
        self.assertEqual((r.status, r.raw), (502, b""))
        self.assertIsNone(r.header("retry-after"))
        self.assertEqual(self.post({"text": "x"}).status, 200)

    def test_fault_scoped_to_hook(self):
        self.control("POST", "faults", {"fail_next": {
            "count": 1, "status": 500, "hook": OTHER_HOOK}})
        self.assertEqual(self.post({"text": "x"}).status, 200)
        self.assertEqual(self.post({"text": "x"}, hook=OTHER_HOOK).status,
                         500)
        self.assertEqual(self.post({"text": "x"}, hook=OTHER_HOOK).status,
                         200)

    def test_latency(self):
        self.control("POST", "faults", {"latency_ms": 300})
        t0 = time.monotonic()
        self.assertEqual(self.post({"text": "x"}).status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.28)
        # control calls are never slowed
        t0 = time.monotonic()
        self.control("GET", "state")
        self.assertLess(time.monotonic() - t0, 0.25)
        self.control("POST", "faults", {"latency_ms": 0})
        t0 = time.monotonic()
        self.post({"text": "x"})
        self.assertLess(time.monotonic() - t0, 0.25)

    def assertDropped(self, body):
        with self.assertRaises((http.client.HTTPException,
                                ConnectionError)):
            self.post(body)

    def test_drop_before(self):
        self.control("POST", "faults", {"drop_next": {"count": 1}})
        self.assertDropped({"text": "lost"})
        self.assertEqual(self.messages(), [])
        self.assertEqual(self.post({"text": "kept"}).status, 200)
        st = self.control("GET", "state")
        self.assertEqual(st["counters"]["connections_dropped"], 1)
        self.assertEqual([c["status"] for c in st["calls"]], [0, 200])

    def test_drop_reset(self):
        self.control("POST", "faults",
                     {"drop_next": {"count": 1, "mode": "reset"}})
        self.assertDropped({"text": "lost"})
        self.assertEqual(self.post({"text": "kept"}).status, 200)
        self.assertEqual([m["text"] for m in self.messages()], ["kept"])

    def test_drop_after_processing(self):
        # the message lands, but the client never hears "ok"
        self.control("POST", "faults",
                     {"drop_next": {"count": 1, "when": "after"}})
        self.assertDropped({"text": "posted, unacknowledged"})
        self.assertEqual([m["text"] for m in self.messages()],
                         ["posted, unacknowledged"])

    def test_archive_channel(self):
        self.control("POST", "faults", {"archive": DEFAULT_HOOK})
        self.assertVendorError(self.post({"text": "x"}), 410,
                               "channel_is_archived")
        self.assertEqual(self.post({"text": "x"}, hook=OTHER_HOOK).status,
                         200)
        st = self.control("GET", "state")
        self.assertEqual(st["hooks"][DEFAULT_HOOK]["status"], "archived")
        self.assertEqual(st["faults"]["hook_status"],
                         {DEFAULT_HOOK: "archived"})
        self.control("POST", "faults", {"unarchive": DEFAULT_HOOK})
        self.assertEqual(self.post({"text": "x"}).status, 200)
        # archive every hook; clear brings them back
        self.control("POST", "faults", {"archive": True})
        self.assertEqual(self.post({"text": "x"}, hook=OTHER_HOOK).status,
                         410)
        self.control("POST", "faults", {"clear": True})
        self.assertEqual(self.post({"text": "x"}, hook=OTHER_HOOK).status,
                         200)

    def test_hook_statuses(self):
        cases = [("prohibited", 403, "action_prohibited"),
                 ("revoked", 403, "invalid_token"),
                 ("removed", 404, "no_service"),
                 ("channel_not_found", 404, "channel_not_found")]
        for status, code, text in cases:
            self.control("POST", "faults", {"hook_status": {
                "hook": DEFAULT_HOOK, "status": status}})
            self.assertVendorError(self.post({"text": "x"}), code, text)
        self.control("POST", "faults", {"hook_status": {
            "hook": DEFAULT_HOOK, "status": "active"}})
        self.assertEqual(self.post({"text": "x"}).status, 200)
        r = self.http("POST", "/__sim/faults", {"hook_status": {
            "hook": DEFAULT_HOOK, "status": "bogus"}})
        self.assertEqual(r.status, 400)

    def test_python_methods(self):
        self.sim.fail_next(1, 500)
        self.assertEqual(self.post({"text": "x"}).status, 500)
        self.sim.archive()
        self.assertEqual(self.post({"text": "x"}).status, 410)
        self.sim.clear_faults()
        self.assertEqual(self.post({"text": "x"}).status, 200)


class State(SimCase):

    def test_state_shape(self):
        t0 = time.time()
        self.post({"text": "one"})
        self.post({"text": "two", "blocks": [{"type": "divider"}]},
                  hook=OTHER_HOOK)
        self.post({})
        st = self.control("GET", "state")
        for k in ("hooks", "messages", "calls", "counters", "config",
                  "faults", "now"):
            self.assertIn(k, st)
        self.assertEqual(set(st["hooks"]), {DEFAULT_HOOK, OTHER_HOOK})
        h = st["hooks"][DEFAULT_HOOK]
        self.assertEqual(h["url"], self.sim.base_url + DEFAULT_HOOK)
        self.assertEqual((h["received"], h["rejected"]), (1, 1))
        m1, m2 = st["messages"]
        self.assertEqual((m1["seq"], m2["seq"]), (1, 2))
        self.assertEqual(m2["body"]["blocks"], [{"type": "divider"}])
        self.assertEqual(m2["hook"], OTHER_HOOK)
        self.assertGreaterEqual(m1["t"], t0 - 1)
        self.assertTrue(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$",
                                 m1["time"]), m1["time"])
        self.assertEqual(m1["content_type"], "application/json")
        self.assertEqual(st["counters"]["accepted"], 2)
        self.assertEqual(st["counters"]["by_status"],
                         {"200": 2, "400": 1})
        self.assertEqual(st["config"]["rate_per_sec"], 1.0)

    def test_filters(self):
        self.post({"text": "one"})
        self.post({"text": "two"}, hook=OTHER_HOOK)
        self.post({"text": "three"})
        st = self.control("GET", "state?omit=calls&hook="
                          + urllib.parse.quote(DEFAULT_HOOK))
        self.assertNotIn("calls", st)
        self.assertEqual([m["text"] for m in st["messages"]],
                         ["one", "three"])
        since = self.control("GET", "messages?since=1")
        self.assertEqual([m["text"] for m in since], ["two", "three"])

    def test_reset(self):
        self.control("POST", "config", {"rate_per_sec": 0})
        self.control("POST", "faults", {"archive": OTHER_HOOK,
                                        "fail_next": {"count": 5}})
        self.post({"text": "gone"})
        self.control("POST", "reset")
        st = self.control("GET", "state")
        self.assertEqual(st["messages"], [])
        self.assertEqual(st["calls"], [])
        self.assertEqual(st["faults"]["fail"], [])
        self.assertEqual(st["faults"]["hook_status"], {})
        self.assertEqual(st["config"]["rate_per_sec"], 1.0)
        self.assertEqual(self.post({"text": "again"}).status, 200)
        self.assertEqual(self.messages()[0]["seq"], 1)

    def test_control_errors(self):
        r = self.http("POST", "/__sim/config", {"nope": 1})
        self.assertEqual(r.status, 400)
        r = self.http("GET", "/__sim/nothing")
        self.assertEqual(r.status, 404)
        r = self.http("POST", "/__sim/faults", "{bad")
        self.assertEqual(r.status, 400)


class Cli(unittest.TestCase):

    def test_cli_port_line_hooks_and_sigterm(self):
        hook = "/services/TCLI000001/BCLI000001/clihooksecret0001"
        p = subprocess.Popen([sys.executable,
                              os.path.join(HERE, "slack_sim.py"),
                              "--port", "0", "--hook", hook + "=#cli"],
                             stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            m = re.match(r"^listening on 127\.0\.0\.1:(\d+)$", line.strip())
            self.assertIsNotNone(m, line)
            conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)),
                                              timeout=10)
            conn.request("POST", hook, json.dumps({"text": "hi"}),
                         {"Content-Type": JSON_CT})
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"ok"))
            conn.request("POST", DEFAULT_HOOK, json.dumps({"text": "hi"}),
                         {"Content-Type": JSON_CT})
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (404, b"no_team"))
            conn.request("GET", "/__sim/messages")
            msgs = json.loads(conn.getresponse().read())
            self.assertEqual(msgs[0]["channel"], "#cli")
            conn.close()
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(10), 0)
            p.stdout.close()


# ==========================================================================

if __name__ == "__main__":
    sys.exit(run_module(__name__, SAMPLES))
