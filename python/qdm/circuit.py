"""Circuits: the engine's gate list, built from Python, run on numpy batches.

Conventions (qdm's everywhere):
  * qubit 0 is the least significant bit of a basis index: for n = 2, index
    1 = |q1 q0> = |01> means qubit 0 is 1;
  * a batch of states is a (rows, 2^n) complex128 array, one state per row;
  * rotations are R_P(theta) = exp(-i theta P / 2), P(phi) = diag(1, e^{i phi}),
    U3 as in include/qdm/qsim.h;
  * the gradient of a real loss L w.r.t. a complex array z is the
    co-gradient dL/dRe(z) + i dL/dIm(z), which is also what PyTorch stores
    in z.grad for complex tensors, so the two can be passed to each other
    unchanged.

A gate angle is a fixed value, a trainable parameter theta[i] (optionally
affine: scale * theta[i] + shift), or a per-row input x[k] (same form).
"""
import collections
import ctypes
import os
import tempfile

import numpy as np

from qdm import _arrays as A
from qdm._lib import (EFORMAT, EIO, AnsatzOpts, Angle, Gate, MAX_QUBITS, MAX_TARGETS, Qasm, addr, check, enum_table,
                      errmsg, error, gate_names, lib)


class Param(collections.namedtuple("Param", "index scale shift")):
    """A trainable angle: scale * theta[index] + shift."""
    __slots__ = ()

    def __new__(cls, index, scale=1.0, shift=0.0):
        return super().__new__(cls, index, scale, shift)


class Input(collections.namedtuple("Input", "index scale shift")):
    """A per-row input angle: scale * x[row, index] + shift."""
    __slots__ = ()

    def __new__(cls, index, scale=1.0, shift=0.0):
        return super().__new__(cls, index, scale, shift)


GateInfo = collections.namedtuple("GateInfo", "name targets controls angles matrix")
GateInfo.__doc__ = """One gate of a circuit: name ("RX", "DENSE", ...), target qubits
(targets[0] the least significant bit of the local index), control qubits
(the gate acts where all are |1>), angles (floats, Param or Input) and, for
DENSE/DIAG, a copy of its matrix (else None)."""

KINDS = gate_names()                   # "I", "X", ..., "DENSE", "DIAG" in the engine's order
_KIND = {k.lower(): i for i, k in enumerate(KINDS)}
_FIXED1 = ["i", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx"]
_ROT1 = ["rx", "ry", "rz", "p"]
_ROT2 = ["rxx", "ryy", "rzz"]
_NANG = {**{k: 0 for k in _FIXED1}, **{k: 1 for k in _ROT1 + _ROT2}, "u3": 3, "swap": 0, "dense": 0, "diag": 0}


def _int(v, name):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {v!r}")
    return int(v)


def _angle(spec, who):
    """qdm_angle from a float, Param or Input."""
    if isinstance(spec, (Param, Input)):
        i = _int(spec.index, f"{who}: parameter index")
        if not 0 <= i < 2**31 - 2:
            raise ValueError(f"{who}: index {i} out of range 0..2^31-3")
        return Angle(i if isinstance(spec, Param) else -2 - i, float(spec.scale), float(spec.shift))
    try:
        return Angle(-1, 0.0, float(spec))
    except (TypeError, ValueError):
        raise ValueError(f"{who}: angle {spec!r}: expected a number, qdm.Param(i) or qdm.Input(k)") from None


def _one_angle(who, value, param, input, scale, shift):
    given = [v is not None for v in (value, param, input)]
    if sum(given) != 1:
        raise ValueError(f"{who}: give exactly one of value=, param= or input=")
    if value is not None:
        if (scale, shift) != (1.0, 0.0):
            raise ValueError(f"{who}: scale= and shift= go with param= or input=, not value=")
        return value
    return Param(param, scale, shift) if param is not None else Input(input, scale, shift)


class Circuit:
    """A circuit on n qubits (1..30): a list of gates, built by the methods
    below, and run by run / expval / unitary / vjp on numpy batches.

    >>> c = qdm.Circuit(2); c.h(0); c.cnot(0, 1); c.ry(1, param=0)
    """

    def __init__(self, n):
        n = _int(n, "Circuit: n")
        p = lib.qdm_circuit_new(n)
        if not p:
            raise ValueError(errmsg())
        self._c = p

    def __del__(self):
        p, self._c = getattr(self, "_c", None), None
        if p and lib is not None:
            lib.qdm_circuit_free(p)

    # ---- shape ----
    @property
    def n(self):
        """Qubits."""
        return self._c.contents.n

    @property
    def dim(self):
        return 1 << self.n

    @property
    def n_params(self):
        """Length of theta: 1 + the largest parameter index used."""
        return self._c.contents.nparams

    @property
    def n_inputs(self):
        """Per-row inputs read (1 + the largest input index used)."""
        return self._c.contents.ninputs

    def __len__(self):
        return self._c.contents.ngates

    def __repr__(self):
        return f"qdm.Circuit(n={self.n}, gates={len(self)}, params={self.n_params}, inputs={self.n_inputs})"

    # ---- building ----
    def _cmask(self, ctrl, who):
        if ctrl is None:
            return 0
        if isinstance(ctrl, (int, np.integer)):
            ctrl = [ctrl]
        m = 0
        for q in ctrl:
            q = _int(q, f"{who}: control qubit")
            if not 0 <= q < MAX_QUBITS:
                raise ValueError(f"{who}: control qubit {q} out of range 0..{self.n - 1}")
            m |= 1 << q
        return m

    def _targets(self, targets, who):
        ts = [_int(q, f"{who}: target qubit") for q in targets]
        if not 1 <= len(ts) <= MAX_TARGETS:
            raise ValueError(f"{who}: {len(ts)} target qubits, expected 1..{MAX_TARGETS}")
        for q in ts:
            if not -128 <= q <= 127:  # the C field is 8 bits: it reports the rest itself
                raise ValueError(f"{who}: target qubit {q} out of range 0..{self.n - 1}")
        return ts

    def _push(self, kind, targets, angles=(), ctrl=None):
        who = KINDS[kind].lower()
        ts = self._targets(targets, who)
        g = Gate()
        g.kind, g.nt, g.cmask, g.mat = kind, len(ts), self._cmask(ctrl, who), -1
        for j, q in enumerate(ts):
            g.t[j] = q
        for j in range(3):
            g.ang[j] = _angle(angles[j], who) if j < len(angles) else Angle(-1, 0.0, 0.0)
        check(lib.qdm_add(self._c, g))
        return self

    def gate(self, name, *targets, angles=(), ctrl=None):
        """Append the gate `name` (case-insensitive: i x y z h s sdg t tdg sx
        rx ry rz p u3 swap rxx ryy rzz) on `targets`, its angles a list of
        floats, qdm.Param or qdm.Input, controlled by the qubits in `ctrl`."""
        key = str(name).lower()
        if key not in _NANG or key in ("dense", "diag"):
            raise ValueError(f"gate '{name}': unknown, expected one of {' '.join(k for k in _NANG if k not in ('dense', 'diag'))}"
                             " (dense and diag take a matrix: use .dense / .diag)")
        if len(angles) != _NANG[key]:
            raise ValueError(f"gate '{name}': takes {_NANG[key]} angle(s), got {len(angles)}")
        return self._push(_KIND[key], targets, list(angles), ctrl)

    def u3(self, q, theta, phi, lam, ctrl=None):
        """U3(theta, phi, lam) on q; each angle a float, qdm.Param or qdm.Input."""
        return self._push(_KIND["u3"], [q], [theta, phi, lam], ctrl)

    def swap(self, q0, q1, ctrl=None):
        return self._push(_KIND["swap"], [q0, q1], (), ctrl)

    def cnot(self, control, target):
        """CNOT (CX): X on target where control is |1>."""
        return self._push(_KIND["x"], [target], (), [control])

    cx = cnot

    def cz(self, q0, q1):
        return self._push(_KIND["z"], [q1], (), [q0])

    def dense(self, targets, U, ctrl=None):
        """A fixed 2^k x 2^k unitary on the k qubits `targets` (targets[0] the
        least significant bit of U's index), optionally controlled."""
        who = "dense"
        ts = self._targets(targets, who)
        d = 1 << len(ts)
        U = A.matrix(U, (d, d), "dense: U")
        err = np.abs(U.conj().T @ U - np.eye(d)).max()
        if not err <= 1e-10:
            raise ValueError(f"dense: U is not unitary (max |U^dagger U - I| = {err:.3g})")
        return self._pooled(lib.qdm_dense, ts, U, ctrl, who)

    def diag(self, targets, d, ctrl=None):
        """A fixed diagonal unitary diag(d) (|d_i| = 1) on `targets`."""
        who = "diag"
        ts = self._targets(targets, who)
        d = A.matrix(d, (1 << len(ts),), "diag: d")
        err = np.abs(np.abs(d) - 1).max()
        if not err <= 1e-10:
            raise ValueError(f"diag: entries must have modulus 1 (max ||d_i| - 1| = {err:.3g})")
        return self._pooled(lib.qdm_diag, ts, d, ctrl, who)

    def _pooled(self, fn, ts, M, ctrl, who):
        t = np.array(ts, np.int32)
        cm = self._cmask(ctrl, who)
        if not cm:
            check(fn(self._c, len(ts), addr(t), addr(M)))
            return self
        sub = Circuit(self.n)  # a controlled matrix gate: append a one-gate circuit under the controls
        check(fn(sub._c, len(ts), addr(t), addr(M)))
        return self.append(sub, ctrl=ctrl)

    def qft(self, qubits=None):
        """The QFT on `qubits` (default all; qubits[0] the least significant
        bit of the Fourier index): |j> -> 2^{-m/2} sum_k e^{2 pi i jk/2^m} |k>."""
        qs = list(range(self.n)) if qubits is None else [_int(q, "qft: qubit") for q in qubits]
        if not qs or any(not -2**31 <= q < 2**31 for q in qs):
            raise ValueError(f"qft: qubits {qs}: expected 1..{self.n} qubits in 0..{self.n - 1}")
        q = np.array(qs, np.int32)
        check(lib.qdm_qft(self._c, len(qs), addr(q)))
        return self

    def append(self, other, param_offset=0, ctrl=None):
        """Append every gate of `other` (no more qubits than this circuit),
        its parameter indices shifted by param_offset, each gate also
        controlled by the qubits in ctrl."""
        if not isinstance(other, Circuit):
            raise ValueError(f"append: expected a qdm.Circuit, got {type(other).__name__}")
        off = _int(param_offset, "append: param_offset")
        if not 0 <= off < 2**31 - 1:
            raise ValueError(f"append: param_offset {off} out of range")
        check(lib.qdm_append(self._c, other._c, off, self._cmask(ctrl, "append")))
        return self

    def add_ansatz(self, name, layers, param_offset=None, init=None, ring=False):
        """Append the named ansatz (see qdm.ansatz_names) on all qubits, its
        parameters theta[param_offset ...] (default: after the ones in use).
        Returns the number of parameters it uses."""
        off = self.n_params if param_offset is None else _int(param_offset, "ansatz: param_offset")
        opts = _ansatz_opts(init, ring)
        r = lib.qdm_ansatz_build(self._c, str(name).encode(), _int(layers, "ansatz: layers"), off, ctypes.byref(opts))
        if r < 0:
            check(-r)
        return r

    def copy(self):
        return Circuit(self.n).append(self)

    def to_qasm(self, path=None, theta=None, comment=None):
        """The circuit as OpenQASM 3: its parameters as `input float[64]`
        declarations (theta None) or bound to theta's values. Written to
        `path` (through a temporary file renamed into place), or returned as
        a string when path is None. A circuit with no OpenQASM form raises
        ValueError."""
        th = None if theta is None else A.real_vector(theta, (self.n_params,), "theta")
        com = None if comment is None else str(comment).encode()
        if path is not None:
            check(lib.qdm_qasm_write(os.fsencode(path), self._c, None if th is None else addr(th), com))
            return None
        with tempfile.TemporaryDirectory(prefix="qdm-qasm-") as d:
            p = os.path.join(d, "circuit.qasm")
            check(lib.qdm_qasm_write(os.fsencode(p), self._c, None if th is None else addr(th), com))
            with open(p) as f:
                return f.read()

    # ---- reading ----
    def gates(self):
        """The gate list, as GateInfo tuples."""
        cs = self._c.contents
        out = []
        for i in range(cs.ngates):
            g = cs.g[i]
            name = KINDS[g.kind]
            key = name.lower()
            angs = []
            for j in range(_NANG[key]):
                a = g.ang[j]
                angs.append(a.b if a.src == -1 else Param(a.src, a.a, a.b) if a.src >= 0 else Input(-a.src - 2, a.a, a.b))
            mat = None
            if key in ("dense", "diag"):
                k = 1 << g.nt
                size = k * k if key == "dense" else k
                buf = (ctypes.c_double * (2 * size)).from_address(cs.pool + 16 * g.mat)
                mat = np.frombuffer(buf, np.float64).view(np.complex128).copy()
                mat = mat.reshape(k, k) if key == "dense" else mat
            out.append(GateInfo(name, tuple(g.t[j] for j in range(g.nt)),
                                tuple(q for q in range(32) if g.cmask >> q & 1), tuple(angs), mat))
        return out

    # ---- running ----
    def _theta(self, theta, groups, rows):
        """(theta as a C-ready float64 array, G, group index or None)."""
        P = self.n_params
        if groups is None:
            return A.real_vector(theta, (P,), "theta"), 1, None
        gi = A.group_index(groups, rows)
        if not isinstance(theta, np.ndarray):
            theta = np.asarray(theta)
        if theta.ndim != 2 or theta.shape[1] != P or theta.shape[0] < 1:
            raise ValueError(f"theta: with groups, expected a table of shape (G, {P}), got {theta.shape}")
        return A.real_vector(theta, theta.shape, "theta"), theta.shape[0], gi

    def _x(self, x, rows):
        if self.n_inputs == 0:
            if x is not None:
                raise ValueError("x: this circuit reads no per-row inputs")
            return None
        return A.real_vector(x, (rows, self.n_inputs), "x")

    def _forward(self, psi, th, G, gi, x):
        """psi (C-ordered, rows x dim, owned) in place."""
        rows = psi.shape[0]
        if gi is not None:
            check(lib.qdm_run_groups(self._c, addr(th), self.n_params, G, addr(gi), addr(psi), rows))
        else:
            check(lib.qdm_run(self._c, addr(th), None if x is None else addr(x), self.n_inputs, addr(psi), rows))

    def _adjoint(self, psi, lam, th, G, gi, x):
        """In place: psi outputs -> inputs, lam dL/dout -> dL/din; returns
        dtheta (and dx when the circuit reads inputs)."""
        rows = psi.shape[0]
        dth = np.zeros(th.shape)
        if gi is not None:
            check(lib.qdm_run_groups_adjoint(self._c, addr(th), self.n_params, G, addr(gi), addr(psi), addr(lam),
                                             rows, addr(dth)))
            return dth, None
        dx = None if x is None else np.zeros(x.shape)
        check(lib.qdm_run_adjoint(self._c, addr(th), None if x is None else addr(x), self.n_inputs, addr(psi),
                                  addr(lam), rows, addr(dth), None if dx is None else addr(dx)))
        return dth, dx

    def run(self, states=None, theta=None, *, x=None, groups=None, out=None):
        """The output states U(theta) psi for every row of `states` ((rows,
        2^n) or (2^n,) complex128; default |0...0>). theta: (n_params,), or
        with groups (a (rows,) integer array) a table (G, n_params) whose row
        groups[r] drives row r (one fused unitary per group). x: (rows,
        n_inputs) per-row inputs, if the circuit reads any. out: an array of
        the states' shape to write into (may be `states` itself: no copy)."""
        if states is None:
            states = np.zeros(self.dim, np.complex128)
            states[0] = 1
        s2, single = A.states2d(states, self.dim)
        th, G, gi = self._theta(theta, groups, s2.shape[0])
        xx = self._x(x, s2.shape[0])
        if out is None:
            psi = A.copy_c(s2)
        else:
            A.out_array(out, states.shape)
            psi = out.reshape(s2.shape)
            if psi.ctypes.data != s2.ctypes.data or psi.strides != s2.strides:
                np.copyto(psi, s2)  # handles overlap; skipped when out is states itself
        self._forward(psi, th, G, gi, xx)
        if out is not None:
            return out
        return psi[0] if single else psi

    def expval(self, states, theta=None, observables="Z", *, x=None, groups=None):
        """<psi_out| O_k |psi_out> for every row and observable: a (rows, K)
        float64 array (K,) for one state. observables: a Pauli string
        ("XIZ": character j acts on qubit j), a Hermitian (2^n, 2^n) matrix,
        a (K, 2^n, 2^n) stack, or a list of strings and matrices. A string of
        one letter "Z" means that letter on each qubit in turn (K = n)."""
        from qdm.observables import expval
        return expval(self.run(states, theta, x=x, groups=groups), observables)

    def unitary(self, theta=None):
        """The circuit's 2^n x 2^n unitary, U[i, j] = <i|U|j> (n <= 12)."""
        th = A.real_vector(theta, (self.n_params,), "theta")
        if self.n_inputs:
            raise ValueError("unitary: the circuit reads per-row inputs, so it has no single unitary")
        if self.n > 12:
            raise ValueError(f"unitary: {self.n} qubits is too many for a dense unitary (at most 12)")
        U = np.empty((self.dim, self.dim), np.complex128)
        check(lib.qdm_unitary(self._c, addr(th), addr(U)))
        return U

    def vjp(self, states, theta, grad_out, *, x=None, groups=None):
        """The exact adjoint gradients (one backward sweep, O(1) extra memory
        per row) of a real loss L, given grad_out = dL/dRe + i dL/dIm of the
        output states (the co-gradient; PyTorch's .grad for a complex tensor).
        Returns (dtheta, dstates): dtheta = dL/dtheta (shape of theta, summed
        over the rows of each group) and dstates the co-gradient of L w.r.t.
        the input states, = U^dagger grad_out row by row. With per-row inputs
        x, returns (dtheta, dstates, dx)."""
        s2, single = A.states2d(states, self.dim)
        g2, _ = A.states2d(grad_out, self.dim, "grad_out")
        if g2.shape != s2.shape:
            raise ValueError(f"grad_out: expected the shape of the states {s2.shape}, got {g2.shape}")
        th, G, gi = self._theta(theta, groups, s2.shape[0])
        xx = self._x(x, s2.shape[0])
        psi, lam = A.copy_c(s2), A.copy_c(g2)
        self._forward(psi, th, G, gi, xx)
        dth, dx = self._adjoint(psi, lam, th, G, gi, xx)
        ds = lam[0] if single else lam
        dth = dth.reshape(np.shape(theta)) if theta is not None else dth
        return (dth, ds) if xx is None else (dth, ds, dx)


def _from_qasm(q):
    """A Circuit holding (a copy of) the circuit of a qdm_qasm, which is freed."""
    try:
        c = Circuit(q.c.contents.n)
        check(lib.qdm_append(c._c, q.c, 0, 0))
        c.param_names = [q.names[i].decode() for i in range(q.nparams)]
        c.qasm_version = q.version
        return c
    finally:
        lib.qdm_qasm_free(ctypes.byref(q))


def read_qasm(path):
    """A circuit from an OpenQASM 2 or 3 file (the subset qdm reads: see
    include/qdm/circuits.h). Its `input` parameters become theta[0..] in
    declaration order, their names in .param_names. A file that cannot be
    read, or is not such a circuit, raises OSError with "file:line: what"."""
    q = Qasm()
    rc = lib.qdm_qasm_read(os.fsencode(path), ctypes.byref(q))
    if rc:
        e = error(rc)
        raise OSError(str(e)) if isinstance(e, ValueError) else e
    return _from_qasm(q)


def parse_qasm(text, name=None):
    """A circuit from OpenQASM text (as read_qasm); errors are ValueError
    with "name:line: what"."""
    b = text.encode() if isinstance(text, str) else bytes(text)
    q = Qasm()
    rc = lib.qdm_qasm_parse(b, len(b), None if name is None else str(name).encode(), ctypes.byref(q))
    if rc:
        e = error(rc)
        raise ValueError(str(e)) if rc in (EIO, EFORMAT) else e
    return _from_qasm(q)


def _ansatz_opts(init, ring):
    code = 0
    if init is not None:
        code = lib.qdm_enum_parse(enum_table("qdm_ansatz_init_names"), b"ansatz init", str(init).encode())
        if code < 0:
            raise ValueError(errmsg())
    return AnsatzOpts(code, 1 if ring else 0)


def ansatz(name, n, layers, init=None, ring=False):
    """A new n-qubit circuit holding the named ansatz with `layers` layers
    (theta[0 .. n_params-1], layer by layer). init: None / "none" or
    "ry-pi4" (a fixed RY(pi/4) first layer); ring: also couple qubit n-1
    with qubit 0 (hea, hva, conv, paper)."""
    c = Circuit(n)
    c.add_ansatz(name, layers, 0, init, ring)
    return c


def ansatz_names():
    """Every ansatz the library builds, in its order."""
    out = []
    while True:
        s = lib.qdm_ansatz_name(len(out))
        if s is None:
            return out
        out.append(s.decode())


def ansatz_about(name):
    """A one-line description with the per-layer parameter count."""
    s = lib.qdm_ansatz_about(str(name).encode())
    if s is None:
        raise ValueError(f"ansatz '{name}': unknown, expected one of {' '.join(ansatz_names())}")
    return s.decode()


def _fill_fixed_methods():
    def fixed(kind):
        def f(self, q, ctrl=None):
            return self._push(kind, [q], (), ctrl)
        return f

    def rot1(kind):
        def f(self, q, value=None, *, param=None, input=None, scale=1.0, shift=0.0, ctrl=None):
            return self._push(kind, [q], [_one_angle(KINDS[kind].lower(), value, param, input, scale, shift)], ctrl)
        return f

    def rot2(kind):
        def f(self, q0, q1, value=None, *, param=None, input=None, scale=1.0, shift=0.0, ctrl=None):
            return self._push(kind, [q0, q1], [_one_angle(KINDS[kind].lower(), value, param, input, scale, shift)], ctrl)
        return f

    for name in _FIXED1:
        m = fixed(_KIND[name])
        m.__name__, m.__doc__ = name, f"The fixed gate {name.upper()} on qubit q (controlled by ctrl)."
        setattr(Circuit, name, m)
    for name in _ROT1:
        m = rot1(_KIND[name])
        m.__name__ = name
        m.__doc__ = (f"{name.upper()} on qubit q: a fixed angle (value=), a parameter (param=i: "
                     "scale * theta[i] + shift) or an input (input=k: scale * x[row, k] + shift).")
        setattr(Circuit, name, m)
    for name in _ROT2:
        m = rot2(_KIND[name])
        m.__name__ = name
        m.__doc__ = f"{name.upper()}(angle) = exp(-i angle P(x)P / 2) on (q0, q1); angles as for rx."
        setattr(Circuit, name, m)


_fill_fixed_methods()
