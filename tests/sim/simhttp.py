"""simhttp.py - the HTTP plumbing every vendor simulator in tests/sim/
shares, so that each simulator file holds only its vendor's behaviour.

- SimHandler: a BaseHTTPRequestHandler speaking HTTP/1.1 that sends every
  method to handle_any(method), reads bodies (Content-Length or chunked)
  with a size limit, and can drop its connection (FIN or RST) for fault
  knobs.  A subclass sets `name` (for log lines) and implements
  handle_any() and too_large() (the vendor's own 413 answer).
- SimServer: a mixin giving a simulator start() / stop() / base_url on
  127.0.0.1 with a threaded server; the simulator sets `port`, `verbose`
  and `handler_class`, and may extend start() and stop().
- serve_until_signal(): the CLI's main loop: start, print the bound port
  on the first stdout line, stop on SIGTERM or SIGINT.
"""

import json
import signal
import socket
import struct
import sys
import time
from urllib.parse import parse_qs, urlsplit
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 5 * 1024 * 1024          # refuse request bodies above 5 MiB
DRAIN_MAX = 32 * 1024 * 1024       # ...but read (and drop) up to this


CALL_LOG_MAX = 20000               # calls each simulator keeps


def record_call(sim, entry, t_digits=6):
    """Adds a call to sim.calls (seq and t filled in; the last
    CALL_LOG_MAX kept) and counts it by status in sim.counters.  Takes
    sim.lock (a re-entrant lock)."""
    with sim.lock:
        sim.call_seq += 1
        entry = dict({"seq": sim.call_seq,
                      "t": round(time.time(), t_digits)}, **entry)
        sim.calls.append(entry)
        if len(sim.calls) > CALL_LOG_MAX:
            del sim.calls[:len(sim.calls) - CALL_LOG_MAX]
        sim.counters["calls"] += 1
        key = str(entry["status"])
        sim.counters["by_status"][key] = \
            sim.counters["by_status"].get(key, 0) + 1
        return entry


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body leave in two writes; with
    # Nagle the body waited for the client's delayed ACK of the headers,
    # about 40 ms on every keep-alive response, which no real server adds.
    disable_nagle_algorithm = True
    name = "sim"        # prefix of log lines
    sim = None          # the simulator, set per server

    def handle(self):
        # A client that hangs up (a timeout, batond cancelling calls on
        # stop) is what vendors see every day, not a simulator error.
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True

    @staticmethod
    def control_request(path, query, body):
        """(name, JSON body or {}, query) of a /__sim/ control call;
        ValueError when the body is not JSON."""
        data = {}
        if body:
            try:
                data = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"control body: {e}")
        return path[len("/__sim/"):].strip("/"), data, parse_qs(query)

    def log_message(self, fmt, *args):
        if self.sim.verbose:
            sys.stderr.write("%s: %s - %s\n" %
                             (self.name, self.address_string(), fmt % args))

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def do_HEAD(self):
        self.handle_any("HEAD")

    def handle_any(self, method):
        raise NotImplementedError

    def take_request(self, method, control_error, send):
        """What every simulator does first with a request: reads the
        body (a refused one is logged 413), answers /__sim/ control
        requests (control_error, the simulator's API error class, and
        bad arguments become error answers through send(status, body)),
        and applies the injected latency and dropped connections.
        Returns (path, query, body, fault) for the simulator to go on
        with, or None when the request was dealt with here."""
        sim = self.sim
        parts = urlsplit(self.path)
        path, query = parts.path, parts.query
        body = self.read_body()
        if body is None:
            sim.log_call(method, path, query, 413)
            return None
        if path.startswith("/__sim/") or path == "/__sim":
            try:
                self.control(method, path, query, body)
            except control_error as e:
                send(e.status, e.body)
            except (ValueError, TypeError, KeyError) as e:
                send(400, {"error": str(e)})
            return None
        fault, latency = sim.take_fault(method, path)
        if latency:
            time.sleep(latency)
        if fault and fault[0] == "drop":
            sim.log_call(method, path, query, 0, "dropped")
            self.drop(fault[1])
            return None
        return path, query, body, fault

    def too_large(self):
        raise NotImplementedError

    def read_body(self):
        """The request body, or None after answering 413."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    size = 0
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    break
                if len(out) + size > MAX_BODY:
                    self.too_large()
                    return None
                out += self.rfile.read(size)
                self.rfile.readline(16)
            return bytes(out)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        if n > MAX_BODY:
            # Read and discard a moderately oversized body first, so that
            # a client still sending it sees the 413 rather than EPIPE.
            left = n if n <= DRAIN_MAX else 0
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
            self.too_large()
            return None
        return self.rfile.read(n) if n > 0 else b""

    def drop(self, mode):
        """Closes without answering: mode "reset" sends an RST."""
        self.close_connection = True
        try:
            if mode == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET,
                                           socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class SimServer:
    """start() / stop() / base_url for a simulator on 127.0.0.1."""

    httpd = None
    thread = None
    handler_class = SimHandler

    def start(self):
        handler = type("Handler", (self.handler_class,), {"sim": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"


def serve_until_signal(sim):
    """Starts sim, prints "listening on 127.0.0.1:PORT" and serves until
    SIGTERM or SIGINT; returns the process's exit code."""
    sim.start()
    print(f"listening on 127.0.0.1:{sim.port}", flush=True)
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    done.wait()
    sim.stop()
    return 0
