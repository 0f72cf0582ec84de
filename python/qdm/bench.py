"""python3 -m qdm.bench: the report's quantum bottleneck, forward + backward,
through qdm.torch.QuantumLayer and through the same circuit written gate by
gate in plain PyTorch (autograd for the backward), in one process.

The workload (report section 6.4, the authors' configuration): 4 qubits,
three blocks of the authors' ansatz with 10 layers each, 16 ANO observables
on the whole register, a batch of 320 rows (32 images x 10 diffusion steps)
whose circuit parameters are a table indexed by (t, label): 100 groups. In
the model the second block is the ancilla block; here the three blocks are
plain blocks in sequence (the same gates and parameter count per block).
Both paths compute the loss sum(w * y) and its gradients w.r.t. the input
states, the (100, 480) parameter table and the ANO matrices; the figures
are rows per second of forward + backward, and the ratio of the two rates.
"""
import argparse
import json
import math
import time

import numpy as np
import torch

import qdm
import qdm.torch as qt

_FIXED = {
    "I": [[1, 0], [0, 1]], "X": [[0, 1], [1, 0]], "Y": [[0, -1j], [1j, 0]], "Z": [[1, 0], [0, -1]],
    "H": [[1 / math.sqrt(2), 1 / math.sqrt(2)], [1 / math.sqrt(2), -1 / math.sqrt(2)]],
    "S": [[1, 0], [0, 1j]], "SDG": [[1, 0], [0, -1j]],
    "T": [[1, 0], [0, np.exp(1j * np.pi / 4)]], "TDG": [[1, 0], [0, np.exp(-1j * np.pi / 4)]],
    "SX": [[(1 + 1j) / 2, (1 - 1j) / 2], [(1 - 1j) / 2, (1 + 1j) / 2]],
}


def _trainable_matrices(gates, theta_rows):
    """The 2x2 matrices of every trainable gate for every row at once,
    (B, J, 2, 2), from one cos and one sin of all their half-angles."""
    tr = [g for g in gates if g.angles and not isinstance(g.angles[0], float)]
    if not tr:
        return None
    for g in tr:
        if g.name not in ("RX", "RY", "RZ") or len(g.angles) != 1:
            raise NotImplementedError(f"plain torch path: trainable gate {g.name}")
    src = torch.tensor([g.angles[0].index for g in tr])
    scale = torch.tensor([g.angles[0].scale for g in tr], dtype=torch.float64)
    shift = torch.tensor([g.angles[0].shift for g in tr], dtype=torch.float64)
    half = (theta_rows[:, src] * scale + shift) / 2
    c, s = torch.cos(half).to(torch.complex128), torch.sin(half).to(torch.complex128)
    kind = [g.name for g in tr]
    rx = torch.tensor([k == "RX" for k in kind])
    ry = torch.tensor([k == "RY" for k in kind])
    rz = torch.tensor([k == "RZ" for k in kind])
    zero = torch.zeros_like(c)
    m00 = torch.where(rz, c - 1j * s, c)
    m11 = torch.where(rz, c + 1j * s, c)
    m01 = torch.where(rx, -1j * s, torch.where(ry, -s, zero))
    m10 = torch.where(rx, -1j * s, torch.where(ry, s, zero))
    return torch.stack([torch.stack([m00, m01], -1), torch.stack([m10, m11], -1)], -2)


def _apply1(psi, n, q, M):
    """M (2, 2) or (B, 2, 2) on qubit q of psi (B, ..., 2^n) viewed as
    (B, 2^(n-1-q), 2, 2^q): qubit 0 is the least significant bit."""
    shp = psi.shape
    p = psi.reshape(shp[:-1] + (1 << (n - 1 - q), 2, 1 << q))
    Mb = M if M.dim() == 2 else M.reshape((M.shape[0],) + (1,) * (p.dim() - 3) + (2, 2))
    return (Mb @ p).reshape(shp)


def torch_circuit(gates, n, psi, theta_rows):
    """The circuit gate by gate in plain torch: psi (B, 2^n) complex128.
    The trainable gates' matrices are built for all gates and rows in one
    go; each gate is then one matmul on a view of the state, and a control
    restricts it to the half of the state where the control is 1."""
    B, d = psi.shape
    Ms = _trainable_matrices(gates, theta_rows)
    Ms = Ms.unbind(1) if Ms is not None else ()  # one view per gate (its backward is one stack)
    j = 0
    for g in gates:
        if len(g.targets) != 1 or len(g.controls) > 1:
            raise NotImplementedError(f"plain torch path: gate {g.name} on {g.targets}, controls {g.controls}")
        if g.angles and not isinstance(g.angles[0], float):
            M = Ms[j]
            j += 1
        elif g.name in _FIXED:
            M = torch.tensor(_FIXED[g.name], dtype=torch.complex128)
        else:  # a fixed rotation
            a = g.angles[0]
            c, s = math.cos(a / 2), math.sin(a / 2)
            M = torch.tensor({"RX": [[c, -1j * s], [-1j * s, c]], "RY": [[c, -s], [s, c]],
                              "RZ": [[c - 1j * s, 0], [0, c + 1j * s]]}[g.name], dtype=torch.complex128)
        t = g.targets[0]
        if not g.controls:
            psi = _apply1(psi, n, t, M)
            continue
        (cq,) = g.controls
        halves = psi.reshape(B, 1 << (n - 1 - cq), 2, 1 << cq)  # the control's bit is axis 2
        p0, p1 = halves[:, :, 0], halves[:, :, 1]                 # each (B, 2^(n-1-cq), 2^cq)
        # in a half, the target is qubit t (t < cq) or t - 1 (t > cq) of an (n-1)-qubit state
        tt = t if t < cq else t - 1
        p1 = _apply1(p1.reshape(B, d // 2), n - 1, tt, M).reshape(p0.shape)
        psi = torch.stack([p0, p1], 2).reshape(B, d)
    return psi


def plain_forward(gates, n, x, theta, groups, M):
    psi = torch_circuit(gates, n, x.to(torch.complex128), theta[groups])
    Mc = torch.view_as_complex(M)
    H = 0.5 * (Mc + Mc.conj().transpose(-1, -2))
    return torch.einsum("bi,kij,bj->bk", psi.conj(), H, psi).real


def workload(rows, G, classes, T, seed):
    """Rows of 32 images x T steps with a label each: group (t - 1) * classes + label."""
    rng = np.random.default_rng(seed)
    images = rows // T
    labels = np.repeat(rng.integers(0, classes, images), T)
    t = np.tile(np.arange(1, T + 1), images)
    return torch.as_tensor((t - 1) * classes + labels) % G


def timed(fn, repeat):
    """Medians of the wall-clock and the process CPU seconds of one call.
    On a shared machine the CPU time of a one-thread run is the steadier
    figure (it does not count time spent waiting for a core)."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def bench_once(a, threads):
    qdm.set_threads(threads)
    torch.set_num_threads(threads)
    torch.manual_seed(a.seed)
    c = qdm.Circuit(a.qubits)
    for _ in range(a.blocks):
        c.add_ansatz(a.ansatz, a.layers)
    layer = qt.QuantumLayer(c, ano=a.ano, groups=a.groups, dtype=torch.float64)
    x = torch.randn(a.rows, c.dim, dtype=torch.float64)
    x = (x / x.norm(dim=1, keepdim=True)).requires_grad_()
    g = workload(a.rows, a.groups, 10, 10, a.seed)
    w = torch.randn(a.rows, a.ano, dtype=torch.float64)
    gates = c.gates()

    def step(forward):
        for p in (x, layer.theta, layer.M):
            p.grad = None
        y = forward()
        (y * w).sum().backward()
        return y.detach(), x.grad.clone(), layer.theta.grad.clone(), layer.M.grad.clone()

    run_qdm = lambda: step(lambda: layer(x, groups=g))
    run_torch = lambda: step(lambda: plain_forward(gates, a.qubits, x, layer.theta, g, layer.M))
    # the two paths must agree before their speeds mean anything
    diff = max((u - v).abs().max().item() for u, v in zip(run_qdm(), run_torch()))
    (tq, cq), (tt, ct) = timed(run_qdm, a.repeat), timed(run_torch, a.repeat)
    return {
        "workload": {"qubits": a.qubits, "ansatz": a.ansatz, "blocks": a.blocks, "layers": a.layers,
                     "gates": len(c), "params_per_group": c.n_params, "groups": a.groups, "rows": a.rows,
                     "ano": a.ano},
        "threads": threads, "qdm_seconds": tq, "torch_seconds": tt,
        "qdm_rows_per_s": a.rows / tq, "torch_rows_per_s": a.rows / tt, "ratio": tt / tq,
        "qdm_cpu_seconds": cq, "torch_cpu_seconds": ct, "cpu_ratio": ct / cq,
        "max_abs_diff": diff,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m qdm.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--qubits", type=int, default=4)
    ap.add_argument("--layers", type=int, default=10, help="layers per block (10)")
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--ansatz", default="authors")
    ap.add_argument("--ano", type=int, default=16, help="ANO observables K (16)")
    ap.add_argument("--rows", type=int, default=320)
    ap.add_argument("--groups", type=int, default=100, help="(t, label) groups (100 = 10 steps x 10 labels)")
    ap.add_argument("--repeat", type=int, default=10, help="timed repetitions of each path (median)")
    ap.add_argument("--threads", default="1", help="threads for qdm and for torch alike; a list runs each (1,2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object per thread count")
    a = ap.parse_args(argv)
    try:
        threads = [int(t) for t in a.threads.split(",")]
    except ValueError:
        ap.error(f"--threads {a.threads}: expected a number or a list like 1,2")
    results = []
    for i, t in enumerate(threads):
        res = bench_once(a, t)
        results.append(res)
        if a.json:
            print(json.dumps(res))
            continue
        w = res["workload"]
        if i == 0:
            print(f"quantum bottleneck, forward + backward: {w['qubits']} qubits, {a.blocks} x {a.layers} layers of "
                  f"'{a.ansatz}' ({w['gates']} gates), {a.ano} ANO observables, {a.rows} rows in {a.groups} groups")
        print(f"  {t} thread(s): qdm.torch.QuantumLayer {res['qdm_seconds'] * 1e3:8.2f} ms ({res['qdm_rows_per_s']:7.0f} rows/s)"
              f"   plain torch gate by gate {res['torch_seconds'] * 1e3:8.2f} ms ({res['torch_rows_per_s']:5.0f} rows/s)"
              f"   ratio {res['ratio']:5.1f}x   (CPU time: {res['qdm_cpu_seconds'] * 1e3:.2f} vs "
              f"{res['torch_cpu_seconds'] * 1e3:.2f} ms, {res['cpu_ratio']:.1f}x; agree to {res['max_abs_diff']:.1e})")
    return results


if __name__ == "__main__":
    main()
