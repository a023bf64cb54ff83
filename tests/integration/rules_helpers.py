"""rules_helpers.py - what the rules worker's integration tests share.

A webhook connector ("crm") whose events carry their own type, so one
connector feeds lead.upserted, lead.activity, lead.status and deal.stage;
SPEC's rules.conf; and helpers to wait until the consumer group `rules`
has applied everything and to read what the worker wrote.
"""

import json
import os

import harness
from harness import wait_until

# One connector for every event type: {"type": ..., "email": ..., "id": ...,
# "at": ..., and the canonical attributes at the top level}.
CRM = {
    "type": "webhook",
    "role": "marketing",
    "secret": harness.SECRET,
    "items": "events",
    "map.type": "type",
    "map.email": "email",
    "map.id": "id",
    "map.at": "at",
}
for _f in ("first_name", "last_name", "title", "company", "company_size",
           "industry", "country", "activity", "form", "url", "status",
           "reason", "owner", "stage", "amount", "currency", "outcome",
           "from"):
    CRM["map." + _f] = _f

# SPEC "Shared MQL/SQL definitions", as written there.
SPEC_RULES = """\
[score]
rule = +20 if title ~ "vp|vice president|director|head of"
rule = +15 if company_size >= 200
rule = -30 if email ~ "@(gmail|yahoo|hotmail)\\."
rule = +40 on form_submit where form == "demo-request"
rule = +5 on email_click cap 25 per 30d
rule = +10 on page_view where url ~ "/pricing"
# engagement fades, fit does not
decay = 25% per 30d

[stage mql]
when = score >= 60 and fit >= 15

[stage sql]
when = sales.status == "qualified" or deal.stage != ""

[sla accept]
after = mql
# sales must accept or reject an MQL
within = 24h
on_breach = notify, recycle
"""

T0 = 1763900000000          # ms; a fixed "now" for event times
DAY = 24 * 3600 * 1000

_ids = [0]


def ev(type_, email, at=T0, id=None, **fields):
    """One CRM event."""
    if id is None:
        _ids[0] += 1
        id = f"e{_ids[0]}"
    e = {"type": type_, "email": email, "id": id, "at": at}
    e.update(fields)
    return e


def upsert(email, **attrs):
    return ev("lead.upserted", email, **attrs)


def activity(email, kind, **attrs):
    return ev("lead.activity", email, activity=kind, **attrs)


def status(email, st, **attrs):
    return ev("lead.status", email, status=st, **attrs)


def post(b, *events, connector="crm"):
    """Posts events in one request; asserts it was accepted."""
    r = b.post(connector, {"events": list(events)})
    assert r.status in (200, 204), repr(r)
    return r


def group_info(redis, stream="baton:events", group="rules"):
    """XINFO GROUPS' entry for group as a dict, or None."""
    try:
        groups = redis.command("XINFO", "GROUPS", stream)
    except harness.RespError:
        return None
    for g in groups:
        d = {g[i]: g[i + 1] for i in range(0, len(g), 2)}
        if d.get("name") == group:
            return d
    return None


def settled(redis):
    """True when the group has read every entry and acknowledged it."""
    g = group_info(redis)
    return g is not None and g["pending"] == 0 and g.get("lag") == 0


def wait_settled(redis, timeout=20):
    last = []

    def ok():
        g = group_info(redis)
        last[:] = [g]
        return g is not None and g["pending"] == 0 and g.get("lag") == 0
    try:
        wait_until(ok, timeout, interval=0.02,
                   what="the rules group to apply every event")
    except AssertionError as e:
        raise AssertionError(f"{e}; group: {last[0]!r}") from None


def lead(redis, email, prefix="baton"):
    """The lead's hash as a dict."""
    flat = redis.command("HGETALL", f"{prefix}:lead:{email}") or []
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def entries(redis, stream, email=None, type_=None, prefix="baton"):
    """[(entry id, fields with data decoded)] of PREFIX:stream, for one
    lead and/or one type."""
    out = []
    for eid, f in redis.entries(f"{prefix}:{stream}"):
        if email is not None and f.get("lead") != email:
            continue
        if type_ is not None and f.get("type") != type_:
            continue
        if "data" in f:
            f = dict(f, data=json.loads(f["data"]))
        out.append((eid, f))
    return out


def types(redis, stream, email, prefix="baton"):
    return [f["type"] for _, f in entries(redis, stream, email,
                                          prefix=prefix)]


def write_rules(dir, text, name="rules.conf"):
    return harness.write_file(os.path.join(dir, name), text, 0o644)


def num(v):
    """A hash number as float."""
    return float(v)


def metric(b, name):
    """The value of one series from /metrics ("name{labels}" as
    rendered), or None."""
    body = b.get("/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None
