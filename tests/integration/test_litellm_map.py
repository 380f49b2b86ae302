"""The LiteLLM import on LiteLLM's real price map (tests/fixtures/litellm_model_prices.json, a copy
of model_prices_and_context_window.json from LiteLLM's repository), then 22 models across 14
providers priced by the real daemon from the imported file, against costs computed by hand from
the map's per-token prices (the arithmetic is written next to each)."""
import os
import subprocess
import unittest
from decimal import Decimal

from harness import BIN, Daemon

FIXTURE = os.path.join(os.path.dirname(__file__), "../fixtures/litellm_model_prices.json")

# (provider, model, event fields, cost in USD computed by hand from the map's per-token prices).
SAMPLE = [
    ("openai", "gpt-4o", dict(input_tokens=100000, cached_input_tokens=20000, output_tokens=10000),
     "0.375"),  # 100000×2.5e-6 + 20000×1.25e-6 (cache read) + 10000×1e-5 = 0.25 + 0.025 + 0.1
    ("openai", "gpt-4o", dict(input_tokens=100000, output_tokens=10000, priority="batch"),
     "0.175"),  # _batches prices: 100000×1.25e-6 + 10000×5e-6 = 0.125 + 0.05
    ("openai", "gpt-4o-mini", dict(input_tokens=100000, cached_input_tokens=20000, output_tokens=10000),
     "0.0225"),  # 100000×1.5e-7 + 20000×7.5e-8 + 10000×6e-7 = 0.015 + 0.0015 + 0.006
    ("openai", "o3-mini", dict(input_tokens=100000, output_tokens=10000, reasoning_tokens=2000),
     "0.154"),  # no reasoning price: reasoning at the output price; 0.11 + 10000×4.4e-6
    ("openai", "gpt-5", dict(input_tokens=100000, cached_input_tokens=20000, output_tokens=10000,
                             reasoning_tokens=4000),
     "0.2275"),  # 100000×1.25e-6 + 20000×1.25e-7 + 10000×1e-5 = 0.125 + 0.0025 + 0.1
    ("anthropic", "claude-sonnet-4-20250514", dict(input_tokens=100000, cached_input_tokens=20000,
                                                   cache_write_tokens=5000, output_tokens=10000),
     "0.47475"),  # prompt 125K ≤ 200K: 0.3 + 20000×3e-7 + 5000×3.75e-6 + 10000×1.5e-5
    ("anthropic", "claude-sonnet-4-20250514", dict(input_tokens=190000, cached_input_tokens=5000,
                                                   cache_write_tokens=10000, output_tokens=10000),
     "1.443"),  # prompt 205K > 200K, all at _above_200k: 190000×6e-6 + 5000×6e-7 + 10000×7.5e-6 + 10000×2.25e-5
    ("anthropic", "claude-opus-4-1-20250805", dict(input_tokens=100000, cached_input_tokens=20000,
                                                   cache_write_tokens=5000, output_tokens=10000),
     "2.37375"),  # 1.5 + 20000×1.5e-6 + 5000×1.875e-5 + 10000×7.5e-5 = 1.5 + 0.03 + 0.09375 + 0.75
    ("anthropic", "claude-3-5-sonnet-20241022", dict(input_tokens=100000, cache_write_tokens=5000,
                                                     output_tokens=10000),
     "0.46875"),  # 0.3 + 5000×3.75e-6 + 0.15
    ("gemini", "gemini-2.5-pro", dict(input_tokens=250000, output_tokens=10000),
     "0.775"),  # 250K > 200K: 250000×2.5e-6 + 10000×1.5e-5
    ("gemini", "gemini-1.5-pro", dict(input_tokens=130000, output_tokens=10000),
     "1.12"),  # 130K > 128K: 130000×7e-6 + 10000×2.1e-5 = 0.91 + 0.21
    ("vertex_ai-language-models", "gemini-2.5-flash",
     dict(input_tokens=100000, cached_input_tokens=20000, output_tokens=10000, reasoning_tokens=6000),
     "0.0556"),  # 0.03 + 20000×3e-8 + 4000×2.5e-6 + 6000×2.5e-6 (reasoning) = 0.03 + 0.0006 + 0.01 + 0.015
    ("dashscope", "qwen-flash", dict(input_tokens=300000, output_tokens=10000),
     "0.095"),  # tiered_pricing, 300K in [256K, 1M): 300000×2.5e-7 + 10000×2e-6
    ("dashscope", "qwen-max", dict(input_tokens=100000, output_tokens=10000),
     "0.224"),  # 100000×1.6e-6 + 10000×6.4e-6 = 0.16 + 0.064
    ("dashscope", "qwen-plus", dict(input_tokens=100000, output_tokens=10000),
     "0.052"),  # 100000×4e-7 + 10000×1.2e-6 = 0.04 + 0.012
    ("mistral", "mistral-large-latest", dict(input_tokens=100000, output_tokens=10000),
     "0.26"),  # 100000×2e-6 + 10000×6e-6
    ("groq", "llama-3.3-70b-versatile", dict(input_tokens=100000, output_tokens=10000),
     "0.0669"),  # 100000×5.9e-7 + 10000×7.9e-7 = 0.059 + 0.0079
    ("azure", "gpt-4o", dict(input_tokens=100000, cached_input_tokens=20000, output_tokens=10000),
     "0.375"),  # as OpenAI's
    ("xai", "grok-2", dict(input_tokens=100000, output_tokens=10000),
     "0.3"),  # 100000×2e-6 + 10000×1e-5
    ("together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo", dict(input_tokens=100000, output_tokens=10000),
     "0.0968"),  # 110000×8.8e-7
    ("fireworks_ai", "accounts/fireworks/models/llama-v3p1-405b-instruct",
     dict(input_tokens=100000, output_tokens=10000),
     "0.33"),  # 110000×3e-6
    ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", dict(input_tokens=100000, output_tokens=10000),
     "0.45"),  # 100000×3e-6 + 10000×1.5e-5
    ("databricks", "databricks-meta-llama-3-3-70b-instruct", dict(input_tokens=100000, output_tokens=10000),
     "0.1300019"),  # 100000×1.00002e-6 + 10000×2.99999e-6 = 0.100002 + 0.0299999 (exact, no float noise)
    ("openrouter", "anthropic/claude-3.5-sonnet", dict(input_tokens=100000, output_tokens=10000),
     "0.45"),  # 100000×3e-6 + 10000×1.5e-5
]


class LiteLLMMapTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.import_run = subprocess.run([BIN, "prices", "import", "--litellm", FIXTURE, "--out", "/dev/stdout"],
                                        capture_output=True, text=True, timeout=120)
        assert cls.import_run.returncode == 0, cls.import_run.stderr
        cls.d = Daemon(prices=cls.import_run.stdout[cls.import_run.stdout.index("prices:"):]).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_every_entry_is_imported_or_skipped_under_its_reason(self):
        err = self.import_run.stderr
        # 1,709 entries in this copy of the map: every one is accounted for.
        self.assertIn("imported 1464 prices", err)
        self.assertIn("skipped 77: no per-token price", err)
        self.assertIn("skipped 84: priced per image, not per token", err)
        self.assertIn("skipped 79: priced per second, not per token", err)
        self.assertIn("skipped 4: same provider and model as an earlier entry", err)
        self.assertEqual(1464 + 77 + 84 + 79 + 4 + 1, 1709)  # + LiteLLM's own "sample_spec"

    def test_a_hand_checked_sample_across_providers(self):
        events = []
        for i, (provider, model, fields, _) in enumerate(SAMPLE):
            e = {"event_id": "llm-%d" % i, "feature": "sample", "provider": provider, "model": model}
            e.update(fields)
            events.append(e)
        s, body, _ = self.d.post_usage(events)
        self.assertEqual((s, body["accepted"], body["unpriced"]), (200, len(SAMPLE), 0), body)
        got = dict(self.d.query("SELECT event_id, cost_nanos FROM events WHERE feature = 'sample'"))
        self.assertGreaterEqual(len({(p, m) for p, m, _, _ in SAMPLE}), 22)
        for i, (provider, model, _, cost) in enumerate(SAMPLE):
            self.assertEqual(Decimal(got["llm-%d" % i]) / 10**9, Decimal(cost), "%s/%s" % (provider, model))


if __name__ == "__main__":
    unittest.main()
