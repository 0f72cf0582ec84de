"""qdm.read_metrics / read_summary / Run: on files written here with known
values, on bad files (OSError naming the file), and on a real run of the
qdm CLI (QDM_CLI, set by CTest) on a tiny synthetic data set written here
as IDX files, whose two files must agree with each other."""
import gzip
import json
import os
import struct
import subprocess
import tempfile
import unittest

import numpy as np

import qdm


def write_idx(d, n):
    """Two classes of 28x28 pictures, a bar (0) and a box (1), as IDX files."""
    rng = np.random.default_rng(3)
    img = np.zeros((n, 28, 28), np.uint8)
    lab = np.arange(n, dtype=np.uint8) % 2
    for i in range(n):
        y, x = rng.integers(8, 12, 2)
        if lab[i] == 0:
            img[i, y:y + 12, x + 4:x + 7] = 255
        else:
            img[i, y:y + 10, x:x + 10] = 255
            img[i, y + 2:y + 8, x + 2:x + 8] = 0
    with gzip.open(os.path.join(d, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + img.tobytes())
    with gzip.open(os.path.join(d, "train-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + lab.tobytes())


class TestReaders(unittest.TestCase):
    def test_known_files(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "metrics.csv"), "w") as f:
                f.write("epoch,loss,infidelity,lr,seconds\n1,0.5,0.4,0.001,1.25\n2,0.25,0.2,0.00097,2.5\n")
            with open(os.path.join(d, "summary.json"), "w") as f:
                json.dump({"epochs": 2, "final_loss": 0.25, "params": {"circuit": 48000}}, f)
            m = qdm.read_metrics(d)
            self.assertEqual(list(m), ["epoch", "loss", "infidelity", "lr", "seconds"])
            self.assertEqual(m["epoch"].dtype, np.int64)
            np.testing.assert_array_equal(m["epoch"], [1, 2])
            np.testing.assert_array_equal(m["lr"], [0.001, 0.00097])
            np.testing.assert_array_equal(qdm.read_metrics(os.path.join(d, "metrics.csv"))["loss"], [0.5, 0.25])
            r = qdm.Run(d)
            self.assertEqual(r.summary["params"]["circuit"], 48000)
            with self.assertRaisesRegex(OSError, "config.json"):
                r.config

    def test_bad_files(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "metrics.csv")
            with open(p, "w") as f:
                f.write("epoch,loss\n1,0.5\n2,abc\n")
            with self.assertRaisesRegex(OSError, "metrics.csv: line 3, column 'loss': 'abc'"):
                qdm.read_metrics(d)
            with open(p, "w") as f:
                f.write("epoch,loss\n1,0.5,7\n")
            with self.assertRaisesRegex(OSError, "line 2 has 3 fields, expected 2"):
                qdm.read_metrics(d)
            with open(os.path.join(d, "summary.json"), "w") as f:
                f.write("{not json")
            with self.assertRaisesRegex(OSError, "summary.json: not valid JSON"):
                qdm.read_summary(d)
            with self.assertRaisesRegex(OSError, "nosuch"):
                qdm.read_metrics(os.path.join(d, "nosuch"))
            with self.assertRaisesRegex(OSError, "not a directory"):
                qdm.Run(os.path.join(d, "nosuch"))


@unittest.skipUnless(os.environ.get("QDM_CLI"), "QDM_CLI (the qdm binary) not set")
class TestRealRun(unittest.TestCase):
    def test_cli_run(self):
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "data"))
            write_idx(os.path.join(d, "data"), 32)
            out = os.path.join(d, "run")
            cmd = [os.environ["QDM_CLI"], "train", "--data", os.path.join(d, "data"), "--digits", "all",
                   "--heldout", "0", "--epochs", "3", "--batch", "8", "--hidden", "16", "--layers", "1", "--ano", "4", "--T", "3",
                   "--seed", "2", "--quiet", "--out", out]
            r = subprocess.run(cmd, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            run = qdm.Run(out)
            m, s = run.metrics, run.summary
            np.testing.assert_array_equal(m["epoch"], [1, 2, 3])
            self.assertEqual(s["epochs"], 3)
            self.assertEqual(s["images"], 32)
            # the summary and the csv are written by different code: the final
            # and best losses must agree (the csv prints 8 significant digits)
            self.assertAlmostEqual(s["final_loss"], m["loss"][-1], delta=1e-7 * abs(m["loss"][-1]))
            self.assertAlmostEqual(s["final_infidelity"], m["infidelity"][-1], delta=1e-7)
            self.assertAlmostEqual(s["best_infidelity"], m["infidelity"].min(), delta=1e-7)
            self.assertEqual(run.config["epochs"], 3)
            self.assertTrue(run.file("checkpoint.safetensors"))


if __name__ == "__main__":
    unittest.main()
