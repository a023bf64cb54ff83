"""test_tail.py - `batonctl tail`: the entries batond wrote, in the default
format and as JSON, filtered by lead and type, and followed with -f."""

import json
import queue
import re
import signal
import subprocess
import threading

import harness
from harness import BATONCTL, BatonCase, SECRET, WEBSITE, event, run_ctl

# A second connector writing lead.upserted events.
SIGNUP = {
    "type": "webhook",
    "role": "marketing",
    "secret": SECRET,
    "event": "lead.upserted",
    "map.email": "email",
    "map.first_name": "first",
    "map.company": "company",
    "map.id": "id",
    "map.at": "ts",
}


class Tail(BatonCase):

    def setUp(self):
        super().setUp()
        self.start_redis()
        self.b = self.start_batond({"website": WEBSITE, "signup": SIGNUP})
        posts = [
            ("website", event("t-1", email="ada@example.com",
                              kind="form_submit",
                              form={"name": "demo-request"})),
            ("signup", {"id": "t-2", "email": "grace@example.com",
                        "first": "Grace", "company": "Navy",
                        "ts": 1763900001}),
            ("website", event("t-3", email="grace@example.com",
                              kind="email_click", ts=1763900002)),
        ]
        for conn, body in posts:
            r = self.b.post(conn, body)
            self.assertEqual(r.status, 200, repr(r))
        self.conf = self.b.conf

    def tail(self, *args):
        p = run_ctl(self.conf, "tail", *args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def json_lines(self, out):
        objs = []
        for line in out.splitlines():
            if line.strip():
                objs.append(json.loads(line))
        return objs

    def test_default_format(self):
        out = self.tail()
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out)
        ts = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
        self.assertRegex(lines[0], ts + re.escape(
            'events lead.activity ada@example.com website id=t-1 '
            '{"activity":"form_submit","email":"ada@example.com",'
            '"form":"demo-request"}') + "$")
        self.assertRegex(lines[1], ts + re.escape(
            "events lead.upserted grace@example.com signup id=t-2 {") +
            r".*\}$")
        self.assertIn('"first_name":"Grace"', lines[1])
        self.assertRegex(lines[2], ts + re.escape(
            "events lead.activity grace@example.com website id=t-3 {") +
            r'.*"activity":"email_click".*\}$')
        # The same with the stream named.
        self.assertEqual(self.tail("events"), out)

    def test_count_and_since(self):
        out = self.tail("-n", "2")
        self.assertEqual([re.search(r" id=(\S+) ", ln).group(1)
                          for ln in out.splitlines()], ["t-2", "t-3"])
        objs = self.json_lines(self.tail("--json", "--since", "1h"))
        self.assertEqual([o["id"] for o in objs], ["t-1", "t-2", "t-3"])
        first = objs[0]["entry_id"]
        objs = self.json_lines(self.tail("--json", "--since", first))
        self.assertEqual([o["id"] for o in objs], ["t-2", "t-3"])

    def test_bad_arguments(self):
        p = run_ctl(self.conf, "tail", "nosuchstream")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, "")
        self.assertIn("unknown stream 'nosuchstream'", p.stderr)
        p = run_ctl(self.conf, "tail", "--bogus")
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: batonctl tail", p.stderr)

    def test_json(self):
        objs = self.json_lines(self.tail("--json"))
        self.assertEqual([o["id"] for o in objs], ["t-1", "t-2", "t-3"])
        for o in objs:
            self.assertLessEqual({"stream", "entry_id", "v", "type", "lead",
                                  "source", "id", "at", "data"}, set(o), o)
            self.assertEqual(o["stream"], "events")
            self.assertEqual(o["v"], "1")
        self.assertEqual(objs[0]["at"], "1763900000000")
        self.assertEqual(objs[0]["data"],
                         {"activity": "form_submit",
                          "email": "ada@example.com",
                          "form": "demo-request"})
        self.assertEqual(objs[1]["type"], "lead.upserted")
        self.assertEqual(objs[1]["source"], "signup")
        data = objs[1]["data"]
        if isinstance(data, str):
            data = json.loads(data)
        self.assertEqual(data.get("first_name"), "Grace")
        self.assertEqual(data.get("company"), "Navy")

    def test_lead_filter(self):
        objs = self.json_lines(self.tail("--json", "--lead",
                                         "Grace@Example.com"))
        self.assertEqual([o["id"] for o in objs], ["t-2", "t-3"])
        out = self.tail("--lead", "ada@example.com")
        self.assertNotIn("grace@example.com", out)
        self.assertIn("ada@example.com", out)
        self.assertEqual(self.tail("--lead", "nobody@example.com").strip(),
                         "")

    def test_type_filter(self):
        objs = self.json_lines(self.tail("--json", "--type", "lead.act*"))
        self.assertEqual([o["id"] for o in objs], ["t-1", "t-3"])
        objs = self.json_lines(self.tail("--json", "--type",
                                         "lead.upserted"))
        self.assertEqual([o["id"] for o in objs], ["t-2"])
        objs = self.json_lines(self.tail("--json", "--type", "deal.*"))
        self.assertEqual(objs, [])

    def test_follow(self):
        p = self.spawn([BATONCTL, "-c", self.conf, "tail", "-f", "--json"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, bufsize=1)
        lines = queue.Queue()

        def reader():
            for line in p.stdout:
                lines.put(line)
            lines.put(None)
        threading.Thread(target=reader, daemon=True).start()

        def next_id(timeout):
            line = lines.get(timeout=timeout * harness.SLOW)
            if line is None:
                raise AssertionError("batonctl tail -f ended: "
                                     + p.stderr.read())
            return json.loads(line)["id"]

        # Give it time to print the backlog (if it does) and start
        # blocking; then a new event must appear.
        seen = []
        try:
            while True:
                seen.append(next_id(2))
        except queue.Empty:
            pass
        self.assertIn(seen, ([], ["t-1", "t-2", "t-3"]))
        r = self.b.post("website", event("t-new", email="new@example.com"))
        self.assertEqual(r.status, 200)
        self.assertEqual(next_id(10), "t-new")
        p.send_signal(signal.SIGINT)
        rc = p.wait(5 * harness.SLOW)
        self.assertIn(rc, (0, 130, -signal.SIGINT), p.stderr.read())


if __name__ == "__main__":
    harness.main()
