"""qdm.torch: qdm's engine as a PyTorch layer.

    layer = qdm.torch.QuantumLayer(qdm.ansatz("authors", 4, 10), ano=16, groups=100)
    y = layer(psi, groups=g)   # psi (B, 16) real or complex, g (B,) in 0..99 -> y (B, 16)

The forward runs the circuit in C on the whole batch (complex128) and the
backward is qdm's exact adjoint sweep (one pass back through the gates, or
for a group of many rows one dL/dU and one sweep), wrapped in a
torch.autograd.Function. Inputs may be float32, float64, complex64 or
complex128 CPU tensors; the computation is in double precision and the
result comes back in the input's precision. Gradients w.r.t. complex tensors
follow PyTorch's convention, which is qdm's co-gradient dL/dRe + i dL/dIm.
Double backward is not supported.

The input rows are the states entering the circuit (e.g. an L2-normalised
encoder output, the report's amplitude encoding, eqs. 14-15); they are used
as given. Output: K expectation values per row for observables (fixed Pauli
strings / Hermitian matrices) or ano=K (K trainable Hermitians
(M_k + M_k^dagger)/2, eqs. 21-22), else the output states themselves.
"""
import math

import numpy as np
import torch  # the real PyTorch: absolute import, this module is qdm.torch

from qdm import _arrays as A
from qdm.circuit import Circuit
from qdm.observables import Observables, _ano_backward, _ano_forward

_REAL = {torch.float32: torch.float32, torch.float64: torch.float64,
         torch.complex64: torch.float32, torch.complex128: torch.float64}
_CPLX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _numpy(t):
    """A view of a tensor's values (conjugate / negative views resolved)."""
    return t.detach().resolve_conj().resolve_neg().numpy()


def _np64(t, shape=None):
    """A tensor's values as a C-ordered float64 / complex128 numpy array (a
    view of the tensor when it already is one)."""
    a = _numpy(t)
    a = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64, copy=False)
    return A.contiguous(a if shape is None else a.reshape(shape))


class _Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, theta, M, groups, circuit, obs):
        n, d = circuit.n, circuit.dim
        G = theta.shape[0] if theta.dim() == 2 else 1
        psi = np.array(_numpy(x), dtype=np.complex128, order="C", copy=True)
        th = _np64(theta, (G, circuit.n_params))
        circuit._forward(psi, th, G, groups, None)
        Mc = None
        if M is not None:
            Mc = _np64(M) if M.is_complex() else _np64(M).view(np.complex128).reshape(M.shape[:3])
            y = _ano_forward(psi, Mc, n)
        elif obs is not None:
            y = obs.forward(psi)
        else:
            y = psi.copy()  # the output may be changed in place by the caller; psi is kept
        ctx.state = (psi, th, Mc, groups, circuit, obs, G)
        ctx.x_info = (x.dtype, x.is_complex())
        ctx.theta_info = (theta.dtype, theta.shape)
        ctx.M_info = None if M is None else (M.dtype, M.shape, M.is_complex())
        out = _CPLX[_REAL[x.dtype]] if (M is None and obs is None) else _REAL[x.dtype]
        return torch.from_numpy(y).to(out)

    @staticmethod
    def backward(ctx, gy):
        psi, th, Mc, groups, circuit, obs, G = ctx.state
        psi = psi.copy()  # the adjoint sweep runs psi back to the inputs; keep ctx usable (retain_graph)
        n = circuit.n
        dM = None
        if Mc is not None or obs is not None:
            g = _np64(gy)
            lam = np.zeros(psi.shape, np.complex128)
            if Mc is not None:
                dM = _ano_backward(psi, Mc, n, g, lam, ctx.needs_input_grad[2])
            else:
                obs.backward(psi, g, lam)
        else:
            lam = np.array(_numpy(gy), dtype=np.complex128, order="C", copy=True)
        dth, _ = circuit._adjoint(psi, lam, th, G, groups, None)
        xdt, xc = ctx.x_info
        dx = torch.from_numpy(lam if xc else np.ascontiguousarray(lam.real)).to(xdt) if ctx.needs_input_grad[0] else None
        tdt, tshape = ctx.theta_info
        dtheta = torch.from_numpy(dth.reshape(tshape)).to(tdt) if ctx.needs_input_grad[1] else None
        dMt = None
        if dM is not None:
            mdt, mshape, mc = ctx.M_info
            dMt = torch.from_numpy(dM if mc else dM.view(np.float64).reshape(mshape)).to(mdt)
        return dx, dtheta, dMt, None, None, None


def _check_tensor(t, name, dtypes, shape_desc):
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{name}: expected a CPU tensor, got one on {t.device} (qdm runs on the CPU)")
    if t.dtype not in dtypes:
        raise ValueError(f"{name}: expected dtype {' or '.join(str(d).replace('torch.', '') for d in dtypes)}, "
                         f"got {str(t.dtype).replace('torch.', '')} ({shape_desc})")


def quantum(x, theta, circuit, observables=None, M=None, groups=None):
    """The functional form of QuantumLayer: differentiable in x, theta and M.

    x: (B, 2^n) or (2^n,) states, float32/64 or complex64/128.
    theta: (n_params,), or with groups a (G, n_params) table.
    observables: fixed observables (as qdm.expval; a qdm.Observables too),
      or M: (K, 2^n, 2^n, 2) real (re, im) or (K, 2^n, 2^n) complex free
      matrices of K ANO observables (M + M^dagger)/2; neither: the output
      states are returned.
    groups: (B,) integer group of each row (indices into theta's rows).
    """
    if not isinstance(circuit, Circuit):
        raise ValueError(f"circuit: expected a qdm.Circuit, got {type(circuit).__name__}")
    if circuit.n_inputs:
        raise ValueError("circuit: reads per-row inputs; a QuantumLayer's input is the state (use a circuit without input= angles)")
    n, d, P = circuit.n, circuit.dim, circuit.n_params
    _check_tensor(x, "x", list(_REAL), f"states of shape (B, {d})")
    single = x.dim() == 1
    if x.dim() not in (1, 2) or x.shape[-1] != d:
        raise ValueError(f"x: expected shape (B, {d}) or ({d},) (2^n amplitudes per row), got {tuple(x.shape)}")
    xx = x.reshape(1, d) if single else x
    B = xx.shape[0]
    _check_tensor(theta, "theta", [torch.float32, torch.float64], "circuit parameters")
    if groups is None:
        if tuple(theta.shape) != (P,):
            raise ValueError(f"theta: expected shape ({P},), got {tuple(theta.shape)}")
        gi = np.zeros(B, np.int32)
    else:
        if theta.dim() != 2 or theta.shape[1] != P or theta.shape[0] < 1:
            raise ValueError(f"theta: with groups, expected a table of shape (G, {P}), got {tuple(theta.shape)}")
        g = _numpy(groups) if isinstance(groups, torch.Tensor) else groups
        gi = A.group_index(g, B)
    if M is not None and observables is not None:
        raise ValueError("give observables= (fixed) or M= (trainable ANO), not both")
    if M is not None:
        _check_tensor(M, "M", [torch.float32, torch.float64, torch.complex64, torch.complex128], "ANO matrices")
        want = (d, d) if M.is_complex() else (d, d, 2)
        if M.dim() != len(want) + 1 or tuple(M.shape[1:]) != want or M.shape[0] < 1:
            raise ValueError(f"M: expected shape (K, {', '.join(map(str, want))}), got {tuple(M.shape)}")
    obs = observables
    if obs is not None and not isinstance(obs, Observables):
        obs = Observables(obs, n)
    if isinstance(obs, Observables) and obs.n != n:
        raise ValueError(f"observables: built for {obs.n} qubits, the circuit has {n}")
    y = _Function.apply(xx, theta, M, gi, circuit, obs)
    return y[0] if single else y


class QuantumLayer(torch.nn.Module):
    """A parameterised circuit as an nn.Module, run by qdm's engine.

    circuit: a qdm.Circuit (e.g. qdm.ansatz("authors", 4, 10)); its
      parameters become the nn.Parameter `theta`, initialised U(0, 2 pi).
    observables: fixed observables (Pauli strings like "ZIII", Hermitian
      matrices, or "Z" for <Z_q> on every qubit), or
    ano: K trainable ANO observables H_k = (M_k + M_k^dagger)/2 on the whole
      register; M is the nn.Parameter `M` of shape (K, 2^n, 2^n, 2) (re, im;
      qdm's checkpoint layout), initialised complex Gaussian / sqrt(2^n).
      With neither, the layer returns the output states (complex).
    groups: G to give every group of rows its own parameters (theta is then
      (G, n_params)): the report's circuit table, one row per (t, label),
      g = (t - 1) * classes + label. forward(x, groups=g) then takes the
      group of each row; a group's rows share one unitary (the fused path).
    dtype: of the parameters (default torch's default dtype).
    """

    def __init__(self, circuit, observables=None, ano=None, groups=None, dtype=None):
        super().__init__()
        if not isinstance(circuit, Circuit):
            raise ValueError(f"circuit: expected a qdm.Circuit, got {type(circuit).__name__}")
        if circuit.n_inputs:
            raise ValueError("circuit: reads per-row inputs; a QuantumLayer's input is the state")
        if ano is not None and observables is not None:
            raise ValueError("give observables= (fixed) or ano=K (trainable), not both")
        dtype = dtype or torch.get_default_dtype()
        self.circuit = circuit
        self.groups = None if groups is None else int(groups)
        if self.groups is not None and self.groups < 1:
            raise ValueError(f"groups: {groups}, expected >= 1")
        shape = (circuit.n_params,) if self.groups is None else (self.groups, circuit.n_params)
        self.theta = torch.nn.Parameter(2 * math.pi * torch.rand(shape, dtype=dtype))
        d = circuit.dim
        self.observables = None if observables is None else Observables(observables, circuit.n)
        self.M = None
        if ano is not None:
            K = int(ano)
            if K < 1:
                raise ValueError(f"ano: K = {ano}, expected >= 1 observables")
            self.M = torch.nn.Parameter(torch.randn((K, d, d, 2), dtype=dtype) / math.sqrt(d))

    @property
    def out_features(self):
        if self.M is not None:
            return self.M.shape[0]
        return self.observables.K if self.observables is not None else self.circuit.dim

    def forward(self, x, groups=None):
        if (groups is None) != (self.groups is None):
            raise ValueError("groups: this layer has a parameter table, give groups=" if self.groups is not None
                             else "groups: this layer has one parameter vector (QuantumLayer(..., groups=G) for a table)")
        return quantum(x, self.theta, self.circuit, self.observables, self.M, groups)

    def hermitians(self):
        """The ANO observables (M + M^dagger)/2 as a (K, d, d) complex tensor."""
        if self.M is None:
            raise ValueError("hermitians: this layer has no ANO observables (QuantumLayer(..., ano=K))")
        M = torch.view_as_complex(self.M.detach().double())
        return 0.5 * (M + M.conj().transpose(-1, -2))

    def extra_repr(self):
        meas = f"ano={self.M.shape[0]}" if self.M is not None else \
            f"observables={self.observables.K}" if self.observables is not None else "states"
        return f"n={self.circuit.n}, params={self.circuit.n_params}, groups={self.groups}, {meas}"
