#!/usr/bin/env python3
"""SIGKILLs the daemon at random moments under concurrent ingest and admissions with reservations,
N times, and after every restart checks the ledger: every acknowledged event is there exactly once,
the 15-minute and daily rollups and the FOCUS charges equal the raw events, each budget's spend
(GET /v1/budgets; most starts take it from the budget's checkpoint and the events after it, and
at least one must) equals the ledger's sum for its period, and PRAGMA integrity_check is ok.

    tests/crash_loop.py --kills 1000            # by hand, before saying durability holds
    tests/crash_loop.py --kills 5               # what CI runs (deploy/test.sh)

Uses the binary in TOLLGATE_BIN (default build/tollgate). Prints one line per kill and a summary;
exits 1 at the first violation, with the evidence."""
import argparse
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import sys
import threading
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
from harness import Daemon, event, wait_for  # noqa: E402

POLICIES = """budgets:
  - name: chat-day
    period: day
    limit: 1000000
    match: {feature: chat}
    rules:
      - {at_percent: 90, action: block, priorities: [batch]}
  - name: all-month
    period: month
    limit: 1000000
    rules:
      - {at_percent: 95, action: alert}
"""


class Load:
    """Ingest clients (unique events, some settling a reservation) and admission clients
    (reservations with an estimate), recording what the daemon acknowledged."""

    def __init__(self, d, round_no, ingest_clients=3, admit_clients=1, max_batch=200):
        self.d, self.round, self.max_batch = d, round_no, max_batch
        self.acked, self.reservations = [], []
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self.ingest, args=(t,), daemon=True) for t in range(ingest_clients)]
        self.threads += [threading.Thread(target=self.admit, daemon=True) for _ in range(admit_clients)]
        for t in self.threads:
            t.start()

    def ingest(self, t):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
        i = 0
        while not self.stop.is_set():
            batch = []
            for k in range(random.randint(1, self.max_batch)):
                e = event("r%d-%d-%d-%d" % (self.round, t, i, k), feature=random.choice(["chat", "search"]),
                          priority=random.choice(["standard", "batch", "critical"]),
                          input_tokens=random.randint(0, 50000), output_tokens=random.randint(0, 3000),
                          # Many customers: some keys hold one event at a flush, left raw.
                          customer="c%d" % random.randint(0, 999))
                if random.random() < 0.1:  # the fields a typical event leaves at zero
                    e.update(cache_write_tokens=random.randint(1, 9000),
                             egress_bytes=random.randint(0, 10**9), value_units="%d.5" % k,
                             revenue="0.00%d" % random.randint(1, 9))
                with self.lock:
                    if self.reservations and random.random() < 0.2:
                        e["reservation_id"] = self.reservations.pop()
                batch.append(e)
            i += 1
            try:
                status, _, _ = self.d.post_usage(batch, conn=conn)
            except Exception:  # noqa: BLE001 - killed: nothing of this batch is acknowledged
                return
            if status == 200:
                with self.lock:
                    self.acked.extend(e["event_id"] for e in batch)

    def admit(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
        while not self.stop.is_set():
            try:
                s, data, _ = self.d.request("POST", "/v1/admit", json.dumps(
                    {"feature": "chat", "priority": "batch", "estimated_cost": 0.01}),
                    {"Content-Type": "application/json"}, conn=conn)
            except Exception:  # noqa: BLE001
                return
            if s == 200:
                rid = json.loads(data).get("reservation_id")
                if rid:
                    with self.lock:
                        self.reservations.append(rid)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)
        with self.lock:
            return list(self.acked)


def rollup_state(d):
    """(last events rowid, rollup watermark): events past the watermark are not in the stored
    rollups yet (the views add them)."""
    con = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
    try:
        return con.execute("SELECT (SELECT IFNULL(MAX(rowid), 0) FROM events), "
                           "(SELECT through_rowid FROM rollup_watermark)").fetchone()
    finally:
        con.close()


def check(d, acked_round, full):
    """Every violation found, as sentences (empty: the ledger is right). Every round's
    acknowledged events are looked up; `full` also checks integrity and that no event_id is
    stored twice over the whole ledger (scans, so not after every kill of a long run)."""
    problems = []
    con = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
    try:
        if full:
            if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                problems.append("integrity_check is not ok")
            doubled = con.execute("SELECT COUNT(*) - COUNT(DISTINCT event_id) FROM events").fetchone()[0]
            if doubled:
                problems.append("%d events stored twice" % doubled)
            # A tenth of the events set the rare fields (schema 18 keeps them in event_extras).
            extras, stored = con.execute("SELECT (SELECT COUNT(*) FROM event_extras), "
                                         "(SELECT COUNT(*) FROM event_rows)").fetchone()
            if stored > 1000 and not stored // 20 < extras < stored // 5:
                problems.append("%d of %d events have extras, not about a tenth" % (extras, stored))
        missing = []
        for i in range(0, len(acked_round), 500):
            chunk = acked_round[i:i + 500]
            found = {r[0] for r in con.execute("SELECT event_id FROM events WHERE event_id IN (%s)" %
                                               ",".join("?" * len(chunk)), chunk)}
            missing += [e for e in chunk if e not in found]
        if missing:
            problems.append("%d acknowledged events are missing, e.g. %s" % (len(missing), missing[:3]))
        sums = ("IFNULL(SUM(cost_nanos),0), IFNULL(SUM(input_tokens),0), "
                "IFNULL(SUM(cache_write_tokens),0), IFNULL(SUM(egress_bytes),0), "
                "IFNULL(SUM(value_units_nanos),0), IFNULL(SUM(revenue_nanos),0)")
        raw = con.execute("SELECT COUNT(*), %s FROM events" % sums).fetchone()
        for table in ("rollup_15m", "rollup_daily"):
            rolled = con.execute("SELECT IFNULL(SUM(events),0), %s FROM %s" % (sums, table)).fetchone()
            if rolled != raw:
                problems.append("%s %s != raw events %s" % (table, rolled, raw))
        for dim in ("feature", "team", "customer", "model", "provider", "region", "priority"):
            by_dim = con.execute("SELECT IFNULL(SUM(cost_nanos),0), IFNULL(SUM(requests),0) FROM "
                                 "rollup_daily_dim WHERE dimension = ?", (dim,)).fetchone()
            whole = con.execute("SELECT IFNULL(SUM(cost_nanos),0), IFNULL(SUM(requests),0) FROM events").fetchone()
            if by_dim != whole:
                problems.append("rollup_daily_dim by %s %s != raw events %s" % (dim, by_dim, whole))
        # Events left as their raw rows (listed: the first under their key) are each inside
        # exactly one range of their own day at or below the watermark (past it the views add
        # them already), never lost; ranges of a day never overlap; a range's buckets hold its
        # events'.
        named = con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT e.rowid), IFNULL(SUM(e.ts_ms - ((e.ts_ms % 900000) + "
            "900000) % 900000 NOT BETWEEN g.first_bucket_ms AND g.last_bucket_ms), 0) FROM "
            "rollup_raw_ranges g JOIN event_rows e ON e.rowid BETWEEN g.first_rowid AND "
            "g.last_rowid AND e.listed JOIN events v ON v.rowid = e.rowid AND v.day_local = "
            "g.day_local").fetchone()
        marked = con.execute("SELECT COUNT(*) FROM event_rows WHERE listed AND rowid <= "
                             "(SELECT through_rowid FROM rollup_watermark)").fetchone()[0]
        if named[0] != marked or named[1] != marked or named[2]:
            problems.append("ranges name %d listed events (%d distinct, %d outside their range's "
                            "buckets), %d are marked at or below the watermark" %
                            (named[0], named[1], named[2], marked))
        stray = con.execute("SELECT COUNT(*) FROM rollup_raw_ranges g WHERE last_rowid < first_rowid "
                            "OR last_rowid > (SELECT through_rowid FROM rollup_watermark) OR "
                            "EXISTS (SELECT 1 FROM rollup_raw_ranges h WHERE h.day_local = "
                            "g.day_local AND h.first_rowid > g.first_rowid AND h.first_rowid <= "
                            "g.last_rowid)").fetchone()[0]
        if stray:
            problems.append("%d ranges are empty, past the watermark or overlap another of "
                            "their day" % stray)
        # Every event at or below the watermark lies within its block of rowids' times
        # (event_ts_blocks): retention and the reports across ledgers find events through them.
        outside = con.execute(
            "SELECT COUNT(*) FROM event_rows e LEFT JOIN event_ts_blocks b ON b.block = "
            "e.rowid >> 10 WHERE e.rowid <= (SELECT through_rowid FROM rollup_watermark) AND "
            "(b.block IS NULL OR e.ts_ms NOT BETWEEN b.min_ts_ms AND b.max_ts_ms)").fetchone()[0]
        if outside:
            problems.append("%d events at or below the watermark lie outside their block's "
                            "times" % outside)
        charges = con.execute("SELECT IFNULL(SUM(cost_nanos),0) FROM charges_daily").fetchone()[0]
        if charges != raw[1]:
            problems.append("charges_daily cost %d != raw events %d" % (charges, raw[1]))
        today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        month = today[:7]
        chat_day = con.execute("SELECT IFNULL(SUM(cost_nanos),0) FROM rollup_daily WHERE feature = 'chat' AND day_local = ?", (today,)).fetchone()[0]
        all_month = con.execute("SELECT IFNULL(SUM(cost_nanos),0) FROM rollup_daily WHERE substr(day_local, 1, 7) = ?", (month,)).fetchone()[0]
    finally:
        con.close()
    s, data, _ = d.request("GET", "/v1/budgets")
    budgets = {b["name"]: b for b in json.loads(data)["budgets"]}
    for name, ledger in (("chat-day", chat_day), ("all-month", all_month)):
        spend = round(float(budgets[name]["spend"]) * 1e9)
        if abs(spend - ledger) > 1:  # the JSON number is exact to the nano
            problems.append("budget %s spend %d != ledger %d" % (name, spend, ledger))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--min-ms", type=int, default=50, help="shortest run before a kill")
    ap.add_argument("--max-ms", type=int, default=1500, help="longest run before a kill")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--clients", type=int, default=3, help="ingest clients")
    ap.add_argument("--max-batch", type=int, default=200, help="largest batch an ingest client posts")
    ap.add_argument("--full-every", type=int, default=1, help="integrity and doubles every N kills (and at the end)")
    args = ap.parse_args()
    random.seed(args.seed)
    print("crash loop: %d kills, seed %d" % (args.kills, args.seed), flush=True)
    d = Daemon(storage_extra="  synchronous: normal\n")
    with open(os.path.join(d.dir, "policies.yaml"), "w") as f:
        f.write(POLICIES)
    acked_total, started, unflushed_kills, tail_starts = 0, time.monotonic(), 0, 0
    try:
        d.start()
        for n in range(1, args.kills + 1):
            load = Load(d, n, ingest_clients=args.clients, max_batch=args.max_batch)
            time.sleep(random.uniform(args.min_ms, args.max_ms) / 1000)
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
            acked = load.finish()
            acked_total += len(acked)
            last_rowid, watermark = rollup_state(d)
            unflushed_kills += last_rowid > watermark
            d.start()
            wait_for(lambda: d.get("/readyz")[0] == 200, timeout=30)
            # Budgets whose spend came from their checkpoints plus the events after them.
            seeded = [m for m in (re.search(r"(\d+) of (\d+) budgets from their checkpoints "
                                            r"\((\d+) events after", l) for l in d.log) if m]
            tail_starts += bool(seeded and seeded[0].group(1) != "0" and seeded[0].group(3) != "0")
            problems = check(d, acked, full=n % args.full_every == 0 or n == args.kills)
            # The events committed after the last rollup flush are rolled up by the writer once
            # the daemon is up (the views include them meanwhile, and check() read those).
            try:
                wait_for(lambda: rollup_state(d)[1] >= last_rowid, timeout=30)
                # Once rolled up, the stored rows must hold them exactly as the views did.
                problems += check(d, acked, full=False)
            except AssertionError:
                problems.append("the rollups were not brought up to the raw events after start "
                                "(watermark %d, last event %d)" % (rollup_state(d)[1], last_rowid))
            print("kill %d: %d acknowledged this round, %d in all: %s" % (
                n, len(acked), acked_total, "ok" if not problems else "; ".join(problems)), flush=True)
            if problems:
                print("FAILED at kill %d (seed %d); the ledger is kept in %s" % (n, args.seed, d.dir))
                d.own_dir = False
                return 1
        if args.kills >= 5 and unflushed_kills == 0:
            print("FAILED: no kill left events past the rollup watermark: recovery was never exercised")
            return 1
        if args.kills >= 5 and tail_starts == 0:
            print("FAILED: no start took budget spend from a checkpoint and the events after it")
            return 1
        con = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
        try:
            listed = con.execute("SELECT COUNT(*) FROM event_rows WHERE listed").fetchone()[0]
        finally:
            con.close()
        if args.kills >= 5 and listed == 0:
            print("FAILED: no event was left as its raw row (listed): never exercised")
            return 1
        print("crash loop: %d kills in %.0f s, %d acknowledged events, none lost or doubled; rollups, "
              "charges and budget spend equal the raw events after every restart; %d kills "
              "left events past the rollup watermark, rolled up after the next start; %d starts "
              "took budget spend from checkpoints and the events after them; %d events left as "
              "their raw rows" % (args.kills, time.monotonic() - started, acked_total,
                                  unflushed_kills, tail_starts, listed))
        return 0
    finally:
        d.cleanup()


if __name__ == "__main__":
    sys.exit(main())
