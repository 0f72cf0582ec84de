"""Wrong input raises a Python exception with qdm's message (ValueError for
shapes, dtypes, names, qubits; ImportError for a missing library) and never
takes the interpreter down: every case runs in this one process."""
import os
import subprocess
import sys
import unittest

import numpy as np
import torch

import qdm
import qdm.torch as qt


class TestNumpyErrors(unittest.TestCase):
    def setUp(self):
        self.c = qdm.ansatz("hea", 3, 1)
        self.theta = np.zeros(self.c.n_params)
        self.psi = np.zeros((2, 8), np.complex128)
        self.psi[:, 0] = 1

    def raises(self, fn, *words, exc=ValueError):
        with self.assertRaises(exc) as cm:
            fn()
        for w in words:
            self.assertIn(w, str(cm.exception))

    def test_states(self):
        self.raises(lambda: self.c.run(np.zeros((2, 8)), self.theta), "complex128", "float64")
        self.raises(lambda: self.c.run(self.psi.astype(np.complex64), self.theta), "complex128")
        self.raises(lambda: self.c.run(np.zeros((2, 4), np.complex128), self.theta), "(rows, 8)")
        self.raises(lambda: self.c.run(np.zeros((2, 2, 8), np.complex128), self.theta), "shape")
        self.raises(lambda: self.c.vjp(self.psi, self.theta, self.psi[:1]), "grad_out")
        self.raises(lambda: self.c.run(self.psi, self.theta, out=np.zeros((2, 8))), "out")
        self.raises(lambda: qdm.expval(np.zeros((2, 6), np.complex128), "ZZ"), "2^n")

    def test_theta(self):
        self.raises(lambda: self.c.run(self.psi, np.zeros(5)), "theta", f"({self.c.n_params},)")
        self.raises(lambda: self.c.run(self.psi, self.theta + 0j), "theta", "real")
        self.raises(lambda: self.c.run(self.psi, None), "theta")
        self.raises(lambda: self.c.run(self.psi, self.theta, groups=[0, 1]), "table")
        self.raises(lambda: self.c.run(self.psi, np.zeros((2, self.c.n_params)), groups=[0, 2]),
                    "qdm_run_groups: row 1 has group 2, expected 0..1")
        self.raises(lambda: self.c.run(self.psi, np.zeros((2, self.c.n_params)), groups=[0.5, 1]), "integers")
        self.raises(lambda: self.c.run(self.psi, np.zeros((2, self.c.n_params)), groups=[0]), "(2,)")

    def test_gates(self):
        c = qdm.Circuit(4)
        self.raises(lambda: c.rx(7, param=0), "qdm_add: RX target qubit 7 out of range 0..3")
        self.raises(lambda: c.rx(300, param=0), "out of range 0..3")
        self.raises(lambda: c.cnot(1, 1), "control and target share")
        self.raises(lambda: c.rx(0, ctrl=[9], param=0), "beyond n = 4")
        self.raises(lambda: c.rx(0), "exactly one of value=, param= or input=")
        self.raises(lambda: c.rx(0, value=1.0, scale=2.0), "scale=")
        self.raises(lambda: c.rx(0, param=-1), "index")
        self.raises(lambda: c.rx(0, value=float("nan")), "non-finite")
        self.raises(lambda: c.gate("foo", 0), "gate 'foo': unknown")
        self.raises(lambda: c.gate("rx", 0), "takes 1 angle")
        self.raises(lambda: c.rx(1.5, value=0.0), "integer")
        self.raises(lambda: c.dense([0, 1], np.ones((4, 4))), "not unitary")
        self.raises(lambda: c.dense([0, 1], np.eye(2)), "(4, 4)")
        self.raises(lambda: c.diag([0], [1, 2]), "modulus 1")
        self.raises(lambda: c.append("x"), "qdm.Circuit")
        self.raises(lambda: qdm.Circuit(0), "qdm_circuit_new: n = 0 qubits, expected 1..30")
        self.raises(lambda: qdm.Circuit(31), "expected 1..30")
        self.raises(lambda: qdm.Circuit(5).append(qdm.Circuit(6)), "qdm_append")
        self.assertEqual(len(c), 0, "failed adds leave the circuit unchanged")

    def test_ansatz(self):
        self.raises(lambda: qdm.ansatz("nope", 4, 1), "qdm_ansatz_build: unknown ansatz 'nope'")
        self.raises(lambda: qdm.ansatz("mera", 6, 1), "mera")
        self.raises(lambda: qdm.ansatz("hea", 4, -1), "layers = -1")
        self.raises(lambda: qdm.ansatz("hea", 4, 1, init="bogus"), "init 'bogus'")
        self.raises(lambda: qdm.ansatz_about("nope"), "unknown")

    def test_observables(self):
        self.raises(lambda: qdm.expval(self.psi, "XQZ"), "qdm_expect_pauli: letter 'Q' at qubit 1")
        self.raises(lambda: qdm.expval(self.psi, "XZ"), "has 2 letters, expected n = 3")
        self.raises(lambda: qdm.expval(self.psi, np.ones((8, 8)) + 1j * np.eye(8)), "not Hermitian")
        self.raises(lambda: qdm.expval(self.psi, np.eye(4)), "(8, 8)")
        self.raises(lambda: qdm.expval(self.psi, 3), "Pauli strings or Hermitian")
        self.raises(lambda: qdm.ano_expval(self.psi, np.zeros((2, 4, 4))), "(K, 8, 8)")
        self.raises(lambda: qdm.expval_vjp(self.psi, "ZZZ", np.zeros(3)), "grad_y")
        self.raises(lambda: self.c.unitary(np.zeros(2)), "theta")

    def test_inputs(self):
        c = qdm.Circuit(2).ry(0, input=0)
        self.raises(lambda: c.run(np.eye(4, dtype=np.complex128)), "x")
        self.raises(lambda: c.unitary(), "inputs")
        self.raises(lambda: qdm.ansatz("hea", 2, 1).run(x=np.zeros((1, 1))), "theta")


class TestTorchErrors(unittest.TestCase):
    def test_layer(self):
        c = qdm.ansatz("hea", 2, 1)
        layer = qt.QuantumLayer(c, ano=2, groups=3, dtype=torch.float64)
        x = torch.ones(4, 4, dtype=torch.float64) / 2
        g = torch.tensor([0, 1, 2, 1])
        with self.assertRaisesRegex(ValueError, "qdm_run_groups: row 2 has group 5, expected 0..2"):
            layer(x, groups=torch.tensor([0, 1, 5, 1]))
        with self.assertRaisesRegex(ValueError, "give groups="):
            layer(x)
        with self.assertRaisesRegex(ValueError, "dtype"):
            layer(torch.ones(4, 4, dtype=torch.int64), groups=g)
        with self.assertRaisesRegex(ValueError, r"\(B, 4\)"):
            layer(torch.ones(4, 8, dtype=torch.float64), groups=g)
        with self.assertRaisesRegex(ValueError, "torch.Tensor"):
            layer(np.ones((4, 4)), groups=g)
        with self.assertRaisesRegex(ValueError, "not both"):
            qt.QuantumLayer(c, observables="Z", ano=2)
        with self.assertRaisesRegex(ValueError, "inputs"):
            qt.QuantumLayer(qdm.Circuit(2).ry(0, input=0))
        with self.assertRaisesRegex(ValueError, "M: expected shape"):
            qt.quantum(x, torch.zeros(c.n_params, dtype=torch.float64), c, M=torch.zeros(2, 4, 4))
        with self.assertRaisesRegex(ValueError, "letter 'W'"):
            qt.QuantumLayer(c, observables=["ZW"])
        layer(x, groups=g).sum().backward()  # and the layer still works after all that


class TestLibraryPath(unittest.TestCase):
    def test_missing_library(self):
        env = dict(os.environ, QDM_LIBRARY="/nonexistent/libqdm.so")
        r = subprocess.run([sys.executable, "-c", "import qdm"], env=env, capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError", r.stderr)
        self.assertIn("/nonexistent/libqdm.so", r.stderr)

    def test_not_a_library(self):
        env = dict(os.environ, QDM_LIBRARY=os.path.abspath(__file__))
        r = subprocess.run([sys.executable, "-c", "import qdm"], env=env, capture_output=True, text=True)
        self.assertIn("cannot load", r.stderr)


if __name__ == "__main__":
    unittest.main()
