"""qdm.torch.QuantumLayer against the independent gate-by-gate torch
simulator in reference.py (textbook matrices, torch's own autograd): the
forward and the gradients w.r.t. the input states, the circuit parameters
(one vector or a per-group table) and the ANO matrices, for random
parameters on every ansatz family; torch.autograd.gradcheck in float64."""
import unittest

import numpy as np
import torch

import qdm
import qdm.torch as qt
import reference as ref


def normalized(B, d, dtype=torch.float64, gen=None):
    x = torch.randn(B, d, dtype=dtype, generator=gen)
    return x / x.norm(dim=1, keepdim=True)


class TestAgainstReference(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(11)

    def compare(self, layer, x, groups=None, tol=1e-10):
        c = layer.circuit
        n, B = c.n, x.shape[0]
        x1 = x.detach().clone().requires_grad_()
        y = layer(x1, groups=groups)
        w = torch.randn(y.shape, dtype=torch.float64)
        (y * w).sum().backward() if not y.is_complex() else (w * y.real + w.flip(0) * y.imag).sum().backward()
        # the reference, on copies of the same parameters
        th = layer.theta.detach().clone().requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        rows_theta = th.expand(B, -1) if groups is None else th[groups]
        psi = ref.run(c.gates(), n, x2.to(ref.C), rows_theta)
        if layer.M is not None:
            M = layer.M.detach().clone().requires_grad_()
            want = ref.expect(psi, ref.hermitian(torch.view_as_complex(M)))
        elif layer.observables is not None:
            M = None
            mats = [ref.pauli_matrix(s.decode()) for _, s in layer.observables.pauli]
            cols = [k for k, _ in layer.observables.pauli] + list(layer.observables.hcols)
            allm = torch.stack(mats + [torch.as_tensor(h) for h in layer.observables.H])
            want = ref.expect(psi, allm)[:, np.argsort(cols)]
        else:
            M = None
            want = psi
        (want * w).sum().backward() if not want.is_complex() else (w * want.real + w.flip(0) * want.imag).sum().backward()
        self.assertLess((y.detach() - want.detach()).abs().max().item(), tol, "forward")
        self.assertLess((x1.grad - x2.grad).abs().max().item(), tol, "d/dx")
        self.assertLess((layer.theta.grad - th.grad).abs().max().item(), tol, "d/dtheta")
        if M is not None:
            self.assertLess((layer.M.grad - M.grad).abs().max().item(), tol, "d/dM")

    def test_every_family_ano_groups(self):
        for i, name in enumerate(qdm.ansatz_names()):
            n = 4 if name in ("mera", "qcnn", "authors") else 3
            c = qdm.ansatz(name, n, 2, ring=i % 2 == 1)
            layer = qt.QuantumLayer(c, ano=3, groups=4, dtype=torch.float64)
            B = 12
            g = torch.randint(0, 4, (B,))
            with self.subTest(name=name):
                self.compare(layer, normalized(B, 1 << n), g)

    def test_one_group_fused(self):
        # 40 rows of one parameter vector: the fused path (one unitary)
        layer = qt.QuantumLayer(qdm.ansatz("authors", 4, 3), ano=16, dtype=torch.float64)
        self.compare(layer, normalized(40, 16))

    def test_fixed_observables(self):
        c = qdm.ansatz("sim14", 3, 2)
        A = torch.randn(8, 8, dtype=torch.complex128)
        layer = qt.QuantumLayer(c, observables=["ZII", (A + A.conj().T).numpy(), "XYZ"], dtype=torch.float64)
        self.compare(layer, normalized(6, 8))
        self.compare(qt.QuantumLayer(c, observables="Z", dtype=torch.float64), normalized(5, 8))

    def test_states_out_complex_in(self):
        c = qdm.ansatz("paper", 3, 1)
        layer = qt.QuantumLayer(c, dtype=torch.float64)
        x = torch.randn(5, 8, dtype=torch.complex128)
        self.compare(layer, x / x.abs().pow(2).sum(1, keepdim=True).sqrt())

    def test_float32(self):
        c = qdm.ansatz("hea", 4, 2)
        layer = qt.QuantumLayer(c, ano=4, groups=3)  # torch's default dtype: float32
        self.assertEqual(layer.theta.dtype, torch.float32)
        x = normalized(9, 16, torch.float32).requires_grad_()
        g = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
        y = layer(x, groups=g)
        self.assertEqual(y.dtype, torch.float32)
        y.square().sum().backward()
        self.assertEqual((x.grad.dtype, layer.theta.grad.dtype, layer.M.grad.dtype), (torch.float32,) * 3)
        l64 = qt.QuantumLayer(c, ano=4, groups=3, dtype=torch.float64)
        with torch.no_grad():
            l64.theta.copy_(layer.theta)
            l64.M.copy_(layer.M)
        y64 = l64(x.detach().double(), groups=g)
        self.assertLess((y.double() - y64).abs().max().item(), 1e-6, "float32 = float64 to float32 rounding")


class TestGradcheck(unittest.TestCase):
    def test_gradcheck_ano_groups(self):
        torch.manual_seed(3)
        c = qdm.ansatz("authors", 4, 1)
        layer = qt.QuantumLayer(c, ano=2, groups=3, dtype=torch.float64)
        x = normalized(5, 16).requires_grad_()
        g = torch.tensor([2, 0, 2, 1, 0])
        self.assertTrue(torch.autograd.gradcheck(
            lambda x, th, M: qt.quantum(x, th, c, M=M, groups=g), (x, layer.theta, layer.M)))

    def test_gradcheck_complex_and_states(self):
        torch.manual_seed(4)
        c = qdm.ansatz("sim6", 3, 1)
        theta = (torch.rand(c.n_params, dtype=torch.float64) * 6).requires_grad_()
        x = torch.randn(4, 8, dtype=torch.complex128, requires_grad=True)
        self.assertTrue(torch.autograd.gradcheck(lambda x, th: qt.quantum(x, th, c), (x, theta)))
        self.assertTrue(torch.autograd.gradcheck(
            lambda x, th: qt.quantum(x, th, c, observables=["XZY", "ZZI"]), (x, theta)))
        M = torch.randn(2, 8, 8, dtype=torch.complex128, requires_grad=True)
        self.assertTrue(torch.autograd.gradcheck(lambda x, M: qt.quantum(x, theta, c, M=M), (x, M)))


class TestTraining(unittest.TestCase):
    def test_in_a_model(self):
        """A QuantumLayer between torch layers trains with a torch optimiser:
        the loss after 30 Adam steps on a fixed batch is below the first."""
        torch.manual_seed(5)
        n = 3
        net = torch.nn.ModuleDict({"enc": torch.nn.Linear(6, 8, dtype=torch.float64),
                                   "q": qt.QuantumLayer(qdm.ansatz("hea", n, 2), ano=4, dtype=torch.float64),
                                   "dec": torch.nn.Linear(4, 1, dtype=torch.float64)})
        x, target = torch.randn(16, 6, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
        opt = torch.optim.Adam(net.parameters(), lr=0.05)

        def loss():
            h = torch.nn.functional.normalize(net["enc"](x), dim=1)
            return torch.nn.functional.mse_loss(net["dec"](net["q"](h)), target)
        first = loss().item()
        for _ in range(30):
            opt.zero_grad()
            loss().backward()
            opt.step()
        self.assertLess(loss().item(), first)


if __name__ == "__main__":
    unittest.main()
