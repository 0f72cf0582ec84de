"""Trained models: a checkpoint of `qdm train` loaded from Python, and
images sampled from it by the same code path as `qdm sample` (so a seed
gives the CLI's images exactly)."""
import ctypes
import os
import struct
import tempfile
from ctypes import byref, c_void_p

import numpy as np

from qdm._lib import SampleOpts, enum_table, errmsg, error, lib


def _path_arg(p, name, size=1024):
    b = os.fsencode(p)
    if len(b) >= size or b"\0" in b:
        raise ValueError(f"{name}: path {p!r} is longer than {size - 1} bytes or contains NUL")
    return b


def _number(v):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def read_idx(path):
    """An IDX file (plain, not gzip) as a numpy uint8 array of its shape."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 8:
        raise OSError(f"{path}: not an unsigned-byte IDX file")
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    a = np.frombuffer(data, np.uint8, offset=4 + 4 * nd)
    if a.size != int(np.prod(dims)):
        raise OSError(f"{path}: IDX header says {dims}, holds {a.size} bytes")
    return a.reshape(dims)


class Model:
    """A checkpoint of `qdm train` (checkpoint.safetensors or
    best.safetensors). .settings holds the run's settings (the keys of
    config.json: T, classes, qubits, ansatz, sampler, ...); .sample draws
    images from it."""

    def __init__(self, path):
        if ctypes.sizeof(SampleOpts) != lib.qdm_sample_opts_size():
            raise ImportError("qdm: libqdm.so and this package disagree on qdm_sample_opts: "
                              "they are from different versions of qdm")
        self.path = os.fspath(path)
        buf = ctypes.create_string_buffer(lib.qdm_train_opts_size())
        m = c_void_p()
        rc = lib.qdm_checkpoint_load(_path_arg(self.path, "checkpoint"), 64, buf, byref(m))
        if rc:
            e = error(rc)
            raise OSError(str(e)) if isinstance(e, ValueError) else e
        lib.qdm_unet_free(m)  # sampling reloads it, as `qdm sample` does
        self.settings = {}
        key, val = ctypes.c_char_p(), ctypes.create_string_buffer(2048)
        i = 0
        while lib.qdm_train_opts_get(buf, i, byref(key), val, len(val)):
            self.settings[key.value.decode()] = _number(val.value.decode())
            i += 1

    @property
    def classes(self):
        return int(self.settings.get("classes", 1))

    def sample(self, n=8, labels=None, sampler=None, seed=1, steps=None, eta=None, ema=False, shots=None,
               noise=None, clip=None):
        """n images per label as uint8 (0..255, each image scaled to its
        maximum as `qdm sample` does): shape (L, n, side, side), side =
        sqrt(pixels) (16), where row i holds label sorted(set(labels))[i]
        (labels default: the labels the model was trained on; one it never
        saw raises ValueError; an unconditional model takes none and gives
        one row). sampler: mean, ddpm, ddim, sde or ode (default the
        run's); steps / eta: DDIM's subsequence length and eta; ema: must be
        False (a run trained with --ema keeps its EMA weights as
        best.safetensors: load that file); clip: clamp each step's predicted x0 to the
        images' range (None: as trained); shots / noise: read the circuit out with N
        shots, or under a noise channel ("depolarizing:0.01"). The same
        arguments and seed give the same images (and the CLI's)."""
        so = SampleOpts()
        lib.qdm_sample_opts_default(byref(so))
        so.checkpoint = _path_arg(self.path, "checkpoint")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise ValueError(f"n: expected an integer number of images per label, got {n!r}")
        so.n = int(n)
        if labels is not None:
            labs = [int(v) for v in np.atleast_1d(labels)]
            bad = [v for v in labs if not 0 <= v < self.classes]
            if bad or not labs:
                raise ValueError(f"labels: {bad or labs} out of range 0..{self.classes - 1} "
                                 f"(the model has {self.classes} classes)")
            so.labels = ",".join(map(str, sorted(set(labs)))).encode()
        if sampler is not None:
            k = lib.qdm_enum_parse(enum_table("qdm_sampler_names"), b"sampler", str(sampler).encode())
            if k < 0:
                raise ValueError(errmsg())
            so.sampler = k
        if steps is not None:
            so.sample_steps = int(steps)
        if eta is not None:
            so.eta = float(eta)
        so.seed = int(seed) & (2**64 - 1)
        so.use_ema = 1 if ema else 0
        if clip is not None:
            so.clip = 1 if clip else 0
        if shots is not None:
            so.shots = int(shots) if shots > 0 else -1
        if noise is not None:
            so.noise = str(noise).encode()[:31]
        with tempfile.TemporaryDirectory(prefix="qdm-sample-") as d:
            so.idx = _path_arg(os.path.join(d, "images-idx3-ubyte"), "idx")
            rc = lib.qdm_sample_run(byref(so))
            if rc:
                raise error(rc)
            img = read_idx(so.idx.decode())
        return img.reshape(len(img) // so.n, so.n, img.shape[1], img.shape[2])

    def __repr__(self):
        s = self.settings
        return (f"qdm.Model({self.path!r}: {s.get('qubits')} qubits, ansatz {s.get('ansatz')}, T {s.get('T')}, "
                f"{self.classes} classes)")


def load(path):
    """A trained model from a checkpoint of `qdm train`; a missing or
    malformed file raises OSError naming it."""
    return Model(path)
