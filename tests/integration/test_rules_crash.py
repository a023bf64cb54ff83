"""test_rules_crash.py - batond SIGKILLed at random points while events
stream in, restarted each time; afterwards a reconciliation proves that
every event was applied exactly once and no handoff was missed or doubled.

The rules are simple on purpose (no decay, no caps), so the expected state
of each lead is computed here from the events alone: a lead's score is the
sum of its events' points whatever order they were applied in, and since
scores only grow, a lead is handed off exactly when its final score
reaches the MQL threshold.  The worker's claim and gap times are shortened
through BATON_TEST_RULES_IDLE_MS so that the entries a killed process held
are taken over within seconds instead of 30 s."""

import random
import threading
import time

import harness
from harness import BatonCase, wait_until
from rules_helpers import (CRM, activity, entries, group_info, lead, num,
                           upsert, wait_settled, write_rules)

RULES = """\
[score]
rule = +20 if title ~ "vp"
rule = +5 on page_view
rule = +10 on form_submit
rule = +1 on email_open

[stage mql]
when = score >= 40
"""
POINTS = {"page_view": 5, "form_submit": 10, "email_open": 1}
THRESHOLD = 40
LEADS = 300
KILLS = 5
IDLE_MS = 1500


class Crash(BatonCase):

    def test_sigkill_while_events_stream_in(self):
        rng = random.Random(int(time.time()))
        seed = rng.randrange(1 << 30)
        rng = random.Random(seed)
        self.start_redis()
        rules = write_rules(self.tmp, RULES)
        b = self.start_batond({"crm": CRM}, daemon={"rules": rules},
                              env={"BATON_TEST_RULES_IDLE_MS":
                                   str(IDLE_MS)})

        # The events, and what each lead should end with.
        now = int(time.time() * 1000)
        per_lead = {}
        expected = {}
        for i in range(LEADS):
            email = f"crash{i}@acme.example"
            vp = i % 2 == 0
            evs = [upsert(email, at=now, title="VP Sales" if vp
                          else "Engineer", id=f"u{i}")]
            score = 20 if vp else 0
            for k in range(rng.randint(2, 6)):
                kind = rng.choice(sorted(POINTS))
                evs.append(activity(email, kind, at=now + k,
                                    id=f"a{i}-{k}"))
                score += POINTS[kind]
            per_lead[email] = evs
            expected[email] = (len(evs), score)
        # Interleave leads; each lead's events keep their order.
        stream = []
        queues = {e: list(v) for e, v in per_lead.items()}
        while queues:
            email = rng.choice(sorted(queues))
            stream.append(queues[email].pop(0))
            if not queues[email]:
                del queues[email]
        batches = [stream[i:i + 10] for i in range(0, len(stream), 10)]

        posted = threading.Event()
        errors = []
        progress = [0]

        def poster(part):
            try:
                for batch in batches[part::2]:
                    while True:
                        try:
                            r = b.post("crm", {"events": batch}, timeout=5)
                            if r.status in (200, 204):
                                break
                        except OSError:
                            pass
                        time.sleep(0.02)
                    progress[0] += 1
                    # Paced, so that the kills land while events flow.
                    time.sleep(0.005)
            except Exception as e:      # reported by the main thread
                errors.append(repr(e))

        threads = [threading.Thread(target=poster, args=(k,), daemon=True)
                   for k in range(2)]
        for t in threads:
            t.start()
        kills_midway = 0
        held_at_kill = 0
        # Each kill waits for a random point of the posting, so every
        # kill lands while events stream in (posting cannot finish while
        # batond is down: its posts fail and are retried).
        points = sorted(rng.uniform(0.1, 0.9) * len(batches)
                        for _ in range(KILLS))
        for point in points:
            wait_until(lambda: progress[0] >= point or
                       not any(t.is_alive() for t in threads),
                       60 * harness.SLOW, what="posting progress")
            time.sleep(rng.uniform(0.0, 0.05))
            kills_midway += 0 < progress[0] < len(batches)
            b.stop(harness.signal.SIGKILL)
            # What the dead process held: taken over later by XAUTOCLAIM.
            held_at_kill += self.redis.command(
                "XPENDING", "baton:events", "rules")[0] or 0
            time.sleep(rng.uniform(0.0, 0.3))
            b.start()
        for t in threads:
            t.join(120 * harness.SLOW)
            if t.is_alive():
                posted.clear()
                break
        else:
            posted.set()
        print(f"seed {seed}: {kills_midway} kills while posting, "
              f"{held_at_kill} entries pending at the kills", flush=True)
        self.assertEqual(errors, [], f"seed {seed}")
        self.assertTrue(posted.is_set(), "the poster did not finish")
        self.assertGreaterEqual(kills_midway, KILLS - 1, "kills should "
                                "land while events stream in")

        wait_settled(self.redis, 60)
        g = group_info(self.redis)
        self.assertEqual((g["pending"], g["lag"]), (0, 0))
        self.assertEqual(self.redis.xlen(), len(stream), f"seed {seed}")

        wrong = []
        for email, (n, score) in expected.items():
            h = lead(self.redis, email)
            got = (int(h.get("seq", 0)), num(h.get("score", 0)))
            if got != (n, score):
                wrong.append((email, got, (n, score)))
        self.assertEqual(wrong, [], f"seed {seed}: (lead, (seq, score) "
                         f"found, expected)")
        offs = {}
        for _, f in entries(self.redis, "handoffs", type_="handoff.mql"):
            offs[f["lead"]] = offs.get(f["lead"], 0) + 1
        want = {e: 1 for e, (_, s) in expected.items() if s >= THRESHOLD}
        self.assertEqual(offs, want, f"seed {seed}: handoffs per lead")
        self.assertEqual(entries(self.redis, "decisions",
                                 type_="rules.gap"), [])
        self.assertEqual(entries(self.redis, "decisions",
                                 type_="event.invalid"), [])
        # Every score change was recorded once: one lead.scored per event
        # that changed a score.
        scored = {}
        for _, f in entries(self.redis, "decisions", type_="lead.scored"):
            scored[f["lead"]] = scored.get(f["lead"], 0) + 1
        for email, evs in per_lead.items():
            changes = sum(1 for e in evs
                          if e["type"] == "lead.activity" or
                          (e["type"] == "lead.upserted" and
                           e["title"] == "VP Sales"))
            self.assertEqual(scored.get(email, 0), changes,
                             f"seed {seed}: lead.scored of {email}")
        # The survivor stays healthy and stops cleanly (cleanup checks).
        wait_until(lambda: b.get("/healthz").status == 200, 5,
                   what="/healthz")


if __name__ == "__main__":
    harness.main()
