"""qdm's numpy API against the independent torch simulator in reference.py
(textbook gate matrices, torch autograd) and against analytic results."""
import math
import os
import re
import unittest

import numpy as np
import torch

import qdm
import reference as ref

RNG = np.random.default_rng(7)


def rand_states(rows, n):
    s = RNG.standard_normal((rows, 1 << n)) + 1j * RNG.standard_normal((rows, 1 << n))
    return s / np.linalg.norm(s, axis=1, keepdims=True)


def t(a):
    return torch.as_tensor(a)


def random_gates_circuit(n):
    """Every gate kind, controlled and not, fixed / trainable / affine angles."""
    c = qdm.Circuit(n)
    for name in ["i", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx"]:
        getattr(c, name)(int(RNG.integers(n)))
        getattr(c, name)(1, ctrl=[0, 2])
    p = 0
    for name in ["rx", "ry", "rz", "p"]:
        getattr(c, name)(2, value=float(RNG.uniform(-3, 3)))
        getattr(c, name)(0, param=p, ctrl=1)
        getattr(c, name)(1, param=p + 1, scale=-2.0, shift=0.5)
        p += 2
    c.u3(1, qdm.Param(p), 0.3, qdm.Param(p + 1, 2.0, -1.0), ctrl=[2])
    c.u3(0, qdm.Param(p + 2), qdm.Param(p + 3), qdm.Param(p + 4))
    p += 5
    for name in ["rxx", "ryy", "rzz"]:
        getattr(c, name)(0, 2, param=p)
        getattr(c, name)(2, 1, value=0.7, ctrl=[0])
        p += 1
    c.swap(0, 2)
    c.swap(1, 2, ctrl=0)
    c.cnot(2, 0)
    c.cz(1, 0)
    U = np.linalg.qr(RNG.standard_normal((4, 4)) + 1j * RNG.standard_normal((4, 4)))[0]
    c.dense([2, 0], U)
    c.dense([1], np.array([[0, 1j], [1j, 0]]), ctrl=[2])
    ph = np.exp(1j * RNG.uniform(0, 6, 4))
    c.diag([0, 1], ph)
    c.diag([2], ph[:2], ctrl=[1])
    c.qft([2, 0, 1])
    c.gate("RY", 1, angles=[qdm.Param(p)])
    return c


class TestGates(unittest.TestCase):
    def test_every_gate_unitary(self):
        for n in (3, 4):
            c = random_gates_circuit(n)
            theta = RNG.uniform(-3, 3, c.n_params)
            want = ref.unitary(c.gates(), n, t(theta)).numpy()
            got = c.unitary(theta)
            self.assertLess(np.abs(got - want).max(), 1e-12, f"unitary, n={n}")
            psi = rand_states(5, n)
            self.assertLess(np.abs(c.run(psi, theta) - psi @ want.T).max(), 1e-12, "run = U psi")

    def test_conventions(self):
        c = qdm.Circuit(3).x(0)
        psi = c.run()
        self.assertEqual(np.argmax(np.abs(psi)), 1, "X on qubit 0 of |000> gives basis index 1 (qubit 0 = LSB)")
        th = 0.9
        U = qdm.Circuit(1).rx(0, value=th).unitary()
        want = np.array([[math.cos(th / 2), -1j * math.sin(th / 2)], [-1j * math.sin(th / 2), math.cos(th / 2)]])
        self.assertLess(np.abs(U - want).max(), 1e-15, "RX(theta) = exp(-i theta X / 2)")
        m = 3
        F = qdm.Circuit(m).qft().unitary()
        N = 1 << m
        dft = np.exp(2j * np.pi * np.outer(np.arange(N), np.arange(N)) / N) / math.sqrt(N)
        self.assertLess(np.abs(F - dft).max(), 1e-12, "QFT |j> -> N^-1/2 sum_k e^{2 pi i jk/N} |k>")

    def test_gates_roundtrip(self):
        c = random_gates_circuit(3)
        theta = RNG.uniform(-3, 3, c.n_params)
        d = qdm.Circuit(3)
        for g in c.gates():
            if g.name == "DENSE":
                d.dense(g.targets, g.matrix, ctrl=g.controls)
            elif g.name == "DIAG":
                d.diag(g.targets, g.matrix, ctrl=g.controls)
            else:
                d.gate(g.name, *g.targets, angles=g.angles, ctrl=g.controls)
        self.assertEqual(len(c), len(d))
        self.assertLess(np.abs(c.unitary(theta) - d.unitary(theta)).max(), 1e-14, "gates() rebuilds the circuit")

    def test_version(self):
        cm = open(os.path.join(os.path.dirname(__file__), "..", "..", "CMakeLists.txt")).read()
        self.assertEqual(qdm.__version__, re.search(r"project\(qdm VERSION ([0-9.]+)", cm).group(1))


class TestAnsatz(unittest.TestCase):
    def test_every_family_forward(self):
        names = qdm.ansatz_names()
        self.assertEqual(len(names), 27)
        for name in names:
            for kw in ({}, {"ring": True, "init": "ry-pi4"}):
                c = qdm.ansatz(name, 4, 2, **kw)
                self.assertTrue(qdm.ansatz_about(name))
                theta = RNG.uniform(0, 2 * np.pi, c.n_params)
                psi = rand_states(3, 4)
                want = ref.run(c.gates(), 4, t(psi), t(theta).expand(3, -1)).numpy()
                self.assertLess(np.abs(c.run(psi, theta) - want).max(), 1e-12, f"{name} {kw}")

    def test_counts_from_the_header(self):
        # parameter counts per layer as circuits.h documents them
        self.assertEqual(qdm.ansatz("hea", 5, 3).n_params, 2 * 5 * 3)
        self.assertEqual(qdm.ansatz("hva", 5, 3).n_params, 2 * 3)
        self.assertEqual(qdm.ansatz("authors", 4, 10).n_params, 16 * 10)
        self.assertEqual(qdm.ansatz("phasemix", 4, 2).n_params, 3 * 2)
        c = qdm.Circuit(4)
        self.assertEqual(c.add_ansatz("hea", 1), 8)
        self.assertEqual(c.add_ansatz("sim14", 1), 16)
        self.assertEqual(c.n_params, 24, "a second block takes the parameters after the first")


class TestGradients(unittest.TestCase):
    def check_vjp(self, c, rows, groups=None, x=None):
        n = c.n
        G = None if groups is None else int(groups.max()) + 1
        theta = RNG.uniform(0, 2 * np.pi, (c.n_params,) if G is None else (G, c.n_params))
        psi, w = rand_states(rows, n), rand_states(rows, n)
        # L = Re sum conj(w) . out: its co-gradient w.r.t. out is w
        res = c.vjp(psi, theta, w, groups=groups, x=x)
        tp = t(psi).requires_grad_()
        tt = t(theta).requires_grad_()
        tx = None if x is None else t(x).requires_grad_()
        rows_theta = tt.expand(rows, -1) if G is None else tt[t(groups)]
        out = ref.run(c.gates(), n, tp, rows_theta, tx)
        (t(w).conj() * out).real.sum().backward()
        self.assertLess(np.abs(res[0] - tt.grad.numpy()).max(), 1e-10, "dtheta")
        self.assertLess(np.abs(res[1] - tp.grad.numpy()).max(), 1e-10, "dstates (torch's .grad convention)")
        if x is not None:
            self.assertLess(np.abs(res[2] - tx.grad.numpy()).max(), 1e-10, "dx")
        # and the forward of the same call
        self.assertLess(np.abs(c.run(psi, theta, groups=groups, x=x) - out.detach().numpy()).max(), 1e-12)

    def test_vjp_every_gate(self):
        self.check_vjp(random_gates_circuit(3), 4)

    def test_vjp_groups(self):
        c = qdm.ansatz("authors", 4, 2)
        g = RNG.integers(0, 5, 40)
        g[:20] = 2  # one group large enough for the fused path, the rest gate by gate
        self.check_vjp(c, 40, groups=g)

    def test_vjp_inputs(self):
        c = qdm.Circuit(3)
        for q in range(3):
            c.ry(q, input=q, scale=0.5)
        c.add_ansatz("sim14", 1)
        c.rz(2, input=3, scale=-1.0, shift=0.2)
        self.assertEqual(c.n_inputs, 4)
        self.check_vjp(c, 3, x=RNG.uniform(-2, 2, (3, 4)))

    def test_vjp_finite_differences(self):
        # one more, fully independent of torch: central differences
        c = qdm.ansatz("paper", 3, 1, ring=True)
        theta = RNG.uniform(0, 6, c.n_params)
        psi, w = rand_states(2, 3), rand_states(2, 3)

        def loss(th):
            return float(np.real(np.sum(np.conj(w) * c.run(psi, th))))
        dth, _ = c.vjp(psi, theta, w)
        h = 1e-6
        for i in range(c.n_params):
            e = np.zeros(c.n_params)
            e[i] = h
            self.assertAlmostEqual(dth[i], (loss(theta + e) - loss(theta - e)) / (2 * h), delta=1e-7)


class TestObservables(unittest.TestCase):
    def test_pauli_and_hermitian(self):
        n = 3
        psi = rand_states(6, n)
        A = RNG.standard_normal((8, 8)) + 1j * RNG.standard_normal((8, 8))
        H = A + A.conj().T
        obs = ["ZII", "IXY", "YZX", H]
        mats = torch.stack([ref.pauli_matrix(s) for s in obs[:3]] + [t(H)])
        tp = t(psi).requires_grad_()
        want = ref.expect(tp, mats)
        self.assertLess(np.abs(qdm.expval(psi, obs) - want.detach().numpy()).max(), 1e-12)
        self.assertLess(np.abs(qdm.expval(psi, "Z") - ref.expect(t(psi), torch.stack(
            [ref.pauli_matrix(s) for s in ["ZII", "IZI", "IIZ"]])).numpy()).max(), 1e-12, "'Z': <Z_q> per qubit")
        dy = RNG.standard_normal((6, 4))
        (want * t(dy)).sum().backward()
        self.assertLess(np.abs(qdm.expval_vjp(psi, obs, dy) - tp.grad.numpy()).max(), 1e-11)
        one = qdm.expval(psi[0], "XXY")
        self.assertEqual(one.shape, (1,))

    def test_ano(self):
        n, K = 3, 5
        psi = rand_states(7, n)
        M = qdm.ano_init(n, K, seed=3)
        self.assertEqual(M.shape, (K, 8, 8))
        tp, tM = t(psi).requires_grad_(), t(M).requires_grad_()
        y = ref.expect(tp, ref.hermitian(tM))
        self.assertLess(np.abs(qdm.ano_expval(psi, M) - y.detach().numpy()).max(), 1e-12)
        dy = RNG.standard_normal((7, K))
        (y * t(dy)).sum().backward()
        ds, dM = qdm.ano_vjp(psi, M, dy)
        self.assertLess(np.abs(ds - tp.grad.numpy()).max(), 1e-11)
        self.assertLess(np.abs(dM - tM.grad.numpy()).max(), 1e-11, "dM: torch's .grad for complex M")
        self.assertLess(np.abs(qdm.ano_hermitian(M) - ref.hermitian(t(M)).numpy()).max(), 1e-15)

    def test_circuit_expval(self):
        c = qdm.ansatz("sim9", 3, 2)
        theta = RNG.uniform(0, 6, c.n_params)
        psi = rand_states(4, 3)
        out = ref.run(c.gates(), 3, t(psi), t(theta).expand(4, -1))
        want = ref.expect(out, ref.pauli_matrix("XYZ")[None]).numpy()
        self.assertLess(np.abs(c.expval(psi, theta, ["XYZ"]) - want).max(), 1e-12)


class TestArrays(unittest.TestCase):
    def test_in_place_and_views(self):
        c = qdm.ansatz("hea", 3, 1)
        theta = RNG.uniform(0, 6, c.n_params)
        psi = rand_states(4, 3)
        keep = psi.copy()
        out = c.run(psi, theta)
        self.assertTrue(np.array_equal(psi, keep), "run leaves its input alone")
        r = c.run(psi, theta, out=psi)
        self.assertIs(r, psi, "out=states works in place")
        self.assertLess(np.abs(psi - out).max(), 1e-15)
        # a strided view of the states is accepted (copied once into the output)
        big = np.zeros((4, 16), np.complex128)
        big[:, ::2] = keep
        self.assertLess(np.abs(c.run(big[:, ::2], theta) - out).max(), 1e-15)
        # float32 / int parameters are converted; lists work
        self.assertLess(np.abs(c.run(keep, list(theta)) - out).max(), 1e-15)

    def test_single_state_shapes(self):
        c = qdm.ansatz("hea", 2, 1)
        theta = RNG.uniform(0, 6, c.n_params)
        psi = rand_states(1, 2)[0]
        self.assertEqual(c.run(psi, theta).shape, (4,))
        dth, ds = c.vjp(psi, theta, psi)
        self.assertEqual((dth.shape, ds.shape), ((c.n_params,), (4,)))
        self.assertEqual(c.expval(psi, theta, ["ZZ", "XI"]).shape, (2,))


if __name__ == "__main__":
    unittest.main()
