"""The files of a training run (`qdm train --out DIR`) as Python structures:
metrics.csv (one row per epoch) as numpy columns, summary.json and
config.json as dicts. A file that is missing or malformed raises OSError
naming it."""
import csv
import json
import os

import numpy as np


def _file(path, name):
    """`path` itself if it is a file, else path/name."""
    return os.path.join(path, name) if os.path.isdir(path) else path


def read_metrics(path):
    """metrics.csv of a run (the file, or the run directory) as a dict of
    numpy arrays, one per column in file order: epoch (int64), loss,
    infidelity, lr, seconds (float64) for qdm's runs."""
    p = _file(path, "metrics.csv")
    try:
        with open(p, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise OSError(e.errno, f"metrics: cannot read {p}: {e.strerror}", p) from None
    if not rows or not rows[0]:
        raise OSError(f"metrics: {p}: empty, expected a header line (epoch,loss,...)")
    head = [h.strip() for h in rows[0]]
    cols = [[] for _ in head]
    for ln, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(head):
            raise OSError(f"metrics: {p}: line {ln} has {len(row)} fields, expected {len(head)} ({','.join(head)})")
        for j, v in enumerate(row):
            try:
                cols[j].append(float(v))
            except ValueError:
                raise OSError(f"metrics: {p}: line {ln}, column '{head[j]}': '{v}' is not a number") from None
    out = {}
    for h, c in zip(head, cols):
        a = np.array(c, dtype=np.float64)
        out[h] = a.astype(np.int64) if h == "epoch" and np.all(a == np.round(a)) else a
    return out


def _json(path, name, what):
    p = _file(path, name)
    try:
        with open(p) as f:
            return json.load(f)
    except OSError as e:
        raise OSError(e.errno, f"{what}: cannot read {p}: {e.strerror}", p) from None
    except json.JSONDecodeError as e:
        raise OSError(f"{what}: {p}: not valid JSON ({e.msg} at line {e.lineno})") from None


def read_summary(path):
    """summary.json of a run as a dict (JSON null, e.g. a loss never
    measured, is None)."""
    return _json(path, "summary.json", "summary")


def read_config(path):
    """config.json of a run (the options it was trained with) as a dict."""
    return _json(path, "config.json", "config")


class Run:
    """A run directory: .metrics, .summary, .config (read when first used;
    a missing summary or config raises OSError then)."""

    def __init__(self, path):
        if not os.path.isdir(path):
            raise OSError(f"run: {path} is not a directory (expected the --out DIR of qdm train)")
        self.path = path
        self._cache = {}

    def _get(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn(self.path)
        return self._cache[key]

    @property
    def metrics(self):
        return self._get("metrics", read_metrics)

    @property
    def summary(self):
        return self._get("summary", read_summary)

    @property
    def config(self):
        return self._get("config", read_config)

    def file(self, name):
        """The path of one of the run's files (checkpoint.safetensors, samples.png, ...)."""
        p = os.path.join(self.path, name)
        if not os.path.exists(p):
            raise OSError(f"run: {p} does not exist")
        return p

    def __repr__(self):
        return f"qdm.Run({self.path!r})"
