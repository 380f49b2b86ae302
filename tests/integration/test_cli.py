"""The command line's grammar: help, version, usage errors and their exit codes (CONTRACT §1)."""
import os
import subprocess
import unittest

from harness import BIN, EXAMPLES

# Each command as typed, and the flags its help must mention.
COMMANDS = {
    ("serve",): ["--config"],
    ("check",): ["--config"],
    ("report", "daily"): ["--config", "--db", "--date", "--group-by", "--format"],
    ("export", "focus"): ["--config", "--db", "--from", "--to"],
    ("backup",): ["--config", "--db", "--out"],
    ("prices", "import"): ["--litellm", "--out"],
}


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)


class CliTest(unittest.TestCase):
    def assertUsageError(self, p, *named):
        """Exit 1 (never CLI11's own 1xx codes), nothing on stdout, the flags named on stderr."""
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, "")
        for flag in named:
            self.assertIn(flag, p.stderr)

    def test_version(self):
        p = run("--version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^tollgate \d+\.\d+\.\d+\n$")

    def test_help_of_the_app_is_on_stdout_and_lists_commands_and_global_flags(self):
        for flag in ("--help", "-h"):
            p = run(flag)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, "")
            for word in ("serve", "check", "report", "export", "backup", "prices",
                         "--version", "--log-format", "--log-level"):
                self.assertIn(word, p.stdout)

    def test_help_of_every_command_is_on_stdout_and_mentions_its_flags(self):
        for command, flags in COMMANDS.items():
            for help_flag in ("--help", "-h"):
                with self.subTest(command=command, help_flag=help_flag):
                    p = run(*command, help_flag)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.assertEqual(p.stderr, "")
                    self.assertIn(" ".join(command), p.stdout)
                    for flag in flags:
                        self.assertIn(flag, p.stdout)

    def test_no_arguments_prints_the_usage_on_stderr_and_exits_1(self):
        p = run()
        self.assertUsageError(p, "Usage", "serve", "report")

    def test_a_group_without_its_command_prints_its_usage_and_exits_1(self):
        self.assertUsageError(run("report"), "daily")
        self.assertUsageError(run("report", "weekly", "--db", "x.db"), "weekly")

    def test_unknown_flag_exits_1_naming_it(self):
        self.assertUsageError(run("--bogus"), "--bogus")
        self.assertUsageError(run("report", "daily", "--db", "x.db", "--bogus"), "--bogus")
        self.assertUsageError(run("check", "--config", "x.yaml", "--colour", "red"), "--colour")

    def test_report_needs_exactly_one_of_config_and_db(self):
        self.assertUsageError(run("report", "daily", "--config", "x.yaml", "--db", "x.db"),
                              "--config", "--db")
        self.assertUsageError(run("report", "daily"), "--config", "--db")
        self.assertUsageError(run("backup", "--out", "copy.db"), "--config", "--db")
        self.assertUsageError(run("export", "focus", "--from", "2026-11-01", "--to", "2026-11-02"),
                              "--config", "--db")

    def test_required_flags_are_named(self):
        self.assertUsageError(run("export", "focus", "--db", "x.db", "--to", "2026-11-02"), "--from")
        self.assertUsageError(run("serve"), "--config")
        self.assertUsageError(run("check"), "--config")
        self.assertUsageError(run("backup", "--db", "x.db"), "--out")
        self.assertUsageError(run("prices", "import"), "--litellm")
        self.assertUsageError(run("report", "daily", "--db", ""), "--db")

    def test_bad_values_of_global_flags_exit_1_naming_the_flag_before_or_after_the_command(self):
        self.assertUsageError(run("--log-level", "loud", "check", "--config", "x.yaml"),
                              "--log-level", "loud")
        self.assertUsageError(run("check", "--config", "x.yaml", "--log-level", "loud"),
                              "--log-level")
        self.assertUsageError(run("report", "daily", "--db", "x.db", "--log-format", "xml"),
                              "--log-format")

    def test_bad_format_exits_1_naming_the_flag(self):
        self.assertUsageError(run("report", "daily", "--db", "x.db", "--format", "xml"), "--format")

    def test_global_flags_work_before_and_after_the_command(self):
        config = os.path.join(EXAMPLES, "tollgate.yaml")
        for args in (["--log-level", "debug", "check", "--config", config],
                     ["check", "--config", config, "--log-format", "json", "--log-level", "warn"]):
            p = run(*args)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("ok (", p.stdout)


if __name__ == "__main__":
    unittest.main()
