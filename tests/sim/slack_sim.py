#!/usr/bin/env python3
"""slack_sim.py - a Slack incoming-webhook simulator for baton's tests and
demo.

Speaks what an incoming webhook speaks (see tests/sim/README.md and the
vendor samples in ../shared/vendor-samples/slack):

  POST /services/T.../B.../<secret>
       Content-Type: application/json            body {text, blocks, ...}
       or application/x-www-form-urlencoded      payload=<that JSON>
       -> 200 "ok"; errors are a short plain string in the body:
          400 invalid_payload | no_text | invalid_blocks |
              invalid_blocks_format | too_many_attachments
          403 action_prohibited | invalid_token
          404 no_service | no_team | channel_not_found
          410 channel_is_archived
          429 rate_limited (+ Retry-After, per-webhook token bucket)

Test controls under /__sim/ (never faulted, never rate limited):
  GET  /__sim/state      hooks, messages, call log, counters, config, faults
  GET  /__sim/messages   accepted messages (?hook=PATH&since=SEQ)
  POST /__sim/reset      forget messages, calls, faults; config back to start
  POST /__sim/faults     fail_next, latency_ms, drop_next, archive,
                         hook_status, clear             (GET shows them)
  POST /__sim/config     rate_per_sec, burst, text_limit, ok_content_type
  POST /__sim/hooks      add or remove a webhook        (GET lists them)

Run:  python3 slack_sim.py --port 0 [--hook PATH[=#channel]]... [-v]
      first stdout line: "listening on 127.0.0.1:PORT"
Import: SlackSim(port=0).start(); sim.hook_url(); sim.fail_next(...)

Python 3.11 standard library only.
"""

import argparse
import copy
import json
import math
import os
import re
import sys
import threading
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from simhttp import (SimHandler, SimServer, record_call,
                     serve_until_signal)

MESSAGES_MAX = 50000                # accepted messages kept (all hooks)

# Documented Slack limits.
TEXT_LIMIT = 40000                  # longer `text` is truncated, not refused
MAX_ATTACHMENTS = 100               # more -> 400 too_many_attachments
MAX_BLOCKS = 50                     # more -> 400 invalid_blocks
SECTION_TEXT_MAX = 3000             # section text / field text
SECTION_FIELDS_MAX = 10
HEADER_TEXT_MAX = 150
MARKDOWN_BLOCK_MAX = 12000
BLOCK_ID_MAX = 255
BLOCK_TYPES = {"actions", "context", "divider", "file", "header", "image",
               "input", "markdown", "rich_text", "section", "video",
               "table", "context_actions"}

DEFAULT_HOOK = "/services/TBATON0001/BBATON0001/batonsimwebhooksecret001"
DEFAULT_CHANNEL = "#sales"
HOOK_RE = re.compile(r"^/services/(T[A-Z0-9]{2,})/(B[A-Z0-9]{2,})/"
                     r"([A-Za-z0-9]{8,})$")

# Hook statuses (a knob) and what a POST to such a hook answers.
HOOK_STATUS = {
    "active": None,
    "archived": (410, "channel_is_archived"),
    "prohibited": (403, "action_prohibited"),
    "revoked": (403, "invalid_token"),
    "removed": (404, "no_service"),
    "channel_not_found": (404, "channel_not_found"),
}

# Bodies of injected failures, by status (overridable per rule).
FAULT_BODY = {400: "invalid_payload", 403: "action_prohibited",
              404: "no_service", 410: "channel_is_archived",
              429: "rate_limited", 500: "rollup_error"}


def normalize_hook(s):
    """'/services/T/B/S', 'services/T/B/S', 'T/B/S' or a full URL ->
    '/services/T/B/S'; ValueError if it does not look like a webhook."""
    if not isinstance(s, str) or not s:
        raise ValueError("hook: a string expected")
    if "://" in s:
        s = urlsplit(s).path
    s = s.strip()
    if not s.startswith("/"):
        s = "/" + s
    if not s.startswith("/services/"):
        s = "/services" + s
    s = s.rstrip("/")
    if not HOOK_RE.match(s):
        raise ValueError(f"hook {s!r}: /services/T.../B.../<secret> "
                         "expected (upper-case T and B ids, an "
                         "alphanumeric secret of 8+ characters)")
    return s


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


class Reject(Exception):
    """A vendor error answer: status and the plain-text body."""

    def __init__(self, status, text, headers=None):
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers or {}


# --------------------------------------------------------------------------
# Payload validation

def text_obj_len(obj):
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return len(obj["text"])
    return None


def check_block(b):
    """None if the block is acceptable, else a short reason (for the
    simulator's log; Slack's answer is just invalid_blocks)."""
    if not isinstance(b, dict):
        return "a block must be an object"
    t = b.get("type")
    if not isinstance(t, str) or not t:
        return "a block needs a string type"
    if t not in BLOCK_TYPES:
        return f"unknown block type {t!r}"
    bid = b.get("block_id")
    if bid is not None and (not isinstance(bid, str) or
                            len(bid) > BLOCK_ID_MAX):
        return "block_id must be a string of at most 255 characters"
    if t == "section":
        text, fields = b.get("text"), b.get("fields")
        if text is None and not fields and b.get("expand") is None:
            return "section needs text or fields"
        if text is not None:
            n = text_obj_len(text)
            if n is None or n < 1 or n > SECTION_TEXT_MAX:
                return "section text: a text object of 1-3000 characters"
        if fields is not None:
            if not isinstance(fields, list) or \
                    len(fields) > SECTION_FIELDS_MAX:
                return "section fields: a list of at most 10"
            for f in fields:
                n = text_obj_len(f)
                if n is None or n > 2000:
                    return "section field: a text object of <= 2000"
    elif t == "header":
        text = b.get("text")
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            return "header text must be a plain_text object"
        n = text_obj_len(text)
        if n is None or n < 1 or n > HEADER_TEXT_MAX:
            return "header text: 1-150 characters"
    elif t == "context":
        el = b.get("elements")
        if not isinstance(el, list) or not 1 <= len(el) <= 10:
            return "context needs 1-10 elements"
    elif t == "actions":
        el = b.get("elements")
        if not isinstance(el, list) or not 1 <= len(el) <= 25:
            return "actions needs 1-25 elements"
    elif t == "image":
        if not (b.get("image_url") or b.get("slack_file")):
            return "image needs image_url or slack_file"
        if not isinstance(b.get("alt_text"), str):
            return "image needs alt_text"
    elif t == "markdown":
        if not isinstance(b.get("text"), str) or \
                len(b["text"]) > MARKDOWN_BLOCK_MAX:
            return "markdown block: text of at most 12000 characters"
    elif t == "rich_text":
        if not isinstance(b.get("elements"), list):
            return "rich_text needs elements"
    return None


def validate_payload(p, text_limit):
    """The accepted message (text as shown, truncated flag) or Reject."""
    if not isinstance(p, dict):
        raise Reject(400, "invalid_payload")
    text = p.get("text")
    if text is not None and not isinstance(text, str):
        raise Reject(400, "invalid_payload")
    blocks = p.get("blocks")
    if blocks is not None:
        if isinstance(blocks, str):     # Slack also takes a JSON string
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise Reject(400, "invalid_blocks_format")
        if not isinstance(blocks, list):
            raise Reject(400, "invalid_blocks_format")
        if len(blocks) > MAX_BLOCKS:
            raise Reject(400, "invalid_blocks",
                         {"X-Sim-Reason": "more than 50 blocks"})
        for i, b in enumerate(blocks):
            why = check_block(b)
            if why:
                raise Reject(400, "invalid_blocks",
                             {"X-Sim-Reason": f"blocks[{i}]: {why}"})
    atts = p.get("attachments")
    if atts is not None:
        if not isinstance(atts, list) or \
                not all(isinstance(a, dict) for a in atts):
            raise Reject(400, "invalid_payload")
        if len(atts) > MAX_ATTACHMENTS:
            raise Reject(400, "too_many_attachments")
        for a in atts:
            if a.get("blocks") is not None:
                ab = a["blocks"]
                if not isinstance(ab, list):
                    raise Reject(400, "invalid_blocks_format")
                for b in ab:
                    if check_block(b):
                        raise Reject(400, "invalid_blocks")
    if not text and not blocks and not atts:
        raise Reject(400, "no_text")
    shown, truncated = text, False
    if isinstance(text, str) and text_limit and len(text) > text_limit:
        shown, truncated = text[:text_limit], True
    return shown, truncated, blocks


# --------------------------------------------------------------------------

class SlackSim(SimServer):
    """The simulator: webhooks, received messages, knobs, and an HTTP
    server on 127.0.0.1."""

    def __init__(self, port=0, *, hooks=None, rate_per_sec=1.0, burst=5,
                 text_limit=TEXT_LIMIT, ok_content_type="text/html",
                 verbose=False):
        self.lock = threading.RLock()
        self.port = port
        self.verbose = verbose
        self.httpd = None
        self.thread = None
        if hooks is None:
            hooks = {DEFAULT_HOOK: DEFAULT_CHANNEL}
        elif isinstance(hooks, (list, tuple)):
            hooks = {h: None for h in hooks}
        self.base_hooks = {}
        for h, ch in hooks.items():
            h = normalize_hook(h)
            self.base_hooks[h] = ch or "#channel-" + h.split("/")[3].lower()
        self.base_config = {"rate_per_sec": float(rate_per_sec),
                            "burst": float(burst),
                            "text_limit": int(text_limit),
                            "ok_content_type": ok_content_type}
        self.reset()

    # ---------------------------------------------------------------- state

    def _new_hook(self, channel):
        return {"channel": channel, "status": "active", "received": 0,
                "rejected": 0, "rate_limited": 0, "tokens": None,
                "refill_at": None}

    def reset(self):
        """Messages, call log, counters, faults, buckets and hooks back to
        their start."""
        with self.lock:
            self.config = copy.deepcopy(self.base_config)
            self.hooks = {h: self._new_hook(ch)
                          for h, ch in self.base_hooks.items()}
            self.messages = []
            self.msg_seq = 0
            self.calls = []
            self.call_seq = 0
            self.counters = {"calls": 0, "accepted": 0, "by_status": {},
                             "faults_injected": 0, "connections_dropped": 0,
                             "rate_limited": 0, "truncated": 0}
            self.faults = {"fail": [], "latency_ms": 0, "drop": []}

    def _hook_views(self):
        out = {}
        for h, s in self.hooks.items():
            out[h] = {"url": self.base_url + h, "channel": s["channel"],
                      "status": s["status"], "received": s["received"],
                      "rejected": s["rejected"],
                      "rate_limited": s["rate_limited"],
                      "tokens": None if s["tokens"] is None
                      else round(self._tokens_now(s), 3)}
        return out

    def snapshot(self, include_messages=True, include_calls=True,
                 hook=None):
        with self.lock:
            snap = {"hooks": self._hook_views(),
                    "counters": copy.deepcopy(self.counters),
                    "config": copy.deepcopy(self.config),
                    "faults": self._faults_view(),
                    "now": round(time.time(), 6)}
            if include_messages:
                snap["messages"] = self.get_messages(hook)
            if include_calls:
                snap["calls"] = copy.deepcopy(self.calls)
            return snap

    def get_messages(self, hook=None, since=0):
        """Accepted messages, oldest first (deep copies)."""
        if hook:
            hook = normalize_hook(hook)
        with self.lock:
            return [copy.deepcopy(m) for m in self.messages
                    if m["seq"] > since and (not hook or m["hook"] == hook)]

    # ---------------------------------------------------------------- hooks

    def hook_url(self, hook=None):
        """The full URL of a webhook (default: the first configured)."""
        with self.lock:
            h = normalize_hook(hook) if hook else next(iter(self.hooks))
        return self.base_url + h

    def add_hook(self, hook, channel=None, *, permanent=False):
        h = normalize_hook(hook)
        ch = channel or "#channel-" + h.split("/")[3].lower()
        with self.lock:
            if h not in self.hooks:
                self.hooks[h] = self._new_hook(ch)
            else:
                self.hooks[h]["channel"] = ch
            if permanent:
                self.base_hooks[h] = ch
        return self.base_url + h

    def remove_hook(self, hook):
        h = normalize_hook(hook)
        with self.lock:
            self.hooks.pop(h, None)
            self.base_hooks.pop(h, None)

    def set_hook_status(self, hook, status):
        """'active', 'archived' (410 channel_is_archived), 'prohibited'
        (403 action_prohibited), 'revoked' (403 invalid_token), 'removed'
        (404 no_service), 'channel_not_found' (404)."""
        if status not in HOOK_STATUS:
            raise ValueError(f"hook status {status!r}: one of "
                             f"{', '.join(HOOK_STATUS)}")
        with self.lock:
            targets = list(self.hooks) if hook in (None, True, "*") \
                else [normalize_hook(hook)]
            for h in targets:
                if h not in self.hooks:
                    raise ValueError(f"unknown hook {h}")
                self.hooks[h]["status"] = status

    def archive(self, hook=None):
        self.set_hook_status(hook, "archived")

    def unarchive(self, hook=None):
        self.set_hook_status(hook, "active")

    # ---------------------------------------------------------------- knobs

    def fail_next(self, count=1, status=500, *, hook=None, retry_after=None,
                  body=None):
        with self.lock:
            self.faults["fail"].append({
                "count": int(count), "status": int(status),
                "hook": normalize_hook(hook) if hook else None,
                "retry_after": retry_after, "body": body})

    def set_latency(self, ms):
        with self.lock:
            self.faults["latency_ms"] = float(ms or 0)

    def drop_next(self, count=1, *, hook=None, mode="close", when="before"):
        """Close (mode 'close') or reset (mode 'reset') the connection
        without a byte of answer; when='after' the message is accepted and
        recorded first (a post the client cannot know succeeded)."""
        if mode not in ("close", "reset"):
            raise ValueError("drop mode: close or reset")
        if when not in ("before", "after"):
            raise ValueError("drop when: before or after")
        with self.lock:
            self.faults["drop"].append({
                "count": int(count), "mode": mode, "when": when,
                "hook": normalize_hook(hook) if hook else None})

    def clear_faults(self):
        """Pending faults gone, latency 0, every hook active again."""
        with self.lock:
            self.faults = {"fail": [], "latency_ms": 0, "drop": []}
            for s in self.hooks.values():
                s["status"] = "active"

    CONFIG_KEYS = {"rate_per_sec", "burst", "text_limit", "ok_content_type"}

    def set_config(self, **kw):
        bad = set(kw) - self.CONFIG_KEYS
        if bad:
            raise ValueError(f"unknown config keys: {sorted(bad)}")
        with self.lock:
            for k, v in kw.items():
                if k in ("rate_per_sec", "burst"):
                    v = float(v)
                    if v < 0:
                        raise ValueError(f"{k} must be >= 0")
                elif k == "text_limit":
                    v = int(v)
                self.config[k] = v
            if "rate_per_sec" in kw or "burst" in kw:
                for s in self.hooks.values():
                    s["tokens"] = None          # refill the buckets
            return copy.deepcopy(self.config)

    def apply_faults(self, spec):
        """The /__sim/faults JSON (see README)."""
        if not isinstance(spec, dict):
            raise ValueError("faults: a JSON object expected")
        if spec.get("clear"):
            self.clear_faults()
        fn = spec.get("fail_next")
        for r in (fn if isinstance(fn, list) else [fn] if fn else []):
            if isinstance(r, int):
                r = {"count": r}
            self.fail_next(r.get("count", 1), r.get("status", 500),
                           hook=r.get("hook"),
                           retry_after=r.get("retry_after"),
                           body=r.get("body"))
        if "latency_ms" in spec:
            self.set_latency(spec["latency_ms"])
        dn = spec.get("drop_next")
        for r in (dn if isinstance(dn, list) else [dn] if dn else []):
            if isinstance(r, int):
                r = {"count": r}
            self.drop_next(r.get("count", 1), hook=r.get("hook"),
                           mode=r.get("mode", "close"),
                           when=r.get("when", "before"))
        if "archive" in spec and spec["archive"] not in (None, False):
            self.archive(spec["archive"])
        if "unarchive" in spec and spec["unarchive"] not in (None, False):
            self.unarchive(spec["unarchive"])
        hs = spec.get("hook_status")
        for r in (hs if isinstance(hs, list) else [hs] if hs else []):
            self.set_hook_status(r.get("hook"), r.get("status", "active"))
        return self._faults_view()

    def _faults_view(self):
        with self.lock:
            return {"fail": [dict(r) for r in self.faults["fail"]
                             if r["count"] > 0],
                    "latency_ms": self.faults["latency_ms"],
                    "drop": [dict(r) for r in self.faults["drop"]
                             if r["count"] > 0],
                    "hook_status": {h: s["status"]
                                    for h, s in self.hooks.items()
                                    if s["status"] != "active"}}

    # ------------------------------------------------------------- requests

    def log_call(self, method, path, status, note=None, hook=None):
        entry = {"method": method, "path": path, "status": status}
        if note:
            entry["note"] = note
        with self.lock:
            record_call(self, entry)
            s = self.hooks.get(hook) if hook else None
            if s is not None and status not in (200, 0):
                s["rejected"] += 1

    def take_fault(self, path):
        """(('drop', mode, when) | ('fail', status, retry_after, body) |
        None, latency in seconds)."""
        with self.lock:
            f = self.faults
            latency = f["latency_ms"] / 1000.0 if f["latency_ms"] else 0.0
            for r in f["drop"]:
                if r["count"] > 0 and (not r["hook"] or r["hook"] == path):
                    r["count"] -= 1
                    self.counters["connections_dropped"] += 1
                    out = ("drop", r["mode"], r["when"])
                    break
            else:
                out = None
                for r in f["fail"]:
                    if r["count"] > 0 and (not r["hook"] or
                                           r["hook"] == path):
                        r["count"] -= 1
                        self.counters["faults_injected"] += 1
                        ra = r["retry_after"]
                        if ra is None and r["status"] in (429, 503):
                            ra = 1
                        body = r["body"] if r["body"] is not None \
                            else FAULT_BODY.get(r["status"], "")
                        out = ("fail", r["status"], ra, body)
                        break
            f["fail"] = [r for r in f["fail"] if r["count"] > 0]
            f["drop"] = [r for r in f["drop"] if r["count"] > 0]
            return out, latency

    def _tokens_now(self, s):
        rate, burst = self.config["rate_per_sec"], self.config["burst"]
        now = time.monotonic()
        if s["tokens"] is None:
            s["tokens"], s["refill_at"] = burst, now
        s["tokens"] = min(burst, s["tokens"] + (now - s["refill_at"]) * rate)
        s["refill_at"] = now
        return s["tokens"]

    def take_token(self, hook):
        """None if the post may go ahead, else the Retry-After seconds."""
        with self.lock:
            rate = self.config["rate_per_sec"]
            if rate <= 0:
                return None
            s = self.hooks[hook]
            tokens = self._tokens_now(s)
            if tokens >= 1.0:
                s["tokens"] = tokens - 1.0
                return None
            s["rate_limited"] += 1
            self.counters["rate_limited"] += 1
            return max(1, math.ceil((1.0 - tokens) / rate))

    def check_hook(self, path):
        """The hook's key, or Reject (404 no_team / no_service, or the
        answer its status knob gives)."""
        with self.lock:
            s = self.hooks.get(path)
            if s is None:
                m = HOOK_RE.match(path)
                teams = {h.split("/")[2] for h in self.hooks}
                if m and m.group(1) not in teams:
                    raise Reject(404, "no_team")
                raise Reject(404, "no_service")
            bad = HOOK_STATUS[s["status"]]
            if bad:
                raise Reject(*bad)
            return path

    def accept(self, hook, payload, shown, truncated, ctype, form):
        with self.lock:
            s = self.hooks[hook]
            self.msg_seq += 1
            now = time.time()
            msg = {"seq": self.msg_seq, "hook": hook,
                   "channel": s["channel"], "t": round(now, 6),
                   "time": iso(now), "content_type": ctype,
                   "form_encoded": form, "body": payload, "text": shown,
                   "truncated": truncated}
            self.messages.append(msg)
            if len(self.messages) > MESSAGES_MAX:
                del self.messages[:len(self.messages) - MESSAGES_MAX]
            s["received"] += 1
            self.counters["accepted"] += 1
            if truncated:
                self.counters["truncated"] += 1
            return msg


def parse_body(ctype_header, body):
    """The payload (a JSON value) of a webhook POST, or Reject."""
    ctype = (ctype_header or "").split(";")[0].strip().lower()
    if ctype == "application/json":
        raw = body
        form = False
    elif ctype == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True,
                              strict_parsing=False)
        except UnicodeDecodeError:
            raise Reject(400, "invalid_payload")
        if "payload" not in fields:
            raise Reject(400, "invalid_payload")
        raw = fields["payload"][0].encode("utf-8")
        form = True
    else:
        raise Reject(400, "invalid_payload")
    if not raw.strip():
        raise Reject(400, "invalid_payload")
    try:
        return json.loads(raw.decode("utf-8")), ctype, form
    except (UnicodeDecodeError, ValueError):
        raise Reject(400, "invalid_payload")


# --------------------------------------------------------------------------

class Handler(SimHandler):
    server_version = "SlackSim/1.0"
    name = "slack_sim"

    def too_large(self):
        self.close_connection = True
        self.send_text(413, "request_too_large")

    def send_text(self, status, text, headers=None, ctype=None):
        data = text.encode("utf-8")
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Type", ctype or
                         self.sim.config["ok_content_type"])
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.status_sent = status

    def send_json(self, status, obj):
        self.send_text(status, json.dumps(obj, separators=(",", ":")),
                       ctype="application/json; charset=utf-8")

    # ---------------------------------------------------------- dispatcher

    def handle_any(self, method):
        sim = self.sim
        self.status_sent = 0
        path = urlsplit(self.path).path
        query = urlsplit(self.path).query
        body = self.read_body()
        if body is None:
            sim.log_call(method, path, 413)
            return
        if path.startswith("/__sim/") or path == "/__sim":
            try:
                self.control(method, path, query, body)
            except (ValueError, TypeError, KeyError) as e:
                self.send_json(400, {"error": str(e)})
            return
        fault, latency = sim.take_fault(path)
        if latency:
            time.sleep(latency)
        if fault and fault[0] == "drop" and fault[2] == "before":
            sim.log_call(method, path, 0, "dropped", path)
            self.drop(fault[1])
            return
        if fault and fault[0] == "fail":
            _, status, ra, fbody = fault
            # Logged before the answer leaves: a client that reads the
            # log right after its answer sees its call.
            sim.log_call(method, path, status, "injected", path)
            self.send_text(status, fbody,
                           {"Retry-After": ra} if ra is not None else None)
            return
        # Work out the answer, then send it - or, for a drop fault with
        # when == "after", close the connection instead (the post has been
        # processed, the client never learns the outcome).
        note, headers = None, None
        try:
            note = self.webhook(method, path, body)
            status, text = 200, "ok"
        except Reject as e:
            note = e.headers.get("X-Sim-Reason")
            headers = {k: v for k, v in e.headers.items()
                       if k != "X-Sim-Reason"}
            status, text = e.status, e.text
        except Exception as e:           # a simulator bug: say so loudly
            import traceback
            traceback.print_exc()
            status, text = 500, f"simulator error: {e}"
        if fault and fault[0] == "drop":
            self.drop(fault[1])
            sim.log_call(method, path, 0,
                         f"processed: {status} {note or text}; dropped",
                         path)
            return
        sim.log_call(method, path, status, note, path)
        self.send_text(status, text, headers)

    def webhook(self, method, path, body):
        """Accept a post (returns a log note) or raise Reject."""
        sim = self.sim
        hook = sim.check_hook(path)
        if method != "POST":
            # Not documented by Slack; a simulator choice.
            raise Reject(405, "invalid_method", {"Allow": "POST"})
        ra = sim.take_token(hook)
        if ra is not None:
            raise Reject(429, "rate_limited", {"Retry-After": ra})
        payload, ctype, form = parse_body(self.headers.get("Content-Type"),
                                          body)
        shown, truncated, _ = validate_payload(
            payload, sim.config["text_limit"])
        msg = sim.accept(hook, payload, shown, truncated, ctype, form)
        return f"message {msg['seq']}" + (" truncated" if truncated else "")

    def control(self, method, path, query, body):
        sim = self.sim
        name, data, qs = self.control_request(path, query, body)
        qs = {k: v[0] for k, v in qs.items()}
        if name == "state" and method == "GET":
            omit = set(qs.get("omit", "").split(","))
            self.send_json(200, sim.snapshot(
                include_messages="messages" not in omit,
                include_calls="calls" not in omit, hook=qs.get("hook")))
        elif name == "messages" and method == "GET":
            self.send_json(200, sim.get_messages(
                qs.get("hook"), int(qs.get("since", 0))))
        elif name == "reset" and method == "POST":
            sim.reset()
            self.send_json(200, {"ok": True})
        elif name == "faults" and method == "GET":
            self.send_json(200, sim._faults_view())
        elif name == "faults" and method == "POST":
            self.send_json(200, sim.apply_faults(data))
        elif name == "config" and method == "GET":
            self.send_json(200, copy.deepcopy(sim.config))
        elif name == "config" and method == "POST":
            self.send_json(200, sim.set_config(**data))
        elif name == "hooks" and method == "GET":
            with sim.lock:
                self.send_json(200, sim._hook_views())
        elif name == "hooks" and method == "POST":
            if not isinstance(data, dict):
                raise ValueError("hooks: a JSON object expected")
            if data.get("remove"):
                sim.remove_hook(data["remove"])
                self.send_json(200, {"removed": normalize_hook(
                    data["remove"])})
            else:
                url = sim.add_hook(data.get("hook") or data.get("path"),
                                   data.get("channel"),
                                   permanent=bool(data.get("permanent")))
                self.send_json(200, {"url": url})
        else:
            self.send_json(404, {"error": f"no control endpoint "
                                          f"{method} {path}"})


# --------------------------------------------------------------------------

def parse_hook_arg(item):
    h, _, ch = item.partition("=")
    return normalize_hook(h), (ch or None)


SlackSim.handler_class = Handler


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Slack incoming-webhook simulator (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0,
                    help="TCP port; 0 picks a free one (default)")
    ap.add_argument("--hook", action="append", metavar="PATH[=#channel]",
                    help="a valid webhook, /services/T.../B.../<secret> or "
                    "a full URL (repeatable; default "
                    f"{DEFAULT_HOOK}; also SLACK_SIM_HOOKS, comma-separated)")
    ap.add_argument("--rate", type=float, default=1.0,
                    help="messages per second per webhook (default 1; "
                    "0 = no limit)")
    ap.add_argument("--burst", type=float, default=5,
                    help="token bucket size per webhook (default 5)")
    ap.add_argument("--text-limit", type=int, default=TEXT_LIMIT,
                    help=f"text longer than this is truncated "
                    f"(default {TEXT_LIMIT})")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="log requests to stderr")
    args = ap.parse_args(argv)
    items = list(args.hook or [])
    env = os.environ.get("SLACK_SIM_HOOKS", "")
    items += [x.strip() for x in env.split(",") if x.strip()]
    hooks = None
    if items:
        try:
            hooks = dict(parse_hook_arg(i) for i in items)
        except ValueError as e:
            ap.error(str(e))
    sim = SlackSim(args.port, hooks=hooks, rate_per_sec=args.rate,
                   burst=args.burst, text_limit=args.text_limit,
                   verbose=args.verbose)
    return serve_until_signal(sim)


if __name__ == "__main__":
    sys.exit(main())
