#!/usr/bin/env python3
"""salesforce_sim.py - a Salesforce simulator for baton's tests and demo.

Speaks the parts of the Salesforce REST API that the salesforce connector
uses, with the vendor's request and response shapes, status codes, paging,
auth and limits (see tests/sim/README.md and the vendor samples in
../shared/vendor-samples/salesforce):

  POST /services/oauth2/token            refresh_token, client_credentials
                                         and password grants
  GET  /id/<orgId>/<userId>              identity URL from the token response
  GET  /services/data/                   API versions
  /services/data/vXX.X/...               Bearer token; Sforce-Limit-Info
       limits, query, queryAll, query/<locator>-<n> (2,000 a page),
       sobjects[/<Type>[/describe|/<Id>|/<ExtField>/<value>]],
       composite/sobjects (POST create, PATCH update by id),
       composite/sobjects/<Type>?ids= (GET),
       composite/sobjects/<Type>/<ExtField> (PATCH upsert, <= 200 records)

Test controls under /__sim/ (no auth, never faulted, not counted):
  GET  /__sim/state      records, users, call log, counters, config, faults
  POST /__sim/reset      forget records, tokens, usage, faults, call log
  POST /__sim/faults     fail_next, storm, latency_ms, drop_next,
                         expire_tokens, clear       (GET shows them)
  POST /__sim/config     api_limit, api_usage, page_size, picklists, ...
  POST /__sim/rep        edit / convert / create a record as a sales rep
  POST /__sim/bulk       create N records sharing one SystemModstamp
  POST /__sim/clock      shift the simulator's clock
  GET  /__sim/arrivals   when each Lead was created (?since=SEQ)

Run:  python3 salesforce_sim.py --port 0 [--state-file F] [-v]
      first stdout line: "listening on 127.0.0.1:PORT"
Import: SalesforceSim(port=0).start(); sim.base_url; sim.fail_next(...)

Python 3.11 standard library only.
"""

import argparse
import base64
import copy
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote

from simhttp import (SimHandler, SimServer, record_call,
                     serve_until_signal)

COLLECTION_MAX = 200                # sObject Collections record limit
ARRIVALS_MAX = 200000               # Lead arrivals remembered
TOKENS_MAX = 5000                   # access tokens remembered

JSON_CT = "application/json;charset=UTF-8"

# --------------------------------------------------------------------------
# Salesforce ids: 15 case-sensitive characters plus a 3-character suffix
# that encodes the case of the first 15 (so the 18-char form is
# case-insensitive).

ALPHA62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_RE = re.compile(r"^[0-9A-Za-z]{15}([0-9A-Za-z]{3})?$")

KEY_PREFIX = {"Lead": "00Q", "Opportunity": "006", "User": "005",
              "Account": "001", "Contact": "003", "Organization": "00D",
              "Group": "00G", "QueryLocator": "01g"}
PREFIX_TYPE = {v: k for k, v in KEY_PREFIX.items()}


def id_suffix(id15):
    out = ""
    for i in range(3):
        bits = 0
        for j, c in enumerate(id15[i * 5:i * 5 + 5]):
            if "A" <= c <= "Z":
                bits |= 1 << j
        out += SUFFIX[bits]
    return out


def make_id(prefix, n, pod="5g"):
    digits = ""
    while True:
        n, r = divmod(n, 62)
        digits = ALPHA62[r] + digits
        if n == 0:
            break
    id15 = prefix + pod + "0" + digits.rjust(9, "0")
    return id15 + id_suffix(id15)


def normalize_id(s):
    """The 18-character form of a well-formed id, or None."""
    if not isinstance(s, str) or not ID_RE.match(s):
        return None
    if len(s) == 15:
        return s + id_suffix(s)
    if id_suffix(s[:15]) != s[15:].upper() and id_suffix(s[:15]) != s[15:]:
        return None
    return s[:15] + id_suffix(s[:15])


# --------------------------------------------------------------------------
# Time: Salesforce datetimes have whole-second precision and are returned
# as 2024-05-01T12:00:00.000+0000.

def fmt_dt(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


DT_LITERAL = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?"
    r"(Z|[+-]\d{2}:\d{2})$")
DATE_LITERAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_soql_datetime(text):
    """A SOQL dateTime literal (YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm|-hh:mm))
    as a datetime, or None."""
    m = DT_LITERAL.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7)
    ms = int((frac[1:] + "00")[:3]) if frac else 0
    tz = m.group(8)
    if tz == "Z":
        off = timezone.utc
    else:
        sign = 1 if tz[0] == "+" else -1
        off = timezone(sign * timedelta(hours=int(tz[1:3]),
                                        minutes=int(tz[4:6])))
    try:
        return datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=off)
    except ValueError:
        return None


def parse_any_datetime(text):
    """Lenient parser for control-API input: SOQL literals and the
    +0000 form Salesforce returns."""
    if not isinstance(text, str):
        return None
    dt = parse_soql_datetime(text)
    if dt:
        return dt
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{4})$", text)
    if m:
        return parse_soql_datetime(m.group(1) + m.group(2)[:3] + ":" +
                                   m.group(2)[3:])
    return None


# --------------------------------------------------------------------------
# Schema: the fields of the objects the simulator knows.

def F(type_, label, length=None, required=False, ro=False, picklist=None,
      external_id=False, id_lookup=False, ref=None):
    return {"type": type_, "label": label, "length": length,
            "required": required, "ro": ro, "picklist": picklist,
            "external_id": external_id, "id_lookup": id_lookup, "ref": ref}


AUDIT = {
    "CreatedDate": F("datetime", "Created Date", ro=True),
    "CreatedById": F("reference", "Created By ID", 18, ro=True, ref="User"),
    "LastModifiedDate": F("datetime", "Last Modified Date", ro=True),
    "LastModifiedById": F("reference", "Last Modified By ID", 18, ro=True,
                          ref="User"),
    "SystemModstamp": F("datetime", "System Modstamp", ro=True),
    "IsDeleted": F("boolean", "Deleted", ro=True),
}

BASE_SCHEMA = {
    "Lead": {
        "Id": F("id", "Lead ID", 18, ro=True, id_lookup=True),
        "LastName": F("string", "Last Name", 80, required=True),
        "FirstName": F("string", "First Name", 40),
        "Salutation": F("picklist", "Salutation", 40),
        "Name": F("string", "Full Name", 121, ro=True),
        "Title": F("string", "Title", 128),
        "Company": F("string", "Company", 255, required=True),
        "Street": F("textarea", "Street", 255),
        "City": F("string", "City", 40),
        "State": F("string", "State/Province", 80),
        "PostalCode": F("string", "Zip/Postal Code", 20),
        "Country": F("string", "Country", 80),
        "Phone": F("phone", "Phone", 40),
        "MobilePhone": F("phone", "Mobile Phone", 40),
        "Email": F("email", "Email", 80, id_lookup=True),
        "Website": F("url", "Website", 255),
        "Description": F("textarea", "Description", 32000),
        "LeadSource": F("picklist", "Lead Source", 255),
        "Status": F("picklist", "Status", 255, picklist="Lead.Status"),
        "Industry": F("picklist", "Industry", 255),
        "Rating": F("picklist", "Rating", 255),
        "AnnualRevenue": F("currency", "Annual Revenue"),
        "NumberOfEmployees": F("int", "Employees"),
        "OwnerId": F("reference", "Owner ID", 18, ref="User"),
        "IsConverted": F("boolean", "Converted", ro=True),
        "ConvertedDate": F("date", "Converted Date", ro=True),
        "ConvertedAccountId": F("reference", "Converted Account ID", 18,
                                ro=True),
        "ConvertedContactId": F("reference", "Converted Contact ID", 18,
                                ro=True),
        "ConvertedOpportunityId": F("reference", "Converted Opportunity ID",
                                    18, ro=True, ref="Opportunity"),
        "IsUnreadByOwner": F("boolean", "Unread By Owner"),
        "LastActivityDate": F("date", "Last Activity", ro=True),
        **AUDIT,
    },
    "Opportunity": {
        "Id": F("id", "Opportunity ID", 18, ro=True, id_lookup=True),
        "AccountId": F("reference", "Account ID", 18),
        "Name": F("string", "Name", 120, required=True),
        "Description": F("textarea", "Description", 32000),
        "StageName": F("picklist", "Stage", 255, required=True,
                       picklist="Opportunity.StageName"),
        "Amount": F("currency", "Amount"),
        "Probability": F("percent", "Probability (%)"),
        "CloseDate": F("date", "Close Date", required=True),
        "Type": F("picklist", "Opportunity Type", 255),
        "LeadSource": F("picklist", "Lead Source", 255),
        "IsClosed": F("boolean", "Closed", ro=True),
        "IsWon": F("boolean", "Won", ro=True),
        "OwnerId": F("reference", "Owner ID", 18, ref="User"),
        **AUDIT,
    },
    "User": {
        "Id": F("id", "User ID", 18, ro=True, id_lookup=True),
        "Username": F("string", "Username", 80, ro=True, id_lookup=True),
        "Name": F("string", "Full Name", 121, ro=True),
        "FirstName": F("string", "First Name", 40, ro=True),
        "LastName": F("string", "Last Name", 80, ro=True),
        "Email": F("email", "Email", 128, ro=True),
        "IsActive": F("boolean", "Active", ro=True),
        **AUDIT,
    },
}

DEFAULT_CUSTOM_FIELDS = {
    "Lead": {
        "Baton_Key__c": {"type": "string", "length": 255,
                         "external_id": True, "label": "Baton Key"},
        "Baton_Score__c": {"type": "double", "label": "Baton Score"},
        "Baton_Reasons__c": {"type": "textarea", "length": 32768,
                             "label": "Baton Reasons"},
        "Baton_Stage__c": {"type": "string", "length": 255,
                           "label": "Baton Stage"},
    },
}

DEFAULT_PICKLISTS = {
    # The classic defaults plus the Lightning sales-process defaults.
    "Lead.Status": ["Open - Not Contacted", "Working - Contacted",
                    "Closed - Converted", "Closed - Not Converted",
                    "New", "Working", "Nurturing", "Qualified",
                    "Unqualified"],
    "Opportunity.StageName": ["Prospecting", "Qualification",
                              "Needs Analysis", "Value Proposition",
                              "Id. Decision Makers", "Perception Analysis",
                              "Proposal/Price Quote", "Negotiation/Review",
                              "Closed Won", "Closed Lost"],
}

TEXT_TYPES = ("string", "textarea", "email", "phone", "url", "picklist",
              "reference", "id")
NUM_TYPES = ("int", "double", "currency", "percent")
SOQL_TYPE_NAME = {"datetime": "dateTime", "date": "date",
                  "boolean": "boolean", "int": "integer",
                  "double": "double", "currency": "currency",
                  "percent": "percent"}
DESCRIBE_TYPE = {"string": "string", "textarea": "textarea",
                 "email": "email", "phone": "phone", "url": "url",
                 "picklist": "picklist", "reference": "reference",
                 "id": "id", "boolean": "boolean", "int": "int",
                 "double": "double", "currency": "currency",
                 "percent": "percent", "date": "date",
                 "datetime": "datetime"}

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

NOT_FOUND = [{"errorCode": "NOT_FOUND",
              "message": "The requested resource does not exist"}]
INVALID_SESSION = [{"message": "Session expired or invalid",
                    "errorCode": "INVALID_SESSION_ID"}]
ROLLED_BACK = ("Record rolled back because not all records were valid "
               "and the request was using AllOrNone header")


class ApiError(Exception):
    """A whole-request error: HTTP status and a Salesforce error array."""

    def __init__(self, status, code, message, fields=None, headers=None):
        super().__init__(message)
        self.status = status
        body = {"message": message, "errorCode": code}
        if fields is not None:
            body["fields"] = list(fields)
        self.body = [body]
        self.headers = headers or {}


def rec_error(code, message, fields=None):
    """A per-record error; rendered with errorCode (single-record
    endpoints) or statusCode (collections)."""
    return {"code": code, "message": message, "fields": fields}


def err_single(errors):
    out = []
    for e in errors:
        d = {"message": e["message"], "errorCode": e["code"]}
        if e["fields"] is not None:
            d["fields"] = list(e["fields"])
        out.append(d)
    return out


def err_collection(errors):
    return [{"statusCode": e["code"], "message": e["message"],
             "fields": list(e["fields"] or [])} for e in errors]


# --------------------------------------------------------------------------
# SOQL subset: SELECT f, ... FROM T [WHERE cond] [ORDER BY f [ASC|DESC]
# [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]; cond with AND, OR, NOT,
# parentheses, = != <> < <= > >=, [NOT] IN (...), LIKE.

class SoqlError(Exception):
    def __init__(self, code, text, query, pos):
        self.code = code
        row = query.count("\n", 0, pos) + 1
        line_start = query.rfind("\n", 0, pos) + 1
        line_end = query.find("\n", pos)
        if line_end < 0:
            line_end = len(query)
        col = pos - line_start + 1
        self.message = ("\n" + query[line_start:line_end] + "\n" +
                        " " * (col - 1) + "^\n" +
                        f"ERROR at Row:{row}:Column:{col}\n" + text)
        super().__init__(self.message)


KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE",
            "ORDER", "BY", "ASC", "DESC", "NULLS", "FIRST", "LAST",
            "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL"}

TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
""", re.X | re.S)

STR_ESC = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f",
           '"': '"', "'": "'", "\\": "\\", "_": "\\_", "%": "\\%"}


def soql_tokens(q):
    toks, pos = [], 0
    while pos < len(q):
        m = TOKEN_RE.match(q, pos)
        if not m:
            raise SoqlError("MALFORMED_QUERY",
                            f"unexpected token: '{q[pos]}'", q, pos)
        kind = m.lastgroup
        text = m.group()
        if kind != "ws":
            if kind == "ident" and text.upper() in KEYWORDS:
                kind = "kw"
            toks.append((kind, text, pos))
        pos = m.end()
    toks.append(("eof", "", len(q)))
    return toks


def unescape_soql(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append(STR_ESC.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class SoqlParser:
    def __init__(self, q, schema_of):
        self.q = q
        self.toks = soql_tokens(q)
        self.i = 0
        self.schema_of = schema_of      # sobject name -> (schema, lower map)
        self.sobject = None
        self.schema = None
        self.lower = None

    def peek(self):
        return self.toks[self.i]

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def unexpected(self, t=None):
        t = t or self.peek()
        text = t[1] if t[0] != "eof" else "<EOF>"
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'"
                        if t[0] != "eof" else "unexpected token: <EOF>",
                        self.q, t[2])

    def kw(self, word):
        t = self.peek()
        if t[0] == "kw" and t[1].upper() == word:
            self.i += 1
            return True
        return False

    def expect_kw(self, word):
        if not self.kw(word):
            self.unexpected()

    def parse(self):
        self.expect_kw("SELECT")
        raw_fields = []
        while True:
            t = self.take()
            if t[0] != "ident":
                self.unexpected(t)
            raw_fields.append(t)
            if self.peek()[1] == ",":
                self.i += 1
                continue
            break
        self.expect_kw("FROM")
        t = self.take()
        if t[0] != "ident":
            self.unexpected(t)
        found = self.schema_of(t[1])
        if not found:
            raise SoqlError(
                "INVALID_TYPE",
                f"sObject type '{t[1]}' is not supported. If you are "
                "attempting to use a custom object, be sure to append the "
                "'__c' after the entity name. Please reference your WSDL "
                "or the describe call for the appropriate names.",
                self.q, t[2])
        self.sobject, self.schema, self.lower = found
        fields = []
        for ft in raw_fields:
            name = self.field(ft)
            if name not in fields:
                fields.append(name)
        where = None
        if self.kw("WHERE"):
            where = self.cond()
        order = []
        if self.kw("ORDER"):
            self.expect_kw("BY")
            while True:
                ft = self.take()
                if ft[0] != "ident":
                    self.unexpected(ft)
                name = self.field(ft)
                desc = False
                if self.kw("DESC"):
                    desc = True
                else:
                    self.kw("ASC")
                nulls_last = desc
                if self.kw("NULLS"):
                    if self.kw("LAST"):
                        nulls_last = True
                    else:
                        self.expect_kw("FIRST")
                        nulls_last = False
                order.append((name, desc, nulls_last))
                if self.peek()[1] == ",":
                    self.i += 1
                    continue
                break
        limit = offset = None
        if self.kw("LIMIT"):
            t = self.take()
            if t[0] != "num" or not t[1].isdigit():
                self.unexpected(t)
            limit = int(t[1])
        if self.kw("OFFSET"):
            t = self.take()
            if t[0] != "num" or not t[1].isdigit():
                self.unexpected(t)
            offset = int(t[1])
        if self.peek()[0] != "eof":
            self.unexpected()
        return {"sobject": self.sobject, "fields": fields, "where": where,
                "order": order, "limit": limit, "offset": offset}

    def field(self, t):
        name = self.lower.get(t[1].lower())
        if not name:
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{t[1]}' on entity '{self.sobject}'. If you "
                "are attempting to use a custom field, be sure to append the "
                "'__c' after the custom field name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
                self.q, t[2])
        return name

    def cond(self):
        left = self.conj()
        while self.kw("OR"):
            left = ("or", left, self.conj())
        return left

    def conj(self):
        left = self.factor()
        while self.kw("AND"):
            left = ("and", left, self.factor())
        return left

    def factor(self):
        if self.kw("NOT"):
            return ("not", self.factor())
        if self.peek()[1] == "(":
            self.i += 1
            c = self.cond()
            if self.take()[1] != ")":
                self.unexpected(self.toks[self.i - 1])
            return c
        ft = self.take()
        if ft[0] != "ident":
            self.unexpected(ft)
        name = self.field(ft)
        spec = self.schema[name]
        negate = False
        if self.kw("NOT"):
            negate = True
            if not (self.peek()[0] == "kw" and
                    self.peek()[1].upper() == "IN"):
                self.unexpected()
        if self.kw("IN"):
            if self.take()[1] != "(":
                self.unexpected(self.toks[self.i - 1])
            vals = []
            while True:
                vals.append(self.value(name, spec))
                t = self.take()
                if t[1] == ",":
                    continue
                if t[1] == ")":
                    break
                self.unexpected(t)
            # Folded once into a set: a lookup of 200 emails among
            # 10,000 Leads is 10,000 set probes, not 2,000,000 compares.
            return ("nin" if negate else "in", name,
                    frozenset(fold(v) for v in vals))
        if self.kw("LIKE"):
            t = self.take()
            if t[0] != "str":
                self.unexpected(t)
            return ("like", name, like_regex(unescape_soql(t[1][1:-1])))
        t = self.take()
        if t[0] != "op":
            self.unexpected(t)
        op = "!=" if t[1] == "<>" else t[1]
        return ("cmp", op, name, self.value(name, spec))

    def value(self, name, spec):
        t = self.take()
        ftype = spec["type"]
        kind = t[0]
        if kind == "kw" and t[1].upper() == "NULL":
            return None
        want = SOQL_TYPE_NAME.get(ftype)
        if ftype == "datetime":
            if kind == "dt":
                dt = parse_soql_datetime(t[1])
                if dt is None:      # e.g. +0000: not a SOQL dateTime
                    raise SoqlError("MALFORMED_QUERY",
                                    f"unexpected token: '{t[1]}'",
                                    self.q, t[2])
                return fmt_exact(dt)
            return self.type_error(name, want, t)
        if ftype == "date":
            if kind == "date":
                return t[1]
            return self.type_error(name, want, t)
        if ftype == "boolean":
            if kind == "kw" and t[1].upper() in ("TRUE", "FALSE"):
                return t[1].upper() == "TRUE"
            return self.type_error(name, want, t)
        if ftype in NUM_TYPES:
            if kind == "num":
                return float(t[1]) if ftype != "int" else int(float(t[1]))
            return self.type_error(name, want, t)
        if kind == "str":
            return unescape_soql(t[1][1:-1])
        if kind in ("dt", "date", "num", "kw"):
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{name}' must be of "
                "type string and should be enclosed in quotes",
                self.q, t[2])
        self.unexpected(t)

    def type_error(self, name, want, t):
        if t[0] in ("eof", "punct"):
            self.unexpected(t)
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{name}' must be of type "
            f"{want} and should not be enclosed in quotes", self.q, t[2])


def fmt_exact(dt):
    """A datetime literal with milliseconds, in the stored string form, so
    comparisons against whole-second values stay exact."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{dt.microsecond // 1000:03d}+0000"


def like_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out += re.escape(pattern[i + 1])
            i += 2
            continue
        out += ".*" if c == "%" else "." if c == "_" else re.escape(c)
        i += 1
    return re.compile("^" + out + "$", re.I | re.S)


def fold(v):
    return v.lower() if isinstance(v, str) else v


def soql_eval(node, rec, schema):
    kind = node[0]
    if kind == "and":
        return soql_eval(node[1], rec, schema) and \
            soql_eval(node[2], rec, schema)
    if kind == "or":
        return soql_eval(node[1], rec, schema) or \
            soql_eval(node[2], rec, schema)
    if kind == "not":
        return not soql_eval(node[1], rec, schema)
    if kind in ("in", "nin"):
        hit = fold(rec.get(node[1])) in node[2]
        return hit if kind == "in" else not hit
    if kind == "like":
        v = rec.get(node[1])
        return isinstance(v, str) and bool(node[2].match(v))
    _, op, name, lit = node
    v = rec.get(name)
    if op == "=":
        return fold(v) == fold(lit)
    if op == "!=":
        return fold(v) != fold(lit)
    if v is None or lit is None:
        return False
    a, b = fold(v), fold(lit)
    if (schema.get(name) or {}).get("type") in ("id", "reference"):
        # Ids order as ORDER BY Id sorts them (case-sensitively), so the
        # keyset idiom WHERE Id > :last ORDER BY Id pages without gaps.
        a, b = v, normalize_id(lit) or lit
    try:
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    except TypeError:
        return False


def sort_records(recs, order):
    # Stable multi-key sort, last key first.
    for name, desc, nulls_last in reversed(order):
        present = [r for r in recs if r.get(name) is not None]
        absent = [r for r in recs if r.get(name) is None]
        if name == "Id":
            present.sort(key=lambda r: r["Id"], reverse=desc)
        else:
            present.sort(key=lambda r: fold(r.get(name)), reverse=desc)
        recs = present + absent if nulls_last else absent + present
    return recs


# --------------------------------------------------------------------------

class SalesforceSim(SimServer):
    """The simulator: state, knobs and an HTTP server on 127.0.0.1."""

    def __init__(self, port=0, *, client_id="baton-client-id",
                 client_secret="baton-client-secret",
                 refresh_token="baton-refresh-token",
                 username="integration@baton.example",
                 password="baton-password",
                 api_limit=100000, page_size=2000,
                 external_ids=None, custom_fields=None,
                 state_file=None, verbose=False):
        self.lock = threading.RLock()
        # The number of the HTTP request a handler thread is serving, so
        # that a Lead's arrival names the call that created it.
        self._tls = threading.local()
        self._request_seq = itertools.count(1)
        self.port = port
        self.state_file = state_file
        self.verbose = verbose
        self.httpd = None
        self.thread = None
        self._flusher = None
        self._stopping = threading.Event()
        self._dirty = False
        self.org_id = make_id("00D", 1, pod="5g")
        self.integration_user = make_id("005", 1)
        self.rep_user = make_id("005", 2)
        self.queue_id = make_id("00G", 1)
        self.base_config = {
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
            "username": username,
            "password": password,
            "client_credentials_enabled": True,
            "api_limit": api_limit,
            "page_size": page_size,
            "instance_url": None,          # None: this server's base URL
            "session_timeout": 0,          # seconds idle; 0 = never
            "min_version": 20.0,
            "max_version": 66.0,
            "max_cursors_per_user": 10,
            "cursor_timeout": 900,
            "assignment_owner": None,      # None: the rep user
            "default_lead_status": "Open - Not Contacted",
            "converted_status": "Closed - Converted",
            "picklists": copy.deepcopy(DEFAULT_PICKLISTS),
            "external_ids": external_ids if external_ids is not None
            else {"Lead": ["Baton_Key__c"]},
            "custom_fields": custom_fields if custom_fields is not None
            else copy.deepcopy(DEFAULT_CUSTOM_FIELDS),
        }
        for sobj, names in self.base_config["external_ids"].items():
            cf = self.base_config["custom_fields"].setdefault(sobj, {})
            for n in names:
                if n.endswith("__c") and n not in cf:
                    cf[n] = {"type": "string", "length": 255,
                             "external_id": True}
        self._reset_locked(keep_config=False)
        if state_file and os.path.exists(state_file):
            self._load_state()

    # ---------------------------------------------------------------- state

    def _reset_locked(self, keep_config=True):
        if not keep_config:
            self.config = copy.deepcopy(self.base_config)
        self.records = {"Lead": {}, "Opportunity": {}, "User": {}}
        self.deleted = set()
        self.counters_id = {}
        self.tokens = {}
        self.cursors = {}
        self.api_usage = 0
        self.clock_offset = 0.0
        self.calls = []
        self.call_seq = 0
        self.arrivals = []
        self.arrival_seq = 0
        self.counters = {"calls": 0, "by_status": {}, "tokens_issued": 0,
                         "api_calls": 0, "created": 0, "updated": 0,
                         "deleted": 0, "faults_injected": 0,
                         "connections_dropped": 0, "queries": 0,
                         "query_more": 0}
        self.faults = {"fail": [], "storm": None, "latency_ms": 0,
                       "latency_path_prefix": None, "drop": []}
        self._build_schema()
        t = self.now_str()
        for uid, first, last, uname in (
                (self.integration_user, "Baton", "Integration",
                 self.config["username"]),
                (self.rep_user, "Sam", "Rep", "sam.rep@baton.example")):
            self.records["User"][uid] = {
                "Id": uid, "Username": uname, "FirstName": first,
                "LastName": last, "Name": f"{first} {last}",
                "Email": uname, "IsActive": True, "CreatedDate": t,
                "CreatedById": self.integration_user, "LastModifiedDate": t,
                "LastModifiedById": self.integration_user,
                "SystemModstamp": t, "IsDeleted": False}
        self._rebuild_indexes()
        self._dirty = True

    def _build_schema(self):
        self.schema = {}
        self.lower = {}
        for sobj, base in BASE_SCHEMA.items():
            fields = copy.deepcopy(base)
            for name, spec in self.config["custom_fields"].get(sobj,
                                                               {}).items():
                fields[name] = F(spec.get("type", "string"),
                                 spec.get("label", name.replace("__c", "")
                                          .replace("_", " ")),
                                 spec.get("length"),
                                 external_id=bool(spec.get("external_id")),
                                 id_lookup=bool(spec.get("external_id")))
            for name in self.config["external_ids"].get(sobj, []):
                if name in fields:
                    fields[name]["external_id"] = True
                    fields[name]["id_lookup"] = True
            self.schema[sobj] = fields
            self.lower[sobj] = {n.lower(): n for n in fields}

    def _key_fields(self, sobj):
        """Fields an upsert may match on: external ids and idLookup
        fields (on Lead: Email)."""
        return [n for n, s in self.schema.get(sobj, {}).items()
                if (s["external_id"] or s["id_lookup"]) and n != "Id"]

    def _rebuild_indexes(self):
        self.index = {}
        for sobj, recs in self.records.items():
            for f in self._key_fields(sobj):
                idx = self.index.setdefault((sobj, f), {})
                for rid, r in recs.items():
                    v = r.get(f)
                    if v not in (None, ""):
                        idx.setdefault(str(v).lower(), set()).add(rid)

    def _index_set(self, sobj, rid, field, old, new):
        idx = self.index.get((sobj, field))
        if idx is None:
            return
        if old not in (None, ""):
            s = idx.get(str(old).lower())
            if s:
                s.discard(rid)
                if not s:
                    del idx[str(old).lower()]
        if new not in (None, ""):
            idx.setdefault(str(new).lower(), set()).add(rid)

    def _find_by_key(self, sobj, field, value):
        idx = self.index.get((sobj, field), {})
        return sorted(idx.get(str(value).lower(), ()))

    def now(self):
        return datetime.fromtimestamp(time.time() + self.clock_offset,
                                      timezone.utc).replace(microsecond=0)

    def now_str(self):
        return fmt_dt(self.now())

    def _new_id(self, sobj):
        prefix = KEY_PREFIX[sobj]
        n = self.counters_id.get(prefix, 0) + 1
        self.counters_id[prefix] = n
        return make_id(prefix, n)

    def _arrived(self, rid, email):
        """Notes a created Lead: when (wall clock, microseconds), which
        record, and which HTTP request made it (None: a Python method)."""
        self.arrival_seq += 1
        self.arrivals.append({"seq": self.arrival_seq,
                              "t": round(time.time(), 6), "id": rid,
                              "email": email,
                              "request": getattr(self._tls, "request",
                                                 None)})
        if len(self.arrivals) > ARRIVALS_MAX:
            del self.arrivals[:len(self.arrivals) - ARRIVALS_MAX]

    def get_arrivals(self, since=0):
        """The Leads created after arrival seq `since`, oldest first:
        [{seq, t, id, email, request}] (see README: /__sim/arrivals)."""
        with self.lock:
            if self.arrivals and since >= self.arrivals[0]["seq"]:
                return [dict(a) for a in
                        self.arrivals[since - self.arrivals[0]["seq"] + 1:]]
            return [dict(a) for a in self.arrivals if a["seq"] > since]

    def snapshot(self, include_calls=True, include_records=True):
        with self.lock:
            out = {
                "org_id": self.org_id,
                "integration_user_id": self.integration_user,
                "rep_user_id": self.rep_user,
                "api_usage": self.api_usage,
                "api_limit": self.config["api_limit"],
                "counters": copy.deepcopy(self.counters),
                "config": copy.deepcopy(self.config),
                "faults": self._faults_view(),
                "clock": self.now_str(),
                "clock_offset": self.clock_offset,
                "tokens": {"active": sum(1 for t in self.tokens.values()
                                         if not t["expired"]),
                           "expired": sum(1 for t in self.tokens.values()
                                          if t["expired"])},
            }
            if include_records:
                out["leads"] = [dict(r) for r in
                                self.records["Lead"].values()]
                out["opportunities"] = [dict(r) for r in
                                        self.records["Opportunity"].values()]
                out["users"] = [dict(r) for r in
                                self.records["User"].values()]
            if include_calls:
                out["calls"] = list(self.calls)
            return out

    def _persist_view(self):
        return {"version": 1, "records": self.records,
                "deleted": sorted(self.deleted),
                "counters_id": self.counters_id,
                "api_usage": self.api_usage,
                "tokens": self.tokens,
                "clock_offset": self.clock_offset,
                "config": self.config}

    def _load_state(self):
        try:
            with open(self.state_file, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print(f"salesforce_sim: ignoring state file "
                  f"{self.state_file}: {e}", file=sys.stderr)
            return
        with self.lock:
            self.config.update(data.get("config", {}))
            self._build_schema()
            for sobj, recs in data.get("records", {}).items():
                self.records[sobj] = dict(recs)
            self.deleted = set(data.get("deleted", []))
            self.counters_id = dict(data.get("counters_id", {}))
            self.api_usage = int(data.get("api_usage", 0))
            self.tokens = dict(data.get("tokens", {}))
            self.clock_offset = float(data.get("clock_offset", 0.0))
            self._rebuild_indexes()

    def save_state(self):
        if not self.state_file:
            return
        with self.lock:
            text = json.dumps(self._persist_view(), separators=(",", ":"))
            self._dirty = False
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.state_file)

    def _flush_loop(self):
        while not self._stopping.wait(0.5):
            if self._dirty:
                try:
                    self.save_state()
                except OSError as e:
                    print(f"salesforce_sim: state file: {e}",
                          file=sys.stderr)

    # ---------------------------------------------------------------- knobs

    def reset(self):
        with self.lock:
            self._reset_locked(keep_config=False)

    def expire_tokens(self):
        """Every access token issued so far answers 401 INVALID_SESSION_ID
        from now on (refresh tokens stay valid)."""
        with self.lock:
            for t in self.tokens.values():
                t["expired"] = True

    def fail_next(self, count, status=503, path_prefix=None,
                  retry_after=None, method=None):
        with self.lock:
            self.faults["fail"].append({
                "count": int(count), "status": int(status),
                "path_prefix": path_prefix, "method": method,
                "retry_after": retry_after})

    def storm(self, seconds, status=429, retry_after=1, path_prefix=None):
        with self.lock:
            self.faults["storm"] = {
                "until": time.monotonic() + float(seconds),
                "status": int(status), "retry_after": retry_after,
                "path_prefix": path_prefix}

    def set_latency(self, ms, path_prefix=None):
        with self.lock:
            self.faults["latency_ms"] = float(ms)
            self.faults["latency_path_prefix"] = path_prefix

    def drop_next(self, count, path_prefix=None, mode="close"):
        with self.lock:
            self.faults["drop"].append({"count": int(count),
                                        "path_prefix": path_prefix,
                                        "mode": mode})

    def clear_faults(self):
        with self.lock:
            self.faults = {"fail": [], "storm": None, "latency_ms": 0,
                           "latency_path_prefix": None, "drop": []}

    def apply_faults(self, spec):
        """The /__sim/faults JSON (see README)."""
        if not isinstance(spec, dict):
            raise ValueError("faults: a JSON object expected")
        if spec.get("clear"):
            self.clear_faults()
        fn = spec.get("fail_next")
        for r in (fn if isinstance(fn, list) else [fn] if fn else []):
            self.fail_next(r.get("count", 1), r.get("status", 503),
                           r.get("path_prefix"), r.get("retry_after"),
                           r.get("method"))
        st = spec.get("storm")
        if st:
            self.storm(st.get("seconds", 5), st.get("status", 429),
                       st.get("retry_after", 1), st.get("path_prefix"))
        if "latency_ms" in spec:
            self.set_latency(spec["latency_ms"] or 0,
                             spec.get("latency_path_prefix"))
        dn = spec.get("drop_next")
        for r in (dn if isinstance(dn, list) else [dn] if dn else []):
            if isinstance(r, int):
                r = {"count": r}
            self.drop_next(r.get("count", 1), r.get("path_prefix"),
                           r.get("mode", "close"))
        if spec.get("expire_tokens"):
            self.expire_tokens()
        return self._faults_view()

    def _faults_view(self):
        with self.lock:
            f = copy.deepcopy(self.faults)
            if f["storm"]:
                left = f["storm"]["until"] - time.monotonic()
                if left <= 0:
                    f["storm"] = None
                else:
                    f["storm"]["seconds_left"] = round(left, 3)
                    del f["storm"]["until"]
            f["fail"] = [r for r in f["fail"] if r["count"] > 0]
            f["drop"] = [r for r in f["drop"] if r["count"] > 0]
            return f

    CONFIG_KEYS = {"client_id", "client_secret", "refresh_token", "username",
                   "password", "client_credentials_enabled", "api_limit",
                   "page_size", "instance_url", "session_timeout",
                   "max_cursors_per_user", "cursor_timeout",
                   "assignment_owner", "default_lead_status",
                   "converted_status", "picklists", "external_ids",
                   "custom_fields", "min_version", "max_version"}

    def set_config(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k == "api_usage":
                    self.api_usage = int(v)
                    continue
                if k not in self.CONFIG_KEYS:
                    raise ValueError(f"unknown config key: {k}")
                if k == "picklists":
                    self.config["picklists"].update(v)
                elif k == "custom_fields":
                    for sobj, fields in v.items():
                        self.config["custom_fields"].setdefault(
                            sobj, {}).update(fields)
                else:
                    self.config[k] = v
            if "external_ids" in kw:
                for sobj, names in self.config["external_ids"].items():
                    cf = self.config["custom_fields"].setdefault(sobj, {})
                    for n in names:
                        if n.endswith("__c") and n not in cf:
                            cf[n] = {"type": "string", "length": 255,
                                     "external_id": True}
            self._build_schema()
            self._rebuild_indexes()
            self._dirty = True
            return copy.deepcopy(self.config)

    def advance_clock(self, seconds):
        with self.lock:
            self.clock_offset += float(seconds)
            return self.now_str()

    # ------------------------------------------------------- record writes

    def _user_id(self, who):
        if who in (None, "integration"):
            return self.integration_user
        if who == "rep":
            return self.rep_user
        return who

    def _apply(self, sobj, rid, changes, user, stamp=None, create=False):
        """Write changes (canonical names) to a record, stamping audit
        fields; returns the record."""
        recs = self.records[sobj]
        stamp = stamp or self.now_str()
        if create:
            rec = {n: None for n in self.schema[sobj]}
            rec.update({"Id": rid, "IsDeleted": False,
                        "CreatedDate": stamp, "CreatedById": user})
            if sobj == "Lead":
                rec["IsConverted"] = False
                rec["IsUnreadByOwner"] = True
            if sobj == "Opportunity":
                rec["IsWon"] = False
                rec["IsClosed"] = False
            recs[rid] = rec
            self.counters["created"] += 1
            if sobj == "Lead":
                self._arrived(rid, changes.get("Email"))
        else:
            rec = recs[rid]
            self.counters["updated"] += 1
        for k, v in changes.items():
            if (sobj, k) in self.index:
                self._index_set(sobj, rid, k, rec.get(k), v)
            rec[k] = v
        if sobj in ("Lead", "User"):
            first = rec.get("FirstName")
            rec["Name"] = ((first + " ") if first else "") + \
                (rec.get("LastName") or "")
        if sobj == "Opportunity" and "StageName" in changes and \
                not ("IsWon" in changes or "IsClosed" in changes):
            stage = rec.get("StageName") or ""
            rec["IsWon"] = stage == "Closed Won"
            rec["IsClosed"] = stage in ("Closed Won", "Closed Lost")
        rec["LastModifiedDate"] = stamp
        rec["SystemModstamp"] = stamp
        rec["LastModifiedById"] = user
        self._dirty = True
        return rec

    def _validate(self, sobj, fields, existing=None, for_rep=False,
                  ro_keys=None):
        """Per-record checks of already-typed canonical fields; returns
        a list of rec_error()s. ro_keys: the fields the caller sent (the
        ones checked for being read-only); default all."""
        schema = self.schema[sobj]
        errors = []
        if not for_rep:
            ro = [n for n in (fields if ro_keys is None else ro_keys)
                  if schema[n]["ro"]]
            if ro:
                errors.append(rec_error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(ro)}. "
                    "Please check the security settings of this field and "
                    "verify that it is read/write for your profile or "
                    "permission set.", ro))
        missing = []
        for n, spec in schema.items():
            if not spec["required"]:
                continue
            if existing is None:
                v = fields.get(n)
                if v in (None, ""):
                    missing.append(n)
            elif n in fields and fields[n] in (None, ""):
                missing.append(n)
        if missing:
            errors.append(rec_error(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing:[{', '.join(missing)}]",
                missing))
        for n, v in fields.items():
            spec = schema[n]
            if v is None:
                if spec["picklist"] and n not in missing:
                    errors.append(rec_error(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{spec['label']}: bad value for restricted "
                        f"picklist field: ", [n]))
                continue
            if spec["picklist"]:
                allowed = self.config["picklists"].get(spec["picklist"], [])
                if v not in allowed:
                    errors.append(rec_error(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{spec['label']}: bad value for restricted "
                        f"picklist field: {v}", [n]))
                    continue
            if spec["type"] == "email" and not EMAIL_RE.match(v):
                errors.append(rec_error(
                    "INVALID_EMAIL_ADDRESS",
                    f"{spec['label']}: invalid email address: {v}", [n]))
                continue
            if spec["length"] and isinstance(v, str) and \
                    spec["type"] not in ("reference", "id") and \
                    len(v) > spec["length"]:
                errors.append(rec_error(
                    "STRING_TOO_LONG",
                    f"{spec['label']}: data value too large: {v} "
                    f"(max length={spec['length']})", [n]))
                continue
            if spec["type"] == "reference" and n == "OwnerId":
                nid = normalize_id(v)
                ok = nid and (nid in self.records["User"] or
                              nid.startswith("00G"))
                if not ok:
                    errors.append(rec_error(
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"{spec['label']}: id value of incorrect type: {v}"
                        if not nid else "invalid cross reference id", [n]))
        return errors

    def _typed_fields(self, sobj, body, skip_attributes=True):
        """Canonical field names and typed values from a JSON record, or
        raise ApiError for an unknown field or a wrongly typed value
        (whole-request errors, as Salesforce's deserializer does)."""
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize instance of "
                           f"{sobj} from {json_kind(body)} value")
        out = {}
        lower = self.lower[sobj]
        for k, v in body.items():
            if k == "attributes" and skip_attributes:
                continue
            name = lower.get(k.lower())
            if not name:
                raise ApiError(400, "INVALID_FIELD",
                               f"No such column '{k}' on sobject of type "
                               f"{sobj}")
            spec = self.schema[sobj][name]
            out[name] = coerce(sobj, name, spec, v)
        return out

    # ------------------------------------------------------------ rep side

    def rep_edit(self, sobject, record_id=None, fields=None, *, email=None,
                 user="rep", modstamp=None):
        """Change a record as a sales rep would in the UI: any field
        (IsConverted, IsWon... included), picklists still validated;
        SystemModstamp bumped, LastModifiedById = the rep."""
        with self.lock:
            sobj = self._sobject_name(sobject)
            rid = self._rep_target(sobj, record_id, email)
            typed = self._typed_fields(sobj, fields or {})
            errs = self._validate(sobj, typed, existing=self.records[sobj]
                                  [rid], for_rep=True)
            if errs:
                raise ApiError(400, errs[0]["code"], errs[0]["message"],
                               errs[0]["fields"])
            stamp = fmt_dt(parse_any_datetime(modstamp)) if modstamp \
                else None
            return dict(self._apply(sobj, rid, typed, self._user_id(user),
                                    stamp))

    def rep_convert(self, lead_id=None, *, email=None, opportunity=None,
                    status=None, user="rep", modstamp=None):
        """Convert a Lead as a rep would: creates an Opportunity (and
        fake Account/Contact ids) and sets IsConverted, ConvertedDate,
        Converted*Id and the converted Status on the Lead."""
        with self.lock:
            rid = self._rep_target("Lead", lead_id, email)
            lead = self.records["Lead"][rid]
            if lead.get("IsConverted"):
                raise ApiError(400, "INVALID_STATUS",
                               "This lead was already converted.")
            uid = self._user_id(user)
            stamp = fmt_dt(parse_any_datetime(modstamp)) if modstamp \
                else self.now_str()
            opp = {"Name": (lead.get("Company") or "New") + " -",
                   "StageName": "Prospecting",
                   "CloseDate": (self.now() + timedelta(days=30))
                   .strftime("%Y-%m-%d"),
                   "OwnerId": lead.get("OwnerId") or uid,
                   "LeadSource": lead.get("LeadSource")}
            opp.update(self._typed_fields("Opportunity", opportunity or {}))
            errs = self._validate("Opportunity", opp, for_rep=True)
            if errs:
                raise ApiError(400, errs[0]["code"], errs[0]["message"],
                               errs[0]["fields"])
            oid = self._new_id("Opportunity")
            acc = self._new_id("Account")
            con = self._new_id("Contact")
            opp["AccountId"] = acc
            orec = self._apply("Opportunity", oid, opp, uid, stamp,
                               create=True)
            changes = {"IsConverted": True,
                       "ConvertedDate": stamp[:10],
                       "ConvertedOpportunityId": oid,
                       "ConvertedAccountId": acc,
                       "ConvertedContactId": con,
                       "Status": status or self.config["converted_status"]}
            errs = self._validate("Lead", changes, existing=lead,
                                  for_rep=True)
            if errs:
                raise ApiError(400, errs[0]["code"], errs[0]["message"],
                               errs[0]["fields"])
            lrec = self._apply("Lead", rid, changes, uid, stamp)
            return {"lead": dict(lrec), "opportunity": dict(orec)}

    def rep_create(self, sobject, fields, *, user="rep", modstamp=None):
        with self.lock:
            sobj = self._sobject_name(sobject)
            typed = self._typed_fields(sobj, fields or {})
            self._defaults(sobj, typed, auto_assign=False,
                           user=self._user_id(user))
            errs = self._validate(sobj, typed, for_rep=True)
            if errs:
                raise ApiError(400, errs[0]["code"], errs[0]["message"],
                               errs[0]["fields"])
            stamp = fmt_dt(parse_any_datetime(modstamp)) if modstamp \
                else None
            rid = self._new_id(sobj)
            return dict(self._apply(sobj, rid, typed, self._user_id(user),
                                    stamp, create=True))

    def bulk_create(self, sobject, count, fields=None, *, modstamp=None,
                    user="rep"):
        """Create count records that share one SystemModstamp (and
        CreatedDate). String field values may contain {n}, replaced by
        1..count."""
        with self.lock:
            sobj = self._sobject_name(sobject)
            stamp = fmt_dt(parse_any_datetime(modstamp)) if modstamp \
                else self.now_str()
            if fields is None:
                fields = ({"LastName": "Bulk {n}", "Company": "Bulk Co",
                           "Email": "bulk{n}@example.com"}
                          if sobj == "Lead" else
                          {"Name": "Bulk {n}", "StageName": "Prospecting",
                           "CloseDate": stamp[:10]})
            uid = self._user_id(user)
            ids = []
            for n in range(1, int(count) + 1):
                f = {k: (v.replace("{n}", str(n)) if isinstance(v, str)
                         else v) for k, v in fields.items()}
                typed = self._typed_fields(sobj, f)
                self._defaults(sobj, typed, auto_assign=False, user=uid)
                errs = self._validate(sobj, typed, for_rep=True)
                if errs:
                    raise ApiError(400, errs[0]["code"], errs[0]["message"],
                                   errs[0]["fields"])
                rid = self._new_id(sobj)
                self._apply(sobj, rid, typed, uid, stamp, create=True)
                ids.append(rid)
            return {"ids": ids, "SystemModstamp": stamp}

    def _rep_target(self, sobj, record_id, email):
        if record_id:
            rid = normalize_id(record_id)
            if rid and rid in self.records[sobj]:
                return rid
            raise ApiError(404, "NOT_FOUND",
                           "The requested resource does not exist")
        if email and sobj == "Lead":
            ids = self._find_by_key("Lead", "Email", email)
            if len(ids) == 1:
                return ids[0]
            raise ApiError(404 if not ids else 300,
                           "NOT_FOUND" if not ids else "MULTIPLE_CHOICES",
                           f"{len(ids)} Leads with Email {email}")
        raise ApiError(400, "MISSING_ARGUMENT", "id or email required")

    def _sobject_name(self, name):
        for s in self.schema:
            if s.lower() == str(name).lower():
                return s
        raise ApiError(404, "NOT_FOUND",
                       "The requested resource does not exist")

    def _defaults(self, sobj, typed, auto_assign, user):
        if sobj == "Lead":
            if typed.get("Status") is None and "Status" not in typed:
                typed["Status"] = self.config["default_lead_status"]
            if not typed.get("OwnerId"):
                typed["OwnerId"] = (self.config["assignment_owner"] or
                                    self.rep_user) if auto_assign else user
        elif sobj == "Opportunity":
            if not typed.get("OwnerId"):
                typed["OwnerId"] = user

    # --------------------------------------------------------------- server

    def start(self):
        SimServer.start(self)
        if self.state_file:
            self._flusher = threading.Thread(target=self._flush_loop,
                                             daemon=True)
            self._flusher.start()
        return self

    def stop(self):
        self._stopping.set()
        SimServer.stop(self)
        if self.state_file:
            try:
                self.save_state()
            except OSError:
                pass

    def instance_url(self):
        return self.config["instance_url"] or self.base_url

    # ------------------------------------------------------------- requests

    def log_call(self, method, path, query, status, note=None):
        entry = {"method": method, "path": path, "status": status}
        if query:
            entry["query"] = query[:2000]
        if note:
            entry["note"] = note
        record_call(self, entry, t_digits=3)

    def take_fault(self, method, path):
        """('drop', mode) | ('fail', status, retry_after) | None; and the
        latency to add, in seconds."""
        with self.lock:
            f = self.faults
            latency = 0.0
            if f["latency_ms"] and (not f["latency_path_prefix"] or
                                    path.startswith(f["latency_path_prefix"])):
                latency = f["latency_ms"] / 1000.0
            for r in f["drop"]:
                if r["count"] > 0 and (not r["path_prefix"] or
                                       path.startswith(r["path_prefix"])):
                    r["count"] -= 1
                    self.counters["connections_dropped"] += 1
                    return ("drop", r.get("mode", "close")), latency
            st = f["storm"]
            if st:
                if time.monotonic() >= st["until"]:
                    f["storm"] = None
                elif not st["path_prefix"] or \
                        path.startswith(st["path_prefix"]):
                    self.counters["faults_injected"] += 1
                    return ("fail", st["status"], st["retry_after"]), latency
            for r in f["fail"]:
                if r["count"] > 0 and (not r["path_prefix"] or
                                       path.startswith(r["path_prefix"])) \
                        and (not r.get("method") or
                             r["method"].upper() == method):
                    r["count"] -= 1
                    self.counters["faults_injected"] += 1
                    ra = r["retry_after"]
                    if ra is None and r["status"] in (429, 503):
                        ra = 1
                    return ("fail", r["status"], ra), latency
            f["fail"] = [r for r in f["fail"] if r["count"] > 0]
            f["drop"] = [r for r in f["drop"] if r["count"] > 0]
            return None, latency

    def check_token(self, auth_header):
        """The user id behind a Bearer token, or raise the 401."""
        if not auth_header:
            raise ApiError(401, "INVALID_SESSION_ID",
                           "Session expired or invalid")
        parts = auth_header.split(None, 1)
        if len(parts) != 2 or parts[0].lower() not in ("bearer", "oauth"):
            raise ApiError(401, "INVALID_SESSION_ID",
                           "Session expired or invalid")
        with self.lock:
            t = self.tokens.get(parts[1].strip())
            if not t or t["expired"]:
                raise ApiError(401, "INVALID_SESSION_ID",
                               "Session expired or invalid")
            now = time.time()
            to = self.config["session_timeout"]
            if to and now - t["last"] > to:
                t["expired"] = True
                raise ApiError(401, "INVALID_SESSION_ID",
                               "Session expired or invalid")
            t["last"] = now
            return t["user"]

    def count_api_call(self):
        """Count one call against the daily limit, or raise the 403."""
        with self.lock:
            limit = self.config["api_limit"]
            if self.api_usage >= limit:
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED",
                               "TotalRequests Limit exceeded.",
                               headers=self.limit_header())
            self.api_usage += 1
            self.counters["api_calls"] += 1
            self._dirty = True

    def limit_header(self):
        return {"Sforce-Limit-Info":
                f"api-usage={self.api_usage}/{self.config['api_limit']}"}

    # --------------------------------------------------------------- oauth

    def oauth_token(self, params):
        def bad(error, desc):
            return 400, {"error": error, "error_description": desc}

        cfg = self.config
        grant = params.get("grant_type")
        if not grant:
            return bad("unsupported_grant_type", "grant type not supported")
        if grant not in ("refresh_token", "client_credentials", "password"):
            return bad("unsupported_grant_type", "grant type not supported")
        if params.get("client_id") != cfg["client_id"]:
            return bad("invalid_client_id", "client identifier invalid")
        if grant == "refresh_token":
            if params.get("client_secret") is not None and \
                    params.get("client_secret") != cfg["client_secret"]:
                return bad("invalid_client", "invalid client credentials")
            if params.get("refresh_token") != cfg["refresh_token"]:
                return bad("invalid_grant", "expired access/refresh token")
        elif grant == "client_credentials":
            if params.get("client_secret") != cfg["client_secret"]:
                return bad("invalid_client", "invalid client credentials")
            if not cfg["client_credentials_enabled"]:
                return bad("invalid_grant",
                           "no client credentials user enabled")
        else:
            if params.get("client_secret") != cfg["client_secret"]:
                return bad("invalid_client", "invalid client credentials")
            if params.get("username") != cfg["username"] or \
                    params.get("password") != cfg["password"]:
                return bad("invalid_grant", "authentication failure")
        with self.lock:
            token = self.org_id[:15] + "!" + \
                "AQ" + secrets.token_urlsafe(72)[:94]
            now = time.time()
            self.tokens[token] = {"user": self.integration_user,
                                  "issued": now, "last": now,
                                  "expired": False, "grant": grant}
            if len(self.tokens) > TOKENS_MAX:
                for k in list(self.tokens)[:len(self.tokens) - TOKENS_MAX]:
                    del self.tokens[k]
            self.counters["tokens_issued"] += 1
            self._dirty = True
        issued_at = str(int(now * 1000))
        ident = f"{self.base_url}/id/{self.org_id}/{self.integration_user}"
        sig = base64.b64encode(hmac.new(
            cfg["client_secret"].encode(), (ident + issued_at).encode(),
            hashlib.sha256).digest()).decode()
        return 200, {"access_token": token,
                     "instance_url": self.instance_url(),
                     "id": ident,
                     "token_type": "Bearer",
                     "issued_at": issued_at,
                     "signature": sig}


def json_kind(v):
    if isinstance(v, list):
        return "START_ARRAY"
    if isinstance(v, str):
        return "VALUE_STRING"
    if isinstance(v, bool):
        return "VALUE_TRUE" if v else "VALUE_FALSE"
    if isinstance(v, (int, float)):
        return "VALUE_NUMBER_INT" if isinstance(v, int) \
            else "VALUE_NUMBER_FLOAT"
    if v is None:
        return "VALUE_NULL"
    return "START_OBJECT"


def coerce(sobj, name, spec, v):
    """A JSON value typed for its field, as Salesforce's deserializer
    would accept it; raise JSON_PARSER_ERROR otherwise."""
    t = spec["type"]
    if v is None:
        return None

    def fail():
        java = {"boolean": "boolean", "int": "int", "double": "double",
                "currency": "double", "percent": "double",
                "date": "date", "datetime": "datetime"}.get(t, "string")
        raise ApiError(400, "JSON_PARSER_ERROR",
                       f"Cannot deserialize instance of {java} from "
                       f"{json_kind(v)} value {json.dumps(v)} or request "
                       "may be missing a required field")
    if t == "boolean":
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        fail()
    if t in NUM_TYPES:
        if isinstance(v, bool):
            fail()
        if isinstance(v, (int, float)):
            return int(v) if t == "int" else float(v)
        if isinstance(v, str):
            try:
                return int(v) if t == "int" else float(v)
            except ValueError:
                fail()
        fail()
    if t == "date":
        if isinstance(v, str) and DATE_LITERAL.match(v):
            return v
        if isinstance(v, str) and parse_any_datetime(v):
            return fmt_dt(parse_any_datetime(v))[:10]
        fail()
    if t == "datetime":
        dt = parse_any_datetime(v) if isinstance(v, str) else None
        if not dt:
            fail()
        return fmt_dt(dt.replace(microsecond=0))
    if isinstance(v, (dict, list)):
        fail()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


# --------------------------------------------------------------------------

VERSION_RE = re.compile(r"^/services/data/v(\d+)\.(\d+)(/.*)?$")


class Handler(SimHandler):
    server_version = "SalesforceSim/1.0"
    name = "salesforce_sim"

    def too_large(self):
        self.close_connection = True
        self.send(413, [{"message": "Request body exceeds the 5 MiB limit",
                         "errorCode": "REQUEST_ENTITY_TOO_LARGE"}],
                  {"Connection": "close"})

    def send(self, status, body=None, headers=None):
        if isinstance(body, (dict, list)):
            data = json.dumps(body, separators=(",", ":")).encode()
            ctype = JSON_CT
        elif isinstance(body, str):
            data = body.encode()
            ctype = "text/plain;charset=UTF-8"
        else:
            data = body or b""
            ctype = JSON_CT
        # The call is in the log before its answer leaves, so a client
        # that reads /__sim/state right after an answer sees its call.
        call, self._call = getattr(self, "_call", None), None
        if call is not None:
            self.sim.log_call(call[0], call[1], call[2], status, call[3])
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if status != 204 and status != 304:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(data)
        self.status_sent = status

    # ---------------------------------------------------------- dispatcher

    def handle_any(self, method):
        sim = self.sim
        self.status_sent = 0
        sim._tls.request = next(sim._request_seq)
        req = self.take_request(method, ApiError, self.send)
        if req is None:
            return
        path, query, body, fault = req
        if fault:
            status, ra = fault[1], fault[2]
            headers = {"Retry-After": ra} if ra is not None else {}
            if path.startswith("/services/oauth2/"):
                fb = {"error": "temporarily_unavailable",
                      "error_description": "injected fault"}
            else:
                fb = fault_body(status, ra)
            self._call = (method, path, query, "injected")
            self.send(status, fb, headers)
            return
        self._call = (method, path, query, None)
        try:
            self.route(method, path, query, body)
        except ApiError as e:
            self.send(e.status, e.body, e.headers)
        except Exception as e:           # a simulator bug: say so loudly
            import traceback
            traceback.print_exc()
            self.send(500, [{"message": f"simulator error: {e}",
                             "errorCode": "UNKNOWN_EXCEPTION"}])
        if self._call is not None:      # nothing was sent
            self._call = None
            sim.log_call(method, path, query, self.status_sent)

    def route(self, method, path, query, body):
        sim = self.sim
        if path == "/services/oauth2/token":
            if method != "POST":
                self.send(400, {"error": "invalid_request",
                                "error_description": "must use HTTP POST"})
                return
            params = {k: v[0] for k, v in parse_qs(query).items()}
            ctype = (self.headers.get("Content-Type") or "").lower()
            if body and "json" not in ctype:
                params.update({k: v[0] for k, v in
                               parse_qs(body.decode("utf-8", "replace"),
                                        keep_blank_values=True).items()})
            status, out = sim.oauth_token(params)
            self.send(status, out, {"Cache-Control": "no-cache,no-store"})
            return
        if path.startswith("/id/"):
            self.identity(method, path)
            return
        if path in ("/services/data", "/services/data/"):
            self.allow(method, "GET", "HEAD")
            lo = int(sim.config["min_version"])
            hi = int(sim.config["max_version"])
            self.send(200, [{"label": f"API {v}.0",
                             "url": f"/services/data/v{v}.0",
                             "version": f"{v}.0"}
                            for v in range(lo, hi + 1)])
            return
        m = VERSION_RE.match(path)
        if not m:
            raise ApiError(404, "NOT_FOUND",
                           "The requested resource does not exist")
        ver = float(f"{m.group(1)}.{m.group(2)}")
        vstr = f"{m.group(1)}.{m.group(2)}"
        rest = (m.group(3) or "/").rstrip("/") or "/"
        if not (sim.config["min_version"] <= ver <=
                sim.config["max_version"]) or m.group(2) != "0":
            raise ApiError(404, "NOT_FOUND",
                           "The requested resource does not exist")
        try:
            user = sim.check_token(self.headers.get("Authorization"))
        except ApiError as e:
            e.headers["WWW-Authenticate"] = "Token"
            raise
        sim.count_api_call()
        self.api = {"ver": ver, "vstr": vstr, "user": user,
                    "base": f"/services/data/v{vstr}"}
        self.extra_headers = sim.limit_header()
        try:
            self.data_api(method, rest, query, body)
        except ApiError as e:
            e.headers = {**self.extra_headers, **e.headers}
            raise

    def reply(self, status, body=None, headers=None):
        self.send(status, body, {**self.extra_headers, **(headers or {})})

    def allow(self, method, *allowed):
        if method not in allowed:
            raise ApiError(405, "METHOD_NOT_ALLOWED",
                           f"HTTP Method '{method}' not allowed. Allowed "
                           f"are {','.join(allowed)}",
                           headers={"Allow": ", ".join(allowed)})

    def json_body(self, body):
        if not body:
            raise ApiError(400, "JSON_PARSER_ERROR",
                           "No content to map due to end-of-input at "
                           "[line:1, column:0]")
        try:
            return json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "JSON_PARSER_ERROR",
                           "Invalid UTF-8 in the request body")
        except json.JSONDecodeError as e:
            ch = e.doc[e.pos] if e.pos < len(e.doc) else ""
            what = (f"Unexpected character ('{ch}' (code {ord(ch)}))"
                    if ch else "Unexpected end-of-input")
            raise ApiError(400, "JSON_PARSER_ERROR",
                           f"{what}: {e.msg} at [line:{e.lineno}, "
                           f"column:{e.colno}]")

    # ------------------------------------------------------------ data API

    def data_api(self, method, rest, query, body):
        sim = self.sim
        segs = [unquote(s) for s in rest.strip("/").split("/") if s] \
            if rest != "/" else []
        base = self.api["base"]
        if not segs:
            self.allow(method, "GET", "HEAD")
            self.reply(200, {k: f"{base}/{k}" for k in
                             ("sobjects", "query", "queryAll", "limits",
                              "composite")})
            return
        head = segs[0]
        if head == "limits" and len(segs) == 1:
            self.allow(method, "GET", "HEAD")
            with sim.lock:
                lim = sim.config["api_limit"]
                rem = max(0, lim - sim.api_usage)
            self.reply(200, {"DailyApiRequests": {"Max": lim,
                                                  "Remaining": rem}})
            return
        if head in ("query", "queryAll"):
            self.allow(method, "GET", "HEAD")
            if len(segs) == 1:
                self.query(query)
            elif len(segs) == 2:
                self.query_more(segs[1])
            else:
                raise ApiError(404, "NOT_FOUND",
                               "The requested resource does not exist")
            return
        if head == "sobjects":
            self.sobjects(method, segs[1:], query, body)
            return
        if head == "composite" and len(segs) >= 2 and segs[1] == "sobjects":
            self.collections(method, segs[2:], query, body)
            return
        raise ApiError(404, "NOT_FOUND",
                       "The requested resource does not exist")

    # ---------------------------------------------------------------- query

    def query(self, query):
        sim = self.sim
        qs = parse_qs(query, keep_blank_values=True)
        q = (qs.get("q") or [""])[0]
        if not q.strip():
            raise ApiError(400, "MALFORMED_QUERY",
                           "A query string has to be specified")

        def schema_of(name):
            for s in sim.schema:
                if s.lower() == name.lower():
                    return s, sim.schema[s], sim.lower[s]
            return None
        try:
            plan = SoqlParser(q, schema_of).parse()
        except SoqlError as e:
            raise ApiError(400, e.code, e.message)
        with sim.lock:
            sobj = plan["sobject"]
            schema = sim.schema[sobj]
            recs = [r for r in sim.records[sobj].values()
                    if plan["where"] is None or
                    soql_eval(plan["where"], r, schema)]
            if plan["order"]:
                recs = sort_records(recs, plan["order"])
            if plan["offset"]:
                recs = recs[plan["offset"]:]
            if plan["limit"] is not None:
                recs = recs[:plan["limit"]]
            rows = [self.serialize(sobj, r, plan["fields"]) for r in recs]
            sim.counters["queries"] += 1
            size = self.page_size()
            if len(rows) <= size:
                out = {"totalSize": len(rows), "done": True,
                       "records": rows}
            else:
                loc = self.new_cursor(rows)
                out = {"totalSize": len(rows), "done": False,
                       "nextRecordsUrl":
                       f"{self.api['base']}/query/{loc}-{size}",
                       "records": rows[:size]}
                sim.cursors[loc]["page"] = size
        self.reply(200, out)

    def page_size(self):
        size = int(self.sim.config["page_size"])
        opt = self.headers.get("Sforce-Query-Options") or ""
        m = re.search(r"batchSize\s*=\s*(\d+)", opt)
        if m:
            size = min(size, max(200, min(2000, int(m.group(1)))))
        return max(1, size)

    def new_cursor(self, rows):
        sim = self.sim
        user = self.api["user"]
        now = time.monotonic()
        for k in [k for k, c in sim.cursors.items()
                  if now - c["used"] > sim.config["cursor_timeout"]]:
            del sim.cursors[k]
        mine = [k for k, c in sim.cursors.items() if c["user"] == user]
        while len(mine) >= sim.config["max_cursors_per_user"]:
            del sim.cursors[mine.pop(0)]
        sim.counters_id["01g"] = sim.counters_id.get("01g", 0) + 1
        loc = make_id("01g", sim.counters_id["01g"])
        sim.cursors[loc] = {"rows": rows, "user": user, "used": now,
                            "page": 0}
        return loc

    def query_more(self, seg):
        sim = self.sim
        m = re.match(r"^([0-9A-Za-z]{15,18})-(\d+)$", seg)
        with sim.lock:
            c = sim.cursors.get(m.group(1)) if m else None
            if c and time.monotonic() - c["used"] > \
                    sim.config["cursor_timeout"]:
                del sim.cursors[m.group(1)]
                c = None
            if not c or c["user"] != self.api["user"] or \
                    int(m.group(2)) >= len(c["rows"]) or \
                    int(m.group(2)) <= 0:
                raise ApiError(400, "INVALID_QUERY_LOCATOR",
                               "invalid query locator")
            c["used"] = time.monotonic()
            sim.counters["query_more"] += 1
            start = int(m.group(2))
            size = self.page_size()
            page = c["rows"][start:start + size]
            end = start + len(page)
            out = {"totalSize": len(c["rows"]), "done": end >= len(c["rows"])}
            if end < len(c["rows"]):
                out["nextRecordsUrl"] = \
                    f"{self.api['base']}/query/{m.group(1)}-{end}"
            else:
                del sim.cursors[m.group(1)]
            out["records"] = page
        self.reply(200, out)

    def serialize(self, sobj, rec, fields=None):
        out = {"attributes": {"type": sobj, "url":
                              f"{self.api['base']}/sobjects/{sobj}/"
                              f"{rec['Id']}"}}
        for f in (fields or self.sim.schema[sobj].keys()):
            out[f] = copy.copy(rec.get(f))
        return out

    # ------------------------------------------------------ sObject basics

    def sobjects(self, method, segs, query, body):
        sim = self.sim
        if not segs:
            self.allow(method, "GET", "HEAD")
            self.reply(200, {"encoding": "UTF-8", "maxBatchSize": 200,
                             "sobjects": [self.sobject_info(s)
                                          for s in sim.schema]})
            return
        sobj = None
        for s in sim.schema:
            if s == segs[0]:
                sobj = s
        if not sobj:
            raise ApiError(404, "NOT_FOUND",
                           "The requested resource does not exist")
        if len(segs) == 1:
            self.allow(method, "GET", "HEAD", "POST")
            if method == "POST":
                self.create_one(sobj, body)
            else:
                self.reply(200, {"objectDescribe": self.sobject_info(sobj),
                                 "recentItems": []})
            return
        if len(segs) == 2 and segs[1] == "describe":
            self.allow(method, "GET", "HEAD")
            self.reply(200, self.describe(sobj))
            return
        if len(segs) == 2:
            self.by_id(method, sobj, segs[1], query, body)
            return
        if len(segs) == 3:
            self.by_external_id(method, sobj, segs[1], segs[2], query, body)
            return
        raise ApiError(404, "NOT_FOUND",
                       "The requested resource does not exist")

    def sobject_info(self, sobj):
        base = self.api["base"]
        writable = sobj != "User"
        return {"name": sobj, "label": sobj, "keyPrefix": KEY_PREFIX[sobj],
                "custom": False, "createable": writable,
                "updateable": writable, "queryable": True,
                "urls": {"sobject": f"{base}/sobjects/{sobj}",
                         "describe": f"{base}/sobjects/{sobj}/describe",
                         "rowTemplate": f"{base}/sobjects/{sobj}/{{ID}}"}}

    def describe(self, sobj):
        sim = self.sim
        fields = []
        for n, s in sim.schema[sobj].items():
            pl = sim.config["picklists"].get(s["picklist"] or "", [])
            fields.append({
                "name": n, "label": s["label"],
                "type": DESCRIBE_TYPE[s["type"]],
                "length": s["length"] or 0,
                "custom": n.endswith("__c"),
                "createable": not s["ro"], "updateable": not s["ro"],
                "nillable": not s["required"] and s["type"] != "boolean",
                "externalId": s["external_id"], "idLookup": s["id_lookup"],
                "restrictedPicklist": bool(s["picklist"]),
                "picklistValues": [{"active": True, "defaultValue": False,
                                    "label": v, "value": v} for v in pl],
                "referenceTo": [s["ref"]] if s["ref"] else []})
        return {**self.sobject_info(sobj), "fields": fields}

    def check_id(self, sobj, raw):
        """The normalized id, or raise MALFORMED_ID like the sample."""
        rid = normalize_id(raw)
        if not rid or rid[:3] != KEY_PREFIX[sobj]:
            raise ApiError(400, "MALFORMED_ID",
                           f"{sobj} ID: id value of incorrect type: {raw}",
                           ["Id"])
        return rid

    def by_id(self, method, sobj, raw, query, body):
        sim = self.sim
        self.allow(method, "GET", "HEAD", "PATCH", "DELETE")
        if method in ("GET", "HEAD"):
            rid = normalize_id(raw)
            with sim.lock:
                if not rid or rid not in sim.records[sobj]:
                    raise ApiError(404, "NOT_FOUND",
                                   "The requested resource does not exist")
                self.reply(200, self.serialize(
                    sobj, sim.records[sobj][rid],
                    self.field_list(sobj, query)))
            return
        rid = self.check_id(sobj, raw)
        with sim.lock:
            if rid not in sim.records[sobj]:
                if rid in sim.deleted:
                    raise ApiError(404, "ENTITY_IS_DELETED",
                                   "entity is deleted")
                raise ApiError(404, "NOT_FOUND",
                               "The requested resource does not exist")
            if method == "DELETE":
                rec = sim.records[sobj].pop(rid)
                for f in sim._key_fields(sobj):
                    sim._index_set(sobj, rid, f, rec.get(f), None)
                sim.deleted.add(rid)
                sim.counters["deleted"] += 1
                sim._dirty = True
                self.reply(204)
                return
            typed = sim._typed_fields(sobj, self.json_body(body))
            errs = sim._validate(sobj, typed, existing=sim.records[sobj][rid])
            if errs:
                raise_record_errors(errs)
            sim._apply(sobj, rid, typed, self.api["user"])
        self.reply(204)

    def field_list(self, sobj, query):
        qs = parse_qs(query)
        if "fields" not in qs:
            return None
        out = []
        for f in qs["fields"][0].split(","):
            name = self.sim.lower[sobj].get(f.strip().lower())
            if not name:
                raise ApiError(400, "INVALID_FIELD",
                               f"No such column '{f.strip()}' on entity "
                               f"'{sobj}'. If you are attempting to use a "
                               "custom field, be sure to append the '__c' "
                               "after the custom field name. Please "
                               "reference your WSDL or the describe call "
                               "for the appropriate names.")
            out.append(name)
        return out

    def create_one(self, sobj, body):
        sim = self.sim
        data = self.json_body(body)
        with sim.lock:
            typed = sim._typed_fields(sobj, data)
            auto = self.auto_assign()
            result = self.do_create(sobj, typed, auto)
            if result["errors"]:
                raise_record_errors(result["errors"])
        self.reply(201, {"id": result["id"], "success": True, "errors": []})

    def auto_assign(self):
        v = (self.headers.get("Sforce-Auto-Assign") or "true").lower()
        return v not in ("false", "0")

    def do_create(self, sobj, typed, auto, commit=True):
        sim = self.sim
        if sobj == "User":
            return {"errors": [rec_error(
                "INVALID_TYPE_FOR_OPERATION",
                "entity type cannot be inserted: User", [])]}
        if "Id" in typed:
            return {"errors": [rec_error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "cannot specify Id in an insert call", ["Id"])]}
        given = list(typed)
        sim._defaults(sobj, typed, auto, self.api["user"])
        errs = sim._validate(sobj, typed, ro_keys=given)
        if errs:
            return {"errors": errs}
        if not commit:
            return {"errors": [], "id": None, "pending": typed}
        rid = sim._new_id(sobj)
        sim._apply(sobj, rid, typed, self.api["user"], create=True)
        return {"errors": [], "id": rid}

    def by_external_id(self, method, sobj, field_raw, value, query, body):
        sim = self.sim
        self.allow(method, "GET", "HEAD", "PATCH", "POST", "DELETE")
        field = sim.lower[sobj].get(field_raw.lower())
        if field == "Id" and method == "POST":
            self.create_one(sobj, body)
            return
        if not field or field not in sim._key_fields(sobj):
            raise ApiError(404, "NOT_FOUND",
                           "The requested resource does not exist")
        with sim.lock:
            ids = sim._find_by_key(sobj, field, value)
            if len(ids) > 1:
                self.reply(300, [f"{self.api['base']}/sobjects/{sobj}/{i}"
                                 for i in ids])
                return
            if method in ("GET", "HEAD"):
                if not ids:
                    raise ApiError(404, "NOT_FOUND",
                                   "The requested resource does not exist")
                self.reply(200, self.serialize(
                    sobj, sim.records[sobj][ids[0]],
                    self.field_list(sobj, query)))
                return
            if method == "DELETE":
                if not ids:
                    raise ApiError(404, "NOT_FOUND",
                                   "The requested resource does not exist")
                self.by_id("DELETE", sobj, ids[0], query, body)
                return
            if method == "POST":
                raise ApiError(405, "METHOD_NOT_ALLOWED",
                               "HTTP Method 'POST' not allowed. Allowed are "
                               "GET,HEAD,PATCH,DELETE",
                               headers={"Allow": "GET, HEAD, PATCH, DELETE"})
            typed = sim._typed_fields(sobj, self.json_body(body))
            if field in typed:
                if str(typed[field]).lower() != value.lower():
                    raise ApiError(
                        400, "INVALID_FIELD",
                        f"Unable to create/update fields: {field}. Please "
                        "check the security settings of this field and "
                        "verify that it is read/write for your profile or "
                        "permission set.")
            else:
                typed[field] = value if sim.schema[sobj][field]["type"] \
                    in TEXT_TYPES else coerce(sobj, field,
                                              sim.schema[sobj][field], value)
            if ids:
                rid = ids[0]
                errs = sim._validate(sobj, typed,
                                     existing=sim.records[sobj][rid])
                if errs:
                    raise_record_errors(errs)
                sim._apply(sobj, rid, typed, self.api["user"])
                if self.api["ver"] >= 46.0:
                    self.reply(200, {"id": rid, "success": True,
                                     "errors": [], "created": False})
                else:
                    self.reply(204)
                return
            if (parse_qs(query).get("updateOnly") or ["false"])[0] \
                    .lower() == "true":
                raise ApiError(404, "NOT_FOUND",
                               "The requested resource does not exist")
            result = self.do_create(sobj, typed, self.auto_assign())
            if result["errors"]:
                raise_record_errors(result["errors"])
            out = {"id": result["id"], "success": True, "errors": []}
            if self.api["ver"] >= 46.0:
                out["created"] = True
            self.reply(201, out, {"Location":
                                  f"{self.api['base']}/sobjects/{sobj}/"
                                  f"{result['id']}"})

    # ----------------------------------------------------- sObject Collections

    def collections(self, method, segs, query, body):
        sim = self.sim
        ver = self.api["ver"]
        if ver < 42.0 or (len(segs) == 2 and ver < 46.0):
            raise ApiError(404, "NOT_FOUND",
                           "The requested resource does not exist")
        if not segs:
            self.allow(method, "POST", "PATCH", "DELETE")
            if method == "DELETE":
                self.collection_delete(query)
                return
            records, all_or_none = self.collection_body(body)
            with sim.lock:
                if method == "POST":
                    out = self.collection_create(records, all_or_none)
                else:
                    out = self.collection_update(records, all_or_none)
            self.reply(200, out)
            return
        sobj = segs[0] if segs[0] in sim.schema else None
        if not sobj:
            raise ApiError(404, "NOT_FOUND",
                           "The requested resource does not exist")
        if len(segs) == 1:
            self.allow(method, "GET", "HEAD", "POST")
            if method == "POST":
                data = self.json_body(body)
                ids = data.get("ids") if isinstance(data, dict) else None
                fields = data.get("fields") if isinstance(data, dict) \
                    else None
            else:
                qs = parse_qs(query)
                ids = (qs.get("ids") or [""])[0].split(",")
                fields = (qs.get("fields") or [None])[0]
                fields = fields.split(",") if fields else None
            if not ids or not fields:
                raise ApiError(400, "MISSING_ARGUMENT",
                               "ids and fields are required")
            names = self.field_list(sobj, "fields=" + ",".join(fields))
            with sim.lock:
                out = []
                for raw in ids:
                    rid = normalize_id(raw.strip())
                    r = sim.records[sobj].get(rid) if rid else None
                    out.append(self.serialize(sobj, r, names) if r else None)
            self.reply(200, out)
            return
        if len(segs) == 2:
            self.allow(method, "PATCH")
            field = sim.lower[sobj].get(segs[1].lower())
            if not field or field not in sim._key_fields(sobj):
                raise ApiError(
                    400, "INVALID_FIELD",
                    f"Field name provided, {segs[1]} does not match an "
                    f"External ID, Salesforce Id, or indexed field for "
                    f"{sobj}")
            records, all_or_none = self.collection_body(body)
            with sim.lock:
                out = self.collection_upsert(sobj, field, records,
                                             all_or_none)
            self.reply(200, out)
            return
        raise ApiError(404, "NOT_FOUND",
                       "The requested resource does not exist")

    def collection_body(self, body):
        data = self.json_body(body)
        if not isinstance(data, dict) or \
                not isinstance(data.get("records"), list):
            raise ApiError(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize instance of "
                           "SObjectCollection: 'records' must be an array")
        if len(data["records"]) > COLLECTION_MAX:
            raise ApiError(400, "EXCEEDED_ID_LIMIT",
                           "record limit reached. cannot submit more than "
                           "200 records into this call")
        aon = data.get("allOrNone", False)
        if not isinstance(aon, bool):
            raise ApiError(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize instance of boolean from "
                           f"{json_kind(aon)} value allOrNone")
        return data["records"], aon

    def record_type(self, rec, want=None):
        """The record's attributes.type, checked (whole-request errors)."""
        if not isinstance(rec, dict):
            raise ApiError(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize instance of SObject from "
                           f"{json_kind(rec)} value")
        attrs = rec.get("attributes")
        t = attrs.get("type") if isinstance(attrs, dict) else None
        if not t:
            raise ApiError(400, "INVALID_TYPE",
                           "No SObject Type defined in the attributes map")
        sobj = next((s for s in self.sim.schema if s.lower() == t.lower()),
                    None)
        if not sobj:
            raise ApiError(400, "INVALID_TYPE",
                           f"sObject type '{t}' is not supported.")
        if want and sobj != want:
            raise ApiError(400, "INVALID_TYPE",
                           f"The SObject type of each record must be "
                           f"{want}; found {sobj}")
        return sobj

    def finish_collection(self, results, all_or_none, commits,
                          upsert=False):
        """Commit the pending writes unless allOrNone and something
        failed; shape the per-record results."""
        failed = any(r["errors"] for r in results)
        out = []
        if all_or_none and failed:
            for r in results:
                d = {}
                if r.get("existing"):
                    d["id"] = r["existing"]
                d["success"] = False
                d["errors"] = err_collection(r["errors"] or [rec_error(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK, [])])
                out.append(d)
            return out
        for r, commit in zip(results, commits):
            if r["errors"]:
                d = {"success": False,
                     "errors": err_collection(r["errors"])}
                if r.get("existing"):
                    d["id"] = r["existing"]
                out.append(d)
                continue
            rid = commit()
            d = {"id": rid, "success": True, "errors": []}
            if upsert:
                d["created"] = not r.get("existing")
            out.append(d)
        return out

    def collection_create(self, records, all_or_none):
        sim = self.sim
        typed_list = []
        for rec in records:
            sobj = self.record_type(rec)
            typed_list.append((sobj, sim._typed_fields(sobj, rec)))
        auto = self.auto_assign()
        results, commits = [], []
        for sobj, typed in typed_list:
            res = self.do_create(sobj, typed, auto, commit=False)
            results.append(res)

            def commit(sobj=sobj, typed=typed):
                rid = sim._new_id(sobj)
                sim._apply(sobj, rid, typed, self.api["user"], create=True)
                return rid
            commits.append(commit)
        return self.finish_collection(results, all_or_none, commits)

    def collection_update(self, records, all_or_none):
        sim = self.sim
        typed_list = []
        for rec in records:
            sobj = self.record_type(rec)
            typed_list.append((sobj, sim._typed_fields(sobj, rec)))
        results, commits, seen = [], [], set()
        for sobj, typed in typed_list:
            raw = typed.pop("Id", None)
            res = {"errors": []}
            rid = normalize_id(raw) if raw else None
            if not raw:
                res["errors"] = [rec_error(
                    "MISSING_ARGUMENT", "Id not specified in an update call",
                    [])]
            elif not rid or rid[:3] != KEY_PREFIX[sobj]:
                res["errors"] = [rec_error(
                    "MALFORMED_ID",
                    f"{sobj} ID: id value of incorrect type: {raw}", ["Id"])]
            elif rid not in sim.records[sobj]:
                res["errors"] = [rec_error(
                    "ENTITY_IS_DELETED" if rid in sim.deleted
                    else "INVALID_CROSS_REFERENCE_KEY",
                    "entity is deleted" if rid in sim.deleted
                    else "invalid cross reference id", [])]
            elif rid in seen:
                res["errors"] = [rec_error(
                    "INVALID_FIELD", "Duplicate id in list: " + rid, [])]
            else:
                res["existing"] = rid
                res["errors"] = sim._validate(
                    sobj, typed, existing=sim.records[sobj][rid])
            seen.add(rid)
            results.append(res)

            def commit(sobj=sobj, rid=rid, typed=typed):
                sim._apply(sobj, rid, typed, self.api["user"])
                return rid
            commits.append(commit)
        return self.finish_collection(results, all_or_none, commits)

    def collection_upsert(self, sobj, field, records, all_or_none):
        sim = self.sim
        typed_list = []
        for rec in records:
            self.record_type(rec, want=sobj)
            typed_list.append(sim._typed_fields(sobj, rec))
        keys = {}
        for i, typed in enumerate(typed_list):
            v = typed.get(field)
            if v not in (None, ""):
                keys.setdefault(str(v).lower(), []).append(i)
        auto = self.auto_assign()
        results, commits = [], []
        for i, typed in enumerate(typed_list):
            v = typed.get(field)
            res = {"errors": []}
            commit = None
            if v in (None, ""):
                res["errors"] = [rec_error(
                    "MISSING_ARGUMENT", f"{field} not specified", [field])]
            elif len(keys[str(v).lower()]) > 1:
                res["errors"] = [rec_error(
                    "DUPLICATE_VALUE",
                    f"Duplicate external id specified: {v}", [field])]
            elif "Id" in typed:
                res["errors"] = [rec_error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "Unable to create/update fields: Id. Please check the "
                    "security settings of this field and verify that it is "
                    "read/write for your profile or permission set.",
                    ["Id"])]
            else:
                ids = sim._find_by_key(sobj, field, v)
                if len(ids) > 1:
                    res["errors"] = [rec_error(
                        "DUPLICATE_EXTERNAL_ID",
                        f"Duplicate external id specified: {v}", [field])]
                elif ids:
                    rid = ids[0]
                    res["existing"] = rid
                    res["errors"] = sim._validate(
                        sobj, typed, existing=sim.records[sobj][rid])

                    def commit(rid=rid, typed=typed):
                        sim._apply(sobj, rid, typed, self.api["user"])
                        return rid
                else:
                    res = self.do_create(sobj, typed, auto, commit=False)

                    def commit(typed=typed):
                        rid = sim._new_id(sobj)
                        sim._apply(sobj, rid, typed, self.api["user"],
                                   create=True)
                        return rid
            results.append(res)
            commits.append(commit)
        return self.finish_collection(results, all_or_none, commits,
                                      upsert=True)

    def collection_delete(self, query):
        sim = self.sim
        qs = parse_qs(query)
        ids = [i for i in (qs.get("ids") or [""])[0].split(",") if i]
        if len(ids) > COLLECTION_MAX:
            raise ApiError(400, "EXCEEDED_ID_LIMIT",
                           "record limit reached. cannot submit more than "
                           "200 records into this call")
        out = []
        with sim.lock:
            for raw in ids:
                rid = normalize_id(raw)
                sobj = PREFIX_TYPE.get(rid[:3]) if rid else None
                if not sobj or sobj not in sim.records or \
                        rid not in sim.records[sobj]:
                    out.append({"success": False, "errors": err_collection([
                        rec_error("ENTITY_IS_DELETED" if rid in sim.deleted
                                  else "INVALID_CROSS_REFERENCE_KEY",
                                  "entity is deleted" if rid in sim.deleted
                                  else "invalid cross reference id", [])])})
                    continue
                rec = sim.records[sobj].pop(rid)
                for f in sim._key_fields(sobj):
                    sim._index_set(sobj, rid, f, rec.get(f), None)
                sim.deleted.add(rid)
                sim.counters["deleted"] += 1
                sim._dirty = True
                out.append({"id": rid, "success": True, "errors": []})
        self.reply(200, out)

    # ------------------------------------------------------------- identity

    def identity(self, method, path):
        sim = self.sim
        self.allow(method, "GET", "HEAD")
        user = sim.check_token(self.headers.get("Authorization"))
        segs = path.strip("/").split("/")
        if len(segs) != 3 or segs[1] != sim.org_id or \
                normalize_id(segs[2]) not in sim.records["User"]:
            raise ApiError(404, "NOT_FOUND", "Bad_Id")
        u = sim.records["User"][normalize_id(segs[2])]
        self.send(200, {
            "id": f"{sim.base_url}{path}", "asserted_user": user == u["Id"],
            "user_id": u["Id"], "organization_id": sim.org_id,
            "username": u["Username"], "display_name": u["Name"],
            "email": u["Email"], "active": u["IsActive"],
            "user_type": "STANDARD", "language": "en_US",
            "locale": "en_US", "utcOffset": 0,
            "urls": {"rest": f"{sim.instance_url()}/services/data/v{{version}}/",
                     "query": f"{sim.instance_url()}/services/data/v{{version}}"
                     "/query/",
                     "sobjects": f"{sim.instance_url()}/services/data/"
                     "v{version}/sobjects/"}})

    # -------------------------------------------------------- control API

    def control(self, method, path, query, body):
        sim = self.sim
        name, data, qs = self.control_request(path, query, body)
        if name == "state" and method == "GET":
            omit = set((qs.get("omit") or [""])[0].split(","))
            self.send(200, sim.snapshot(include_calls="calls" not in omit,
                                        include_records="records"
                                        not in omit))
        elif name == "reset" and method == "POST":
            sim.reset()
            self.send(200, {"ok": True})
        elif name == "faults" and method == "GET":
            self.send(200, sim._faults_view())
        elif name == "faults" and method == "POST":
            self.send(200, sim.apply_faults(data))
        elif name == "config" and method == "GET":
            self.send(200, copy.deepcopy(sim.config))
        elif name == "config" and method == "POST":
            self.send(200, sim.set_config(**data))
        elif name == "arrivals" and method == "GET":
            try:
                since = int((qs.get("since") or ["0"])[0])
            except ValueError:
                raise ValueError("arrivals: since must be an integer")
            self.send(200, {"arrivals": sim.get_arrivals(since),
                            "total": sim.arrival_seq})
        elif name == "clock" and method == "POST":
            self.send(200, {"now": sim.advance_clock(
                data.get("advance_seconds", 0))})
        elif name == "rep" and method == "POST":
            action = data.get("action", "edit")
            if action == "edit":
                out = sim.rep_edit(data.get("sobject", "Lead"),
                                   data.get("id"), data.get("fields"),
                                   email=data.get("email"),
                                   user=data.get("user", "rep"),
                                   modstamp=data.get("modstamp"))
            elif action == "convert":
                out = sim.rep_convert(data.get("id"),
                                      email=data.get("email"),
                                      opportunity=data.get("opportunity"),
                                      status=data.get("status"),
                                      user=data.get("user", "rep"),
                                      modstamp=data.get("modstamp"))
            elif action == "create":
                out = sim.rep_create(data.get("sobject", "Lead"),
                                     data.get("fields"),
                                     user=data.get("user", "rep"),
                                     modstamp=data.get("modstamp"))
            else:
                raise ValueError(f"unknown rep action: {action}")
            self.send(200, out)
        elif name == "bulk" and method == "POST":
            self.send(200, sim.bulk_create(
                data.get("sobject", "Lead"), data.get("count", 1),
                data.get("fields"), modstamp=data.get("modstamp"),
                user=data.get("user", "rep")))
        else:
            self.send(404, {"error": f"no control endpoint {method} {path}"})


def raise_record_errors(errors):
    e = ApiError(400, errors[0]["code"], errors[0]["message"])
    e.body = err_single(errors)
    raise e


def fault_body(status, retry_after):
    if status == 429:
        return [{"message": "Too many requests. Retry after "
                 f"{retry_after or 1} seconds.",
                 "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    if status == 503:
        return [{"message": "Server is temporarily unavailable. Please "
                 "try again later.", "errorCode": "SERVER_UNAVAILABLE"}]
    if status == 500:
        return [{"message": "An unexpected error occurred. Please include "
                 "this ErrorId if you contact support: "
                 "1234567890-12345 (-1234567890)",
                 "errorCode": "UNKNOWN_EXCEPTION"}]
    if status == 401:
        return INVALID_SESSION
    if status == 403:
        return [{"message": "TotalRequests Limit exceeded.",
                 "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    if status == 404:
        return NOT_FOUND
    return [{"message": f"injected HTTP {status}",
             "errorCode": "UNKNOWN_EXCEPTION"}]


# --------------------------------------------------------------------------

SalesforceSim.handler_class = Handler


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Salesforce REST API simulator (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0,
                    help="TCP port; 0 picks a free one (default)")
    ap.add_argument("--state-file", help="load state from and save it to "
                    "this JSON file (written at most every 0.5 s and on exit)")
    ap.add_argument("--client-id", default=os.environ.get(
        "SF_SIM_CLIENT_ID", "baton-client-id"))
    ap.add_argument("--client-secret", default=os.environ.get(
        "SF_SIM_CLIENT_SECRET", "baton-client-secret"))
    ap.add_argument("--refresh-token", default=os.environ.get(
        "SF_SIM_REFRESH_TOKEN", "baton-refresh-token"))
    ap.add_argument("--api-limit", type=int, default=100000,
                    help="daily API request limit (default 100000)")
    ap.add_argument("--page-size", type=int, default=2000,
                    help="query page size (default 2000)")
    ap.add_argument("--external-id", action="append", metavar="TYPE.FIELD",
                    help="an external id field, e.g. Lead.Baton_Key__c "
                    "(repeatable; default Lead.Baton_Key__c)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="log requests to stderr")
    args = ap.parse_args(argv)
    ext = None
    if args.external_id:
        ext = {}
        for item in args.external_id:
            sobj, _, field = item.partition(".")
            if not field:
                ap.error(f"--external-id {item}: TYPE.FIELD expected")
            ext.setdefault(sobj, []).append(field)
    sim = SalesforceSim(args.port, client_id=args.client_id,
                        client_secret=args.client_secret,
                        refresh_token=args.refresh_token,
                        api_limit=args.api_limit, page_size=args.page_size,
                        external_ids=ext, state_file=args.state_file,
                        verbose=args.verbose)
    return serve_until_signal(sim)


if __name__ == "__main__":
    sys.exit(main())
