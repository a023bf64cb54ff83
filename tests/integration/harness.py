"""harness.py - what every integration test needs to drive real processes.

Standard library only (Python 3.11).  A test case derived from BatonCase
gets, per test method, a private temporary directory holding:

  * a redis-server on a unix socket (optionally TCP on a free loopback
    port), started and stopped by class Redis, with a minimal RESP client
    (class Resp) to look at what batond wrote;
  * a batond.conf (mode 0600) written from Python dicts (write_conf);
  * a batond process (class Batond) started with $BATOND, optionally under
    $BATON_WRAPPER (e.g. "valgrind --error-exitcode=99 --leak-check=full"),
    its stderr captured to a file and printed when the test fails;
  * HTTP helpers (http.client) that sign bodies with X-Baton-Signature.

Everything is cleaned up after each test, pass or fail: processes killed,
the directory removed.  main() runs the module's tests with unittest and
prints a final "N passed, N failed" line; its exit code is ctest's verdict.

Environment: BATOND, BATONCTL, REDIS_SERVER (default: from PATH),
BATON_SOURCE_DIR, BATON_WRAPPER, BATON_KEEP_TMP=1 (keep the directory).
"""

import hashlib
import hmac
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SOURCE_DIR = os.environ.get(
    "BATON_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BATOND = os.environ.get("BATOND", "batond")
BATONCTL = os.environ.get("BATONCTL", "batonctl")
REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")
WRAPPER = shlex.split(os.environ.get("BATON_WRAPPER", ""))
# Everything takes longer under valgrind.
SLOW = 5.0 if WRAPPER else 1.0

SECRET = "integration-secret-0123456789"
SIGTERM = signal.SIGTERM

# The webhook connector most tests use: one event per request.
WEBSITE = {
    "type": "webhook",
    "role": "marketing",
    "secret": SECRET,
    "event": "lead.activity",
    "map.email": "contact.email",
    "map.activity": "kind",
    "map.form": "form.name",
    "map.id": "id",
    "map.at": "ts",
}

# The same with an array of events under "events".
BATCH = dict(WEBSITE, items="events")

STREAM_FIELDS = {"v", "type", "lead", "source", "id", "at", "data", "seq"}

# What ASan, LSan, UBSan and valgrind print when they find something.
SANITIZER_REPORT = re.compile(
    r"ERROR: (Address|Leak|Memory|Thread)Sanitizer.*|"
    r"^.*runtime error: .*$|"
    r"==\d+== (Invalid (read|write|free)|.*definitely lost: [1-9]).*",
    re.M)


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value (returned) or timeout
    seconds pass (AssertionError naming `what`)."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout * SLOW:.1f}s waiting "
                         f"for {what} (last: {last!r})")


def sign(body, secret=SECRET):
    """The X-Baton-Signature value for a raw body."""
    if isinstance(body, str):
        body = body.encode()
    return "sha256=" + hmac.new(secret.encode(), body,
                                hashlib.sha256).hexdigest()


def event(eid, email="ada@example.com", kind="page_view", ts=1763900000,
          **extra):
    """One source event in the shape WEBSITE maps."""
    ev = {"id": eid, "kind": kind, "ts": ts, "contact": {"email": email}}
    ev.update(extra)
    return ev


# ---- RESP ---------------------------------------------------------------

class RespError(Exception):
    """An error reply (-ERR ...) from Redis."""


class Resp:
    """A minimal blocking RESP2 client: command() sends one command and
    returns its reply (str for simple strings and bulk strings, int, None
    for nil, list for arrays, RespError instances inside arrays; a
    top-level error reply is raised)."""

    def __init__(self, unix_path=None, host=None, port=None, timeout=5.0):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            addr = unix_path
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            addr = (host, port)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(addr)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            return self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._reply() for _ in range(n)]
        raise ValueError(f"unexpected RESP line {line!r}")

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        reply = self._reply()
        if isinstance(reply, RespError):
            raise reply
        return reply


def parse_entries(reply):
    """XRANGE's reply as [(entry_id, {field: value})]."""
    entries = []
    for entry_id, flat in reply or []:
        fields = {}
        for i in range(0, len(flat), 2):
            fields[flat[i]] = flat[i + 1]
        entries.append((entry_id, fields))
    return entries


# ---- processes ----------------------------------------------------------

def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """Signals proc, waits up to timeout, then kills it.  Returns the exit
    status (None when it was not started)."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        except ProcessLookupError:
            pass
    return proc.returncode


class Redis:
    """A private redis-server in dir: unix socket dir/redis.sock, TCP on a
    free loopback port when tcp=True.  appendonly=True makes every write
    durable before it is acknowledged (appendfsync always), so a SIGKILL
    loses nothing that was answered."""

    def __init__(self, dir, tcp=False, appendonly=False):
        self.dir = dir
        self.sock = os.path.join(dir, "redis.sock")
        self.port = free_port() if tcp else 0
        self.appendonly = appendonly
        self.log = os.path.join(dir, "redis.log")
        self.proc = None
        os.makedirs(os.path.join(dir, "redis-data"), exist_ok=True)

    @property
    def url(self):
        return "unix://" + self.sock

    @property
    def tcp_url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        args = [REDIS_SERVER,
                "--port", str(self.port), "--bind", "127.0.0.1",
                "--unixsocket", self.sock, "--unixsocketperm", "700",
                "--dir", os.path.join(self.dir, "redis-data"),
                "--save", "", "--daemonize", "no",
                "--logfile", self.log]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited: "
                                     + self.log_text())
            try:
                with self.client(timeout=1) as c:
                    # Loading the AOF answers -LOADING; wait past it.
                    return c.command("PING") == "PONG"
            except (OSError, RespError):
                return False

        wait_until(up, 10, what="redis-server to answer PING")
        return self

    def client(self, timeout=5.0):
        return Resp(unix_path=self.sock, timeout=timeout)

    def command(self, *args):
        with self.client() as c:
            return c.command(*args)

    def kill(self, sig=signal.SIGKILL):
        stop_process(self.proc, sig)
        self.proc = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.command("SHUTDOWN", "NOSAVE")
            except (OSError, RespError):
                pass
        stop_process(self.proc, signal.SIGTERM, 5)
        self.proc = None

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # Assertions' helpers.

    def entries(self, stream="baton:events"):
        return parse_entries(self.command("XRANGE", stream, "-", "+"))

    def xlen(self, stream="baton:events"):
        return self.command("XLEN", stream)


def conf_text(daemon=None, redis=None, connectors=None, extra=""):
    """batond.conf text: [daemon], [redis], then one [connector NAME] per
    item of connectors (NAME -> {key: value}; a list value repeats the
    key).  None values are left out."""
    lines = []

    def section(header, keys):
        lines.append(header)
        for k, v in keys.items():
            if v is None:
                continue
            for one in (v if isinstance(v, list) else [v]):
                lines.append(f"{k} = {one}")
        lines.append("")

    section("[daemon]", daemon or {})
    section("[redis]", redis or {})
    for name, keys in (connectors or {}).items():
        section(f"[connector {name}]", keys)
    return "\n".join(lines) + extra


def write_file(path, text, mode=0o600):
    """Writes text to path (replacing it atomically) with mode."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return path


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # lower-cased names
        self.body = body                # bytes

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:200]!r}>"


class Batond:
    """One batond process on a free loopback port."""

    def __init__(self, dir, redis_url, connectors=None, daemon=None,
                 redis=None, env=None):
        self.dir = dir
        self.port = free_port()
        self.conf = os.path.join(dir, "batond.conf")
        self.stderr_path = os.path.join(dir, "batond.stderr")
        self.redis_url = redis_url
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.write_conf(connectors, daemon, redis)

    def write_conf(self, connectors=None, daemon=None, redis=None,
                   extra="", mode=0o600):
        d = {"listen": f"127.0.0.1:{self.port}", "log_level": "debug"}
        d.update(daemon or {})
        # A short backoff cap keeps outage tests quick.
        r = {"url": self.redis_url, "prefix": "baton",
             "reconnect_max": "1s"}
        r.update(redis or {})
        write_file(self.conf, conf_text(d, r, connectors, extra), mode)

    def start(self, wait=True):
        self.stderr_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(WRAPPER + [BATOND, "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.stderr_file,
                                     stderr=self.stderr_file,
                                     env=self.env)
        if wait:
            self.wait_healthy()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_healthy(self, timeout=15):
        def ok():
            if not self.alive():
                raise AssertionError("batond exited (status %s) before "
                                     "/healthz answered 200"
                                     % self.proc.returncode)
            try:
                return self.get("/healthz", timeout=2).status == 200
            except OSError:
                return False
        wait_until(ok, timeout, what="batond /healthz 200")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=SIGTERM, timeout=10):
        rc = stop_process(self.proc, sig, timeout * SLOW)
        if getattr(self, "stderr_file", None):
            self.stderr_file.close()
            self.stderr_file = None
        return rc

    def wait_exit(self, timeout):
        """Waits for the process to exit; its status, or AssertionError."""
        try:
            return self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"batond still running after "
                                 f"{timeout * SLOW:.1f}s") from None

    def log_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # HTTP.

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout * SLOW)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            return Response(r.status, hdrs, data)
        finally:
            conn.close()

    def get(self, path, timeout=10):
        return self.request("GET", path, timeout=timeout)

    def post(self, connector, body, secret=SECRET, signature=None,
             headers=None, timeout=10):
        """POSTs body (a dict/list is JSON-encoded) to /hooks/connector,
        signed with secret unless signature is given (False: no
        header)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        h = {"Content-Type": "application/json"}
        if signature is None:
            h["X-Baton-Signature"] = sign(body, secret)
        elif signature is not False:
            h["X-Baton-Signature"] = signature
        h.update(headers or {})
        return self.request("POST", "/hooks/" + connector, body, h, timeout)


def run_ctl(conf, *args, timeout=20, input=None):
    """Runs batonctl -c conf ARGS; returns CompletedProcess (text)."""
    return subprocess.run([BATONCTL, "-c", conf, *args], capture_output=True,
                          text=True, timeout=timeout * SLOW, input=input,
                          stdin=None if input is not None
                          else subprocess.DEVNULL)


class Load:
    """`threads` threads posting distinct events until stop(); results are
    (id, status, monotonic time answered); status -1 is a connection
    error, with the exception kept in errors."""

    def __init__(self, b, prefix, threads=4, connector="website"):
        self.b = b
        self.prefix = prefix
        self.connector = connector
        self.results = []
        self.errors = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,),
                                         daemon=True)
                        for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def run(self, n):
        seq = 0
        while not self.done.is_set():
            eid = f"{self.prefix}-{n}-{seq}"
            seq += 1
            try:
                r = self.b.post(self.connector, event(
                    eid, email=f"load{n}@example.com"), timeout=15)
                status = r.status
            except OSError as e:
                status = -1
                with self.lock:
                    self.errors.append((eid, repr(e)))
            with self.lock:
                self.results.append((eid, status, time.monotonic()))
            if status in (503, -1):
                time.sleep(0.02)

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(30)
            if t.is_alive():
                raise AssertionError("a load thread is stuck")

    def count(self, pred):
        with self.lock:
            return sum(1 for r in self.results if pred(r))


    def acked(self):
        """Ids answered 2xx."""
        with self.lock:
            return {eid for eid, st, _ in self.results if st in (200, 204)}


# ---- the test case ------------------------------------------------------

class BatonCase(unittest.TestCase):
    """Each test gets self.tmp, and through start_redis()/start_batond()
    processes that are stopped and removed afterwards whatever happens.
    On failure the captured stderr of batond and the redis log are
    printed."""

    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="baton-it-")
        self.redis = None
        self.batonds = []
        self.extra_procs = []
        self._logs = []
        # A cleanup, unlike tearDown, also runs when setUp fails.
        self.addCleanup(self._cleanup)

    def start_redis(self, **kw):
        self.redis = Redis(self.tmp, **kw).start()
        return self.redis

    def start_batond(self, connectors=None, daemon=None, redis=None,
                     env=None, wait=True, dir=None):
        if self.redis is None:
            self.start_redis()
        d = dir or self.tmp
        os.makedirs(d, exist_ok=True)
        b = Batond(d, self.redis.url, connectors, daemon, redis, env)
        self.batonds.append(b)
        return b.start(wait)

    def spawn(self, args, **kw):
        """A helper process killed at cleanup."""
        p = subprocess.Popen(args, **kw)
        self.extra_procs.append(p)
        return p

    def _cleanup(self):
        for p in self.extra_procs:
            stop_process(p, signal.SIGKILL)
            for s in (p.stdout, p.stderr):
                if s is not None:
                    s.close()
        for b in self.batonds:
            rc = b.stop()
            log = b.log_text()
            self._logs.append((f"batond stderr (exit {rc})", log))
            # Every batond must end well: exit 0 on SIGTERM, no
            # sanitizer or valgrind report (valgrind: --error-exitcode).
            if rc not in (None, 0):
                self._teardown_problems.append(
                    f"batond exited with status {rc} (0 expected; -9: it "
                    f"ignored SIGTERM; 99 under BATON_WRAPPER: memory "
                    f"errors)")
            m = SANITIZER_REPORT.search(log)
            if m:
                self._teardown_problems.append(
                    f"batond's stderr holds a report: {m.group(0)!r}")
        if self.redis is not None:
            self.redis.stop()
            self._logs.append(("redis log", self.redis.log_text()))
        if os.environ.get("BATON_KEEP_TMP") == "1":
            print(f"kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        self._teardown_problems = []
        super().run(result)
        if self._teardown_problems and \
                len(result.failures) + len(result.errors) == before:
            try:
                raise AssertionError("; ".join(self._teardown_problems))
            except AssertionError:
                result.addFailure(self, sys.exc_info())
        if len(result.failures) + len(result.errors) > before:
            for title, text in getattr(self, "_logs", []):
                tail = text[-20000:]
                sys.stderr.write(f"\n----- {self.id()}: {title} -----\n"
                                 f"{tail}\n----- end -----\n")
        return result

    # Assertions.

    def assert2xx(self, r, msg=None):
        self.assertIn(r.status, (200, 204), msg or repr(r))

    def assert_error(self, r, status, pattern):
        """r has status and a JSON body {"error": "..."} matching the
        regex pattern (case-insensitive)."""
        self.assertEqual(r.status, status, repr(r))
        self.assertTrue(r.headers.get("content-type", "")
                        .startswith("application/json"), r.headers)
        body = r.json()
        self.assertIsInstance(body, dict, repr(r))
        self.assertIn("error", body)
        self.assertIsInstance(body["error"], str)
        self.assertRegex(body["error"], "(?i)" + pattern)

    def stream_ids(self, stream="baton:events"):
        return [f["id"] for _, f in self.redis.entries(stream)]


def main():
    """Runs the calling module's tests; prints "N passed, N failed";
    exits 0 only when every test passed."""
    prog = unittest.TestProgram(module="__main__", exit=False, verbosity=2)
    r = prog.result
    failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    passed = r.testsRun - failed - len(r.skipped)
    print(f"{passed} passed, {failed} failed, {len(r.skipped)} skipped",
          flush=True)
    sys.exit(0 if failed == 0 and r.testsRun > 0 else 1)


# Re-exported for tests.
__all__ = ["BatonCase", "Batond", "Redis", "Resp", "RespError", "SECRET",
           "WEBSITE", "BATCH", "STREAM_FIELDS", "event", "sign", "main",
           "wait_until", "write_file", "conf_text", "run_ctl", "free_port",
           "Load", "BATONCTL", "BATOND", "SLOW"]
