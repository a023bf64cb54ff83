"""benchlib.py - what the Python drivers of tests/bench share: the few
pieces that are the same in each (handoff_load.py, hubspot_webhook_load.py
and the driver inside rules_worker.sh), kept here so that a fix to one is
a fix to all.  Blocking where a bench may block (Redis, the simulators'
control calls), asyncio where requests are timed.

  die            the benches' error exit ("bench: ..." on stderr, status 1)
  pct            nearest-rank percentile
  Redis          just enough RESP over a unix socket, pipelined
  SimClient      keep-alive JSON calls to a simulator, /__sim/ control
  BatondHook     batond's address, one connector's hook path, /metrics
  mean_ms        a histogram's mean between two /metrics readings
  read_response  one HTTP/1.1 answer from an asyncio stream
  Pacer          request numbers handed to concurrent senders on schedule

Only the standard library; the drivers import it from their own directory.
"""

import asyncio
import http.client
import json
import math
import re
import socket
import sys
import urllib.parse


def die(msg):
    """Prints "bench: msg" on stderr and exits 1."""
    print(f"bench: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def pct(sorted_vals, p):
    """Nearest-rank percentile of an ascending list (nan when empty)."""
    if not sorted_vals:
        return float("nan")
    k = max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1)
    return sorted_vals[k]


# -------------------------------------------------------------------- redis

class Redis:
    """Just enough RESP over a Redis unix socket: pipelined commands,
    replies as str, int, None or lists of them; a Redis error or a closed
    connection ends the bench (die)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = b""

    @staticmethod
    def pack(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _more(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            die("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        k, rest = line[:1], line[1:]
        if k == b"-":
            die("redis: " + rest.decode())
        if k == b"+":
            return rest.decode()
        if k == b":":
            return int(rest)
        if k == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._more()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if k == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        die(f"redis: bad reply {line!r}")

    def pipeline(self, cmds):
        """Sends every command (a sequence of arguments) at once; returns
        their replies in order."""
        self.s.sendall(b"".join(self.pack(*c) for c in cmds))
        return [self.reply() for _ in cmds]

    def command(self, *args):
        return self.pipeline([args])[0]


# ---------------------------------------------------------------- simulator

class SimClient:
    """Blocking calls to a simulator over one keep-alive connection, made
    again once on a fresh connection when the old one fails."""

    def __init__(self, url, timeout):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.timeout = timeout
        self.conn = None

    def call(self, method, path, body=None, headers=None):
        """(status, answer): a dict or list body is sent as JSON, bytes as
        they are; the answer is parsed JSON, the raw bytes when it is not
        JSON, None when empty."""
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body, h)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        try:
            out = json.loads(data) if data else None
        except ValueError:
            out = data
        return r.status, out

    def control(self, method, name, body=None):
        """The simulator's control API, /__sim/NAME; anything but 200 ends
        the bench."""
        st, out = self.call(method, "/__sim/" + name, body)
        if st != 200:
            die(f"simulator {method} /__sim/{name}: {st} {out!r}")
        return out


# ------------------------------------------------------------------- batond

class BatondHook:
    """batond at HOST:PORT (--batond) and the hook path of one of its
    webhook connectors."""

    def __init__(self, addr, connector):
        host, _, port = addr.rpartition(":")
        self.host, self.port = host, int(port)
        self.path = f"/hooks/{connector}"

    def metrics(self):
        """batond's /metrics: {"baton_name{labels}": value}."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
        finally:
            c.close()
        out = {}
        for line in text.splitlines():
            m = re.match(r'^(baton_\w+(?:\{[^}]*\})?) (\S+)$', line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out


def mean_ms(before, after, name):
    """(mean in ms, count) of histogram `name` between two metrics()
    readings, every series of the name summed; (nan, 0) when none."""
    def tot(d, suffix):
        return sum(v for k, v in d.items() if k.startswith(name + suffix))
    s = tot(after, "_sum") - tot(before, "_sum")
    c = tot(after, "_count") - tot(before, "_count")
    return (s / c * 1000, int(c)) if c else (float("nan"), 0)


# ------------------------------------------------------------- timed sends

async def read_response(reader):
    """One HTTP/1.1 answer with a Content-Length (or none): (status, body,
    whether the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, close = 0, False
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "connection" and v.strip().lower() == "close":
            close = True
    body = await reader.readexactly(length) if length else b""
    return status, body, close


class Pacer:
    """Hands the numbers 0..n-1, in order, to concurrent senders, each once
    it is due on a schedule of `rate` a second from the Pacer's making
    (rate 0: at once); `late` is the worst lateness seen, in seconds.
    Made inside the running event loop."""

    def __init__(self, n, rate):
        self.loop = asyncio.get_running_loop()
        self.n, self.rate = n, rate
        self.next, self.late = 0, 0.0
        self.m0 = self.loop.time()

    async def take(self):
        """The next number once it is due; None when all are taken."""
        if self.next >= self.n:
            return None
        i = self.next
        self.next += 1
        if self.rate > 0:
            due = self.m0 + i / self.rate
            d = due - self.loop.time()
            if d > 0:
                await asyncio.sleep(d)
            self.late = max(self.late, self.loop.time() - due)
        return i
