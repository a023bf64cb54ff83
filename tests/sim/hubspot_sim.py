#!/usr/bin/env python3
"""hubspot_sim.py - a HubSpot CRM (v3 objects, search, properties, v4
associations) and webhooks simulator for baton's tests and demo.

Speaks what a HubSpot private app talks to (see tests/sim/README.md, the
vendor samples in ../shared/vendor-samples/hubspot and the field names of
HubSpot's own generated client models):

  Authorization: Bearer <private app token>          else 401
  /crm/v3/objects/{contacts,deals}[/{id}]           list, create, get,
                                                     update, archive
  /crm/v3/objects/{type}/batch/{read,create,update,upsert}
  /crm/v3/objects/{type}/search                     filters, sorts, paging,
                                                     the 10,000-result cap
  /crm/v3/objects/contacts/{merge,gdpr-delete}
  /crm/v3/properties/{type}[/{name}]
  /crm/v4/objects/{from}/{id}/associations/...
  /crm/v4/associations/{from}/{to}/batch/read
  429s with HubSpot's bodies: TEN_SECONDLY_ROLLING, the search API's
  secondly limit, DAILY.

It also sends HubSpot webhooks to a target URL: JSON arrays of up to 100
events, signed (X-HubSpot-Signature-v3 + X-HubSpot-Request-Timestamp, or
v1/v2), retried on failure on a schedule that tests can compress.

Test controls under /__sim/ (never faulted, not counted, no token):
  GET  /__sim/state  /__sim/deliveries
  POST /__sim/reset  /__sim/faults  /__sim/config  /__sim/rep  /__sim/bulk
       /__sim/clock  /__sim/webhooks

Run:  python3 hubspot_sim.py --port 0 [--token T] [--webhook-url URL] [-v]
      first stdout line: "listening on 127.0.0.1:PORT"
Import: HubSpotSim(port=0).start(); sim.base_url; sim.rep_edit(...)

Python 3.11 standard library only.
"""

import argparse
import base64
import collections
import copy
import hashlib
import hmac
import http.client
import json
import os
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote, urlsplit

from simhttp import (SimHandler, SimServer, record_call,
                     serve_until_signal)

DELIVERY_LOG_MAX = 20000
EVENT_LOG_MAX = 50000

DEFAULT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
DEFAULT_APP_ID = 123456
DEFAULT_PORTAL_ID = 62515
DEFAULT_APP_SECRET = "baton-hubspot-sim-app-secret"
DEFAULT_REP_USER = 7654321

# HubSpot's documented limits.
BATCH_MAX = 100                 # batch read/create/update/upsert inputs
SEARCH_LIMIT_MAX = 200          # search page size
SEARCH_CAP = 10000              # results reachable by paging one query
LIST_LIMIT_MAX = 100
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
WEBHOOK_BATCH_MAX = 100
# HubSpot retries a failed notification up to 10 times in all, spread over
# about a day; these are the delays before attempts 1..9 (seconds).
DEFAULT_RETRY_SCHEDULE = [60, 120, 300, 600, 1800, 3600, 7200, 14400,
                          28800]

AUTH_MESSAGE = ("Authentication credentials not found. This API supports "
                "OAuth 2.0 authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/"
                "oauth-overview")
SECONDLY_MESSAGE = "You have reached your secondly limit."
TEN_SECONDLY_MESSAGE = "You have reached your ten_secondly_rolling limit."
DAILY_MESSAGE = "You have reached your daily limit."
POLICY_MESSAGE = {"TEN_SECONDLY_ROLLING": TEN_SECONDLY_MESSAGE,
                  "SECONDLY": SECONDLY_MESSAGE, "DAILY": DAILY_MESSAGE}

LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead",
             "salesqualifiedlead", "opportunity", "customer", "evangelist",
             "other"]
LEAD_STATUS = ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED",
               "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING"]
DEAL_STAGES = ["appointmentscheduled", "qualifiedtobuy",
               "presentationscheduled", "decisionmakerboughtin",
               "contractsent", "closedwon", "closedlost"]

OBJECT_TYPES = ("contacts", "deals")
SINGULAR = {"contacts": "contact", "deals": "deal"}
UPPER = {"contacts": "CONTACT", "deals": "DEAL"}
MODIFIED = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate"}
DEFAULT_PROPS = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id",
                 "lastmodifieddate", "lastname"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage",
              "hs_lastmodifieddate", "hs_object_id", "pipeline"],
}
# Free-text `query` in search looks at these.
QUERY_PROPS = {"contacts": ["email", "firstname", "lastname", "phone",
                            "company"],
               "deals": ["dealname"]}
# Association type ids HubSpot defines between contacts and deals.
ASSOC_TYPE = {("deals", "contacts"): (3, "deal_to_contact"),
              ("contacts", "deals"): (4, "contact_to_deal")}

SUBSCRIPTION_TYPES = ["contact.creation", "contact.propertyChange",
                      "contact.deletion", "contact.merge",
                      "contact.privacyDeletion", "deal.creation",
                      "deal.propertyChange", "deal.deletion"]

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NUM_RE = re.compile(r"^-?\d+(\.\d+)?$")


def _prop(name, label, ptype="string", field="text", options=None,
          group="contactinformation", read_only=False, unique=False,
          hidden=False):
    return {"name": name, "label": label, "type": ptype, "fieldType": field,
            "groupName": group, "options": options, "readOnly": read_only,
            "hasUniqueValue": unique, "hidden": hidden}


def _opts(values, labels=None):
    return [{"label": (labels or {}).get(v, v), "value": v,
             "displayOrder": i, "hidden": False}
            for i, v in enumerate(values)]


BUILTIN_PROPS = {
    "contacts": [
        _prop("email", "Email", unique=True),
        _prop("firstname", "First Name"),
        _prop("lastname", "Last Name"),
        _prop("jobtitle", "Job Title"),
        _prop("company", "Company Name"),
        _prop("phone", "Phone Number", field="phonenumber"),
        _prop("website", "Website URL"),
        _prop("numemployees", "Number of Employees", "enumeration",
              "select", _opts(["1-5", "5-25", "25-50", "50-100", "100-500",
                               "500-1000", "1000+"])),
        _prop("annualrevenue", "Annual Revenue", "number", "number"),
        _prop("industry", "Industry"),
        _prop("country", "Country/Region"),
        _prop("city", "City"),
        _prop("state", "State/Region"),
        _prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio",
              _opts(LIFECYCLE, {"marketingqualifiedlead":
                                "Marketing Qualified Lead",
                                "salesqualifiedlead":
                                "Sales Qualified Lead"})),
        _prop("hs_lead_status", "Lead Status", "enumeration", "radio",
              _opts(LEAD_STATUS)),
        _prop("hubspot_owner_id", "Contact owner", "enumeration", "select",
              []),
        _prop("hs_additional_emails", "Additional email addresses",
              field="textarea", read_only=True),
        _prop("hs_merged_object_ids", "Merged Contact IDs",
              "enumeration", "checkbox", [], read_only=True),
        _prop("hs_object_id", "Record ID", "number", "number",
              read_only=True),
        _prop("createdate", "Create Date", "datetime", "date"),
        _prop("lastmodifieddate", "Last Modified Date", "datetime", "date",
              read_only=True),
        # Set by HubSpot itself when a form is submitted or a marketing
        # email is opened or clicked (rep_form_submit, rep_email_event).
        _prop("recent_conversion_event_name", "Recent Conversion",
              group="conversioninformation", read_only=True),
        _prop("recent_conversion_date", "Recent Conversion Date",
              "datetime", "date", group="conversioninformation",
              read_only=True),
        _prop("first_conversion_event_name", "First Conversion",
              group="conversioninformation", read_only=True),
        _prop("num_conversion_events", "Number of Form Submissions",
              "number", "number", group="conversioninformation",
              read_only=True),
        _prop("hs_email_last_email_name", "Last marketing email name",
              group="emailinformation", read_only=True),
        _prop("hs_email_last_open_date", "Last marketing email open date",
              "datetime", "date", group="emailinformation",
              read_only=True),
        _prop("hs_email_last_click_date",
              "Last marketing email click date", "datetime", "date",
              group="emailinformation", read_only=True),
        _prop("hs_email_open", "Marketing emails opened", "number",
              "number", group="emailinformation", read_only=True),
        _prop("hs_email_click", "Marketing emails clicked", "number",
              "number", group="emailinformation", read_only=True),
    ],
    "deals": [
        _prop("dealname", "Deal Name", group="dealinformation"),
        _prop("amount", "Amount", "number", "number",
              group="dealinformation"),
        _prop("closedate", "Close Date", "datetime", "date",
              group="dealinformation"),
        _prop("pipeline", "Pipeline", "enumeration", "select",
              _opts(["default"]), group="dealinformation"),
        _prop("dealstage", "Deal Stage", "enumeration", "radio",
              _opts(DEAL_STAGES), group="dealinformation"),
        _prop("hubspot_owner_id", "Deal owner", "enumeration", "select",
              [], group="dealinformation"),
        _prop("description", "Deal Description", field="textarea",
              group="dealinformation"),
        _prop("hs_object_id", "Record ID", "number", "number",
              group="dealinformation", read_only=True),
        _prop("createdate", "Create Date", "datetime", "date",
              group="dealinformation"),
        _prop("hs_lastmodifieddate", "Last Modified Date", "datetime",
              "date", group="dealinformation", read_only=True),
    ],
}
# Owner ids the hubspot_owner_id enumerations accept (any numeric id is
# taken: HubSpot checks them against its owners, which are not simulated).


# ------------------------------------------------------------------ helpers

def iso_ms(ms):
    """ISO 8601 UTC with milliseconds and Z, as HubSpot writes them."""
    dt = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (int(ms) % 1000)


def parse_when(v):
    """Epoch ms (number or digit string) or ISO 8601 -> epoch ms, or None."""
    if v is None:
        return None
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return int(v)
    s = str(v).strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    try:
        if s.endswith("Z") or s.endswith("z"):
            s = s[:-1] + "+00:00"
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            s += "T00:00:00+00:00"
        dt = datetime.fromisoformat(s)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return int(round(dt.timestamp() * 1000))
    except ValueError:
        return None


def sign_v1(secret, body):
    """X-HubSpot-Signature v1: hex SHA-256 of secret + body."""
    b = body if isinstance(body, bytes) else body.encode("utf-8")
    return hashlib.sha256(secret.encode("utf-8") + b).hexdigest()


def sign_v2(secret, method, uri, body):
    """X-HubSpot-Signature v2: hex SHA-256 of secret+method+uri+body."""
    b = body if isinstance(body, bytes) else body.encode("utf-8")
    return hashlib.sha256((secret + method + uri).encode("utf-8") +
                          b).hexdigest()


def sign_v3(secret, method, uri, body, timestamp):
    """X-HubSpot-Signature-v3: base64 HMAC-SHA256(secret, method + uri +
    body + timestamp)."""
    b = body if isinstance(body, bytes) else body.encode("utf-8")
    msg = (method + uri).encode("utf-8") + b + str(timestamp).encode()
    return base64.b64encode(hmac.new(secret.encode("utf-8"), msg,
                                     hashlib.sha256).digest()).decode()


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


class HsError(Exception):
    """An answer other than success: status, HubSpot error body."""

    def __init__(self, status, message, category="VALIDATION_ERROR", *,
                 errors=None, context=None, extra=None, note=None,
                 body=None):
        super().__init__(message)
        self.status = status
        self.note = note
        if body is not None:
            self.body = body
            return
        b = {"status": "error", "message": message,
             "correlationId": str(uuid.uuid4()), "category": category}
        if errors is not None:
            b["errors"] = errors
        if context is not None:
            b["context"] = context
        if extra:
            b.update(extra)
        self.body = b


def rate_body(policy):
    return {"status": "error", "message": POLICY_MESSAGE[policy],
            "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
            "policyName": policy, "requestId": str(uuid.uuid4())}


def invalid_props(items, portal_id):
    """400 VALIDATION_ERROR as HubSpot words invalid property values:
    items are (name, error code, message)."""
    listed = [{"isValid": False, "message": m, "error": code, "name": n,
               "localizedErrorMessage": m, "portalId": portal_id}
              for n, code, m in items]
    return HsError(
        400, "Property values were not valid: " + dumps(listed),
        errors=[{"message": m, "code": code,
                 "context": {"propertyName": [n]}} for n, code, m in items],
        note="; ".join(f"{code} {n}" for n, code, _ in items))


# ---------------------------------------------------------------- simulator

class HubSpotSim(SimServer):
    """The simulator: contacts and deals, property definitions, rate
    limits, faults, webhook delivery, and an HTTP server on 127.0.0.1."""

    def __init__(self, port=0, *, token=DEFAULT_TOKEN, app_id=DEFAULT_APP_ID,
                 portal_id=DEFAULT_PORTAL_ID, app_secret=DEFAULT_APP_SECRET,
                 webhook_url=None, signature_version="v3",
                 ten_secondly_limit=190, search_per_second=5,
                 daily_limit=1000000, retry_schedule=None, verbose=False):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.port = port
        self.verbose = verbose
        self.base_config = {
            "token": token, "tokens": {}, "app_id": int(app_id),
            "portal_id": int(portal_id), "app_secret": app_secret,
            "webhook_url": webhook_url, "signed_url": None,
            "signature_version": signature_version,
            "ten_secondly_limit": int(ten_secondly_limit),
            "search_per_second": int(search_per_second),
            "daily_limit": int(daily_limit), "retry_after_header": False,
            "index_delay_ms": 0,
            "retry_schedule": list(DEFAULT_RETRY_SCHEDULE
                                   if retry_schedule is None
                                   else retry_schedule),
            "webhook_timeout": 5.0, "max_concurrent": 10,
            "batch_max": WEBHOOK_BATCH_MAX, "batch_linger_ms": 50,
            "subscriptions": {t: True for t in SUBSCRIPTION_TYPES},
            "subscription_ids": {t: 1000 + i for i, t in
                                 enumerate(SUBSCRIPTION_TYPES)},
            "property_subscriptions": None,
            "lifecycle_backward": "ignore", "default_lifecyclestage": "",
            "rep_user_id": DEFAULT_REP_USER,
        }
        self.stopping = False
        self.sender = None
        self.reset()

    # ---------------------------------------------------------------- state

    def reset(self):
        """Records, events, deliveries, counters, faults and config back to
        their start (queued webhooks are dropped)."""
        with self.lock:
            self.config = copy.deepcopy(self.base_config)
            self.objects = {t: {} for t in OBJECT_TYPES}
            self.next_id = {"contacts": 101, "deals": 5001}
            self.by_email = {}
            self.propdefs = {}
            t0 = self._now_ms_raw()
            for t in OBJECT_TYPES:
                self.propdefs[t] = {}
                for i, p in enumerate(BUILTIN_PROPS[t]):
                    d = self._full_propdef(p, t0, i)
                    self.propdefs[t][d["name"]] = d
            self.clock_offset = 0.0
            self.calls = []
            self.call_seq = 0
            self.counters = {
                "calls": 0, "by_status": {}, "searches": 0,
                "daily_used": 0, "faults_injected": 0,
                "connections_dropped": 0,
                "rate_limited": {"TEN_SECONDLY_ROLLING": 0, "SECONDLY": 0,
                                 "DAILY": 0},
                "lifecycle_backward_ignored": 0, "webhooks_sent": 0,
                "webhooks_delivered": 0, "webhooks_failed": 0,
                "events": 0}
            self.faults = {"fail": [], "storm": [], "latency_ms": 0,
                           "latency_path_prefix": None, "drop": []}
            self.window10 = collections.deque()
            self.window1 = collections.deque()
            self.next_event_id = 1
            self.events = collections.OrderedDict()   # eventId -> entry
            self.queue = []                 # (enqueued monotonic, eventId)
            self.batches = []               # waiting retries / due batches
            self.inflight = 0
            self.paused = False
            self.flush_until = 0.0
            self.deliveries = []
            self.delivery_seq = 0
            self.batch_seq = 0
            self.cond.notify_all()

    def _full_propdef(self, p, t_ms, order):
        ro = p.get("readOnly", False)
        return {
            "name": p["name"], "label": p["label"], "type": p["type"],
            "fieldType": p["fieldType"], "groupName": p["groupName"],
            "description": p.get("description", ""),
            "options": copy.deepcopy(p.get("options") or []),
            "displayOrder": p.get("displayOrder", order),
            "calculated": False, "externalOptions": False,
            "hasUniqueValue": bool(p.get("hasUniqueValue")),
            "hidden": bool(p.get("hidden")), "formField": not ro,
            "modificationMetadata": {"archivable": not p.get("builtin", True),
                                     "readOnlyDefinition": True,
                                     "readOnlyValue": ro},
            "createdAt": iso_ms(t_ms), "updatedAt": iso_ms(t_ms),
            "archived": False,
        }

    def _now_ms_raw(self):
        return int(time.time() * 1000)

    def now_ms(self):
        """The simulator's clock, epoch milliseconds."""
        return int((time.time() + self.clock_offset) * 1000)

    def advance_clock(self, seconds):
        with self.lock:
            self.clock_offset += float(seconds)
            return self.now_ms()

    # ------------------------------------------------------------- records

    def _new_record(self, otype, rid, t_ms):
        return {"id": rid, "type": otype, "props": {}, "createdAt": t_ms,
                "updatedAt": t_ms, "archived": False, "archivedAt": None,
                "mergedInto": None, "merged": [], "assoc": set(),
                "idx": None, "idx_q": [], "idx_c": {}}

    def _reindex(self, rec):
        """The search index learns of rec's current values, now or after
        index_delay_ms (HubSpot writes its search index late)."""
        snap = None if rec["archived"] else dict(rec["props"])
        delay = self.config["index_delay_ms"]
        if delay and delay > 0:
            rec["idx_q"].append((self.now_ms() + int(delay), snap))
        else:
            rec["idx"] = snap
            rec["idx_q"] = []
            rec["idx_c"] = {}

    def _indexed(self, rec, now):
        q = rec["idx_q"]
        while q and q[0][0] <= now:
            rec["idx"] = q.pop(0)[1]
            rec["idx_c"] = {}
        return rec["idx"]

    def _cv(self, otype, rec, name):
        """The comparable form of an indexed value, cached per index
        snapshot (search over tens of thousands of records stays fast)."""
        c = rec["idx_c"]
        if name not in c:
            c[name] = self._cmp_value(otype, name, rec["idx"].get(name))
        return c[name]

    def _live(self, otype, rid):
        """The live record for an id (a merged-away id gives the record it
        was merged into), or None."""
        rec = self.objects[otype].get(str(rid))
        seen = 0
        while rec is not None and rec["mergedInto"] and seen < 50:
            rec = self.objects[otype].get(rec["mergedInto"])
            seen += 1
        if rec is None or rec["archived"]:
            return None
        return rec

    def _find(self, otype, key, id_property=None, archived=False):
        """A record by id or by a unique property; archived=True looks among
        archived records only."""
        key = str(key)
        if id_property and id_property != "hs_object_id":
            d = self.propdefs[otype].get(id_property)
            if d is None or not d["hasUniqueValue"]:
                raise HsError(400, f"Property {id_property} is not a unique "
                              f"identifier property", context={
                                  "idProperty": [id_property]})
            want = key.strip().lower() if id_property == "email" else key
            if otype == "contacts" and id_property == "email" and \
                    not archived:
                rid = self.by_email.get(want)
                return self._live(otype, rid) if rid else None
            for rec in self.objects[otype].values():
                if rec["archived"] != archived:
                    continue
                v = rec["props"].get(id_property)
                if v is not None and (v.lower() if id_property == "email"
                                      else v) == want:
                    return rec
            return None
        if archived:
            rec = self.objects[otype].get(key)
            return rec if rec is not None and rec["archived"] else None
        return self._live(otype, key)

    def _view(self, rec, props=None, assoc=None, upsert_new=None):
        """The object as HubSpot answers it (SimplePublicObject)."""
        names = props if props else DEFAULT_PROPS[rec["type"]]
        p = {}
        for n in names:
            if props and n not in self.propdefs[rec["type"]]:
                continue                  # unknown names are skipped
            v = rec["props"].get(n)
            p[n] = v if v != "" else None
        out = {"id": rec["id"], "properties": p,
               "createdAt": iso_ms(rec["createdAt"]),
               "updatedAt": iso_ms(rec["updatedAt"]),
               "archived": rec["archived"]}
        if rec["archived"] and rec["archivedAt"] is not None:
            out["archivedAt"] = iso_ms(rec["archivedAt"])
        if assoc:
            a = {}
            for to in assoc:
                if (rec["type"], to) not in ASSOC_TYPE:
                    continue
                _, label = ASSOC_TYPE[(rec["type"], to)]
                ids = sorted(rec["assoc"], key=lambda x: int(x))
                ids = [i for i in ids if self._live(to, i)]
                if ids:
                    a[to] = {"results": [{"id": i, "type": label}
                                         for i in ids]}
            if a:
                out["associations"] = a
        if upsert_new is not None:
            out["new"] = upsert_new
        return out

    def _state_view(self, rec):
        return {"id": rec["id"], "properties": dict(rec["props"]),
                "createdAt": iso_ms(rec["createdAt"]),
                "updatedAt": iso_ms(rec["updatedAt"]),
                "archived": rec["archived"],
                "archivedAt": iso_ms(rec["archivedAt"])
                if rec["archivedAt"] is not None else None,
                "mergedInto": rec["mergedInto"],
                "associations": sorted(rec["assoc"], key=int)}

    # ---------------------------------------------------------- validation

    def _normalize(self, otype, props, *, creating, api, rec=None):
        """Checks a properties object; returns {name: str ("" = clear)} or
        raises HsError (400 with every invalid property)."""
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise HsError(400, "Invalid input JSON on line 1: "
                          "properties must be an object",
                          note="properties not an object")
        out, bad = {}, []
        defs = self.propdefs[otype]
        for name, value in props.items():
            d = defs.get(name)
            if d is None:
                bad.append((name, "PROPERTY_DOESNT_EXIST",
                            f'Property "{name}" does not exist'))
                continue
            if api and d["modificationMetadata"]["readOnlyValue"]:
                bad.append((name, "READ_ONLY_VALUE",
                            f'Property "{name}" is a read only property'))
                continue
            if api and name == "createdate" and not creating:
                bad.append((name, "READ_ONLY_VALUE",
                            f'Property "{name}" is a read only property'))
                continue
            if value is None:
                out[name] = ""
                continue
            if isinstance(value, bool):
                s = "true" if value else "false"
            elif isinstance(value, (int, float)):
                s = repr(value) if isinstance(value, float) else str(value)
                if s.endswith(".0"):
                    s = s[:-2]
            elif isinstance(value, str):
                s = value
            else:
                bad.append((name, "INVALID_OPTION" if d["type"] ==
                            "enumeration" else "INVALID_STRING",
                            f'"{dumps(value)}" is not a valid value for '
                            f'"{name}"'))
                continue
            if s == "":
                out[name] = ""
                continue
            t = d["type"]
            if name == "email":
                s = s.strip().lower()
                if not EMAIL_RE.match(s):
                    bad.append((name, "INVALID_EMAIL",
                                f"Email address {s} is invalid"))
                    continue
            elif t == "number":
                if not NUM_RE.match(s.strip()):
                    bad.append((name, "INVALID_LONG",
                                f'"{s}" is not a valid long value for '
                                f'"{name}"'))
                    continue
                s = s.strip()
            elif t in ("datetime", "date"):
                ms = parse_when(s)
                if ms is None:
                    bad.append((name, "INVALID_DATE",
                                f'"{s}" is not a valid date for "{name}"'))
                    continue
                s = iso_ms(ms) if t == "datetime" else iso_ms(ms)[:10]
            elif t == "enumeration" and d["options"] and \
                    d["fieldType"] != "checkbox":
                allowed = [o["value"] for o in d["options"]]
                if s not in allowed:
                    bad.append((name, "INVALID_OPTION",
                                f'{s} was not one of the allowed options: '
                                f'[{", ".join(allowed)}]'))
                    continue
            elif t == "bool":
                if s.lower() not in ("true", "false"):
                    bad.append((name, "INVALID_BOOLEAN",
                                f'"{s}" is not a valid boolean for '
                                f'"{name}"'))
                    continue
                s = s.lower()
            out[name] = s
        if bad:
            raise invalid_props(bad, self.config["portal_id"])
        return out

    def _check_unique(self, otype, vals, rec=None):
        """409 when a unique value (email) belongs to another live
        record."""
        email = vals.get("email")
        if otype == "contacts" and email:
            other = self.by_email.get(email)
            if other and (rec is None or other != rec["id"]) and \
                    self._live(otype, other) is not None:
                raise HsError(409, f"Contact already exists. Existing ID: "
                              f"{other}", "CONFLICT",
                              note="email exists")
        for name, v in vals.items():
            d = self.propdefs[otype][name]
            if not v or not d["hasUniqueValue"] or name == "email":
                continue
            for r in self.objects[otype].values():
                if r is not rec and not r["archived"] and \
                        r["props"].get(name) == v:
                    raise HsError(409, f"A {SINGULAR[otype]} with the "
                                  f"unique value {name}={v} already exists."
                                  f" Existing ID: {r['id']}", "CONFLICT")

    def _lifecycle_check(self, rec, vals, api):
        """HubSpot's forward-only lifecyclestage: through the API a move to
        an earlier stage does not take unless the value was cleared before.
        Returns a note (or None) and may drop the value from vals."""
        new = vals.get("lifecyclestage")
        if not api or rec is None or not new:
            return None
        old = rec["props"].get("lifecyclestage") or ""
        if not old or old not in LIFECYCLE or new not in LIFECYCLE:
            return None
        if LIFECYCLE.index(new) >= LIFECYCLE.index(old):
            return None
        if self.config["lifecycle_backward"] == "error":
            raise invalid_props([("lifecyclestage", "INVALID_OPTION",
                                  f"lifecyclestage cannot move backward "
                                  f"from {old} to {new}; clear it first")],
                                self.config["portal_id"])
        del vals["lifecyclestage"]
        self.counters["lifecycle_backward_ignored"] += 1
        return "lifecyclestage backward move ignored"

    def _check_assoc(self, otype, assoc):
        """[(other type, id)] from a create body's associations."""
        out = []
        if assoc is None:
            return out
        if not isinstance(assoc, list):
            raise HsError(400, "associations must be a list")
        for a in assoc:
            try:
                to_id = str(a["to"]["id"])
                types = a.get("types") or []
                type_id = int(types[0]["associationTypeId"])
            except (KeyError, TypeError, ValueError, IndexError):
                raise HsError(400, "Invalid association: each needs to.id "
                              "and types[{associationCategory, "
                              "associationTypeId}]")
            other = None
            for (frm, to), (tid, _) in ASSOC_TYPE.items():
                if frm == otype and tid == type_id:
                    other = to
            if other is None:
                raise HsError(400, f"association type id {type_id} is not "
                              f"valid for {SINGULAR[otype]}",
                              context={"associationTypeId": [str(type_id)]})
            if self._live(other, to_id) is None:
                raise HsError(400, f"One or more associations are invalid: "
                              f"{SINGULAR[other]} {to_id} does not exist",
                              context={"id": [to_id]})
            out.append((other, self._live(other, to_id)["id"]))
        return out

    # --------------------------------------------------------- mutations

    def _source(self, kind, app_id=None, source=None):
        if source:
            return dict(source)
        if kind == "api":
            return {"changeSource": "INTEGRATION",
                    "sourceId": str(app_id if app_id is not None
                                    else self.config["app_id"])}
        if kind == "import":
            return {"changeSource": "IMPORT", "sourceId": "import"}
        return {"changeSource": "CRM_UI",
                "sourceId": f"userId:{self.config['rep_user_id']}"}

    def _create(self, otype, vals, assoc, source, *, at=None, rid=None,
                prop_events=True, events=True):
        t = at if at is not None else self.now_ms()
        if rid is None:
            rid = str(self.next_id[otype])
            self.next_id[otype] += 1
        else:
            rid = str(rid)
            if rid in self.objects[otype]:
                raise HsError(409, f"id {rid} exists", "CONFLICT")
            self.next_id[otype] = max(self.next_id[otype], int(rid) + 1)
        rec = self._new_record(otype, rid, t)
        p = rec["props"]
        if otype == "contacts" and "lifecyclestage" not in vals and \
                self.config["default_lifecyclestage"]:
            vals = dict(vals,
                        lifecyclestage=self.config["default_lifecyclestage"])
        if otype == "deals" and "pipeline" not in vals:
            vals = dict(vals, pipeline="default")
        for k, v in vals.items():
            if v != "":
                p[k] = v
        created = parse_when(p.get("createdate")) if p.get("createdate") \
            else None
        if created is not None:
            rec["createdAt"] = created
        p["createdate"] = iso_ms(rec["createdAt"])
        p["hs_object_id"] = rid
        p[MODIFIED[otype]] = iso_ms(t)
        rec["updatedAt"] = t
        self.objects[otype][rid] = rec
        if otype == "contacts" and p.get("email"):
            self.by_email[p["email"]] = rid
        for other, oid in assoc:
            self._associate(otype, rid, other, oid)
        self._reindex(rec)
        if events:
            self._emit(otype, "creation", rec, source, t,
                       changeFlag="NEW")
            if prop_events:
                for k in sorted(vals):
                    if vals[k] != "":
                        self._emit(otype, "propertyChange", rec, source, t,
                                   propertyName=k, propertyValue=vals[k])
        return rec

    def _update(self, rec, vals, source, *, at=None):
        """Writes vals; returns the names that changed."""
        t = at if at is not None else self.now_ms()
        p = rec["props"]
        changed = []
        for k, v in vals.items():
            old = p.get(k, "")
            if old == v:
                continue
            if k == "email" and rec["type"] == "contacts":
                if old and self.by_email.get(old) == rec["id"]:
                    del self.by_email[old]
                if v:
                    self.by_email[v] = rec["id"]
            if v == "":
                p.pop(k, None)
            else:
                p[k] = v
            changed.append(k)
        if changed:
            p[MODIFIED[rec["type"]]] = iso_ms(t)
            rec["updatedAt"] = t
            self._reindex(rec)
            for k in changed:
                self._emit(rec["type"], "propertyChange", rec, source, t,
                           propertyName=k, propertyValue=p.get(k, ""))
        return changed

    def _archive(self, rec, source, *, at=None):
        t = at if at is not None else self.now_ms()
        rec["archived"] = True
        rec["archivedAt"] = t
        email = rec["props"].get("email")
        if rec["type"] == "contacts" and email and \
                self.by_email.get(email) == rec["id"]:
            del self.by_email[email]
        self._reindex(rec)
        self._emit(rec["type"], "deletion", rec, source, t,
                   changeFlag="DELETED")

    def _merge(self, primary, other, source):
        t = self.now_ms()
        moved = 0
        p, o = primary["props"], other["props"]
        for k, v in o.items():
            d = self.propdefs["contacts"].get(k)
            if k in ("hs_object_id", "createdate", "lastmodifieddate",
                     "email", "hs_merged_object_ids",
                     "hs_additional_emails") or d is None:
                continue
            if not p.get(k) and v:
                p[k] = v
                moved += 1
        extra = [e for e in (p.get("hs_additional_emails") or "").split(";")
                 if e]
        for e in [o.get("email")] + (o.get("hs_additional_emails") or
                                     "").split(";"):
            if e and e != p.get("email") and e not in extra:
                extra.append(e)
        if extra:
            p["hs_additional_emails"] = ";".join(extra)
        merged = [m for m in (p.get("hs_merged_object_ids") or
                              "").split(";") if m]
        merged += [other["id"]] + [m for m in (o.get("hs_merged_object_ids")
                                               or "").split(";") if m]
        p["hs_merged_object_ids"] = ";".join(merged)
        primary["assoc"] |= other["assoc"]
        for did in other["assoc"]:
            d = self.objects["deals"].get(did)
            if d:
                d["assoc"].discard(other["id"])
                d["assoc"].add(primary["id"])
        p["lastmodifieddate"] = iso_ms(t)
        primary["updatedAt"] = t
        email = o.get("email")
        if email and self.by_email.get(email) == other["id"]:
            self.by_email[email] = primary["id"]
        other["archived"] = True
        other["archivedAt"] = t
        other["mergedInto"] = primary["id"]
        primary["merged"].append(other["id"])
        self._reindex(primary)
        self._reindex(other)
        self._emit("contacts", "merge", primary, source, t,
                   changeFlag="MERGED",
                   primaryObjectId=int(primary["id"]),
                   mergedObjectIds=[int(other["id"])],
                   newObjectId=int(primary["id"]),
                   numberOfPropertiesMoved=moved)
        return primary

    def _gdpr_delete(self, rec, source):
        t = self.now_ms()
        email = rec["props"].get("email")
        if email and self.by_email.get(email) == rec["id"]:
            del self.by_email[email]
        for did in rec["assoc"]:
            d = self.objects["deals"].get(did)
            if d:
                d["assoc"].discard(rec["id"])
        del self.objects["contacts"][rec["id"]]
        for mid in rec["merged"]:          # merged-away copies go too
            self.objects["contacts"].pop(mid, None)
        self._emit("contacts", "privacyDeletion", rec, source, t,
                   changeFlag="DELETED")

    def _associate(self, frm, fid, to, tid):
        a = self.objects[frm][fid]
        b = self.objects[to][tid]
        a["assoc"].add(tid)
        b["assoc"].add(fid)

    # ------------------------------------------------------------- events

    def _emit(self, otype, what, rec, source, t_ms, **fields):
        """Queues a webhook event if its subscription is on."""
        stype = f"{SINGULAR[otype]}.{what}"
        cfg = self.config
        if stype not in cfg["subscriptions"] or \
                not cfg["subscriptions"][stype]:
            return None
        if what == "propertyChange" and cfg["property_subscriptions"] is \
                not None and fields.get("propertyName") not in \
                cfg["property_subscriptions"]:
            return None
        ev = collections.OrderedDict()
        ev["eventId"] = self.next_event_id
        self.next_event_id += 1
        ev["subscriptionId"] = int(cfg["subscription_ids"].get(stype, 1))
        ev["portalId"] = cfg["portal_id"]
        ev["occurredAt"] = int(t_ms)
        ev["subscriptionType"] = stype
        ev["attemptNumber"] = 0
        ev["objectId"] = int(rec["id"])
        if "propertyName" in fields:
            ev["propertyName"] = fields.pop("propertyName")
            ev["propertyValue"] = fields.pop("propertyValue")
        ev["changeSource"] = source.get("changeSource", "CRM_UI")
        if source.get("sourceId") is not None:
            ev["sourceId"] = str(source["sourceId"])
        if "changeFlag" in fields:
            ev["changeFlag"] = fields.pop("changeFlag")
        ev["appId"] = cfg["app_id"]
        for k, v in fields.items():
            ev[k] = v
        self.events[ev["eventId"]] = {"eventId": ev["eventId"], "event": ev,
                                      "status": "queued", "attempts": 0}
        while len(self.events) > EVENT_LOG_MAX:
            self.events.popitem(last=False)
        self.queue.append((time.monotonic(), ev["eventId"], ev))
        self.counters["events"] += 1
        self.cond.notify_all()
        return ev

    # ---------------------------------------------------------- webhooks

    def _ensure_sender(self):
        if self.sender is None or not self.sender.is_alive():
            self.stopping = False
            self.sender = threading.Thread(target=self._sender_loop,
                                           daemon=True)
            self.sender.start()

    def start(self):
        super().start()
        with self.lock:
            self._ensure_sender()
        return self

    def stop(self):
        with self.lock:
            self.stopping = True
            self.cond.notify_all()
        super().stop()

    def _sender_loop(self):
        with self.lock:
            while not self.stopping:
                wait = self._dispatch()
                self.cond.wait(wait)

    def _dispatch(self):
        """Forms batches and starts due sends (lock held); returns how long
        to sleep."""
        cfg = self.config
        if self.paused or not cfg["webhook_url"]:
            return 0.5
        now = time.monotonic()
        flushing = now < self.flush_until
        linger = cfg["batch_linger_ms"] / 1000.0
        bmax = max(1, min(int(cfg["batch_max"]), WEBHOOK_BATCH_MAX))
        while self.queue and (flushing or len(self.queue) >= bmax or
                              now - self.queue[0][0] >= linger):
            take, self.queue = self.queue[:bmax], self.queue[bmax:]
            self.batch_seq += 1
            self.batches.append({"batch": self.batch_seq, "attempt": 0,
                                 "due": now,
                                 "events": [e for _, _, e in take]})
        wait = 0.5
        if self.queue:
            wait = min(wait, max(0.001, linger - (now - self.queue[0][0])))
        self.batches.sort(key=lambda b: b["due"])
        for b in list(self.batches):
            if self.inflight >= max(1, int(cfg["max_concurrent"])):
                wait = min(wait, 0.01)
                break
            if b["due"] > now and not flushing:
                wait = min(wait, b["due"] - now)
                break
            self.batches.remove(b)
            self.inflight += 1
            threading.Thread(target=self._send, args=(b,),
                             daemon=True).start()
        return max(0.001, wait)

    def _sign_headers(self, body, url):
        cfg = self.config
        secret = cfg["app_secret"]
        signed = cfg["signed_url"] or url
        ver = cfg["signature_version"]
        h = {}
        if ver == "v3":
            ts = str(self.now_ms())
            h["X-HubSpot-Signature-v3"] = sign_v3(secret, "POST", signed,
                                                  body, ts)
            h["X-HubSpot-Request-Timestamp"] = ts
            h["X-HubSpot-Signature"] = sign_v1(secret, body)
            h["X-HubSpot-Signature-Version"] = "v1"
        elif ver == "v2":
            h["X-HubSpot-Signature"] = sign_v2(secret, "POST", signed, body)
            h["X-HubSpot-Signature-Version"] = "v2"
        elif ver == "v1":
            h["X-HubSpot-Signature"] = sign_v1(secret, body)
            h["X-HubSpot-Signature-Version"] = "v1"
        return h

    def _send(self, batch):
        with self.lock:
            cfg = self.config
            url = cfg["webhook_url"]
            timeout = float(cfg["webhook_timeout"])
            evs = []
            for e in batch["events"]:
                e = collections.OrderedDict(e)
                e["attemptNumber"] = batch["attempt"]
                evs.append(e)
            body = dumps(evs).encode("utf-8")
            headers = self._sign_headers(body, url)
            for e in batch["events"]:
                ent = self.events.get(e["eventId"])
                if ent:
                    ent["status"] = "sent"
                    ent["attempts"] = batch["attempt"] + 1
            self.counters["webhooks_sent"] += 1
        status, err = 0, None
        t0 = time.time()
        try:
            u = urlsplit(url)
            cls = http.client.HTTPSConnection if u.scheme == "https" \
                else http.client.HTTPConnection
            conn = cls(u.hostname, u.port, timeout=timeout)
            path = (u.path or "/") + ("?" + u.query if u.query else "")
            try:
                conn.request("POST", path, body=body, headers=dict(
                    headers, **{"Content-Type": "application/json",
                                "User-Agent": "HubSpot Connect 2.0 "
                                "(http://dev.hubspot.com/) (namespace: "
                                "webhooks-nio)"}))
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            err = "timeout" if isinstance(e, TimeoutError) or \
                "timed out" in str(e) else f"{type(e).__name__}: {e}"
        ok = 200 <= status < 300
        with self.lock:
            self.inflight -= 1
            self.delivery_seq += 1
            entry = {"seq": self.delivery_seq, "t": round(t0, 6),
                     "batch": batch["batch"], "url": url,
                     "attempt": batch["attempt"], "status": status,
                     "error": err, "duration_ms":
                     int((time.time() - t0) * 1000),
                     "events": [e["eventId"] for e in batch["events"]],
                     "body": body.decode("utf-8"), "headers": headers}
            self.deliveries.append(entry)
            if len(self.deliveries) > DELIVERY_LOG_MAX:
                del self.deliveries[:len(self.deliveries) -
                                    DELIVERY_LOG_MAX]
            sched = self.config["retry_schedule"]
            if ok:
                final = "delivered"
                self.counters["webhooks_delivered"] += 1
            elif batch["attempt"] < len(sched):
                final = "queued"
                batch["due"] = time.monotonic() + \
                    float(sched[batch["attempt"]])
                batch["attempt"] += 1
                self.batches.append(batch)
            else:
                final = "failed"
                self.counters["webhooks_failed"] += 1
            for e in batch["events"]:
                ent = self.events.get(e["eventId"])
                if ent:
                    ent["status"] = final
            self.cond.notify_all()

    def flush_webhooks(self, timeout=10.0):
        """Sends everything queued and every waiting retry now, then waits
        (up to timeout s) until no send is in flight; returns True when
        nothing is left queued or in flight."""
        end = time.monotonic() + timeout
        with self.lock:
            self.paused = False
            self.flush_until = time.monotonic() + 0.05
            for b in self.batches:
                b["due"] = 0
            self.cond.notify_all()
            while time.monotonic() < end:
                now = time.monotonic()
                pending = self.queue or self.inflight or any(
                    b["due"] <= now for b in self.batches)
                if not pending and now >= self.flush_until:
                    return True
                if not self.config["webhook_url"]:
                    return False
                self.cond.wait(0.02)
            return False

    def pause_webhooks(self):
        with self.lock:
            self.paused = True

    def resume_webhooks(self):
        with self.lock:
            self.paused = False
            self.cond.notify_all()

    def set_subscriptions(self, **on):
        """set_subscriptions(**{"contact.propertyChange": False})."""
        with self.lock:
            for k, v in on.items():
                if k not in SUBSCRIPTION_TYPES:
                    raise ValueError(f"unknown subscription type {k}")
                self.config["subscriptions"][k] = bool(v)
            return dict(self.config["subscriptions"])

    def get_deliveries(self, since=0):
        with self.lock:
            return [copy.deepcopy(d) for d in self.deliveries
                    if d["seq"] > since]

    def get_events(self):
        with self.lock:
            return [copy.deepcopy(e) for e in self.events.values()]

    # ------------------------------------------------------------- knobs

    def fail_next(self, count=1, status=500, *, path_prefix=None,
                  method=None, body=None):
        with self.lock:
            self.faults["fail"].append({
                "count": int(count), "status": int(status),
                "path_prefix": path_prefix, "method": method, "body": body})

    def storm(self, seconds, policy="TEN_SECONDLY_ROLLING", *,
              path_prefix=None):
        if policy not in POLICY_MESSAGE:
            raise ValueError(f"storm policy: one of {sorted(POLICY_MESSAGE)}")
        with self.lock:
            self.faults["storm"].append({
                "until": time.monotonic() + float(seconds),
                "policy": policy, "path_prefix": path_prefix})

    def set_latency(self, ms, path_prefix=None):
        with self.lock:
            self.faults["latency_ms"] = float(ms or 0)
            self.faults["latency_path_prefix"] = path_prefix

    def drop_next(self, count=1, *, path_prefix=None, mode="close"):
        if mode not in ("close", "reset"):
            raise ValueError("drop mode: close or reset")
        with self.lock:
            self.faults["drop"].append({"count": int(count), "mode": mode,
                                        "path_prefix": path_prefix})

    def clear_faults(self):
        with self.lock:
            self.faults = {"fail": [], "storm": [], "latency_ms": 0,
                           "latency_path_prefix": None, "drop": []}

    def apply_faults(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("faults: a JSON object expected")
        if spec.get("clear"):
            self.clear_faults()
        fn = spec.get("fail_next")
        for r in (fn if isinstance(fn, list) else [fn] if fn else []):
            if isinstance(r, int):
                r = {"count": r}
            self.fail_next(r.get("count", 1), r.get("status", 500),
                           path_prefix=r.get("path_prefix"),
                           method=r.get("method"), body=r.get("body"))
        st = spec.get("storm")
        for r in (st if isinstance(st, list) else [st] if st else []):
            self.storm(r.get("seconds", 5),
                       r.get("policy", "TEN_SECONDLY_ROLLING"),
                       path_prefix=r.get("path_prefix"))
        if "latency_ms" in spec:
            self.set_latency(spec["latency_ms"],
                             spec.get("latency_path_prefix"))
        dn = spec.get("drop_next")
        for r in (dn if isinstance(dn, list) else [dn] if dn else []):
            if isinstance(r, int):
                r = {"count": r}
            self.drop_next(r.get("count", 1),
                           path_prefix=r.get("path_prefix"),
                           mode=r.get("mode", "close"))
        return self._faults_view()

    def _faults_view(self):
        with self.lock:
            now = time.monotonic()
            return {"fail": [dict(r) for r in self.faults["fail"]
                             if r["count"] > 0],
                    "storm": [{"seconds_left": round(r["until"] - now, 3),
                               "policy": r["policy"],
                               "path_prefix": r["path_prefix"]}
                              for r in self.faults["storm"]
                              if r["until"] > now],
                    "latency_ms": self.faults["latency_ms"],
                    "latency_path_prefix":
                    self.faults["latency_path_prefix"],
                    "drop": [dict(r) for r in self.faults["drop"]
                             if r["count"] > 0]}

    CONFIG_KEYS = {"token", "tokens", "app_id", "portal_id", "app_secret",
                   "webhook_url", "signed_url", "signature_version",
                   "ten_secondly_limit", "search_per_second", "daily_limit",
                   "daily_used", "retry_after_header", "index_delay_ms",
                   "retry_schedule", "webhook_timeout", "max_concurrent",
                   "batch_max", "batch_linger_ms", "subscriptions",
                   "subscription_ids", "property_subscriptions",
                   "lifecycle_backward", "default_lifecyclestage",
                   "rep_user_id", "next_event_id"}

    def set_config(self, **kw):
        bad = set(kw) - self.CONFIG_KEYS
        if bad:
            raise ValueError(f"unknown config keys: {sorted(bad)}")
        with self.lock:
            for k, v in kw.items():
                if k in ("app_id", "portal_id", "ten_secondly_limit",
                         "search_per_second", "daily_limit",
                         "max_concurrent", "batch_max", "rep_user_id",
                         "index_delay_ms"):
                    v = int(v)
                    if v < 0:
                        raise ValueError(f"{k} must be >= 0")
                elif k in ("webhook_timeout", "batch_linger_ms"):
                    v = float(v)
                elif k == "signature_version":
                    if v not in ("v1", "v2", "v3", "none"):
                        raise ValueError("signature_version: v1, v2, v3 "
                                         "or none")
                elif k == "retry_schedule":
                    v = [float(x) for x in v]
                elif k == "lifecycle_backward":
                    if v not in ("ignore", "error"):
                        raise ValueError("lifecycle_backward: ignore or "
                                         "error")
                elif k == "default_lifecyclestage":
                    if v and v not in LIFECYCLE:
                        raise ValueError(f"default_lifecyclestage: one of "
                                         f"{LIFECYCLE}")
                elif k == "subscriptions":
                    self.set_subscriptions(**v)
                    continue
                elif k == "subscription_ids":
                    self.config[k].update({s: int(i) for s, i in v.items()})
                    continue
                elif k == "tokens":
                    v = {str(t): int(a) for t, a in (v or {}).items()}
                elif k == "daily_used":
                    self.counters["daily_used"] = int(v)
                    continue
                elif k == "next_event_id":
                    self.next_event_id = int(v)
                    continue
                elif k == "property_subscriptions":
                    v = None if v is None else list(v)
                self.config[k] = v
            self.cond.notify_all()
            return self._config_view()

    def _config_view(self):
        c = copy.deepcopy(self.config)
        return c

    # ------------------------------------------------------ rep actions

    def rep_create(self, otype="contacts", properties=None, *, source=None,
                   at=None, rid=None, associations=None):
        """A record created by a user in HubSpot's UI (CRM_UI)."""
        with self.lock:
            self._type(otype)
            vals = self._normalize(otype, properties or {}, creating=True,
                                   api=True)
            self._check_unique(otype, vals)
            assoc = []
            for oid in associations or []:
                other = "deals" if otype == "contacts" else "contacts"
                r = self._live(other, oid)
                if r is None:
                    raise HsError(404, f"{other} {oid} not found",
                                  "OBJECT_NOT_FOUND")
                assoc.append((other, r["id"]))
            rec = self._create(otype, vals, assoc,
                               self._source("ui", source=source),
                               at=parse_when(at), rid=rid)
            return self._state_view(rec)

    def _rep_target(self, otype, rid=None, email=None):
        self._type(otype)
        rec = self._find(otype, email, "email") if email else \
            self._live(otype, rid)
        if rec is None:
            raise HsError(404, f"no {SINGULAR[otype]} "
                          f"{email or rid}", "OBJECT_NOT_FOUND")
        return rec

    def rep_edit(self, otype="contacts", rid=None, properties=None, *,
                 email=None, source=None, at=None):
        """A user edits properties in the UI: no forward-only rule (a UI
        user may clear and set lifecyclestage), CRM_UI events."""
        with self.lock:
            rec = self._rep_target(otype, rid, email)
            vals = self._normalize(otype, properties or {}, creating=False,
                                   api=True, rec=rec)
            self._check_unique(otype, vals, rec)
            self._update(rec, vals, self._source("ui", source=source),
                         at=parse_when(at))
            return self._state_view(rec)

    def rep_delete(self, otype="contacts", rid=None, *, email=None,
                   source=None):
        with self.lock:
            rec = self._rep_target(otype, rid, email)
            self._archive(rec, self._source("ui", source=source))
            return self._state_view(rec)

    def rep_merge(self, primary_id, merge_id, *, source=None):
        with self.lock:
            p = self._live("contacts", primary_id)
            o = self._live("contacts", merge_id)
            if p is None or o is None:
                raise HsError(404, "contact not found", "OBJECT_NOT_FOUND")
            if p is o:
                raise HsError(400, "Cannot merge a contact with itself")
            return self._state_view(self._merge(
                p, o, self._source("ui", source=source)))

    def rep_form_submit(self, form, rid=None, *, email=None, page=None,
                        at=None):
        """A form submission by a contact, as HubSpot records it on the
        contact: recent_conversion_event_name / _date, the count, and
        first_conversion_event_name the first time (changeSource FORM)."""
        with self.lock:
            rec = self._rep_target("contacts", rid, email)
            t = parse_when(at) if at is not None else self.now_ms()
            name = f"{form}: {page}" if page else str(form)
            p = rec["props"]
            vals = {"recent_conversion_event_name": name,
                    "recent_conversion_date": iso_ms(t),
                    "num_conversion_events": str(
                        int(p.get("num_conversion_events", "0")) + 1)}
            if not p.get("first_conversion_event_name"):
                vals["first_conversion_event_name"] = name
            self._update(rec, vals, {"changeSource": "FORM",
                                     "sourceId": str(form)}, at=t)
            return self._state_view(rec)

    def rep_email_event(self, kind, email_name, rid=None, *, email=None,
                        at=None):
        """A marketing email opened or clicked (kind "open" / "click"), as
        HubSpot rolls it up on the contact: hs_email_last_email_name,
        hs_email_last_open_date / _click_date and the counts."""
        if kind not in ("open", "click"):
            raise HsError(400, f"email event kind {kind!r}: open or click")
        with self.lock:
            rec = self._rep_target("contacts", rid, email)
            t = parse_when(at) if at is not None else self.now_ms()
            p = rec["props"]
            count = "hs_email_open" if kind == "open" else "hs_email_click"
            vals = {"hs_email_last_email_name": str(email_name),
                    f"hs_email_last_{kind}_date": iso_ms(t),
                    count: str(int(p.get(count, "0")) + 1)}
            self._update(rec, vals, {"changeSource": "EMAIL",
                                     "sourceId": str(email_name)}, at=t)
            return self._state_view(rec)

    def rep_privacy_delete(self, rid=None, *, email=None, source=None):
        with self.lock:
            rec = self._rep_target("contacts", rid, email)
            self._gdpr_delete(rec, self._source("ui", source=source))
            return {"deleted": rec["id"]}

    def bulk_create(self, otype="contacts", count=1, *, modified=None,
                    properties=None, webhooks=True, source=None):
        """count records sharing one createdate/lastmodifieddate (an import:
        changeSource IMPORT); "{n}" in a property value is 1..count."""
        with self.lock:
            self._type(otype)
            t = parse_when(modified) if modified is not None \
                else self.now_ms()
            if t is None:
                raise ValueError(f"bulk: bad time {modified!r}")
            tmpl = properties or ({"email": "bulk{id}@example.com",
                                   "firstname": "Bulk{id}"}
                                  if otype == "contacts"
                                  else {"dealname": "Deal {n}"})
            src = self._source("import", source=source)
            start = self.next_id[otype]
            ids = []
            for n in range(1, int(count) + 1):
                raw = {k: (v.replace("{n}", str(n)).replace(
                    "{id}", str(start + n - 1)) if isinstance(v, str)
                           else v) for k, v in tmpl.items()}
                vals = self._normalize(otype, raw, creating=True, api=True)
                self._check_unique(otype, vals)
                rec = self._create(otype, vals, [], src, at=t,
                                   prop_events=False, events=webhooks)
                rec["createdAt"] = t
                rec["props"]["createdate"] = iso_ms(t)
                ids.append(rec["id"])
            return {"ids": ids, MODIFIED[otype]: iso_ms(t)}

    def get_contact(self, rid=None, *, email=None):
        """A contact's stored state (archived ones too), or None."""
        with self.lock:
            if email:
                rec = self._find("contacts", email, "email")
            else:
                rec = self.objects["contacts"].get(str(rid))
            return self._state_view(rec) if rec else None

    def get_deal(self, rid):
        with self.lock:
            rec = self.objects["deals"].get(str(rid))
            return self._state_view(rec) if rec else None

    def snapshot(self, omit=()):
        with self.lock:
            out = {"config": self._config_view(),
                   "counters": copy.deepcopy(self.counters),
                   "faults": self._faults_view(),
                   "clock": {"now": iso_ms(self.now_ms()),
                             "offset_seconds": self.clock_offset},
                   "webhooks": {"paused": self.paused,
                                "queued": len(self.queue),
                                "waiting_retry": len(self.batches),
                                "inflight": self.inflight}}
            for t in OBJECT_TYPES:
                if t not in omit:
                    out[t] = [self._state_view(r) for r in
                              sorted(self.objects[t].values(),
                                     key=lambda r: int(r["id"]))]
            if "events" not in omit:
                out["events"] = [copy.deepcopy(e)
                                 for e in self.events.values()]
            if "deliveries" not in omit:
                out["deliveries"] = copy.deepcopy(self.deliveries)
            if "calls" not in omit:
                out["calls"] = list(self.calls)
            return out

    def _type(self, otype):
        if otype not in OBJECT_TYPES:
            raise HsError(400, f"Unable to infer object type from: {otype}",
                          context={"objectType": [str(otype)]})

    # ------------------------------------------------------- requests

    def log_call(self, method, path, query, status, note=None):
        e = {"method": method, "path": path, "query": query,
             "status": status}
        if note:
            e["note"] = note
        record_call(self, e)

    def take_fault(self, method, path):
        """(fault or None, latency seconds); fault is ('drop', mode) |
        ('fail', status, body) | ('storm', policy)."""
        def match(r):
            return (not r.get("path_prefix") or
                    path.startswith(r["path_prefix"])) and \
                (not r.get("method") or r["method"].upper() == method)
        with self.lock:
            f = self.faults
            lat = 0.0
            if f["latency_ms"] and (not f["latency_path_prefix"] or
                                    path.startswith(
                                        f["latency_path_prefix"])):
                lat = f["latency_ms"] / 1000.0
            out = None
            for r in f["drop"]:
                if r["count"] > 0 and match(r):
                    r["count"] -= 1
                    self.counters["connections_dropped"] += 1
                    out = ("drop", r["mode"])
                    break
            if out is None:
                for r in f["fail"]:
                    if r["count"] > 0 and match(r):
                        r["count"] -= 1
                        self.counters["faults_injected"] += 1
                        out = ("fail", r["status"], r["body"])
                        break
            if out is None:
                now = time.monotonic()
                for r in f["storm"]:
                    if r["until"] > now and match(r):
                        out = ("storm", r["policy"])
                        self.counters["faults_injected"] += 1
                        self.counters["rate_limited"][r["policy"]] += 1
                        break
                f["storm"] = [r for r in f["storm"] if r["until"] > now]
            f["fail"] = [r for r in f["fail"] if r["count"] > 0]
            f["drop"] = [r for r in f["drop"] if r["count"] > 0]
            return out, lat

    def auth(self, header):
        """The writing app id for a valid token, else None."""
        if not header or not header.startswith("Bearer "):
            return None
        tok = header[len("Bearer "):].strip()
        with self.lock:
            if tok == self.config["token"]:
                return self.config["app_id"]
            return self.config["tokens"].get(tok)

    def take_rate(self, search):
        """None, or the policy whose limit this call passes; counts it
        otherwise. Also returns the rate headers to send."""
        with self.lock:
            cfg = self.config
            now = time.monotonic()
            daily = cfg["daily_limit"]
            if daily and self.counters["daily_used"] >= daily:
                self.counters["rate_limited"]["DAILY"] += 1
                return "DAILY", {}
            if search:
                lim = cfg["search_per_second"]
                w = self.window1
                while w and w[0] <= now - 1.0:
                    w.popleft()
                if lim and len(w) >= lim:
                    self.counters["rate_limited"]["SECONDLY"] += 1
                    return "SECONDLY", {}
                w.append(now)
                self.counters["daily_used"] += 1
                self.counters["searches"] += 1
                return None, {}
            lim = cfg["ten_secondly_limit"]
            w = self.window10
            while w and w[0] <= now - 10.0:
                w.popleft()
            if lim and len(w) >= lim:
                self.counters["rate_limited"]["TEN_SECONDLY_ROLLING"] += 1
                return "TEN_SECONDLY_ROLLING", self._rate_headers(0)
            w.append(now)
            self.counters["daily_used"] += 1
            return None, self._rate_headers(
                (lim - len(w)) if lim else 1000000)

    def _rate_headers(self, remaining):
        cfg = self.config
        daily = cfg["daily_limit"] or 1000000
        return {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Max": str(cfg["ten_secondly_limit"]),
                "X-HubSpot-RateLimit-Remaining": str(max(0, remaining)),
                "X-HubSpot-RateLimit-Daily": str(daily),
                "X-HubSpot-RateLimit-Daily-Remaining":
                str(max(0, daily - self.counters["daily_used"]))}

    # ------------------------------------------------------ API handlers

    def api(self, method, path, qs, data, app_id):
        """Routes one authenticated call; returns (status, body or None,
        note) or raises HsError."""
        parts = [unquote(p) for p in path.split("/") if p]
        with self.lock:
            if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
                otype = parts[3]
                self._type(otype)
                rest = parts[4:]
                src = self._source("api", app_id)
                if not rest:
                    if method == "GET":
                        return self.api_list(otype, qs)
                    if method == "POST":
                        return self.api_create(otype, data, src)
                    raise self._405(method, path)
                if rest[0] == "batch" and len(rest) == 2:
                    if method != "POST":
                        raise self._405(method, path)
                    op = rest[1]
                    if op == "read":
                        return self.api_batch_read(otype, data, qs)
                    if op == "create":
                        return self.api_batch_create(otype, data, src)
                    if op == "update":
                        return self.api_batch_update(otype, data, src)
                    if op == "upsert":
                        return self.api_batch_upsert(otype, data, src)
                    if op == "archive":
                        return self.api_batch_archive(otype, data, src)
                    raise self._404(path)
                if len(rest) == 1 and rest[0] == "search":
                    if method != "POST":
                        raise self._405(method, path)
                    return self.api_search(otype, data)
                if len(rest) == 1 and rest[0] == "merge" and \
                        otype == "contacts" and method == "POST":
                    return self.api_merge(data, src)
                if len(rest) == 1 and rest[0] == "gdpr-delete" and \
                        otype == "contacts" and method == "POST":
                    return self.api_gdpr(data, src)
                if len(rest) == 1:
                    if method == "GET":
                        return self.api_get(otype, rest[0], qs)
                    if method == "PATCH":
                        return self.api_patch(otype, rest[0], qs, data, src)
                    if method == "DELETE":
                        return self.api_delete(otype, rest[0], src)
                    raise self._405(method, path)
                if len(rest) == 3 and rest[1] == "associations" and \
                        method == "GET":
                    return self.api_v3_assoc_list(otype, rest[0], rest[2])
                raise self._404(path)
            if parts[:3] == ["crm", "v3", "properties"] and \
                    len(parts) in (4, 5):
                otype = parts[3]
                self._type(otype)
                if len(parts) == 4:
                    if method == "GET":
                        return 200, {"results": [
                            copy.deepcopy(d) for d in
                            self.propdefs[otype].values()]}, None
                    if method == "POST":
                        return self.api_prop_create(otype, data)
                    raise self._405(method, path)
                if method == "GET":
                    d = self.propdefs[otype].get(parts[4])
                    if d is None:
                        raise HsError(404, f"Unable to find property "
                                      f"{parts[4]}", "OBJECT_NOT_FOUND",
                                      context={"name": [parts[4]]})
                    return 200, copy.deepcopy(d), None
                raise self._405(method, path)
            if parts[:3] == ["crm", "v4", "associations"] and \
                    len(parts) == 7 and parts[5:] == ["batch", "read"]:
                if method != "POST":
                    raise self._405(method, path)
                return self.api_v4_batch_read(parts[3], parts[4], data)
            if parts[:3] == ["crm", "v4", "objects"] and len(parts) >= 6 \
                    and parts[5] == "associations":
                return self.api_v4(method, parts[3:], app_id)
            raise self._404(path)

    def _404(self, path):
        return HsError(404, f"Unable to route request to {path}",
                       "OBJECT_NOT_FOUND", note="no route")

    def _405(self, method, path):
        return HsError(405, f"HTTP method {method} is not supported by "
                       f"this URL", "VALIDATION_ERROR", note="method")

    @staticmethod
    def _prop_list(qs):
        vals = qs.get("properties") or []
        out = []
        for v in vals:
            out += [x.strip() for x in v.split(",") if x.strip()]
        return out

    @staticmethod
    def _flag(qs, name):
        v = (qs.get(name) or ["false"])[-1].lower()
        return v == "true"

    def _body(self, data, what):
        if not isinstance(data, dict):
            raise HsError(400, f"Invalid input JSON on line 1, column 1: "
                          f"{what} must be a JSON object",
                          note="body not an object")
        return data

    def api_list(self, otype, qs):
        try:
            limit = int((qs.get("limit") or ["10"])[-1])
            after = int((qs.get("after") or ["0"])[-1] or 0)
        except ValueError:
            raise HsError(400, "limit and after must be integers")
        limit = max(1, min(limit, LIST_LIMIT_MAX))
        archived = self._flag(qs, "archived")
        recs = sorted((r for r in self.objects[otype].values()
                       if r["archived"] == archived),
                      key=lambda r: int(r["id"]))
        recs = [r for r in recs if int(r["id"]) >= after]
        page, more = recs[:limit], recs[limit:]
        props = self._prop_list(qs)
        assoc = self._prop_list({"properties": qs.get("associations", [])})
        out = {"results": [self._view(r, props, assoc) for r in page]}
        if more:
            nxt = more[0]["id"]
            out["paging"] = {"next": {
                "after": nxt,
                "link": f"{self.base_url}/crm/v3/objects/{otype}?"
                        f"after={nxt}"}}
        return 200, out, None

    def api_create(self, otype, data, src):
        data = self._body(data, "SimplePublicObjectInputForCreate")
        vals = self._normalize(otype, data.get("properties"), creating=True,
                               api=True)
        assoc = self._check_assoc(otype, data.get("associations"))
        self._check_unique(otype, vals)
        rec = self._create(otype, vals, assoc, src)
        return 201, self._view(rec, sorted(set(
            DEFAULT_PROPS[otype]) | set(rec["props"]))), \
            f"created {rec['id']}"

    def _get_one(self, otype, key, qs):
        idp = (qs.get("idProperty") or [None])[-1]
        if idp is None and not re.fullmatch(r"\d+", key):
            raise HsError(404, "Object not found.  objectId are usually "
                          "numeric.", "OBJECT_NOT_FOUND",
                          context={"id": [key]})
        rec = self._find(otype, key, idp,
                         archived=self._flag(qs, "archived"))
        if rec is None:
            raise HsError(404, "resource not found", "OBJECT_NOT_FOUND",
                          context={"id": [key]}, note="not found")
        return rec

    def api_get(self, otype, key, qs):
        rec = self._get_one(otype, key, qs)
        assoc = self._prop_list({"properties": qs.get("associations", [])})
        return 200, self._view(rec, self._prop_list(qs), assoc), None

    def api_patch(self, otype, key, qs, data, src):
        data = self._body(data, "SimplePublicObjectInput")
        rec = self._get_one(otype, key, {"idProperty": qs.get(
            "idProperty", [None])})
        vals = self._normalize(otype, data.get("properties"),
                               creating=False, api=True, rec=rec)
        asked = set(vals)
        note = self._lifecycle_check(rec, vals, True)
        self._check_unique(otype, vals, rec)
        changed = self._update(rec, vals, src)
        return 200, self._view(rec, sorted(set(DEFAULT_PROPS[otype]) |
                                           asked)), \
            note or (f"changed {','.join(changed)}" if changed
                     else "no change")

    def api_delete(self, otype, key, src):
        rec = self._live(otype, key) if re.fullmatch(r"\d+", key) else None
        if rec is None:
            return 204, None, "not found (204 anyway)"
        self._archive(rec, src)
        return 204, None, f"archived {rec['id']}"

    def _inputs(self, data, what):
        data = self._body(data, what)
        inputs = data.get("inputs")
        if not isinstance(inputs, list):
            raise HsError(400, "Invalid input JSON: inputs must be a list",
                          note="no inputs")
        if len(inputs) > BATCH_MAX:
            raise HsError(400, f"Batch input of {len(inputs)} exceeds the "
                          f"limit of {BATCH_MAX} inputs",
                          context={"limit": [str(BATCH_MAX)]},
                          note=f"{len(inputs)} inputs")
        for i in inputs:
            if not isinstance(i, dict):
                raise HsError(400, "Invalid input JSON: each input must be "
                              "an object")
        return data, inputs

    def _batch_out(self, results, errors, started, status_ok):
        out = {"status": "COMPLETE", "results": results,
               "startedAt": iso_ms(started),
               "completedAt": iso_ms(self.now_ms())}
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
            return 207, out
        return status_ok, out

    def _not_found_error(self, otype, ids, what="get"):
        return {"status": "error", "category": "OBJECT_NOT_FOUND",
                "message": f"Could not {what} some {UPPER[otype]} "
                           f"objects, they may be deleted or not exist. "
                           f"Check that ids are valid.",
                "context": {"ids": [str(i) for i in ids]},
                "errors": [], "links": {}}

    def api_batch_read(self, otype, data, qs):
        started = self.now_ms()
        data, inputs = self._inputs(data, "BatchReadInputSimplePublicObjectId")
        idp = data.get("idProperty")
        props = data.get("properties") or []
        if not isinstance(props, list):
            raise HsError(400, "properties must be a list")
        archived = self._flag(qs, "archived")
        results, missing, seen = [], [], set()
        for i in inputs:
            key = str(i.get("id", ""))
            rec = None
            if key and (idp or re.fullmatch(r"\d+", key)):
                rec = self._find(otype, key, idp, archived=archived)
            if rec is None:
                missing.append(key)
                continue
            if rec["id"] in seen:
                continue
            seen.add(rec["id"])
            results.append(self._view(rec, props))
        errors = [self._not_found_error(otype, missing)] if missing else []
        st, out = self._batch_out(results, errors, started, 200)
        return st, out, f"{len(results)} read, {len(missing)} missing"

    def api_batch_create(self, otype, data, src):
        started = self.now_ms()
        _, inputs = self._inputs(data, "BatchInputSimplePublicObjectInput"
                                 "ForCreate")
        prepared, bad, emails = [], [], {}
        for n, i in enumerate(inputs):
            try:
                vals = self._normalize(otype, i.get("properties"),
                                       creating=True, api=True)
            except HsError as e:
                bad.append((n, e))
                continue
            if otype == "contacts" and vals.get("email"):
                if vals["email"] in emails:
                    raise HsError(409, f"Duplicate email {vals['email']} "
                                  f"in inputs {emails[vals['email']]} and "
                                  f"{n}", "CONFLICT", note="dup in batch")
                emails[vals["email"]] = n
            prepared.append((vals, self._check_assoc(
                otype, i.get("associations"))))
        if bad:
            raise bad[0][1]
        for vals, _ in prepared:
            self._check_unique(otype, vals)
        results = []
        for vals, assoc in prepared:
            rec = self._create(otype, vals, assoc, src)
            results.append(self._view(rec, sorted(set(
                DEFAULT_PROPS[otype]) | set(rec["props"]))))
        st, out = self._batch_out(results, [], started, 201)
        return st, out, f"{len(results)} created"

    def api_batch_update(self, otype, data, src):
        started = self.now_ms()
        _, inputs = self._inputs(data, "BatchInputSimplePublicObjectBatch"
                                 "Input")
        plan, missing = [], []
        for i in inputs:
            key = str(i.get("id", ""))
            idp = i.get("idProperty")
            rec = None
            if key and (idp or re.fullmatch(r"\d+", key)):
                rec = self._find(otype, key, idp)
            if rec is None:
                missing.append(key)
                continue
            vals = self._normalize(otype, i.get("properties"),
                                   creating=False, api=True, rec=rec)
            plan.append((rec, vals))
        for rec, vals in plan:
            self._check_unique(otype, vals, rec)
        results, notes = [], []
        for rec, vals in plan:
            asked = set(vals)
            n = self._lifecycle_check(rec, vals, True)
            if n:
                notes.append(f"{rec['id']}: {n}")
            self._update(rec, vals, src)
            results.append(self._view(rec, sorted(set(
                DEFAULT_PROPS[otype]) | asked)))
        errors = [self._not_found_error(otype, missing, "update")] \
            if missing else []
        st, out = self._batch_out(results, errors, started, 200)
        return st, out, "; ".join([f"{len(results)} updated, "
                                   f"{len(missing)} missing"] + notes)

    def api_batch_upsert(self, otype, data, src):
        started = self.now_ms()
        _, inputs = self._inputs(data, "BatchInputSimplePublicObjectBatch"
                                 "InputUpsert")
        plan, seen = [], set()
        for n, i in enumerate(inputs):
            idp = i.get("idProperty")
            key = i.get("id")
            if not idp or key in (None, ""):
                raise HsError(400, "Each input needs id and idProperty",
                              context={"index": [str(n)]})
            d = self.propdefs[otype].get(idp)
            if d is None or not d["hasUniqueValue"]:
                raise HsError(400, f"Property {idp} is not a unique "
                              f"identifier property; upsert needs one",
                              context={"idProperty": [str(idp)]})
            props = dict(i.get("properties") or {})
            vals = self._normalize(otype, dict(props, **{idp: key}),
                                   creating=True, api=True)
            k = vals[idp]
            if (idp, k) in seen:
                raise HsError(400, f"Duplicate {idp} {k} in inputs",
                              context={idp: [k]}, note="dup in batch")
            seen.add((idp, k))
            rec = self._find(otype, k, idp)
            if rec is not None:
                vals = self._normalize(otype, props, creating=False,
                                       api=True, rec=rec)
            plan.append((rec, vals))
        results, notes = [], []
        for rec, vals in plan:
            if rec is None:
                self._check_unique(otype, vals)
                rec = self._create(otype, vals, [], src)
                results.append(self._view(rec, sorted(set(
                    DEFAULT_PROPS[otype]) | set(rec["props"])),
                    upsert_new=True))
            else:
                asked = set(vals)
                n = self._lifecycle_check(rec, vals, True)
                if n:
                    notes.append(f"{rec['id']}: {n}")
                self._check_unique(otype, vals, rec)
                self._update(rec, vals, src)
                results.append(self._view(rec, sorted(set(
                    DEFAULT_PROPS[otype]) | asked), upsert_new=False))
        st, out = self._batch_out(results, [], started, 200)
        new = sum(1 for r in results if r["new"])
        return st, out, "; ".join([f"{new} created, {len(results) - new} "
                                   f"updated"] + notes)

    def api_batch_archive(self, otype, data, src):
        _, inputs = self._inputs(data, "BatchInputSimplePublicObjectId")
        for i in inputs:
            rec = self._live(otype, str(i.get("id", "")))
            if rec is not None:
                self._archive(rec, src)
        return 204, None, f"{len(inputs)} archived"

    def api_merge(self, data, src):
        data = self._body(data, "PublicMergeInput")
        a, b = data.get("primaryObjectId"), data.get("objectIdToMerge")
        if a in (None, "") or b in (None, ""):
            raise HsError(400, "primaryObjectId and objectIdToMerge are "
                          "required")
        a, b = str(a), str(b)
        for k in (a, b):
            r = self.objects["contacts"].get(k)
            if r is not None and r["mergedInto"]:
                raise HsError(400, f"Contact {k} was already merged into "
                              f"{r['mergedInto']}",
                              context={"id": [k]}, note="already merged")
        p, o = self._live("contacts", a), self._live("contacts", b)
        if p is None or o is None:
            raise HsError(404, "resource not found", "OBJECT_NOT_FOUND",
                          context={"id": [a if p is None else b]})
        if p is o:
            raise HsError(400, "Cannot merge a contact with itself",
                          context={"id": [a]})
        self._merge(p, o, src)
        return 200, self._view(p, sorted(set(DEFAULT_PROPS["contacts"]) |
                                         set(p["props"]))), \
            f"merged {b} into {a}"

    def api_gdpr(self, data, src):
        data = self._body(data, "PublicGdprDeleteInput")
        key = data.get("objectId")
        if key in (None, ""):
            raise HsError(400, "objectId is required")
        idp = data.get("idProperty")
        key = str(key)
        rec = self._find("contacts", key, idp) if (
            idp or re.fullmatch(r"\d+", key)) else None
        if rec is None:
            raise HsError(404, "resource not found", "OBJECT_NOT_FOUND",
                          context={"id": [key]})
        self._gdpr_delete(rec, src)
        return 204, None, f"gdpr-deleted {rec['id']}"

    def api_prop_create(self, otype, data):
        data = self._body(data, "PropertyCreate")
        missing = [k for k in ("name", "label", "type", "fieldType",
                               "groupName") if not data.get(k)]
        if missing:
            raise HsError(400, f"Missing required fields: "
                          f"{', '.join(missing)}",
                          context={"fields": missing})
        name = str(data["name"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise HsError(400, f"Property name {name} must start with a "
                          f"lower-case letter and hold only lower-case "
                          f"letters, digits and underscores")
        if name in self.propdefs[otype]:
            raise HsError(409, f"Property named '{name}' already exists.",
                          "OBJECT_ALREADY_EXISTS",
                          context={"name": [name]})
        if data["type"] not in ("string", "number", "date", "datetime",
                                "enumeration", "bool"):
            raise HsError(400, f"Invalid type {data['type']}",
                          context={"type": [str(data["type"])]})
        opts = data.get("options") or []
        if data["type"] == "enumeration" and data.get("fieldType") != \
                "checkbox" and not opts:
            raise HsError(400, "Enumeration properties need options")
        d = self._full_propdef({
            "name": name, "label": data["label"], "type": data["type"],
            "fieldType": data["fieldType"], "groupName": data["groupName"],
            "description": data.get("description", ""),
            "options": [{"label": o.get("label", o.get("value")),
                         "value": o.get("value"),
                         "displayOrder": o.get("displayOrder", i),
                         "hidden": bool(o.get("hidden"))}
                        for i, o in enumerate(opts)],
            "hasUniqueValue": bool(data.get("hasUniqueValue")),
            "hidden": bool(data.get("hidden")), "builtin": False,
            "displayOrder": data.get("displayOrder", -1)},
            self.now_ms(), -1)
        self.propdefs[otype][name] = d
        return 201, copy.deepcopy(d), f"property {name}"

    def api_v3_assoc_list(self, otype, key, to):
        self._type(to)
        rec = self._live(otype, key)
        if rec is None or (otype, to) not in ASSOC_TYPE:
            raise HsError(404, "resource not found", "OBJECT_NOT_FOUND")
        _, label = ASSOC_TYPE[(otype, to)]
        return 200, {"results": [{"id": i, "type": label}
                                 for i in sorted(rec["assoc"], key=int)
                                 if self._live(to, i)]}, None

    def api_v4_batch_read(self, frm, to, data):
        """POST /crm/v4/associations/{from}/{to}/batch/read: per input id,
        {from: {id}, to: [{toObjectId, associationTypes}]}; an id with no
        association (or no such record) is a per-item error of a 207."""
        self._type(frm)
        self._type(to)
        started = self.now_ms()
        _, inputs = self._inputs(data, "BatchInputPublicFetchAssociations"
                                 "BatchRequest")
        if (frm, to) not in ASSOC_TYPE:
            raise HsError(400, f"No association type between {frm} and "
                          f"{to}")
        tid, _ = ASSOC_TYPE[(frm, to)]
        results, errors = [], []
        for i in inputs:
            key = str(i.get("id", ""))
            rec = self._live(frm, key) if re.fullmatch(r"\d+", key) \
                else None
            linked = sorted((x for x in (rec["assoc"] if rec else ())
                             if self._live(to, x)), key=int)
            if not linked:
                errors.append({
                    "status": "error", "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": f"No {SINGULAR[to]} is associated with "
                               f"{SINGULAR[frm]} {key}.",
                    "context": {"fromObjectId": [key]},
                    "errors": [], "links": {}})
                continue
            results.append({"from": {"id": rec["id"]}, "to": [
                {"toObjectId": int(x), "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": tid,
                     "label": None}]} for x in linked]})
        st, out = self._batch_out(results, errors, started, 200)
        return st, out, f"{len(results)} with associations"

    def api_v4(self, method, parts, app_id):
        # parts: [from, id, "associations", ...]
        frm, fid = parts[0], parts[1]
        self._type(frm)
        rest = parts[3:]
        a = self._live(frm, fid)
        if method == "GET" and len(rest) == 1:
            to = rest[0]
            self._type(to)
            if a is None:
                raise HsError(404, "resource not found", "OBJECT_NOT_FOUND",
                              context={"id": [fid]})
            tid, _ = ASSOC_TYPE.get((frm, to), (None, None))
            return 200, {"results": [
                {"toObjectId": int(i), "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": tid,
                     "label": None}]}
                for i in sorted(a["assoc"], key=int)
                if self._live(to, i)]}, None
        if method == "PUT" and len(rest) == 3 and rest[0] == "default":
            to, tid_ = rest[1], rest[2]
            self._type(to)
            b = self._live(to, tid_)
            if a is None or b is None or (frm, to) not in ASSOC_TYPE:
                raise HsError(404, "resource not found", "OBJECT_NOT_FOUND",
                              context={"id": [fid if a is None else tid_]})
            started = self.now_ms()
            self._associate(frm, a["id"], to, b["id"])
            t1, _ = ASSOC_TYPE[(frm, to)]
            t2, _ = ASSOC_TYPE[(to, frm)]
            res = [{"from": {"id": a["id"]}, "to": {"id": b["id"]},
                    "associationSpec": {"associationCategory":
                                        "HUBSPOT_DEFINED",
                                        "associationTypeId": t1}},
                   {"from": {"id": b["id"]}, "to": {"id": a["id"]},
                    "associationSpec": {"associationCategory":
                                        "HUBSPOT_DEFINED",
                                        "associationTypeId": t2}}]
            st, out = self._batch_out(res, [], started, 200)
            return st, out, f"associated {frm} {a['id']} {to} {b['id']}"
        if method == "DELETE" and len(rest) == 2:
            to, tid_ = rest[0], rest[1]
            self._type(to)
            b = self._live(to, tid_)
            if a is not None and b is not None:
                a["assoc"].discard(b["id"])
                b["assoc"].discard(a["id"])
            return 204, None, None
        raise self._404("/crm/v4/objects/" + "/".join(parts))

    # ----------------------------------------------------------- search

    def _cmp_value(self, otype, prop, v):
        """A comparable form of a stored or filter value."""
        d = self.propdefs[otype].get(prop)
        t = d["type"] if d else "string"
        if v is None or v == "":
            return None
        if t in ("datetime", "date"):
            return parse_when(v)
        if t == "number":
            try:
                return float(v)
            except (TypeError, ValueError):
                return None
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v).lower()

    def _compile_filter(self, otype, f):
        """A test (rec -> bool) for one search filter, its constant values
        converted once."""
        name = f["propertyName"]
        op = f["operator"]
        cv = self._cv

        def have(rec):
            return rec["idx"].get(name) not in (None, "")
        if op == "HAS_PROPERTY":
            return have
        if op == "NOT_HAS_PROPERTY":
            return lambda rec: not have(rec)
        if op in ("IN", "NOT_IN"):
            vs = {self._cmp_value(otype, name, x)
                  for x in f.get("values") or []}
            vs.discard(None)
            if op == "IN":
                return lambda rec: cv(otype, rec, name) in vs
            return lambda rec: cv(otype, rec, name) not in vs
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            tok = str(f.get("value", "")).lower().strip("*")

            def hit(rec):
                return have(rec) and tok in str(rec["idx"][name]).lower()
            if op == "CONTAINS_TOKEN":
                return hit
            return lambda rec: not hit(rec)
        fv = self._cmp_value(otype, name, f.get("value"))
        if op == "NEQ":
            return lambda rec: cv(otype, rec, name) != fv
        if fv is None:
            return lambda rec: False
        hv = self._cmp_value(otype, name, f.get("highValue"))
        cmp = {"EQ": lambda v: v == fv, "LT": lambda v: v < fv,
               "LTE": lambda v: v <= fv, "GT": lambda v: v > fv,
               "GTE": lambda v: v >= fv,
               "BETWEEN": lambda v: hv is not None and fv <= v <= hv}[op]

        def test(rec):
            c = rec["idx_c"]
            v = c[name] if name in c else cv(otype, rec, name)
            if v is None:
                return False
            try:
                return cmp(v)
            except TypeError:
                return False
        return test

    OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN",
                 "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
                 "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}

    def api_search(self, otype, data):
        data = self._body(data, "PublicObjectSearchRequest")
        groups = data.get("filterGroups") or []
        if not isinstance(groups, list):
            raise HsError(400, "filterGroups must be a list")
        if len(groups) > MAX_FILTER_GROUPS:
            raise HsError(400, f"Too many filter groups: {len(groups)}; "
                          f"the limit is {MAX_FILTER_GROUPS}",
                          note="filter groups")
        total_filters = 0
        for g in groups:
            fs = (g or {}).get("filters") or []
            if len(fs) > MAX_FILTERS_PER_GROUP:
                raise HsError(400, f"Too many filters in a group: "
                              f"{len(fs)}; the limit is "
                              f"{MAX_FILTERS_PER_GROUP}", note="filters")
            total_filters += len(fs)
            for f in fs:
                if not isinstance(f, dict) or "propertyName" not in f:
                    raise HsError(400, "Each filter needs propertyName and "
                                  "operator")
                op = f.get("operator")
                if op not in self.OPERATORS:
                    raise HsError(400, f"Invalid operator {op!r}; one of "
                                  f"{', '.join(sorted(self.OPERATORS))}",
                                  context={"operator": [str(op)]})
                if f["propertyName"] not in self.propdefs[otype]:
                    raise HsError(400, f'Property "{f["propertyName"]}" '
                                  f'does not exist',
                                  context={"propertyName":
                                           [str(f["propertyName"])]},
                                  note="unknown filter property")
                if op == "BETWEEN" and ("value" not in f or
                                        "highValue" not in f):
                    raise HsError(400, "BETWEEN needs value and highValue")
                if op in ("IN", "NOT_IN") and not isinstance(
                        f.get("values"), list):
                    raise HsError(400, f"{op} needs values (a list)")
                if op not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY", "IN",
                              "NOT_IN") and "value" not in f:
                    raise HsError(400, f"{op} needs value")
        if total_filters > MAX_FILTERS:
            raise HsError(400, f"Too many filters: {total_filters}; the "
                          f"limit is {MAX_FILTERS}", note="filters")
        try:
            limit = int(data.get("limit", 10))
            after = int(data.get("after") or 0)
        except (TypeError, ValueError):
            raise HsError(400, "limit and after must be integers")
        if limit > SEARCH_LIMIT_MAX or limit < 0:
            raise HsError(400, f"limit must be between 0 and "
                          f"{SEARCH_LIMIT_MAX}; got {limit}",
                          context={"limit": [str(limit)]}, note="limit")
        if after >= SEARCH_CAP:
            raise HsError(400, f"Search results are limited to "
                          f"{SEARCH_CAP} per query; after {after} is "
                          f"past the limit. Narrow the query.",
                          context={"after": [str(after)]},
                          note="10k cap")
        sorts = data.get("sorts") or []
        if not isinstance(sorts, list) or len(sorts) > 1:
            raise HsError(400, "Only one sort is supported")
        sort = None
        if sorts:
            s = sorts[0]
            if isinstance(s, str):
                sort = (s.lstrip("-"), s.startswith("-"))
            elif isinstance(s, dict) and s.get("propertyName"):
                d = str(s.get("direction", "ASCENDING")).upper()
                if d not in ("ASCENDING", "DESCENDING"):
                    raise HsError(400, f"Invalid sort direction {d}")
                sort = (s["propertyName"], d == "DESCENDING")
            else:
                raise HsError(400, "sorts: {propertyName, direction}")
            if sort[0] not in self.propdefs[otype]:
                raise HsError(400, f'Property "{sort[0]}" does not exist',
                              context={"propertyName": [sort[0]]})
        query = str(data.get("query") or "").strip().lower()
        props = data.get("properties") or []
        now = self.now_ms()
        tests = [[self._compile_filter(otype, f)
                  for f in (g or {}).get("filters") or []]
                 for g in groups]
        hits = []
        # Plain loops, not any()/all() over generators: a search scans
        # every record, and this is most of its time with 25,000.
        for rec in self.objects[otype].values():
            idx = self._indexed(rec, now) if rec["idx_q"] else rec["idx"]
            if idx is None or rec["archived"]:
                continue
            if tests:
                for g in tests:
                    for t in g:
                        if not t(rec):
                            break
                    else:
                        break           # every filter of g holds
                else:
                    continue            # no group holds
            if query and not any(query in str(idx.get(p, "")).lower()
                                 for p in QUERY_PROPS[otype]):
                continue
            hits.append((rec, idx))
        if sort:
            name, desc = sort
            have = [(self._cv(otype, r, name), r, i) for r, i in hits]
            with_v = [x for x in have if x[0] is not None]
            without = [x for x in have if x[0] is None]
            with_v.sort(key=lambda x: int(x[1]["id"]))
            with_v.sort(key=lambda x: x[0], reverse=desc)
            without.sort(key=lambda x: int(x[1]["id"]))
            total = len(with_v) + len(without)
            end = min(after + limit, SEARCH_CAP)
            # Only the page is taken apart: most hits are not on it.
            page = [(r, i) for _, r, i in (with_v + without)[after:end]]
        else:
            ordered = sorted(hits, key=lambda x: int(x[0]["id"]))
            total = len(ordered)
            end = min(after + limit, SEARCH_CAP)
            page = ordered[after:end]
        results = []
        for rec, idx in page:
            v = self._view(rec, props)
            names = props if props else DEFAULT_PROPS[otype]
            v["properties"] = {n: (idx.get(n) or None) for n in names
                               if n in self.propdefs[otype]}
            if idx.get(MODIFIED[otype]):
                v["updatedAt"] = idx[MODIFIED[otype]]
            results.append(v)
        out = {"total": total, "results": results}
        if end < total and limit > 0:
            out["paging"] = {"next": {"after": str(end)}}
        return 200, out, f"{total} hits, {len(results)} from {after}"


# --------------------------------------------------------------------------

class Handler(SimHandler):
    server_version = "HubSpotSim/1.0"
    name = "hubspot_sim"

    def too_large(self):
        self.close_connection = True
        self.send_json(413, HsError(413, "Request entity too large",
                                    "VALIDATION_ERROR").body)

    def send_json(self, status, obj, headers=None):
        """Answers; a client that is gone (it timed out: the latency
        fault) is not a simulator error, the call stays in the log."""
        try:
            self._send_json(status, obj, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_json(self, status, obj, headers=None):
        data = b"" if obj is None else dumps(obj).encode("utf-8")
        self.send_response(status)
        corr = obj.get("correlationId") if isinstance(obj, dict) else None
        self.send_header("X-HubSpot-Correlation-Id",
                         corr or str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if obj is not None:
            self.send_header("Content-Type",
                             "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def handle_any(self, method):
        sim = self.sim
        req = self.take_request(method, HsError, self.send_json)
        if req is None:
            return
        path, query, body, fault = req
        if fault and fault[0] == "fail":
            _, st, fbody = fault
            if fbody is None:
                fbody = rate_body("TEN_SECONDLY_ROLLING") if st == 429 \
                    else HsError(st, "internal error" if st >= 500 else
                                 "injected error", "INTERNAL_ERROR"
                                 if st >= 500 else "VALIDATION_ERROR").body
            sim.log_call(method, path, query, st, "injected")
            self.send_json(st, fbody)
            return
        if fault and fault[0] == "storm":
            sim.log_call(method, path, query, 429, f"storm {fault[1]}")
            self.send_json(429, rate_body(fault[1]), self._ra())
            return
        app_id = sim.auth(self.headers.get("Authorization"))
        if app_id is None:
            e = HsError(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")
            sim.log_call(method, path, query, 401, "bad token")
            self.send_json(401, e.body, {"X-HubSpot-Auth-Failure":
                                         "401 Unauthorized"})
            return
        is_search = path.endswith("/search")
        policy, rheaders = sim.take_rate(is_search)
        if policy:
            sim.log_call(method, path, query, 429, policy)
            self.send_json(429, rate_body(policy),
                           dict(rheaders, **self._ra(policy)))
            return
        data = None
        if body:
            try:
                data = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                err = HsError(400, f"Invalid input JSON on line "
                              f"{getattr(e, 'lineno', 1)}, column "
                              f"{getattr(e, 'colno', 1)}: {e}",
                              note="bad json")
                sim.log_call(method, path, query, 400, "bad json")
                self.send_json(400, err.body, rheaders)
                return
        qs = parse_qs(query, keep_blank_values=True)
        try:
            status, out, note = sim.api(method, path, qs, data, app_id)
        except HsError as e:
            sim.log_call(method, path, query, e.status,
                         e.note or e.body.get("message", "")[:200])
            self.send_json(e.status, e.body, rheaders)
            return
        except Exception as e:           # a simulator bug: say so loudly
            import traceback
            traceback.print_exc()
            err = HsError(500, f"simulator error: {e}", "INTERNAL_ERROR")
            sim.log_call(method, path, query, 500, str(e))
            self.send_json(500, err.body)
            return
        sim.log_call(method, path, query, status, note)
        self.send_json(status, out, rheaders)

    def _ra(self, policy=None):
        if not self.sim.config["retry_after_header"]:
            return {}
        return {"Retry-After": 1 if policy == "SECONDLY" else 10}

    def control(self, method, path, query, body):
        sim = self.sim
        name, data, qs = self.control_request(path, query, body)
        qs = {k: v[0] for k, v in qs.items()}
        if name == "state" and method == "GET":
            omit = set(qs.get("omit", "").split(","))
            self.send_json(200, sim.snapshot(omit))
        elif name == "deliveries" and method == "GET":
            self.send_json(200, {"deliveries": sim.get_deliveries(
                int(qs.get("since", 0)))})
        elif name == "reset" and method == "POST":
            sim.reset()
            self.send_json(200, {"ok": True})
        elif name == "faults" and method == "GET":
            self.send_json(200, sim._faults_view())
        elif name == "faults" and method == "POST":
            self.send_json(200, sim.apply_faults(data))
        elif name == "config" and method == "GET":
            with sim.lock:
                self.send_json(200, sim._config_view())
        elif name == "config" and method == "POST":
            self.send_json(200, sim.set_config(**data))
        elif name == "rep" and method == "POST":
            self.send_json(200, self.rep(data))
        elif name == "bulk" and method == "POST":
            otype = data.get("object", "contacts")
            self.send_json(200, sim.bulk_create(
                otype, data.get("count", 1),
                modified=data.get(MODIFIED.get(otype, "lastmodifieddate"),
                                  data.get("lastmodifieddate")),
                properties=data.get("properties"),
                webhooks=data.get("webhooks", True),
                source=data.get("source")))
        elif name == "clock" and method == "POST":
            now = sim.advance_clock(data.get("advance_seconds", 0))
            self.send_json(200, {"now": iso_ms(now)})
        elif name == "webhooks" and method == "POST":
            out = {}
            if data.get("subscriptions"):
                out["subscriptions"] = sim.set_subscriptions(
                    **data["subscriptions"])
            if data.get("pause"):
                sim.pause_webhooks()
            if data.get("resume"):
                sim.resume_webhooks()
            if data.get("flush"):
                out["flushed"] = sim.flush_webhooks(
                    float(data.get("timeout", 10)))
            with sim.lock:
                out["paused"] = sim.paused
            self.send_json(200, out)
        else:
            self.send_json(404, {"error": f"no control endpoint "
                                          f"{method} {path}"})

    def rep(self, d):
        sim = self.sim
        action = d.get("action", "edit")
        otype = d.get("object", "contacts")
        src = d.get("source")
        if action == "edit":
            return sim.rep_edit(otype, d.get("id"), d.get("properties"),
                                email=d.get("email"), source=src,
                                at=d.get("at"))
        if action == "create":
            return sim.rep_create(otype, d.get("properties"), source=src,
                                  at=d.get("at"), rid=d.get("id"),
                                  associations=d.get("associations"))
        if action == "delete":
            return sim.rep_delete(otype, d.get("id"), email=d.get("email"),
                                  source=src)
        if action == "merge":
            return sim.rep_merge(d.get("primaryObjectId"),
                                 d.get("objectIdToMerge"), source=src)
        if action == "privacy_delete":
            return sim.rep_privacy_delete(d.get("id"), email=d.get("email"),
                                          source=src)
        if action == "form_submit":
            return sim.rep_form_submit(d.get("form", "Contact us"),
                                       d.get("id"), email=d.get("email"),
                                       page=d.get("page"), at=d.get("at"))
        if action == "email_event":
            return sim.rep_email_event(d.get("kind", "open"),
                                       d.get("email_name", "Newsletter"),
                                       d.get("id"), email=d.get("email"),
                                       at=d.get("at"))
        raise ValueError(f"rep: unknown action {action!r}")


HubSpotSim.handler_class = Handler


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="HubSpot CRM + webhooks simulator (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0,
                    help="TCP port; 0 picks a free one (default)")
    ap.add_argument("--token", default=os.environ.get(
        "HUBSPOT_SIM_TOKEN", DEFAULT_TOKEN),
        help="private app token accepted as Bearer (HUBSPOT_SIM_TOKEN)")
    ap.add_argument("--app-id", type=int, default=DEFAULT_APP_ID)
    ap.add_argument("--portal-id", type=int, default=DEFAULT_PORTAL_ID)
    ap.add_argument("--app-secret", default=os.environ.get(
        "HUBSPOT_SIM_APP_SECRET", DEFAULT_APP_SECRET),
        help="signs webhooks (HUBSPOT_SIM_APP_SECRET)")
    ap.add_argument("--webhook-url", default=os.environ.get(
        "HUBSPOT_SIM_WEBHOOK_URL"),
        help="where events are POSTed (HUBSPOT_SIM_WEBHOOK_URL)")
    ap.add_argument("--signature-version", default="v3",
                    choices=["v1", "v2", "v3", "none"])
    ap.add_argument("--ten-secondly-limit", type=int, default=190)
    ap.add_argument("--search-per-second", type=int, default=5)
    ap.add_argument("--daily-limit", type=int, default=1000000)
    ap.add_argument("--retry-schedule", default=None,
                    help="comma-separated seconds between webhook attempts")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="log requests to stderr")
    a = ap.parse_args(argv)
    sched = None
    if a.retry_schedule:
        try:
            sched = [float(x) for x in a.retry_schedule.split(",") if x]
        except ValueError:
            ap.error("--retry-schedule: comma-separated numbers")
    sim = HubSpotSim(a.port, token=a.token, app_id=a.app_id,
                     portal_id=a.portal_id, app_secret=a.app_secret,
                     webhook_url=a.webhook_url,
                     signature_version=a.signature_version,
                     ten_secondly_limit=a.ten_secondly_limit,
                     search_per_second=a.search_per_second,
                     daily_limit=a.daily_limit, retry_schedule=sched,
                     verbose=a.verbose)
    return serve_until_signal(sim)


if __name__ == "__main__":
    sys.exit(main())
