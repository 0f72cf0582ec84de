"""qdm.load / Model.sample on a model trained here by the qdm CLI
(QDM_CLI, set by CTest) on a tiny synthetic IDX data set: the settings
read back, samples equal `qdm sample`'s output for the same seed (the
Python path must add nothing), seeds and labels behave, bad input raises."""
import os
import subprocess
import tempfile
import unittest

import numpy as np

import qdm
from qdm.model import read_idx
from test_runs import write_idx

CLI = os.environ.get("QDM_CLI")


@unittest.skipUnless(CLI, "QDM_CLI (the qdm binary) not set")
class TestModel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        os.mkdir(os.path.join(d, "data"))
        write_idx(os.path.join(d, "data"), 32)
        cls.run_dir = os.path.join(d, "run")
        r = subprocess.run([CLI, "train", "--data", os.path.join(d, "data"), "--digits", "all", "--heldout", "0",
                            "--epochs", "2", "--batch", "8", "--hidden", "16", "--layers", "1", "--ano", "4",
                            "--T", "4", "--seed", "3", "--quiet", "--out", cls.run_dir],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        cls.ckpt = os.path.join(cls.run_dir, "best.safetensors")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_settings(self):
        m = qdm.load(self.ckpt)
        self.assertEqual(m.settings["T"], 4)
        self.assertEqual(m.settings["layers"], 1)
        self.assertEqual(m.settings["ano"], 4)
        # config.json is written by the run itself, the settings come from the checkpoint
        cfg = qdm.read_config(self.run_dir)
        self.assertEqual(m.classes, cfg["classes"])
        for k in ("epochs", "qubits", "ansatz", "sampler", "seed", "hidden"):
            self.assertEqual(m.settings[k], cfg[k], k)

    def test_sample_equals_cli(self):
        m = qdm.load(self.ckpt)
        for sampler in (None, "ddim"):
            img = m.sample(3, [0, 1], sampler=sampler, seed=7)
            self.assertEqual((img.shape, img.dtype), ((2, 3, 16, 16), np.uint8))
            out = os.path.join(self.tmp.name, "cli")
            cmd = [CLI, "sample", "--checkpoint", self.ckpt, "--n", "3", "--labels", "0,1", "--seed", "7",
                   "--out", out + ".png", "--idx", out + "-images"]
            if sampler:
                cmd += ["--sampler", sampler]
            r = subprocess.run(cmd, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            np.testing.assert_array_equal(img.reshape(6, 16, 16), read_idx(out + "-images"))

    def test_seeds_and_labels(self):
        m = qdm.load(self.ckpt)
        a, b, c = m.sample(2, seed=1), m.sample(2, seed=1), m.sample(2, seed=2)
        np.testing.assert_array_equal(a, b)
        self.assertFalse(np.array_equal(a, c))
        self.assertEqual(a.shape[0], 2, "labels default to the ones the model was trained on (the data's 0 and 1)")
        with self.assertRaisesRegex(ValueError, "label 5: .* trained on labels 0,1 only"):
            m.sample(2, [5])
        self.assertEqual(m.sample(2, [1], seed=1).shape, (1, 2, 16, 16))
        self.assertTrue((a.reshape(4, -1).max(axis=1) == 255).all(), "each image is scaled to its maximum")

    def test_errors(self):
        m = qdm.load(self.ckpt)
        k = m.classes
        with self.assertRaisesRegex(ValueError, f"labels: \\[{k}\\] out of range 0..{k - 1}"):
            m.sample(2, [0, k])
        with self.assertRaisesRegex(ValueError, "sampler 'nope'"):
            m.sample(2, sampler="nope")
        with self.assertRaisesRegex(ValueError, "ddim"):
            m.sample(2, sampler="ddpm", steps=2)
        with self.assertRaisesRegex(ValueError, "n = 0"):
            m.sample(0)
        with self.assertRaisesRegex(OSError, "nosuch.safetensors"):
            qdm.load(os.path.join(self.tmp.name, "nosuch.safetensors"))
        bad = os.path.join(self.tmp.name, "bad.safetensors")
        with open(bad, "wb") as f:
            f.write(b"not a checkpoint at all")
        with self.assertRaisesRegex(OSError, "bad.safetensors"):
            qdm.load(bad)


if __name__ == "__main__":
    unittest.main()
