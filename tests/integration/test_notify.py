"""test_notify.py - batond speaks systemd's notify protocol (sd_notify(3))
to a NOTIFY_SOCKET the test owns, as under systemd/batond.service:

  * READY=1 with a STATUS= line once it listens, and STATUS= lines that
    follow its state (connectors up, redis, the rules group's lag);
  * RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC, which Python's
    time.monotonic() reads too) then READY=1 around every SIGHUP, also
    when the new configuration is refused;
  * WATCHDOG=1 every half WATCHDOG_USEC from the loop, none while the
    process is stopped (SIGSTOP) and again after SIGCONT; none at all when
    WATCHDOG_PID names another process;
  * STOPPING=1 on SIGTERM, then exit 0;
  * an abstract socket ("@name") works as well as a path.

The last test runs batond under PR_SET_MDWE (what the unit's
MemoryDenyWriteExecute= enforces): PCRE2's JIT cannot get executable
memory there, and the `~` rules must still match through the interpreter.
"""

import ctypes
import os
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import BatonCase, WEBSITE, wait_until
import rules_helpers as rh


class Listener:
    """A unix datagram socket standing in for systemd's: every datagram
    is kept with the monotonic time it arrived."""

    def __init__(self, path=None, abstract=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract is not None:
            self.sock.bind("\0" + abstract)
            self.address = "@" + abstract
        else:
            self.sock.bind(path)
            self.address = path
        self.sock.settimeout(0.1)
        self.msgs = []                  # (monotonic, {var: value}, text)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode()
            fields = {}
            for line in text.split("\n"):
                k, sep, v = line.partition("=")
                if not sep:
                    raise AssertionError(f"not VAR=value: {line!r}")
                fields[k] = v
            with self.lock:
                self.msgs.append((time.monotonic(), fields, text))

    def close(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def since(self, i):
        return self.snapshot()[i:]

    def wait(self, pred, timeout=10, start=0, what="a notification"):
        """The first message from index start on for which pred(fields)
        holds, as (index, time, fields)."""
        def find():
            for i, (t, f, _) in enumerate(self.snapshot()[start:], start):
                if pred(f):
                    return (i, t, f)
            return None
        return wait_until(find, timeout, interval=0.02,
                          what=f"{what} (got {self.texts(start)!r})")

    def texts(self, start=0):
        return [m[2] for m in self.snapshot()[start:]]

    def dog_times(self):
        return [t for t, f, _ in self.snapshot() if f.get("WATCHDOG") == "1"]


class Notify(BatonCase):

    def listen(self, **kw):
        if not kw:
            kw = {"path": os.path.join(self.tmp, "notify.sock")}
        lst = Listener(**kw)
        self.addCleanup(lst.close)
        return lst

    def start(self, lst, watchdog_usec=None, watchdog_pid=None,
              connectors=None, daemon=None):
        env = {"NOTIFY_SOCKET": lst.address}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        if watchdog_pid is not None:
            env["WATCHDOG_PID"] = str(watchdog_pid)
        return self.start_batond(connectors or {"website": WEBSITE},
                                 daemon=daemon, env=env)

    def test_ready_status_reload_stopping(self):
        lst = self.listen()
        self.start_redis()
        b = self.start(lst)
        i, _, first = lst.wait(lambda f: "READY" in f, what="READY=1")
        self.assertEqual(i, 0, f"READY=1 is not the first message: "
                         f"{lst.texts()!r}")
        self.assertEqual(first["READY"], "1")
        self.assertRegex(first.get("STATUS", ""),
                         r"^1 connector (up|not all up \(.*\)), "
                         r"redis (up|down), rules lag (\d+|unknown)$")
        # Once Redis answers and the rules group has been sampled, the
        # status line says so.
        lst.wait(lambda f: f.get("STATUS") ==
                 "1 connector up, redis up, rules lag 0", timeout=15,
                 what="STATUS with redis up and lag 0")

        # SIGHUP with a good configuration: RELOADING=1 + MONOTONIC_USEC,
        # then READY=1.
        b.write_conf({"website": WEBSITE,
                      "second": dict(WEBSITE, secret="second-secret")})
        n = len(lst.snapshot())
        before = time.monotonic()
        b.signal(signal.SIGHUP)
        j, _, rel = lst.wait(lambda f: "RELOADING" in f, start=n,
                             what="RELOADING=1")
        after = time.monotonic()
        self.assertEqual(rel["RELOADING"], "1")
        self.assertRegex(rel.get("MONOTONIC_USEC", ""), r"^\d+$", rel)
        usec = int(rel["MONOTONIC_USEC"])
        self.assertGreaterEqual(usec, int(before * 1e6) - 1000)
        self.assertLessEqual(usec, int(after * 1e6) + 1000)
        self.assertEqual(rel.get("STATUS"), "reloading the configuration")
        k, _, ready = lst.wait(lambda f: "READY" in f, start=j + 1,
                               what="READY=1 after the reload")
        self.assertEqual(ready, {"READY": "1",
                                 "STATUS": "configuration reloaded"})
        # No READY=1 sneaked in between.
        self.assertFalse(any("READY" in f for _, f, _ in
                             lst.snapshot()[n:k]), lst.texts(n))
        lst.wait(lambda f: f.get("STATUS", "").startswith(
            "2 connectors up, redis up"), start=k + 1,
            what="STATUS with two connectors")

        # A refused reload also ends in READY=1 (the old one runs on).
        b.write_conf({"website": dict(WEBSITE, bogus_key="1")})
        n = len(lst.snapshot())
        b.signal(signal.SIGHUP)
        j, _, _ = lst.wait(lambda f: "RELOADING" in f, start=n,
                           what="RELOADING=1 (bad config)")
        _, _, ready = lst.wait(lambda f: "READY" in f, start=j + 1,
                               what="READY=1 after the refused reload")
        self.assertEqual(ready["STATUS"], "reload refused, the running "
                         "configuration stays (see the log)")
        self.assertEqual(b.get("/healthz").status, 200)

        # SIGTERM: STOPPING=1, then exit 0; nothing after STOPPING but
        # possibly keep-alives (there is no watchdog here).
        n = len(lst.snapshot())
        b.signal(signal.SIGTERM)
        _, _, stop = lst.wait(lambda f: "STOPPING" in f, start=n,
                              what="STOPPING=1")
        self.assertEqual(stop, {"STOPPING": "1", "STATUS": "stopping"})
        self.assertEqual(b.wait_exit(10), 0)
        self.assertNotIn("WATCHDOG", "".join(lst.texts()))
        self.assertNotRegex(b.log_text(), r"NOTIFY_SOCKET")

    def test_watchdog_and_sigstop(self):
        lst = self.listen()
        self.start_redis()
        # WatchdogSec=1s: a keep-alive every 500 ms.
        b = self.start(lst, watchdog_usec=1000000, watchdog_pid=None)
        lst.wait(lambda f: "READY" in f, what="READY=1")
        t0 = time.monotonic()
        time.sleep(2.2 * harness.SLOW)
        t1 = time.monotonic()
        dogs = [t for t in lst.dog_times() if t0 <= t <= t1]
        # One per 500 ms: a late timer may bring two closer, but the
        # loop neither spins nor falls silent.
        expect = (t1 - t0) / 0.5
        self.assertGreaterEqual(len(dogs), int(expect * 0.6), lst.texts())
        self.assertLessEqual(len(dogs), int(expect) + 2, lst.texts())
        gaps = [b_ - a for a, b_ in zip(dogs, dogs[1:])]
        self.assertLess(max(gaps), 0.5 * harness.SLOW + 0.5, gaps)
        self.assertRegex(b.log_text(),
                         r"systemd watchdog: keep-alive every 500 ms")

        # A stopped loop sends nothing: this is what makes systemd
        # restart a stuck batond.
        b.signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        time.sleep(2.0)
        t_cont = time.monotonic()
        b.signal(signal.SIGCONT)
        during = [t for t in lst.dog_times()
                  if t_stop + 0.15 < t < t_cont]
        self.assertEqual(during, [], "WATCHDOG=1 while stopped")
        # And the keep-alives come back once it runs again.
        wait_until(lambda: [t for t in lst.dog_times() if t > t_cont], 3,
                   what="WATCHDOG=1 after SIGCONT")
        self.assertEqual(b.get("/healthz").status, 200)

    def test_watchdog_pid_of_another_process(self):
        # An abstract socket name, and a WATCHDOG_PID that is not ours:
        # the watchdog is not batond's business then.
        lst = self.listen(abstract=f"baton-test-{os.getpid()}-"
                          f"{time.monotonic_ns()}")
        self.start_redis()
        self.start(lst, watchdog_usec=200000, watchdog_pid=1)
        lst.wait(lambda f: "READY" in f, what="READY=1 on '@' socket")
        time.sleep(1.0)
        self.assertEqual(lst.dog_times(), [], lst.texts())

    def test_bad_notify_socket_is_logged(self):
        self.start_redis()
        b = self.start_batond({"website": WEBSITE},
                              env={"NOTIFY_SOCKET": "relative/sock"})
        self.assertIn("NOTIFY_SOCKET 'relative/sock': not an absolute "
                      "path nor an abstract name ('@...'); systemd will "
                      "not hear from batond", b.log_text())
        self.assertEqual(b.get("/healthz").status, 200)

    def test_memory_deny_write_execute(self):
        # What MemoryDenyWriteExecute=yes does to PCRE2's JIT, here with
        # the kernel's own switch: no mapping may be writable and
        # executable, so the JIT fails and regex.c interprets.
        if harness.WRAPPER:
            self.skipTest("valgrind itself needs writable executable "
                          "memory")
        PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                               ctypes.c_ulong, ctypes.c_ulong]
        probe = os.fork()
        if probe == 0:
            os._exit(0 if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN,
                                     0, 0, 0) == 0 else 1)
        if os.waitpid(probe, 0)[1] != 0:
            self.skipTest("the kernel has no PR_SET_MDWE (Linux < 6.3)")

        def mdwe():
            if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0,
                          0) != 0:
                os._exit(97)

        self.start_redis()
        rules = rh.write_rules(self.tmp, rh.SPEC_RULES)
        b = harness.Batond(self.tmp, self.redis.url, {"crm": rh.CRM},
                           daemon={"rules": rules})
        self.batonds.append(b)
        b.stderr_file = open(b.stderr_path, "ab")
        b.proc = subprocess.Popen(
            harness.WRAPPER + [harness.BATOND, "-c", b.conf],
            stdin=subprocess.DEVNULL, stdout=b.stderr_file,
            stderr=b.stderr_file, env=b.env, preexec_fn=mdwe)
        b.wait_healthy()
        # Without MDWE the JIT leaves an rwx mapping; here there is none.
        with open(f"/proc/{b.proc.pid}/maps") as f:
            rwx = [line for line in f if " rwx" in line]
        self.assertEqual(rwx, [], "a writable and executable mapping")
        rh.post(b, rh.upsert("vp@example.com", title="VP of Sales",
                             company_size=500),
                rh.upsert("x@gmail.com", title="intern"))
        rh.wait_settled(self.redis)
        vp = rh.lead(self.redis, "vp@example.com")
        gm = rh.lead(self.redis, "x@gmail.com")
        # title ~ "vp|..." (+20) and company_size >= 200 (+15);
        # email ~ "@(gmail|yahoo|hotmail)\." (-30).
        self.assertEqual(rh.num(vp["fit"]), 35, vp)
        self.assertEqual(rh.num(gm["fit"]), -30, gm)


if __name__ == "__main__":
    harness.main()
