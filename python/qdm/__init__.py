"""qdm from Python: the state-vector engine, the ansatz library and ANO
measurement of libqdm on numpy arrays, and a PyTorch layer (qdm.torch).

    import numpy as np, qdm
    c = qdm.ansatz("authors", 4, layers=2)           # or qdm.Circuit(4) and gates
    theta = np.random.default_rng(1).uniform(0, 2 * np.pi, c.n_params)
    psi = c.run(theta=theta)                          # from |0000>, shape (16,)
    y = c.expval(psi, theta, ["ZIII", "XXII"])         # <Z_0>, <X_0 X_1>
    dtheta, dstates = c.vjp(psi, theta, grad_out)     # exact adjoint gradients

Conventions (the C library's): qubit 0 is the least significant bit of a
basis index; a batch of states is a (rows, 2^n) complex128 array; rotations
are exp(-i theta P / 2); gradients w.r.t. complex arrays are co-gradients
dL/dRe + i dL/dIm, which is PyTorch's .grad convention for complex tensors.

The binding is ctypes over the shared libqdm.so: no compiler or Python
headers are needed to install it, C and Python users run the same library,
and the C API already validates its arguments. What C cannot see (the size
and dtype of the buffer behind a pointer) is checked here before each call,
so wrong input raises ValueError (bad shape, dtype, gate, qubit) or OSError
(a bad file), with qdm's message, and never crashes the interpreter. The
library is the copy inside this package, or the file named by the
environment variable QDM_LIBRARY when that is set.
"""
import warnings

from qdm import _lib
from qdm.circuit import (Circuit, GateInfo, Input, Param, ansatz, ansatz_about, ansatz_names, parse_qasm,
                         read_qasm)
from qdm.model import Model, load
from qdm.observables import (Observables, ano_expval, ano_hermitian, ano_init, ano_vjp, expval,
                             expval_vjp)
from qdm.runs import Run, read_config, read_metrics, read_summary

__version__ = _lib.lib.qdm_version().decode()
library_path = _lib.path


def blas_core():
    """The OpenBLAS kernels in use ("SkylakeX", "Haswell", ...)."""
    return _lib.lib.qdm_blas_core().decode()


# OpenBLAS before 0.3.25 (Debian 12 has 0.3.21) takes a CPU it does not know,
# such as Sapphire Rapids, for a "Prescott" and runs every GEMM on its generic
# kernels, about 4x slow. The choice is made when OpenBLAS loads (by numpy,
# torch or this package), so it can only be named here, not undone.
_fix = _lib.lib.qdm_blas_core_fix()
if _fix:
    warnings.warn(f"qdm: OpenBLAS runs its generic 'Prescott' kernels on this CPU (it does not recognise it); "
                  f"export OPENBLAS_CORETYPE={_fix.decode()} before starting Python for about 4x faster "
                  "matrix products", RuntimeWarning, stacklevel=2)


def set_threads(n):
    """Threads for the engine (0: OpenMP's default)."""
    _lib.lib.qdm_set_threads(int(n))


def threads():
    return _lib.lib.qdm_threads()


__all__ = ["Circuit", "GateInfo", "Input", "Param", "ansatz", "ansatz_about", "ansatz_names", "parse_qasm",
           "read_qasm", "Model", "load", "Observables",
           "ano_expval", "ano_hermitian", "ano_init", "ano_vjp", "expval", "expval_vjp", "set_threads", "threads", "blas_core",
           "Run", "read_config", "read_metrics", "read_summary", "__version__", "library_path"]
