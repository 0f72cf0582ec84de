"""The README's "From Python" example, run as written: the first ```python
block after the "## From Python" heading, in a directory holding a tiny
run trained here by the qdm CLI at runs/default (where the README's main
job writes it). The block's own asserts are the checks (a QASM round trip
with the same unitary); here the loss of its torch loop must fall and the
sampled images have the shape the README states."""
import os
import re
import subprocess
import tempfile
import unittest

from test_runs import write_idx

CLI = os.environ.get("QDM_CLI")
README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def readme_block():
    text = open(README, encoding="utf-8").read()
    sec = text.split("\n## From Python", 1)[1]
    m = re.search(r"```python\n(.*?)```", sec, re.S)
    return m.group(1)


@unittest.skipUnless(CLI, "QDM_CLI (the qdm binary) not set")
class TestReadme(unittest.TestCase):
    def test_example_runs(self):
        code = readme_block()
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "data"))
            write_idx(os.path.join(d, "data"), 32)
            r = subprocess.run([CLI, "train", "--data", os.path.join(d, "data"), "--digits", "0,1", "--heldout", "0",
                                "--epochs", "1", "--batch", "8", "--hidden", "16", "--layers", "1", "--ano", "4",
                                "--T", "4", "--quiet", "--out", os.path.join(d, "runs", "default")],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run([os.sys.executable, "-c", code], cwd=d, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            first, last = map(float, re.search(r"loss ([\d.]+) -> ([\d.]+)", r.stdout).groups())
            self.assertLess(last, first)
            self.assertIn("(2, 4, 16, 16)", r.stdout)


if __name__ == "__main__":
    unittest.main()
