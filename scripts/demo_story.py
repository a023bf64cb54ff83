#!/usr/bin/env python3
"""demo_story.py - the story scripts/demo tells, played against the
simulators and a running batond (Python 3.11 standard library only).

  demo_story.py run --baton URL --hubspot URL --salesforce URL --slack URL
                    --feed FILE --state FILE
  demo_story.py pick --state FILE
  demo_story.py summary --hubspot URL --salesforce URL --slack URL
                    --dlq N --state FILE

`run` plays the story and prints it with a live feed:
  1. A week of marketing (the seven days before today, event times
     included) for 50 leads, at high speed: sign-up forms create contacts
     in the HubSpot simulator (which sends batond signed v3 webhooks:
     lead.upserted), demo requests are HubSpot forms (recorded on the
     contact as HubSpot does: lead.activity form_submit), and the website
     and the email tool report sign-up forms, page views and email clicks
     to batond's generic webhook connector `website` (signed with
     X-Baton-Signature).  Thirteen leads qualify
     under SPEC's rules; a few are poor fits (free-mail addresses, small
     companies) that score low whatever they do.
  2. The sales reps work the MQLs in the Salesforce simulator as they
     arrive (its /__sim/rep control, as a rep in the UI): some are
     accepted (Working - Contacted), some rejected (Unqualified), some
     qualified, two converted and won (Opportunity Closed Won), one
     converted and lost, and one is left untouched: it breaches its 20 s
     SLA, Slack hears of it and the lead is recycled.
  3. It waits until the feedback has reached the HubSpot contacts
     (baton_stage, lifecyclestage) and the SLA breach has happened.
The feed is `batonctl tail -f --json` (scripts/demo writes it to FILE):
each interesting entry becomes one short line; marketing's own events
are summed up per day instead.  `run` writes what it did to --state and
exits 0 when every expected outcome was seen, 1 otherwise (timeouts are
printed with what was missing).

`pick` prints the email of the lead `batonctl lead` explains (a won one).
`summary` prints one line per system and exits 1 when the story's
outcomes are not all visible there.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

SLA_SECONDS = 20                # conf/demo/rules.conf [sla accept] within
STORY_TIMEOUT = 45              # the sales phase, at most (seconds)
DAY_MS = 24 * 3600 * 1000

T0 = time.monotonic()
OUT_LOCK = threading.Lock()
COLOR = sys.stdout.isatty()


# Why the reps reject (the Lead's Unqualified_Reason__c).
REJECT_REASONS = ["no budget this year", "student project",
                  "competitor evaluating us"]


def say(text=""):
    with OUT_LOCK:
        print(text, flush=True)


def stamp():
    return f"+{time.monotonic() - T0:5.1f}s"


def line(what, who, text):
    """One feed line: time, what, whom, what happened."""
    if COLOR:
        what = f"\033[36m{what:<10}\033[0m"
    else:
        what = f"{what:<10}"
    say(f"  {stamp()} {what} {who:<34} {text}")


def heading(text):
    if COLOR:
        say(f"\n\033[1m== {text}\033[0m")
    else:
        say(f"\n== {text}")


# ---- HTTP -----------------------------------------------------------------

def request(base, method, path, body=None, headers=None, timeout=10):
    """(status, parsed JSON or text) of one call to base + path."""
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else \
            json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    try:
        c.request(method, path, data, hdrs)
        r = c.getresponse()
        raw = r.read().decode(errors="replace")
    finally:
        c.close()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw


def control(base, method, path, body=None):
    """A simulator control call that must succeed."""
    st, out = request(base, method, path, body)
    if st != 200:
        raise RuntimeError(f"{method} {base}{path}: {st} {out}")
    return out


# ---- The cast ---------------------------------------------------------------

# numemployees is HubSpot's option list; the connector reads a range as its
# lower bound, so "500-1000" is company_size 500 (fit +15 from 200 up).
# fate: what sales does with the MQL (None: not expected to qualify).
MQLS = [
    # email, first, last, title, company, numemployees, industry, country,
    # fate, sign-up day
    ("ada.lovelace@analytical.example", "Ada", "Lovelace", "VP Engineering",
     "Analytical Engines", "500-1000", "COMPUTER_SOFTWARE", "GB", "win", 0),
    ("grace.hopper@cobol.example", "Grace", "Hopper", "Director of IT",
     "Cobol Systems", "1000+", "COMPUTER_SOFTWARE", "US", "win", 0),
    ("katherine.johnson@orbit.example", "Katherine", "Johnson",
     "Head of Analytics", "Orbit Dynamics", "500-1000", "AEROSPACE", "US",
     "lost", 1),
    ("alan.turing@bletchley.example", "Alan", "Turing", "VP Research",
     "Bletchley Labs", "100-500", "RESEARCH", "GB", "qualify", 1),
    ("margaret.hamilton@apollo.example", "Margaret", "Hamilton",
     "Director of Software", "Apollo Guidance", "1000+", "AEROSPACE", "US",
     "qualify", 2),
    ("edsger.dijkstra@shortest.example", "Edsger", "Dijkstra",
     "Engineering Manager", "Shortest Path BV", "500-1000",
     "COMPUTER_SOFTWARE", "NL", "qualify", 2),
    ("barbara.liskov@clu.example", "Barbara", "Liskov", "VP Platform",
     "CLU Systems", "100-500", "COMPUTER_SOFTWARE", "US", "accept", 3),
    ("john.backus@fortran.example", "John", "Backus", "Head of Data",
     "Fortran Works", "1000+", "COMPUTER_SOFTWARE", "US", "accept", 3),
    ("frances.allen@optimize.example", "Frances", "Allen", "Architect",
     "Optimizing Compilers", "500-1000", "COMPUTER_SOFTWARE", "US",
     "accept", 4),
    ("dennis.ritchie@unix.example", "Dennis", "Ritchie", "Director, Systems",
     "Bell Unix", "1000+", "TELECOMMUNICATIONS", "US", "reject", 4),
    ("radia.perlman@spanning.example", "Radia", "Perlman", "VP Networking",
     "Spanning Tree", "500-1000", "COMPUTER_NETWORKING", "US", "reject", 5),
    ("ken.thompson@plan9.example", "Ken", "Thompson", "Staff Engineer",
     "Plan 9 Inc", "1000+", "COMPUTER_SOFTWARE", "US", "reject", 5),
    ("linus.t@kernel.example", "Linus", "Torvalds", "Head of Engineering",
     "Kernel Org", "500-1000", "COMPUTER_SOFTWARE", "FI", "untouched", 0),
]

# The Opportunity a conversion creates (Amount; others get 18,000).
AMOUNTS = {"ada.lovelace@analytical.example": 24000,
           "grace.hopper@cobol.example": 36000}

FATE_TEXT = {"win": "convert it and win", "lost": "convert it and lose",
             "qualify": "qualify it", "accept": "accept it",
             "reject": "reject it", "untouched": "not touch it"}

# What each fate expects to see in HubSpot's baton_stage at the end.
FATE_STAGE = {"win": "customer", "lost": "recycled", "qualify": "sql",
              "accept": "sal", "reject": "recycled", "untouched": "recycled"}

# The rest: poor fits first, then leads that stay in nurture.
POOR = [
    ("jenny.w@gmail.com", "Jenny", "Wong", "Founder", "Jenny's Bakery",
     "1-5", "FOOD_BEVERAGES", "US", 1),
    ("bob.builder@yahoo.com", "Bob", "Builder", "Owner", "Bob Builds",
     "1-5", "CONSTRUCTION", "GB", 2),
    ("student42@hotmail.com", "Sam", "Student", "Student", "University",
     "1-5", "EDUCATION_MANAGEMENT", "DE", 3),
    ("vp.sales@gmail.com", "Vic", "Pratt", "VP Sales", "Pratt Consulting",
     "1-5", "MANAGEMENT_CONSULTING", "US", 4),
    ("tinkerer@tinyco.example", "Tina", "Kerr", "Developer", "TinyCo",
     "5-25", "COMPUTER_SOFTWARE", "CA", 5),
]

FIRST = ["Mia", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara",
         "Umar", "Vera", "Wes", "Xena", "Yuki", "Zane", "Anil", "Bea",
         "Carl", "Dina", "Emil", "Fay", "Gus", "Hana", "Ivan", "Jade",
         "Kofi", "Lena", "Milo", "Nora", "Omar", "Pia", "Raj", "Sara"]
TITLES = ["Marketing Manager", "Software Engineer", "Analyst",
          "Product Manager", "Consultant", "Sales Manager", "Data Engineer",
          "Director of Marketing", "Operations Lead", "IT Manager"]
SIZES = ["5-25", "25-50", "50-100", "100-500", "500-1000", "25-50"]
COMPANIES = ["Northwind", "Contoso", "Initech", "Globex", "Umbrella",
             "Hooli", "Vandelay", "Stark", "Wayne", "Acme", "Tyrell",
             "Cyberdyne", "Soylent", "Wonka", "Gringotts", "Oscorp"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "SE", "ES", "IT", "CA", "AU"]


def nurture_cast(n):
    """n leads that stay in nurture: deterministic, varied, none of them
    reaches score 60 with fit 15 (at most one of title and size counts,
    and engagement stays small)."""
    out = []
    for i in range(n):
        first = FIRST[i % len(FIRST)]
        company = COMPANIES[i % len(COMPANIES)]
        title = TITLES[i % len(TITLES)]
        size = SIZES[i % len(SIZES)]
        domain = f"{company.lower()}.example"
        email = f"{first.lower()}.{company.lower()}{i}@{domain}"
        out.append((email, first, company + "son", title,
                    f"{company} {'Ltd' if i % 2 else 'Inc'}", size,
                    "COMPUTER_SOFTWARE", COUNTRIES[i % len(COUNTRIES)],
                    i % 7))
    return out


def week_plan(now_ms):
    """([([contacts], [website events]) per day], [day names],
    {email: fate}) for the seven days before today (UTC)."""
    start = (now_ms // DAY_MS - 7) * DAY_MS     # 00:00 UTC, a week ago
    names = [time.strftime("%a %d %b", time.gmtime((start + d * DAY_MS)
                                                   / 1000))
             for d in range(7)]
    days = [([], []) for _ in range(7)]
    fates = {}
    seq = [0]

    def at(day, hour, minute=0):
        return start + day * DAY_MS + (hour * 60 + minute) * 60000

    def act(day, email, kind, hour, **attrs):
        seq[0] += 1
        e = {"id": f"web-{seq[0]:04d}", "email": email, "kind": kind,
             "at": at(day, hour, seq[0] % 60)}
        e.update(attrs)
        days[min(day, 6)][1].append(e)

    def contact(day, hour, email, first, last, title, company, size,
                industry, country):
        days[day][0].append({
            "at": at(day, hour, len(days[day][0])),
            "properties": {
                "email": email, "firstname": first, "lastname": last,
                "jobtitle": title, "company": company,
                "numemployees": size, "industry": industry,
                "country": country, "lifecyclestage": "lead"}})
        act(day, email, "form_submit", hour, form="newsletter-signup",
            url="https://baton.example/newsletter")

    for i, (email, first, last, title, company, size, industry, country,
            fate, day) in enumerate(MQLS):
        fates[email] = fate
        contact(day, 9 + i % 8, email, first, last, title, company, size,
                industry, country)
        # Intent builds up over a day or two, ending in a demo request;
        # the pricing page and a webinar email click come first.
        d2 = min(day + 1, 6)
        act(day, email, "page_view", 14, url="https://baton.example/pricing")
        act(d2, email, "email_click", 10, campaign="webinar-invite",
            url="https://baton.example/webinar")
        if size in ("100-500",) or title in ("Architect", "Staff Engineer",
                                             "Engineering Manager"):
            # fit 15 or 20 only: a second pricing visit for margin
            act(d2, email, "page_view", 11,
                url="https://baton.example/pricing")
        act(d2, email, "form_submit", 12, form="demo-request",
            url="https://baton.example/demo")
    for email, first, last, title, company, size, industry, country, day \
            in POOR:
        contact(day, 20, email, first, last, title, company, size,
                industry, country)
        act(day, email, "page_view", 21, url="https://baton.example/pricing")
        # Keen but a poor fit: a demo request does not make an MQL.
        act(day, email, "form_submit", 21, form="demo-request",
            url="https://baton.example/demo")
    for i, (email, first, last, title, company, size, industry, country,
            day) in enumerate(nurture_cast(50 - len(MQLS) - len(POOR))):
        contact(day, 8 + i % 10, email, first, last, title, company, size,
                industry, country)
        if i % 3 == 0:
            act(day, email, "page_view", 15,
                url="https://baton.example/blog/lead-scoring")
        if i % 3 == 1:
            act(min(day + 1, 6), email, "email_click", 9,
                campaign="newsletter", url="https://baton.example/blog")
        if i % 4 == 2:
            act(min(day + 2, 6), email, "page_view", 16,
                url="https://baton.example/pricing")
    for _, evs in days:
        evs.sort(key=lambda e: e["at"])
    return days, names, fates


# ---- The feed ---------------------------------------------------------------

class Feed(threading.Thread):
    """Follows batonctl tail's JSON lines in a file, prints the
    interesting ones and keeps what the story waits for."""

    # Stage moves shown: the others appear as their handoff.mql or
    # feedback.* line.
    SHOWN_STAGES = ("recycled", "disqualified")

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.cond = threading.Condition()
        self.stop = False
        self.counts = {}        # "stream type" -> n
        self.stages = {}        # email -> last stage
        self.feedback = {}      # email -> [feedback types]
        self.breached = set()
        self.handoffs = set()
        self.dlq = []

    def run(self):
        buf = ""
        f = None
        while not self.stop:
            if f is None:
                try:
                    f = open(self.path, encoding="utf-8")
                except OSError:
                    time.sleep(0.05)
                    continue
            chunk = f.read()
            if not chunk:
                time.sleep(0.05)
                continue
            buf += chunk
            *lines, buf = buf.split("\n")
            for text in lines:
                if text.strip():
                    try:
                        self.entry(json.loads(text))
                    except (ValueError, KeyError, TypeError) as e:
                        say(f"  feed: cannot read {text[:80]!r}: {e}")
        if f is not None:
            f.close()

    def entry(self, e):
        stream, type_ = e.get("stream", "?"), e.get("type", "?")
        who, data = e.get("lead", "-"), e.get("data") or {}
        with self.cond:
            k = f"{stream} {type_}"
            self.counts[k] = self.counts.get(k, 0) + 1
            if stream == "decisions" and type_ == "lead.stage":
                self.stages[who] = data.get("to")
            elif stream == "decisions" and type_ == "sla.breached":
                self.breached.add(who)
            elif stream == "handoffs" and type_ == "handoff.mql":
                self.handoffs.add(who)
            elif stream == "feedback":
                self.feedback.setdefault(who, []).append(
                    type_.split(".", 1)[-1])
            elif stream == "dlq":
                self.dlq.append(e)
            self.cond.notify_all()
        self.show(stream, type_, who, e.get("source", "-"), data, e)

    def show(self, stream, type_, who, source, data, e):
        if stream == "events":
            if source == "salesforce":
                if type_ == "lead.status":
                    line("salesforce", who, f"{type_}: {data.get('status')}"
                         "   (polled)")
                elif type_ == "deal.stage":
                    amount = data.get("amount")
                    line("salesforce", who, f"{type_}: {data.get('stage')} "
                         f"({data.get('outcome')}"
                         f"{f', {amount:,.0f}' if amount else ''})")
            return
        if stream == "decisions" and type_ == "lead.stage":
            to = data.get("to")
            if to not in self.SHOWN_STAGES:
                return
            # "... (FILE:LINE)": the file is in `batonctl lead`.
            why = str(data.get("why") or "").split(" (/")[0]
            if len(why) > 44:
                why = why[:43] + "…"
            line("stage", who, f"{data.get('from')} -> {to}: {why}")
        elif stream == "decisions" and type_ == "sla.breached":
            within = data.get("within_ms")
            within = f"{within / 1000:g}s" if isinstance(
                within, (int, float)) else "its limit"
            line("SLA", who, f"sla.breached: [sla {data.get('sla')}] no "
                 f"answer within {within} -> "
                 f"{', '.join(data.get('on_breach') or [])}")
        elif stream == "handoffs" and type_ == "handoff.mql":
            line("MQL", who, f"score {fmt_num(data.get('score'))} (fit "
                 f"{fmt_num(data.get('fit'))}): handoff.mql -> "
                 "salesforce, slack")
        elif stream == "feedback":
            reason = data.get("reason")
            line("feedback", who, f"{type_}"
                 f"{f' ({reason})' if reason else ''} -> hubspot")
        elif stream == "dlq":
            line("DLQ", who, f"{source}: {json.dumps(data)[:60]}")

    def wait(self, pred, timeout):
        """pred() under the lock, until true or timeout: its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred()
                left = deadline - time.monotonic()
                if v or left <= 0:
                    return v
                self.cond.wait(min(left, 0.25))


def fmt_num(x):
    if isinstance(x, (int, float)):
        return f"{x:.0f}"
    return str(x)


# ---- The story ------------------------------------------------------------

class Story:
    def __init__(self, args):
        self.a = args
        self.secret = os.environ.get("BATON_DEMO_SECRET", "")
        self.feed = Feed(args.feed)
        self.fates = {}
        self.sf_ids = {}            # email -> Lead Id
        self.rejected = []          # emails the reps rejected
        self.opps = {}              # email -> Opportunity Id
        self.actions = []           # [(due, email, step)] pending
        self.done_steps = []
        self.problems = []

    # -- marketing

    def post_website(self, events):
        body = json.dumps({"events": events}).encode()
        sig = "sha256=" + hmac.new(self.secret.encode(), body,
                                   hashlib.sha256).hexdigest()
        st, out = request(self.a.baton, "POST", "/hooks/website", body,
                          {"X-Baton-Signature": sig})
        if st != 200:
            raise RuntimeError(f"POST /hooks/website: {st} {out}")
        return out

    def week(self):
        days, names, self.fates = week_plan(int(time.time() * 1000))
        ncontacts = sum(len(c) for c, _ in days)
        nevents = sum(len(e) for _, e in days)
        ndemo = sum(1 for _, evs in days for e in evs
                    if e.get("form") == "demo-request")
        heading(f"a week of marketing, at high speed: {ncontacts} sign-ups "
                f"and {ndemo} demo requests in HubSpot, "
                f"{nevents - ndemo} website and email events")
        say("  HubSpot sends signed contact webhooks to /hooks/hubspot "
            "(sign-ups, and demo\n  request forms as HubSpot records them "
            "on the contact); the website and the\n  email tool post "
            "signed batches to /hooks/website.  Between the days, the\n"
            "  live feed "
            "(batonctl tail -f, condensed) shows what the shared rules "
            "decide.")
        for d, (contacts, events) in enumerate(days):
            for c in contacts:
                control(self.a.hubspot, "POST", "/__sim/rep", {
                    "action": "create", "object": "contacts",
                    "properties": c["properties"], "at": c["at"],
                    "source": {"changeSource": "FORM",
                               "sourceId": "form:newsletter-signup"}})
            # Demo requests are HubSpot forms: HubSpot records them on
            # the contact and sends batond the change; the rest comes
            # from the website and the email tool.
            for e in events:
                if e["kind"] == "form_submit" and \
                        e.get("form") == "demo-request":
                    control(self.a.hubspot, "POST", "/__sim/rep", {
                        "action": "form_submit", "email": e["email"],
                        "form": "demo-request", "page": "Book a demo",
                        "at": e["at"]})
            web = [e for e in events if not (
                e["kind"] == "form_submit" and
                e.get("form") == "demo-request")]
            if web:
                self.post_website(web)
            kinds = {}
            for e in events:
                k = e["kind"]
                if k == "form_submit" and e.get("form") == "demo-request":
                    k = "demo request"
                elif k == "page_view" and "/pricing" in e.get("url", ""):
                    k = "pricing view"
                kinds[k] = kinds.get(k, 0) + 1
            parts = [f"{len(contacts)} sign-ups"] + [
                f"{n} {k.replace('_', ' ')}{'s' if n > 1 else ''}"
                for k, n in sorted(kinds.items()) if k != "form_submit"]
            line("marketing", names[d], ", ".join(parts))
            time.sleep(0.3)

    # -- sales

    def plan_for(self, email, fate):
        """The rep's steps for one MQL: (seconds after the Lead appeared,
        step)."""
        steps = {
            "accept": [(1.0, "working")],
            "reject": [(1.5, "unqualified")],
            "qualify": [(1.0, "working"), (4.0, "qualified")],
            "win": [(1.0, "working"), (4.0, "qualified"), (7.0, "convert"),
                    (10.0, "won")],
            "lost": [(1.0, "working"), (4.0, "convert"), (7.0, "lost")],
            "untouched": [],
        }[fate]
        return steps

    def rep(self, email, step):
        lead_id = self.sf_ids[email]
        sf = self.a.salesforce
        if step in ("working", "qualified", "unqualified"):
            status = {"working": "Working - Contacted",
                      "qualified": "Qualified",
                      "unqualified": "Unqualified"}[step]
            fields = {"Status": status}
            if step == "unqualified":
                fields["Unqualified_Reason__c"] = REJECT_REASONS[
                    len(self.rejected) % len(REJECT_REASONS)]
                self.rejected.append(email)
            control(sf, "POST", "/__sim/rep", {
                "sobject": "Lead", "id": lead_id, "fields": fields})
            line("rep", email, f"Lead Status = {status}" + (
                f" ({fields['Unqualified_Reason__c']})"
                if step == "unqualified" else ""))
        elif step == "convert":
            amount = AMOUNTS.get(email, 18000)
            out = control(sf, "POST", "/__sim/rep", {
                "action": "convert", "id": lead_id,
                "opportunity": {"Amount": amount}})
            self.opps[email] = out["opportunity"]["Id"]
            line("rep", email, f"converted: Opportunity "
                 f"{out['opportunity']['Id']} Prospecting, {amount:,}")
        elif step in ("won", "lost"):
            stage = "Closed Won" if step == "won" else "Closed Lost"
            control(sf, "POST", "/__sim/rep", {
                "sobject": "Opportunity", "id": self.opps[email],
                "fields": {"StageName": stage}})
            line("rep", email, f"Opportunity StageName = {stage}")
        self.done_steps.append((email, step))

    def sf_leads(self):
        st = control(self.a.salesforce, "GET", "/__sim/state?omit=calls")
        return st["leads"]

    def sales(self):
        heading(f"sales works the MQLs in Salesforce as they arrive (SLA: "
                f"accept or reject within {SLA_SECONDS}s)")
        mqls = set(self.fates)
        deadline = time.monotonic() + STORY_TIMEOUT
        while time.monotonic() < deadline:
            now = time.monotonic()
            for rec in self.sf_leads():
                email = (rec.get("Email") or "").lower()
                if email in self.sf_ids:
                    continue
                self.sf_ids[email] = rec["Id"]
                fate = self.fates.get(email)
                if fate is None:
                    self.problems.append(f"unexpected Lead {email}")
                    line("salesforce", email, "a Lead no rep expected")
                    continue
                line("salesforce", email, f"new Lead {rec['Id']}; the rep "
                     f"will {FATE_TEXT[fate]}")
                for delay, step in self.plan_for(email, fate):
                    self.actions.append((now + delay, email, step))
            self.actions.sort()
            while self.actions and self.actions[0][0] <= time.monotonic():
                _, email, step = self.actions.pop(0)
                self.rep(email, step)
            if not self.actions and mqls <= set(self.sf_ids) and \
                    self.outcomes_done():
                return True
            time.sleep(0.2)
        missing = sorted(mqls - set(self.sf_ids))
        if missing:
            self.problems.append(f"no Lead in Salesforce for {missing}")
        if self.actions:
            self.problems.append(f"rep steps not reached: {self.actions}")
        return False

    def expected_feedback(self):
        """email -> feedback types the rules must emit."""
        want = {"accept": {"accepted"}, "reject": {"rejected", "recycled"},
                "qualify": {"accepted", "sql"},
                "win": {"accepted", "sql", "won"},
                "lost": {"accepted", "lost", "recycled"},
                "untouched": {"recycled"}}
        return {e: want[f] for e, f in self.fates.items()}

    def outcomes_done(self):
        fb = self.feed.feedback
        for email, want in self.expected_feedback().items():
            if not want <= set(fb.get(email, [])):
                return False
        return any(self.fates.get(e) == "untouched"
                   for e in self.feed.breached)

    def hubspot_contacts(self):
        """email -> properties of the HubSpot simulator's contacts."""
        st = control(self.a.hubspot, "GET",
                     "/__sim/state?omit=events,deliveries,calls,deals")
        return {(c["properties"].get("email") or ""): c["properties"]
                for c in st["contacts"] if not c.get("archived")}

    def hubspot_table(self):
        """The MQLs' contacts as marketing sees them now."""
        by_email = self.hubspot_contacts()
        say(f"  {'contact':<34} {'lifecyclestage':<23} "
            f"{'hs_lead_status':<15} {'baton_stage':<12} baton_reason")
        for email in self.fates:
            p = by_email.get(email, {})
            reason = p.get("baton_reason") or "-"
            if len(reason) > 24:
                reason = reason[:23] + "…"
            say(f"  {email:<34} {p.get('lifecyclestage') or '-':<23} "
                f"{p.get('hs_lead_status') or '-':<15} "
                f"{p.get('baton_stage') or '-':<12} {reason}")

    def hubspot_done(self):
        by_email = self.hubspot_contacts()
        missing = []
        for email, fate in self.fates.items():
            p = by_email.get(email, {})
            if p.get("baton_stage") != FATE_STAGE[fate]:
                missing.append(f"{email} baton_stage="
                               f"{p.get('baton_stage')!r} (want "
                               f"{FATE_STAGE[fate]})")
        return missing

    def slack_count(self):
        st = control(self.a.slack, "GET", "/__sim/state?omit=calls")
        return len(st["messages"])

    def run(self):
        self.feed.start()
        ok = True
        try:
            self.week()
            # The reps take each Lead as it arrives, whether or not the
            # last MQLs of the week have been handed off yet.
            ok = self.sales() and ok
            if len(self.feed.handoffs) != len(self.fates):
                self.problems.append(
                    f"{len(self.feed.handoffs)} handoffs, "
                    f"{len(self.fates)} expected")
            if not self.feed.wait(self.outcomes_done, 5):
                ok = False
                fb = self.feed.feedback
                for email, want in self.expected_feedback().items():
                    have = set(fb.get(email, []))
                    if not want <= have:
                        self.problems.append(
                            f"{email}: feedback {sorted(have)}, missing "
                            f"{sorted(want - have)}")
                if not self.feed.breached:
                    self.problems.append("no SLA breach")
            heading("the feedback lands on the HubSpot contacts")
            deadline = time.monotonic() + 10
            missing = self.hubspot_done()
            while missing and time.monotonic() < deadline:
                time.sleep(0.25)
                missing = self.hubspot_done()
            # Slack posts at most one message a second: the last ones may
            # still be on their way.
            want = len(self.fates) + len(self.feed.breached)
            posted = self.slack_count()
            while posted < want and time.monotonic() < deadline:
                time.sleep(0.25)
                posted = self.slack_count()
            if posted != want:
                self.problems.append(f"{posted} Slack messages, {want} "
                                     "expected")
            if missing:
                ok = False
                self.problems.append("HubSpot contacts without their "
                                     "feedback: " + "; ".join(missing[:4]) +
                                     (" …" if len(missing) > 4 else ""))
            self.hubspot_table()
            if not missing:
                say(f"  every one of the {len(self.fates)} MQLs carries "
                    "sales' verdict in HubSpot (baton_stage, "
                    "lifecyclestage, hs_lead_status)")
        finally:
            time.sleep(0.3)             # the last lines of the feed
            self.feed.stop = True
            self.feed.join(2)
        if self.feed.dlq:
            self.problems.append(f"{len(self.feed.dlq)} entries in the DLQ")
        for p in self.problems:
            say(f"  problem: {p}")
        with open(self.a.state, "w", encoding="utf-8") as f:
            json.dump({"fates": self.fates, "sf_ids": self.sf_ids,
                       "breached": sorted(self.feed.breached),
                       "counts": self.feed.counts,
                       "ok": ok and not self.problems}, f, indent=1)
        ok = ok and not self.problems
        say(f"  story {'complete' if ok else 'INCOMPLETE'} in "
            f"{time.monotonic() - T0:.1f}s")
        return 0 if ok else 1


# ---- Summary ----------------------------------------------------------------

def load_state(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def pick(args):
    st = load_state(args.state)
    fates = st.get("fates") or {}
    for email, fate in fates.items():
        if fate == "win":
            print(email)
            return 0
    print(MQLS[0][0])
    return 0


def tally(values):
    out = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in
                     sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def summary(args):
    st = load_state(args.state)
    fates = st.get("fates") or {}
    hs = control(args.hubspot, "GET",
                 "/__sim/state?omit=events,deliveries,calls,deals")
    contacts = [c["properties"] for c in hs["contacts"]
                if not c.get("archived")]
    with_fb = [p for p in contacts if p.get("baton_stage")]
    sf = control(args.salesforce, "GET", "/__sim/state?omit=calls")
    leads = sf["leads"]
    opps = sf.get("opportunities", [])
    sl = control(args.slack, "GET", "/__sim/state?omit=calls")
    msgs = sl["messages"]
    won = sum(1 for o in opps if o.get("StageName") == "Closed Won")
    breaches = len(st.get("breached") or [])
    print(f"  HubSpot     {len(contacts)} contacts; {len(with_fb)} with "
          f"sales' feedback (baton_stage: "
          f"{tally(p['baton_stage'] for p in with_fb) or 'none'}); "
          "lifecyclestage: " +
          tally(p.get("lifecyclestage") or "-" for p in contacts))
    print(f"  Salesforce  {len(leads)} Leads (Status: "
          f"{tally(r.get('Status') for r in leads) or 'none'}); "
          f"{len(opps)} Opportunities "
          f"({tally(o.get('StageName') for o in opps) or 'none'})")
    slack_breaches = sum(1 for m in msgs
                         if "SLA breached" in (m.get("text") or ""))
    print(f"  Slack       {len(msgs)} messages in #sales "
          f"({len(msgs) - slack_breaches} handoffs, {slack_breaches} SLA "
          f"breach{'es' if slack_breaches != 1 else ''})")
    print(f"  baton       {len(fates)} MQLs expected, {breaches} SLA "
          f"breach{'es' if breaches != 1 else ''}, DLQ {args.dlq}")
    ok = (st.get("ok") is True and len(leads) == len(fates) and
          breaches >= 1 and len(with_fb) >= len(fates) and
          slack_breaches == breaches and
          len(msgs) == len(fates) + breaches and str(args.dlq) == "0")
    print(f"  summary: contacts={len(contacts)} hubspot_feedback="
          f"{len(with_fb)} salesforce_leads={len(leads)} opportunities="
          f"{len(opps)} won={won} "
          f"slack_messages={len(msgs)} sla_breaches={breaches} "
          f"dlq={args.dlq} {'ok' if ok else 'INCOMPLETE'}")
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    for k in ("baton", "hubspot", "salesforce", "slack", "feed", "state"):
        r.add_argument("--" + k, required=True)
    p = sub.add_parser("pick")
    p.add_argument("--state", required=True)
    s = sub.add_parser("summary")
    for k in ("hubspot", "salesforce", "slack", "dlq", "state"):
        s.add_argument("--" + k, required=True)
    a = ap.parse_args(argv)
    if a.cmd == "run":
        return Story(a).run()
    if a.cmd == "pick":
        return pick(a)
    return summary(a)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
