"""Argument checks between Python and C: every array that reaches a C pointer
has passed through one of these, so its dtype, C order and size are what
the C function will read or write. They raise ValueError naming the
argument and what was expected; none of them copies an array that is
already right (a view will do), except where the C function works in place
on its input and the caller's array must not change."""
import numpy as np

C128 = np.dtype(np.complex128)
F64 = np.dtype(np.float64)


def states2d(a, d, name="states"):
    """A batch of states as a (rows, d) complex128 array (a view of `a`), and
    whether `a` was one state (ndim 1)."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype != C128:
        raise ValueError(f"{name}: expected a complex128 array (rows x 2^n amplitudes), got dtype {a.dtype}"
                         " (convert with .astype(np.complex128))")
    if a.ndim == 1:
        a2 = a.reshape(1, -1)
    elif a.ndim == 2:
        a2 = a
    else:
        raise ValueError(f"{name}: expected shape (rows, {d}) or ({d},), got {a.shape}")
    if a2.shape[1] != d:
        raise ValueError(f"{name}: expected shape (rows, {d}) (2^n amplitudes per row), got {a.shape}")
    if a2.shape[0] > 2**31 - 1:
        raise ValueError(f"{name}: {a2.shape[0]} rows, expected fewer than 2^31")
    return a2, a.ndim == 1


def copy_c(a):
    """A C-ordered copy (for the C functions that work in place)."""
    return np.array(a, order="C", copy=True)


def contiguous(a):
    """`a` itself if C-ordered, else a C-ordered copy."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def real_vector(a, shape, name):
    """A float64 C-ordered array of exactly `shape` (a view when `a` already
    is one; integers and float32 are converted)."""
    if a is None:
        if int(np.prod(shape)) == 0:
            return np.zeros(shape, F64)
        raise ValueError(f"{name}: expected an array of shape {shape}, got None")
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected real numbers, got dtype {a.dtype}")
    if a.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {a.shape}")
    if a.dtype != F64:
        a = a.astype(F64)
    return contiguous(a)


def group_index(groups, rows, name="groups"):
    """A (rows,) int32 array of group indices (the C function checks their
    range against the number of groups)."""
    if not isinstance(groups, np.ndarray):
        groups = np.asarray(groups)
    if groups.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected integers, got dtype {groups.dtype}")
    if groups.shape != (rows,):
        raise ValueError(f"{name}: expected shape ({rows},) (one group per row), got {groups.shape}")
    if rows and (groups.min() < -2**31 or groups.max() > 2**31 - 1):
        raise ValueError(f"{name}: index {groups.max()} does not fit a 32-bit int")
    return contiguous(groups.astype(np.int32, copy=False))


def matrix(a, shape, name):
    """A complex128 C-ordered array of `shape` (real input converted)."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype.kind not in "fiuc":
        raise ValueError(f"{name}: expected numbers, got dtype {a.dtype}")
    if a.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {a.shape}")
    return contiguous(a.astype(C128, copy=False))


def out_array(out, shape, name="out"):
    if not isinstance(out, np.ndarray) or out.dtype != C128 or out.shape != tuple(shape) \
            or not out.flags.c_contiguous or not out.flags.writeable:
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"{name}: expected a writeable C-ordered complex128 array of shape {tuple(shape)}, got {got}")
    return out
