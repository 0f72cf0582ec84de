"""ctypes declarations of the part of libqdm's C API that the package uses.

The library is found in this order:
  1. the file named by the environment variable QDM_LIBRARY, if set (to try
     another build, e.g. a debug one, without reinstalling);
  2. libqdm.so inside this package (copied there by ``pip install ./python``
     from the CMake build).

Every C function returns a qdm status and leaves a one-line message
(qdm_errmsg, per thread); ``check`` turns a non-zero status into the Python
exception for it, with that message. The C functions validate everything
they can see; what they cannot (the length of a buffer behind a pointer) the
Python layer checks before the call, so wrong input raises, never crashes.
Array arguments are passed as plain addresses (c_void_p) from numpy's
``arr.ctypes.data``: the callers guarantee dtype, C order and size.
"""
import ctypes
import os
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_int, c_int8, c_int32, c_long, c_size_t,
                    c_uint8, c_uint32, c_uint64, c_void_p)

OK, EINVAL, ENOMEM, EIO, EFORMAT, EINTR = 0, 1, 2, 3, 4, 5
MAX_QUBITS = 30
MAX_TARGETS = 6


class Angle(Structure):  # qdm_angle: value = a * v + b, v = theta[src] / x[-src-2] / 0
    _fields_ = [("src", c_int32), ("a", c_double), ("b", c_double)]


class Gate(Structure):  # qdm_gate
    _fields_ = [("kind", c_uint8), ("nt", c_uint8), ("t", c_int8 * MAX_TARGETS), ("cmask", c_uint32),
                ("ang", Angle * 3), ("mat", c_int32)]


class CircuitS(Structure):  # qdm_circuit (read only from Python)
    _fields_ = [("n", c_int), ("nparams", c_int), ("ninputs", c_int), ("ngates", c_int), ("cap", c_int),
                ("g", POINTER(Gate)), ("pool", c_void_p), ("npool", c_size_t), ("poolcap", c_size_t),
                ("pre", c_void_p), ("precap", c_int)]


class EnumName(Structure):  # qdm_enum_name: {name, value} rows ending with {NULL, 0}
    _fields_ = [("name", c_char_p), ("value", c_int)]


class AnsatzOpts(Structure):  # qdm_ansatz_opts
    _fields_ = [("init", c_int), ("ring", c_int)]


class Ano(Structure):  # qdm_ano: filled in by Python for the global layout, M borrowed
    _fields_ = [("n", c_int), ("k", c_int), ("d", c_int), ("layout", c_int), ("nsets", c_int),
                ("per_set", c_int), ("K", c_int), ("sites", c_void_p), ("M", c_void_p)]


class SampleOpts(Structure):  # qdm_sample_opts (checked against qdm_sample_opts_size before use)
    _fields_ = [("checkpoint", c_char * 1024), ("n", c_int), ("labels", c_char * 64), ("sampler", c_int),
                ("sample_steps", c_int), ("eta", c_double), ("sde_substeps", c_int), ("seed", c_uint64),
                ("png", c_char * 1024), ("idx", c_char * 1024), ("idx_labels", c_char * 1024),
                ("use_ema", c_int), ("shots", c_long), ("noise", c_char * 32), ("clip", c_int)]


PC = POINTER(CircuitS)


class Qasm(Structure):  # qdm_qasm: a circuit read from OpenQASM (owned by it)
    _fields_ = [("c", PC), ("nparams", c_int), ("names", POINTER(c_char_p)), ("version", c_int)]

P = c_void_p  # an array's address

# name: (restype, argtypes)
_API = {
    "qdm_version": (c_char_p, []),
    "qdm_blas_core": (c_char_p, []),
    "qdm_blas_core_fix": (c_char_p, []),
    "qdm_errmsg": (c_char_p, []),
    "qdm_set_threads": (None, [c_int]),
    "qdm_threads": (c_int, []),
    "qdm_circuit_new": (PC, [c_int]),
    "qdm_circuit_free": (None, [PC]),
    "qdm_add": (c_int, [PC, Gate]),
    "qdm_dense": (c_int, [PC, c_int, P, P]),
    "qdm_diag": (c_int, [PC, c_int, P, P]),
    "qdm_append": (c_int, [PC, PC, c_int, c_uint32]),
    "qdm_qft": (c_int, [PC, c_int, P]),
    "qdm_gate_name": (c_char_p, [c_int]),
    "qdm_run": (c_int, [PC, P, P, c_int, P, c_int]),
    "qdm_run_adjoint": (c_int, [PC, P, P, c_int, P, P, c_int, P, P]),
    "qdm_run_groups": (c_int, [PC, P, c_int, c_int, P, P, c_int]),
    "qdm_run_groups_adjoint": (c_int, [PC, P, c_int, c_int, P, P, P, c_int, P]),
    "qdm_unitary": (c_int, [PC, P, P]),
    "qdm_expect_pauli": (c_int, [P, c_int, c_int, c_char_p, P]),
    "qdm_ano_forward": (c_int, [POINTER(Ano), P, c_int, P]),
    "qdm_ano_backward": (c_int, [POINTER(Ano), P, c_int, P, P, P]),
    "qdm_ansatz_build": (c_int, [PC, c_char_p, c_int, c_int, POINTER(AnsatzOpts)]),
    "qdm_ansatz_nparams": (c_int, [c_char_p, c_int, c_int, POINTER(AnsatzOpts)]),
    "qdm_ansatz_name": (c_char_p, [c_int]),
    "qdm_ansatz_about": (c_char_p, [c_char_p]),
    "qdm_enum_parse": (c_int, [c_void_p, c_char_p, c_char_p]),
    "qdm_qasm_read": (c_int, [c_char_p, POINTER(Qasm)]),
    "qdm_qasm_parse": (c_int, [c_char_p, c_size_t, c_char_p, POINTER(Qasm)]),
    "qdm_qasm_free": (None, [POINTER(Qasm)]),
    "qdm_qasm_write": (c_int, [c_char_p, PC, c_void_p, c_char_p]),
    "qdm_train_opts_size": (c_size_t, []),
    "qdm_sample_opts_size": (c_size_t, []),
    "qdm_train_opts_get": (c_int, [c_void_p, c_int, POINTER(c_char_p), c_void_p, c_size_t]),
    "qdm_checkpoint_load": (c_int, [c_char_p, c_int, c_void_p, POINTER(c_void_p)]),
    "qdm_unet_free": (None, [c_void_p]),
    "qdm_sample_opts_default": (None, [POINTER(SampleOpts)]),
    "qdm_sample_run": (c_int, [POINTER(SampleOpts)]),
}


def _find():
    env = os.environ.get("QDM_LIBRARY")
    if env:
        return env, "QDM_LIBRARY"
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "libqdm.so"), "the package"


def _load():
    path, where = _find()
    if not os.path.isfile(path):
        raise ImportError(
            f"qdm: libqdm.so not found at {path} ({where}); install the package with "
            "`python3 -m pip install ./python` after building the C library, or set QDM_LIBRARY "
            "to a libqdm.so")
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"qdm: cannot load {path}: {e}") from None
    for name, (res, args) in _API.items():
        try:
            f = getattr(lib, name)
        except AttributeError:
            raise ImportError(f"qdm: {path} has no {name}: the library and this package are from different "
                              "versions of qdm") from None
        f.restype, f.argtypes = res, args
    return lib, path


lib, path = _load()


def enum_table(name):
    """The address of a qdm_enum_name table exported by the library."""
    return ctypes.addressof(EnumName.in_dll(lib, name))


def errmsg():
    return lib.qdm_errmsg().decode("utf-8", "replace")


def error(code, msg=None):
    """The Python exception for qdm status `code` (message: the C library's)."""
    msg = errmsg() if msg is None else msg
    if code == ENOMEM:
        return MemoryError(msg)
    if code in (EIO, EFORMAT):
        return OSError(msg)
    if code == EINTR:
        return KeyboardInterrupt(msg)
    return ValueError(msg)


def check(code):
    if code != OK:
        raise error(code)


def addr(a):
    """The address of a numpy array's data (the caller checked it)."""
    return a.ctypes.data


def gate_names():
    """The engine's gate kinds in enum order (qdm_gate_name)."""
    names = []
    while True:
        s = lib.qdm_gate_name(len(names)).decode()
        if s == "?":
            return names
        names.append(s)
