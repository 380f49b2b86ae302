"""The FOCUS export against the FOCUS 1.2 rules that apply to Tollgate (a provider that measures
usage, prices in CNY and bills in USD, has regions and tags), on the real binary: one test per
rule family, and the reconciliation finance does: the sum of BilledCost per day equals the
ledger's cost for that day to the nano, on a ledger with CNY prices, tiers, batch, reasoning,
GPU, egress, caller cost and unpriced events."""
import csv
import datetime
import io
import json
import random
import re
import sqlite3
import subprocess
import unittest
from decimal import Decimal, ROUND_HALF_UP

from harness import BIN, Daemon

PRICES = """prices:
  - provider: alibaba
    model: qwen3-max
    currency: CNY
    per_1m_input_tokens: 2.4
    per_1m_output_tokens: 9.6
    per_1m_cached_input_tokens: 0.48
    per_1m_reasoning_tokens: 24
    batch_discount_percent: 50
    tiers:
      - above_input_tokens: 32000
        per_1m_input_tokens: 4.2
        per_1m_output_tokens: 16.8
  - provider: anthropic
    model: claude-sonnet-4
    per_1m_input_tokens: 3
    per_1m_output_tokens: 15
    per_1m_cached_input_tokens: 0.3
    per_1m_cache_write_tokens: 3.75
    batch_discount_percent: 87.5
    batch:
      per_1m_output_tokens: 7.5
  - provider: self
    model: llama-3.3-70b
    region: eu-fr
    per_request: 0.0001
    per_gpu_hour: 2.45
    per_gb_egress: 0.09
"""
CONFIG = "reporting:\n  currency: USD\n  fx:\n    CNY: {rate: 0.1389, as_of: 2026-11-20}\n"
FX = {"CNY": Decimal("0.1389"), "USD": Decimal(1)}

# FOCUS 1.2 columns a provider like this one must have (Mandatory, and Conditional ones whose
# condition holds: usage measured, unit prices published, pricing and billing currencies differ,
# regions, tags, SKUs).
REQUIRED = """BilledCost BillingAccountId BillingAccountName BillingCurrency BillingPeriodEnd
BillingPeriodStart ChargeCategory ChargeClass ChargeDescription ChargeFrequency ChargePeriodEnd
ChargePeriodStart ConsumedQuantity ConsumedUnit ContractedCost ContractedUnitPrice EffectiveCost
InvoiceIssuerName ListCost ListUnitPrice PricingCategory PricingCurrency
PricingCurrencyContractedUnitPrice PricingCurrencyEffectiveCost PricingCurrencyListUnitPrice
PricingQuantity PricingUnit ProviderName PublisherName RegionId RegionName ResourceId ResourceName
ResourceType ServiceCategory ServiceName ServiceSubcategory SkuId SkuMeter SkuPriceId Tags""".split()
DECIMALS = """BilledCost ConsumedQuantity ContractedCost ContractedUnitPrice EffectiveCost ListCost
ListUnitPrice PricingCurrencyContractedUnitPrice PricingCurrencyEffectiveCost
PricingCurrencyListUnitPrice PricingQuantity""".split()
DATETIMES = "BillingPeriodEnd BillingPeriodStart ChargePeriodEnd ChargePeriodStart".split()
SERVICE_CATEGORIES = {"AI and Machine Learning", "Analytics", "Business Applications", "Compute",
                      "Databases", "Developer Tools", "Multicloud", "Identity", "Management and Governance",
                      "Media", "Mobile", "Networking", "Other", "Security", "Storage", "Web"}
NANO = Decimal("0.000000001")


def day_offset(n):
    return (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=n)).isoformat()


def make_events(day, n, rng):
    events = []
    for i in range(n):
        kind = rng.choice(["qwen", "qwen", "claude", "gpu", "caller", "unpriced"])
        e = {"event_id": "%s-%d" % (day, i), "ts": "%sT%02d:%02d:00Z" % (day, rng.randrange(24), rng.randrange(60)),
             "feature": rng.choice(["support-chat", "search", "summarise"]), "team": rng.choice(["cx", "growth"]),
             "customer": rng.choice(["acme", "globex", ""]), "priority": rng.choice(["standard", "batch", "critical"]),
             "tags": {"env": rng.choice(["prod", "staging"])}}
        if kind == "qwen":
            out = rng.randrange(0, 3000)
            e.update(provider="alibaba", model="qwen3-max", input_tokens=rng.randrange(0, 60000),
                     cached_input_tokens=rng.randrange(0, 5000), output_tokens=out,
                     reasoning_tokens=rng.randrange(0, out + 1))
        elif kind == "claude":
            e.update(provider="anthropic", model="claude-sonnet-4", input_tokens=rng.randrange(0, 20000),
                     cached_input_tokens=rng.randrange(0, 20000), cache_write_tokens=rng.randrange(0, 4000),
                     output_tokens=rng.randrange(0, 2000))
        elif kind == "gpu":
            e.update(provider="self", model="llama-3.3-70b", region="eu-fr", gpu_seconds=rng.randrange(1, 90000) / 1000,
                     egress_bytes=rng.randrange(0, 5 * 10**8), requests=rng.randrange(1, 4))
        elif kind == "caller":
            e.update(provider="openai", model="gpt-4o", input_tokens=100, output_tokens=10,
                     cost=rng.randrange(1, 10**7) / 10**9)
        else:
            e.update(provider="mystery", model="m-1", input_tokens=rng.randrange(1, 1000), output_tokens=5)
        events.append(e)
    return events


class FocusExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(prices=PRICES, extra_config=CONFIG).start()
        rng = random.Random(20261202)
        cls.days = [day_offset(2), day_offset(1)]
        for day in cls.days:
            events = make_events(day, 600, rng)
            for i in range(0, len(events), 200):
                s, body, _ = cls.d.post_usage(events[i:i + 200])
                assert s == 200 and body["accepted"] == len(events[i:i + 200]), body
        # One event priced by hand below: qwen, batch, above the 32K tier, with reasoning.
        cls.hand = {"event_id": "hand-1", "ts": cls.days[0] + "T12:00:00Z", "feature": "hand", "team": "audit",
                    "provider": "alibaba", "model": "qwen3-max", "priority": "batch", "input_tokens": 40000,
                    "cached_input_tokens": 1000, "output_tokens": 1500, "reasoning_tokens": 500}
        s, body, _ = cls.d.post_usage([cls.hand])
        assert body["accepted"] == 1, body
        s, data, _ = cls.d.request("GET", "/v1/export/focus?from=%s&to=%s" % (cls.days[0], cls.days[1]))
        assert s == 200, data
        cls.body = data.decode()
        cls.rows = list(csv.DictReader(io.StringIO(cls.body)))

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_presence_every_column_that_applies_is_there(self):
        header = next(csv.reader(io.StringIO(self.body)))
        for column in REQUIRED:
            self.assertIn(column, header)
        self.assertEqual(len(header), len(set(header)))
        for column in header:  # FOCUS column ids are PascalCase; custom ones start with x_
            self.assertRegex(column, r"^(x_[A-Za-z]+|[A-Z][A-Za-z]+)$")

    def test_types_decimals_are_decimals_and_dates_are_utc(self):
        self.assertGreater(len(self.rows), 20)
        for r in self.rows:
            for column in DECIMALS:
                if r[column] != "":
                    self.assertRegex(r[column], r"^-?\d+\.\d+$", column)  # never 12345 or 1e-05
            for column in DATETIMES:
                self.assertRegex(r[column], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", column)
            tags = json.loads(r["Tags"])
            self.assertIsInstance(tags, dict)
            for k, v in tags.items():
                self.assertIsInstance(v, str)

    def test_currencies_are_iso_4217_and_billing_is_the_reporting_currency(self):
        for r in self.rows:
            self.assertEqual(r["BillingCurrency"], "USD")
            self.assertRegex(r["PricingCurrency"], r"^[A-Z]{3}$")
        qwen = [r for r in self.rows if r["ResourceId"] == "qwen3-max"]
        self.assertTrue(qwen)
        self.assertEqual({r["PricingCurrency"] for r in qwen}, {"CNY"})

    def test_nullability(self):
        never_null = set(REQUIRED) - {"ChargeClass", "RegionId", "RegionName", "Tags"}
        for r in self.rows:
            for column in never_null:
                self.assertNotEqual(r[column], "", column)
            self.assertEqual(r["ChargeClass"], "")  # no corrections
            self.assertEqual(r["RegionId"] == "", r["RegionName"] == "")
        self.assertIn("eu-fr", {r["RegionId"] for r in self.rows})

    def test_allowed_values_and_ranges(self):
        for r in self.rows:
            self.assertEqual(r["ChargeCategory"], "Usage")
            self.assertEqual(r["ChargeFrequency"], "Usage-Based")
            self.assertIn(r["ServiceCategory"], SERVICE_CATEGORIES)
            self.assertIn(r["PricingCategory"], {"Standard", "Dynamic", "Committed", "Other"})
            for column in DECIMALS:
                self.assertGreaterEqual(Decimal(r[column]), 0, column)
            self.assertLess(r["ChargePeriodStart"], r["ChargePeriodEnd"])
            self.assertLessEqual(r["BillingPeriodStart"], r["ChargePeriodStart"])
            self.assertLessEqual(r["ChargePeriodEnd"], r["BillingPeriodEnd"])
            self.assertEqual(r["EffectiveCost"], r["BilledCost"])

    def test_unit_price_times_pricing_quantity_is_the_cost_exactly(self):
        for r in self.rows:
            q = Decimal(r["PricingQuantity"])
            self.assertEqual(Decimal(r["ListUnitPrice"]) * q, Decimal(r["ListCost"]), r["SkuPriceId"])
            self.assertEqual(Decimal(r["ContractedUnitPrice"]) * q, Decimal(r["ContractedCost"]), r["SkuPriceId"])
            self.assertEqual(Decimal(r["PricingCurrencyContractedUnitPrice"]) * q,
                             Decimal(r["PricingCurrencyEffectiveCost"]))
            fx = FX[r["PricingCurrency"]] if r["PricingCategory"] == "Standard" else 1
            self.assertEqual(Decimal(r["PricingCurrencyListUnitPrice"]) * fx, Decimal(r["ListUnitPrice"]))
            self.assertLessEqual(Decimal(r["ContractedUnitPrice"]), Decimal(r["ListUnitPrice"]))
            # The billed cost is the ledger's, rounded to the nano per event: within a nano per
            # event of the contracted cost (and exactly it where no rounding happened).
            if r["PricingCategory"] == "Standard":
                self.assertLess(abs(Decimal(r["BilledCost"]) - Decimal(r["ContractedCost"])), Decimal("0.000002"))

    def test_rows_are_per_sku_component_and_price(self):
        keys = [(r["ChargePeriodStart"], r["ProviderName"], r["ResourceId"], r["RegionId"], r["x_Feature"],
                 r["x_Team"], r["SkuPriceId"], r["ListUnitPrice"], r["ContractedUnitPrice"]) for r in self.rows]
        self.assertEqual(len(keys), len(set(keys)))
        meters = {r["SkuMeter"] for r in self.rows}
        for m in ("input-tokens", "cached-input-tokens", "cache-write-tokens", "output-tokens", "reasoning-tokens",
                  "requests", "gpu-hours", "egress-gb", "caller-priced"):
            self.assertIn(m, meters)
        units = {r["SkuMeter"]: (r["PricingUnit"], r["ConsumedUnit"]) for r in self.rows}
        self.assertEqual(units["input-tokens"], ("1M Tokens", "Tokens"))
        self.assertEqual(units["gpu-hours"], ("GPU-Hours", "GPU-Hours"))
        self.assertEqual(units["egress-gb"], ("GB", "GB"))
        # Tiers and batch are prices of their own.
        ids = {r["SkuPriceId"] for r in self.rows}
        self.assertTrue(any("/tier1" in i for i in ids))
        self.assertTrue(any(i.endswith("/batch") for i in ids))
        unpriced = [r for r in self.rows if r["ResourceId"] == "m-1"]
        self.assertTrue(unpriced)
        for r in unpriced:
            self.assertEqual((Decimal(r["BilledCost"]), Decimal(r["ListUnitPrice"])), (0, 0))
            self.assertTrue(r["SkuPriceId"].startswith("unpriced/"))

    def test_a_hand_priced_event(self):
        rows = [r for r in self.rows if r["x_Feature"] == "hand"]
        got = {r["SkuMeter"]: r for r in rows}
        self.assertEqual(set(got), {"input-tokens", "cached-input-tokens", "output-tokens", "reasoning-tokens"})
        # Prompt 41,000 > 32,000: tier 1. Batch: half of every price. CNY → USD at 0.1389.
        # input 40000 × 4.2/1M × 0.5 = 0.084 CNY; cached 1000 × 0.48/1M × 0.5 = 0.00024 CNY;
        # output 1000 × 16.8/1M × 0.5 = 0.0084 CNY; reasoning 500 × 24/1M × 0.5 = 0.006 CNY.
        cny = {"input-tokens": Decimal("0.084"), "cached-input-tokens": Decimal("0.00024"),
               "output-tokens": Decimal("0.0084"), "reasoning-tokens": Decimal("0.006")}
        total_usd = (sum(cny.values()) * FX["CNY"]).quantize(NANO, ROUND_HALF_UP)
        self.assertEqual(total_usd, Decimal("0.013701096"))  # 0.09864 CNY
        self.assertEqual(sum(Decimal(r["BilledCost"]) for r in rows), total_usd)
        for meter, amount in cny.items():
            r = got[meter]
            self.assertEqual(Decimal(r["PricingCurrencyEffectiveCost"]), amount, meter)
            self.assertTrue(r["SkuPriceId"].endswith("/" + meter + "/tier1/batch"), r["SkuPriceId"])
            self.assertEqual(Decimal(r["BilledCost"]), (amount * FX["CNY"]).quantize(NANO, ROUND_HALF_UP), meter)
        self.assertEqual(Decimal(got["input-tokens"]["ListUnitPrice"]), Decimal("4.2") * FX["CNY"])
        self.assertEqual(Decimal(got["input-tokens"]["PricingCurrencyContractedUnitPrice"]), Decimal("2.1"))
        self.assertEqual(Decimal(got["output-tokens"]["ConsumedQuantity"]), 1000)
        self.assertEqual(Decimal(got["output-tokens"]["PricingQuantity"]), Decimal("0.001"))

    def test_billed_cost_per_day_equals_the_ledger_to_the_nano(self):
        con = sqlite3.connect("file:%s?mode=ro" % self.d.db, uri=True)
        try:
            for day in self.days:
                ledger = con.execute("SELECT SUM(cost_nanos) FROM events WHERE day_local = ?", (day,)).fetchone()[0]
                billed = sum(Decimal(r["BilledCost"]) for r in self.rows if r["ChargePeriodStart"].startswith(day))
                self.assertEqual(billed, Decimal(ledger) * NANO, day)
                report = json.loads(self.d.request("GET", "/v1/reports/daily?date=" + day)[1])
                self.assertEqual(billed, Decimal(str(report["total"]["cost"])), day)
                # Quantities too: the day's reasoning tokens and GPU time, as the raw events have them.
                reasoning = con.execute("SELECT SUM(reasoning_tokens) FROM events WHERE day_local = ? "
                                        "AND provider = 'alibaba'", (day,)).fetchone()[0]
                self.assertEqual(sum(Decimal(r["ConsumedQuantity"]) for r in self.rows
                                     if r["ChargePeriodStart"].startswith(day) and r["SkuMeter"] == "reasoning-tokens"),
                                 reasoning)
        finally:
            con.close()

    def test_the_cli_writes_the_same_export(self):
        p = subprocess.run([BIN, "export", "focus", "--config", self.d.config, "--from", self.days[0],
                            "--to", self.days[1]], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode(), self.body)


if __name__ == "__main__":
    unittest.main()
