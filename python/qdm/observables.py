"""Measurement: expectation values of fixed observables (Pauli strings,
Hermitian matrices) and of adaptive non-local observables (ANO, report
section 5: K trainable Hermitians H_k = (M_k + M_k^dagger) / 2 on the whole
register, eq. 21, features y_k = <psi|H_k|psi>, eq. 22), with their exact
backward passes. Gradients w.r.t. complex arrays are co-gradients
dL/dRe + i dL/dIm (PyTorch's convention for complex tensors)."""
import functools

import numpy as np

from qdm import _arrays as A
from qdm._lib import Ano, addr, check, lib

_SITES = {}
_ONE = np.zeros(1, np.complex128)  # a valid pointer for calls on zero rows


def _n_of(states, name="states"):
    """(rows x d view, single?, n) with d = 2^n read off the array."""
    if not isinstance(states, np.ndarray):
        states = np.asarray(states)
    d = states.shape[-1] if states.ndim in (1, 2) else 0
    if d < 2 or d & (d - 1):
        raise ValueError(f"{name}: expected shape (rows, 2^n) or (2^n,), got {states.shape}")
    s2, single = A.states2d(states, d, name)
    return A.contiguous(s2), single, d.bit_length() - 1


def _ano(M, n):
    """A qdm_ano for the global layout over n qubits borrowing M (K, d, d)."""
    if n not in _SITES:
        _SITES[n] = np.arange(n, dtype=np.int32)
    K = M.shape[0]
    return Ano(n, n, 1 << n, 0, 1, K, K, addr(_SITES[n]), addr(M))


def _ano_forward(psi, M, n):
    y = np.empty((psi.shape[0], M.shape[0]))
    if M.shape[0]:
        check(lib.qdm_ano_forward(_ano(M, n), addr(psi), psi.shape[0], addr(y)))
    return y


def _ano_backward(psi, M, n, dy, gpsi, want_dM):
    """gpsi += co-gradient w.r.t. psi; returns dM (or None)."""
    dM = np.zeros(M.shape, np.complex128) if want_dM else None
    if M.shape[0]:
        check(lib.qdm_ano_backward(_ano(M, n), addr(psi), psi.shape[0], addr(dy),
                                   None if gpsi is None else addr(gpsi), None if dM is None else addr(dM)))
    return dM


@functools.lru_cache(maxsize=256)
def _pauli_circuit(s):
    """The Pauli string as a circuit of X, Y, Z gates (P psi = run)."""
    from qdm.circuit import Circuit
    c = Circuit(len(s))
    for q, ch in enumerate(s):
        if ch in "XYZ":
            c.gate(ch, q)
    return c


class Observables:
    """A parsed list of fixed observables on n qubits (see expval)."""

    def __init__(self, spec, n):
        d = 1 << n
        if isinstance(spec, str) and len(spec) == 1 and n > 1:
            spec = ["I" * q + spec + "I" * (n - 1 - q) for q in range(n)]
        elif isinstance(spec, (str, np.ndarray)) and not (isinstance(spec, np.ndarray) and spec.ndim == 3):
            spec = [spec]
        elif isinstance(spec, np.ndarray):
            spec = list(spec)
        elif not isinstance(spec, (list, tuple)):
            raise ValueError(f"observables: expected Pauli strings or Hermitian matrices, got {type(spec).__name__}")
        self.n, self.K, self.pauli, hcols, hs = n, len(spec), [], [], []
        for k, o in enumerate(spec):
            if isinstance(o, str):
                try:
                    b = o.encode("ascii")
                except UnicodeEncodeError:
                    raise ValueError(f"observables[{k}]: Pauli string '{o}': expected the letters I, X, Y, Z") from None
                if b"\0" in b:
                    raise ValueError(f"observables[{k}]: Pauli string {o!r} contains a NUL character")
                check(lib.qdm_expect_pauli(addr(_ONE), n, 0, b, addr(_ONE)))  # the library checks the letters
                self.pauli.append((k, b))
            else:
                H = A.matrix(o, (d, d), f"observables[{k}]")
                err = np.abs(H - H.conj().T).max()
                if not err <= 1e-10 * max(1.0, np.abs(H).max()):
                    raise ValueError(f"observables[{k}]: matrix is not Hermitian (max |H - H^dagger| = {err:.3g});"
                                     " for trainable ANO matrices use qdm.ano_expval")
                hcols.append(k)
                hs.append(H)
        self.hcols = np.array(hcols, np.intp)
        self.H = np.ascontiguousarray(np.stack(hs)) if hs else np.zeros((0, d, d), np.complex128)

    def forward(self, psi):
        rows = psi.shape[0]
        y = np.empty((rows, self.K))
        col = np.empty(rows)
        for k, s in self.pauli:
            check(lib.qdm_expect_pauli(addr(psi), self.n, rows, s, addr(col)))
            y[:, k] = col
        if len(self.hcols):  # H = (H + H^dagger)/2 for Hermitian H: one ANO call for all
            y[:, self.hcols] = _ano_forward(psi, self.H, self.n)
        return y

    def backward(self, psi, dy, gpsi):
        """gpsi += co-gradient w.r.t. psi of sum_rk dy[r, k] y[r, k]."""
        for k, s in self.pauli:  # d<P>/dpsi = 2 P psi
            ppsi = A.copy_c(psi)
            _pauli_circuit(s.decode())._forward(ppsi, np.zeros(0), 1, None, None)
            gpsi += 2 * dy[:, k, None] * ppsi
        if len(self.hcols):
            _ano_backward(psi, self.H, self.n, A.contiguous(dy[:, self.hcols]), gpsi, False)


def _dy(grad_y, rows, K, single):
    g = A.real_vector(grad_y, (K,) if single else (rows, K), "grad_y")
    return g.reshape(rows, K)


def expval(states, observables="Z"):
    """<psi_r| O_k |psi_r> for each row r of states ((rows, 2^n) or (2^n,)
    complex128) and each observable: (rows, K) float64, or (K,) for one
    state. observables: a Pauli string ("XIZ": character j acts on qubit j),
    a single letter ("Z": that Pauli on each qubit in turn, K = n), a
    Hermitian (2^n, 2^n) matrix, a (K, 2^n, 2^n) stack, or a list of strings
    and matrices."""
    psi, single, n = _n_of(states)
    y = Observables(observables, n).forward(psi)
    return y[0] if single else y


def expval_vjp(states, observables, grad_y):
    """The co-gradient w.r.t. the states of L = sum_rk grad_y[r, k] <O_k>_r:
    2 sum_k grad_y[r, k] O_k psi_r (shape of states)."""
    psi, single, n = _n_of(states)
    ob = Observables(observables, n)
    g = np.zeros(psi.shape, np.complex128)
    ob.backward(psi, _dy(grad_y, psi.shape[0], ob.K, single), g)
    return g[0] if single else g


def _ano_M(M, d):
    if not isinstance(M, np.ndarray):
        M = np.asarray(M)
    if M.ndim != 3 or M.shape[1:] != (d, d):
        raise ValueError(f"M: expected shape (K, {d}, {d}) (K complex matrices on the register), got {M.shape}")
    return A.matrix(M, M.shape, "M")


def ano_hermitian(M):
    """H_k = (M_k + M_k^dagger) / 2 (eq. 21) for a (K, d, d) stack."""
    M = np.asarray(M)
    return 0.5 * (M + np.conj(np.swapaxes(M, -1, -2)))


def ano_init(n, K, seed=None, scale=None):
    """K free complex matrices M (K, 2^n, 2^n): i.i.d. complex Gaussian
    entries (re and im each N(0, 1)) times scale (default 1/sqrt(2^n), qdm's
    model initialisation), from numpy's generator seeded by `seed`."""
    d = 1 << int(n)
    rng = np.random.default_rng(seed)
    s = 1 / np.sqrt(d) if scale is None else scale
    return s * (rng.standard_normal((K, d, d)) + 1j * rng.standard_normal((K, d, d)))


def ano_expval(states, M):
    """ANO features y[r, k] = <psi_r| (M_k + M_k^dagger)/2 |psi_r> (eqs.
    21-22) for free complex matrices M (K, 2^n, 2^n): (rows, K)."""
    psi, single, n = _n_of(states)
    y = _ano_forward(psi, _ano_M(M, 1 << n), n)
    return y[0] if single else y


def ano_vjp(states, M, grad_y):
    """Backward of ano_expval for L = sum_rk grad_y[r, k] y[r, k]: returns
    (dstates, dM), the co-gradients w.r.t. the states (2 sum_k grad_y H_k psi)
    and w.r.t. M (sum_r grad_y[r, k] psi_r psi_r^dagger; the same for M as
    for H because that sum is Hermitian)."""
    psi, single, n = _n_of(states)
    Mc = _ano_M(M, 1 << n)
    g = np.zeros(psi.shape, np.complex128)
    dM = _ano_backward(psi, Mc, n, _dy(grad_y, psi.shape[0], Mc.shape[0], single), g, True)
    return (g[0] if single else g), dM
