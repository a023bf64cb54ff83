"""test_config_check.py - `batond --check -c FILE`: silent exit 0 for a good
config; exit 1 and one `FILE:LINE: message` per problem otherwise."""

import os
import re
import subprocess

import harness
from harness import BATOND, BatonCase, SLOW, write_file

GOOD = """\
# a complete, valid configuration
[daemon]
listen = 127.0.0.1:18787
log_level = info
max_body = 1MiB

[redis]
url = unix:///run/redis/redis.sock
prefix = baton
stream_maxlen = 1000000

[connector website]
type = webhook
role = marketing
secret = an-inline-secret
items = events
event = lead.activity
map.email = contact.email
map.activity = kind
map.form = form.name
map.id = id
map.at = ts
"""


def line_of(text, needle, nth=1):
    """1-based line number of the nth line containing needle."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"{needle!r} not in config")


class ConfigCheck(BatonCase):

    def check(self, text, mode=0o600, name="batond.conf", env=None):
        path = write_file(os.path.join(self.tmp, name), text, mode)
        e = dict(os.environ)
        e.pop("BATON_TEST_SECRET", None)
        e.update(env or {})
        p = subprocess.run(harness.WRAPPER + [BATOND, "--check", "-c", path],
                           capture_output=True, text=True, env=e,
                           stdin=subprocess.DEVNULL, timeout=30 * SLOW)
        return p.returncode, p.stdout + p.stderr, path

    def assert_problem(self, text, needle, pattern, mode=0o600, nth=1,
                       env=None):
        """--check exits 1 and prints PATH:LINE: message, LINE being the
        line holding needle, message matching pattern."""
        rc, out, path = self.check(text, mode, env=env)
        self.assertEqual(rc, 1, out)
        line = line_of(text, needle, nth)
        prefix = f"{path}:{line}: "
        hits = [ln for ln in out.splitlines() if ln.startswith(prefix)]
        self.assertTrue(hits, f"no line starting {prefix!r} in:\n{out}")
        self.assertTrue(any(re.search("(?i)" + pattern, h) for h in hits),
                        f"no message matching {pattern!r} in:\n{out}")
        return out

    def test_good_config_silent(self):
        rc, out, _ = self.check(GOOD)
        self.assertEqual((rc, out), (0, ""))

    def test_env_secret_not_inline_any_mode(self):
        text = GOOD.replace("secret = an-inline-secret",
                            "secret = env:BATON_TEST_SECRET")
        rc, out, _ = self.check(text, mode=0o644,
                                env={"BATON_TEST_SECRET": "from-env"})
        self.assertEqual((rc, out), (0, ""))

    def test_env_secret_unset(self):
        text = GOOD.replace("secret = an-inline-secret",
                            "secret = env:BATON_TEST_SECRET")
        self.assert_problem(text, "secret = env:", "BATON_TEST_SECRET")

    def test_unknown_key(self):
        text = GOOD.replace("max_body = 1MiB",
                            "max_body = 1MiB\nmax_bodi = 2MiB")
        self.assert_problem(text, "max_bodi", r"unknown.*max_bodi|"
                            r"max_bodi.*unknown")
        text = GOOD.replace("map.at = ts", "map.at = ts\nsecrett = x")
        self.assert_problem(text, "secrett", r"unknown.*secrett|"
                            r"secrett.*unknown")

    def test_bad_duration(self):
        text = GOOD.replace("max_body = 1MiB",
                            "max_body = 1MiB\nshutdown_timeout = 10 parsecs")
        self.assert_problem(text, "shutdown_timeout", r"duration|10 parsecs")
        text = GOOD.replace("max_body = 1MiB",
                            "max_body = 1MiB\nshutdown_timeout = 5x")
        self.assert_problem(text, "shutdown_timeout", r"duration|5x")

    def test_bad_size(self):
        text = GOOD.replace("max_body = 1MiB", "max_body = lots")
        self.assert_problem(text, "max_body", r"size|lots")

    def test_missing_secret_without_insecure(self):
        text = GOOD.replace("secret = an-inline-secret\n", "")
        self.assert_problem(text, "[connector website]", r"secret")
        # insecure = yes makes it acceptable.
        rc, out, _ = self.check(text.replace("role = marketing",
                                             "role = marketing\n"
                                             "insecure = yes"))
        self.assertEqual(rc, 0, out)

    def test_inline_secret_world_readable(self):
        out = self.assert_problem(GOOD, "secret = an-inline", r"secret",
                                  mode=0o644)
        self.assertRegex(out, r"(?i)group|other|readable|mode|0?644|chmod")
        rc, out, _ = self.check(GOOD, mode=0o640)
        self.assertEqual(rc, 1, out)
        rc, out, _ = self.check(GOOD, mode=0o600)
        self.assertEqual((rc, out), (0, ""))

    def test_unknown_connector_type(self):
        text = GOOD.replace("type = webhook", "type = nosuch")
        self.assert_problem(text, "type = nosuch", r"nosuch")

    def test_bad_listen(self):
        for bad in ("nonsense", "127.0.0.1:99999", "127.0.0.1:",
                    "127.0.0.1:http"):
            with self.subTest(bad):
                text = GOOD.replace("listen = 127.0.0.1:18787",
                                    "listen = " + bad)
                self.assert_problem(text, "listen =", r"listen|address|port")

    def test_every_problem_reported(self):
        text = GOOD.replace("max_body = 1MiB", "max_body = lots\nfoo = 1")
        text = text.replace("type = webhook", "type = nosuch")
        rc, out, path = self.check(text)
        self.assertEqual(rc, 1, out)
        for needle in ("max_body", "foo = 1", "type = nosuch"):
            self.assertIn(f"{path}:{line_of(text, needle)}: ", out)

    def test_missing_file(self):
        path = os.path.join(self.tmp, "absent.conf")
        p = subprocess.run([BATOND, "--check", "-c", path],
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=30 * SLOW)
        self.assertEqual(p.returncode, 1)
        self.assertIn(path, p.stdout + p.stderr)


if __name__ == "__main__":
    harness.main()
