"""OpenQASM from Python: text written here by hand against textbook
matrices, and round trips of every ansatz family through qdm's writer and
reader (the same unitary, parameters kept as inputs or bound)."""
import math
import os
import tempfile
import unittest

import numpy as np

import qdm

RNG = np.random.default_rng(5)


class TestQasm(unittest.TestCase):
    def test_hand_written(self):
        c = qdm.parse_qasm("OPENQASM 3.0;\ninclude \"stdgates.inc\";\ninput float[64] a;\nqubit[2] q;\n"
                           "h q[0];\ncx q[0], q[1];\nrx(2 * a) q[1];\n")
        self.assertEqual((c.n, c.n_params, c.param_names), (2, 1, ["a"]))
        a = 0.37
        h = np.array([[1, 1], [1, -1]]) / math.sqrt(2)
        rx = np.array([[math.cos(a), -1j * math.sin(a)], [-1j * math.sin(a), math.cos(a)]])  # RX(2a)
        cx = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]])  # control q0 = LSB
        want = np.kron(rx, np.eye(2)) @ cx @ np.kron(np.eye(2), h)              # q1 (x) q0
        self.assertLess(np.abs(c.unitary([a]) - want).max(), 1e-14)

    def test_round_trip_every_family(self):
        for name in qdm.ansatz_names():
            n = 4 if name in ("mera", "qcnn", "authors") else 3
            c = qdm.ansatz(name, n, 2)
            theta = RNG.uniform(0, 2 * np.pi, c.n_params)
            back = qdm.parse_qasm(c.to_qasm(), name=name)
            self.assertEqual(back.n_params, c.n_params, name)
            U, V = c.unitary(theta), back.unitary(theta)
            self.assertLess(np.abs(U - V).max(), 1e-12, name)
            bound = qdm.parse_qasm(c.to_qasm(theta=theta))
            self.assertEqual(bound.n_params, 0)
            self.assertLess(np.abs(bound.unitary() - U).max(), 1e-12, name)

    def test_files_and_errors(self):
        c = qdm.ansatz("hea", 2, 1)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "hea.qasm")
            c.to_qasm(p, comment="a test")
            back = qdm.read_qasm(p)
            theta = RNG.uniform(0, 6, c.n_params)
            self.assertLess(np.abs(back.unitary(theta) - c.unitary(theta)).max(), 1e-13)
            # a file as an ansatz: the library's builder reads it, one layer per copy
            two = qdm.ansatz(p, 2, 2)
            self.assertEqual(two.n_params, 2 * c.n_params)
            bad = os.path.join(d, "bad.qasm")
            with open(bad, "w") as f:
                f.write("OPENQASM 3;\nqubit[1] q;\nreset q[0];\n")
            with self.assertRaisesRegex(OSError, "bad.qasm:3"):
                qdm.read_qasm(bad)
            with self.assertRaisesRegex(OSError, "nosuch.qasm"):
                qdm.read_qasm(os.path.join(d, "nosuch.qasm"))
        with self.assertRaisesRegex(ValueError, "mine:2"):
            qdm.parse_qasm("OPENQASM 3;\nqubit[1] q; foo q[0];", name="mine")
        with self.assertRaisesRegex(ValueError, "theta"):
            c.to_qasm(theta=[1.0])


if __name__ == "__main__":
    unittest.main()
