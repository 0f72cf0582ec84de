"""An independent state-vector simulator for the tests, written in plain
PyTorch with its own autograd (nothing from qdm but the gate list it is
asked to simulate): gate matrices typed in from their textbook definitions,
applied by gathering the amplitudes of each target group, contracting with
the local matrix, and scattering back, only where all controls are |1>.

Conventions are qdm's (and stated in its documentation): qubit 0 is the
least significant bit of a basis index, a gate's local index has targets[0]
as its least significant bit, rotations are exp(-i theta P / 2).
"""
import math

import numpy as np
import torch

C = torch.complex128
# The tests' tensors are tiny: one thread (torch's thread pool only adds
# waiting, a lot of it on a busy machine).
torch.set_num_threads(1)
_S2 = 1 / math.sqrt(2)
FIXED = {
    "I": [[1, 0], [0, 1]],
    "X": [[0, 1], [1, 0]],
    "Y": [[0, -1j], [1j, 0]],
    "Z": [[1, 0], [0, -1]],
    "H": [[_S2, _S2], [_S2, -_S2]],
    "S": [[1, 0], [0, 1j]],
    "SDG": [[1, 0], [0, -1j]],
    "T": [[1, 0], [0, complex(math.cos(math.pi / 4), math.sin(math.pi / 4))]],
    "TDG": [[1, 0], [0, complex(math.cos(math.pi / 4), -math.sin(math.pi / 4))]],
    "SX": [[(1 + 1j) / 2, (1 - 1j) / 2], [(1 - 1j) / 2, (1 + 1j) / 2]],
    # |b1 b0> -> |b0 b1>: local indices 1 and 2 swap
    "SWAP": [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
}


def const(m):
    return torch.tensor(m, dtype=C)


def kron(*ms):
    out = ms[0]
    for m in ms[1:]:
        out = torch.kron(out, m)
    return out


def pauli_matrix(s):
    """The full matrix of a Pauli string, character j on qubit j: qubit 0 is
    the least significant bit, so it is the rightmost Kronecker factor."""
    return kron(*[const(FIXED[ch]) for ch in reversed(s)])


def rotation(P, th):
    """exp(-i th P / 2) = cos(th/2) I - i sin(th/2) P for P^2 = I; th (B,)."""
    k = P.shape[0]
    c = torch.cos(th / 2).to(C)[:, None, None]
    s = torch.sin(th / 2).to(C)[:, None, None]
    return c * torch.eye(k, dtype=C) - 1j * s * P


def local_matrix(name, ang, mat, B):
    """(B, k, k) local matrix of a gate with angle tensors ang (each (B,))."""
    if name in FIXED:
        return const(FIXED[name]).expand(B, -1, -1)
    if name == "DENSE":
        return torch.as_tensor(mat, dtype=C).expand(B, -1, -1)
    if name == "DIAG":
        return torch.diag(torch.as_tensor(mat, dtype=C)).expand(B, -1, -1)
    X, Y, Z = const(FIXED["X"]), const(FIXED["Y"]), const(FIXED["Z"])
    if name in ("RX", "RY", "RZ"):
        return rotation({"RX": X, "RY": Y, "RZ": Z}[name], ang[0])
    if name in ("RXX", "RYY", "RZZ"):
        P = {"RXX": X, "RYY": Y, "RZZ": Z}[name]
        return rotation(kron(P, P), ang[0])
    if name == "P":
        e = torch.exp(1j * ang[0].to(C))
        one, zero = torch.ones_like(e), torch.zeros_like(e)
        return torch.stack([torch.stack([one, zero], -1), torch.stack([zero, e], -1)], -2)
    if name == "U3":
        t, p, l = (a.to(C) for a in ang)
        c, s = torch.cos(t / 2), torch.sin(t / 2)
        return torch.stack([torch.stack([c, -torch.exp(1j * l) * s], -1),
                            torch.stack([torch.exp(1j * p) * s, torch.exp(1j * (p + l)) * c], -1)], -2)
    raise KeyError(name)


def angle_value(a, theta_rows, x, B):
    """A gate angle for every row: a float, or (duck-typed) an object with
    index / scale / shift that is a Param (theta) or an Input (x)."""
    if isinstance(a, float):
        return torch.full((B,), a, dtype=torch.float64)
    src = x if type(a).__name__ == "Input" else theta_rows
    return a.scale * src[:, a.index] + a.shift


def apply(psi, n, targets, controls, M):
    """psi (B, 2^n) -> the gate with local matrix M (B, k, k) applied."""
    d, nt = 1 << n, len(targets)
    tmask = sum(1 << t for t in targets)
    cmask = sum(1 << q for q in controls)
    bases = [j for j in range(d) if j & tmask == 0 and j & cmask == cmask]
    idx = np.array([[j | sum(((l >> b) & 1) << targets[b] for b in range(nt)) for l in range(1 << nt)]
                    for j in bases])
    idx = torch.as_tensor(idx)
    out = psi.clone()
    out[:, idx] = torch.einsum("bkl,bgl->bgk", M, psi[:, idx])
    return out


def run(gates, n, psi, theta_rows=None, x=None):
    """The circuit (a list of qdm GateInfo-like tuples) on every row."""
    B = psi.shape[0]
    for g in gates:
        ang = [angle_value(a, theta_rows, x, B) for a in g.angles]
        psi = apply(psi, n, list(g.targets), list(g.controls), local_matrix(g.name, ang, g.matrix, B))
    return psi


def unitary(gates, n, theta):
    """U[i, j] = <i|U|j>: the circuit on the basis states as rows."""
    d = 1 << n
    return run(gates, n, torch.eye(d, dtype=C), theta.expand(d, -1) if theta is not None else None).T


def expect(psi, H):
    """<psi_r| H_k |psi_r> for H (K, d, d): (B, K)."""
    return torch.einsum("bi,kij,bj->bk", psi.conj(), H, psi).real


def hermitian(M):
    return 0.5 * (M + M.conj().transpose(-1, -2))
