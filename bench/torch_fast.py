#!/usr/bin/python3
"""torch_fast.py -- the authors' hybrid U-Net (docs/architecture.md, "The authors'
configuration") written in PyTorch for speed, the reference qdm's speed is measured
against; with --qdm, the driver that times it and `qdm bench train` in one invocation.

What "written for speed" means here (none of it is in the authors' code, which applies
PennyLane gates one by one):
  * float32 dense layers (the authors' precision); circuits in complex128, as theirs
    (--circuit-precision c64: the blocks' 4x4s and rows in complex64, the angles, the rows
    between blocks and the ANO in double, as `qdm train --circuit-precision c64`);
  * each conv unit N(a, b, c) (report 4.3, the Vatan-Williams block) is one 4x4 matrix in
    closed form, e^{-i pi/4} exp(-i(a' XX + b' YY + c' ZZ)) with (a', b', c') =
    (-a, -b, c - pi/2) (see qdm_vw_block in include/qdm/circuits.h);
  * each layer's H, CZ chain and RX layer are folded into neighbouring conv units (H and
    CZ(1,2) into the units on (1,2), (3,0); CZ(0,1), CZ(2,3) and RX into the next layer's
    units on (0,1), (2,3)), so a layer is two steps of two 4x4 matrices;
  * these small matrices of all (t, label) groups, blocks and layers are built at once by
    batched torch ops, gathered by each row's group and applied to the rows: per layer two
    pairs of batched 4x4 products (kron(hi, lo) s = hi s lo^T) and two qubit permutations.
    (Multiplying each group's layers out into 16x16 unitaries first costs more here: a
    group holds ~3 rows, so a 16x16 product per layer and group is more arithmetic than
    the rows' 4x4 products.)
  * the ANO observables as one matrix product; Adam with foreach=True; autograd backward.
It trains the same configuration on the same MNIST rows as `qdm train --preset authors`:
the first 8096 images (all ten digits), each divided by its L2 norm and bilinear-resized
to 16x16, every image at all T = 10 steps (320 rows per batch of 32), the authors' linear
schedule, the posterior-mean target, both rows scaled to unit norm, infidelity loss.

Usage:
  /usr/bin/python3 bench/torch_fast.py [--threads N] [--steps N] [--data DIR]
      rows/s of this implementation (median step after warm-up)
  /usr/bin/python3 bench/torch_fast.py --qdm build/qdm [--threads 1,2] [--rounds 3] [--circuit-precision c64]
      the same interleaved with `qdm bench train --precision f32 --json` in rounds, and the
      ratio qdm / torch per thread count (medians over rounds), both at the circuit precision
  /usr/bin/python3 bench/torch_fast.py --check [--qdm build/qdm]
      the fast circuit builder against a gate-by-gate product (and, with --qdm, against
      `qdm circuit --state` for the authors' ansatz); exits 1 on a mismatch
"""
import argparse
import gzip
import json
import math
import os
import statistics
import subprocess
import sys
import time


def same_blas_kernels():
    """Run torch on the OpenBLAS kernels qdm runs on. OpenBLAS 0.3.21 takes
    some CPUs (Sapphire Rapids) for a "Prescott" and the qdm command then
    sets OPENBLAS_CORETYPE (its --version names it); torch loads the same
    OpenBLAS, which reads the variable when it loads, so this precedes the
    imports below."""
    if "--qdm" not in sys.argv or "OPENBLAS_CORETYPE" in os.environ:
        return
    i = sys.argv.index("--qdm")
    if i + 1 < len(sys.argv):
        out = subprocess.run([sys.argv[i + 1], "--version"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("OPENBLAS_CORETYPE="):
                os.environ["OPENBLAS_CORETYPE"] = line.split("=", 1)[1]


same_blas_kernels()
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

N_QUBITS, LAYERS, T_STEPS, CLASSES, K_ANO = 4, 10, 10, 10, 16
DIM = 1 << N_QUBITS
P_LAYER = 16  # 4 conv units x 3 angles + 4 RX angles (qdm_authors)
BLOCKS = 3


# ---------------------------------------------------------------- data (the authors' rows)

def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def find(dirname, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(dirname, name)
        if os.path.exists(p):
            return p
    sys.exit(f"torch_fast.py: no {stem}[.gz] in {dirname} (run scripts/setup.sh, or pass --data)")


def load_images(data, limit):
    """The authors' preprocessing: x / ||x|| on 28x28, then bilinear to 16x16."""
    img = read_idx(find(data, "train-images-idx3-ubyte"))[:limit].astype(np.float32)
    lab = read_idx(find(data, "train-labels-idx1-ubyte"))[:limit].astype(np.int64)
    x = torch.from_numpy(img)
    x = x / x.flatten(1).norm(dim=1).clamp_min(1e-30)[:, None, None]
    x = F.interpolate(x[:, None], size=(16, 16), mode="bilinear", align_corners=False)
    return x.flatten(1), torch.from_numpy(lab)


def schedule():
    """linspace(1e-4, 0.02, T + 1)[t - 1] for t = 1..T; the posterior mean's coefficients."""
    beta = torch.tensor([1e-4 + (t - 1) * (0.02 - 1e-4) / T_STEPS for t in range(1, T_STEPS + 1)], dtype=torch.float64)
    alpha = 1 - beta
    ab = torch.cumprod(alpha, 0)
    abp = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
    c0 = abp.sqrt() * beta / (1 - ab)
    ct = alpha.sqrt() * (1 - abp) / (1 - ab)
    return [v.float() for v in (ab.sqrt(), (1 - ab).sqrt(), c0, ct)]


def make_rows(x0, lab, sch, gen):
    """Every image at every t: x_t = sqrt(ab) x0 + sqrt(1 - ab) eps (complex, Re and Im
    N(0, 1)), target the posterior mean; both scaled to unit norm. Rows as [Re, Im]."""
    sa, s1, c0, ct = sch
    n = x0.shape[0]
    x = x0.repeat_interleave(T_STEPS, 0)  # (n T) x 256, real
    t = torch.arange(T_STEPS).repeat(n)
    eps = torch.randn(n * T_STEPS, 2, 256, generator=gen)
    xt = sa[t, None, None] * torch.stack([x, torch.zeros_like(x)], 1) + s1[t, None, None] * eps
    tg = c0[t, None, None] * torch.stack([x, torch.zeros_like(x)], 1) + ct[t, None, None] * xt
    xt = xt.flatten(1)
    tg = tg.flatten(1)
    xt = xt / xt.norm(dim=1, keepdim=True)
    tg = tg / tg.norm(dim=1, keepdim=True)
    g = t * CLASSES + lab.repeat_interleave(T_STEPS)  # the circuit group (t, label)
    return xt, tg, g


# ---------------------------------------------------------------- the circuits, fast

CIRCUIT_DTYPE = torch.complex128  # of the blocks' 4x4s and rows (--circuit-precision)
_PHASE = complex(math.cos(math.pi / 4), -math.sin(math.pi / 4))  # e^{-i pi/4}


def conv_unit(a, b, c):
    """N(a, b, c) as 4x4 matrices (basis |q1 q0>) for tensors of angles: ... x 4 x 4."""
    al, be, ga = -a, -b, c - math.pi / 2
    one = torch.ones_like(ga)
    em, ep = torch.polar(one, -ga) * _PHASE, torch.polar(one, ga) * _PHASE
    d0, o0 = em * torch.cos(al - be), -1j * em * torch.sin(al - be)
    d1, o1 = ep * torch.cos(al + be), -1j * ep * torch.sin(al + be)
    z = torch.zeros_like(d0)
    return torch.stack([d0, z, z, o0, z, d1, o1, z, z, o1, d1, z, o0, z, z, d0], -1).unflatten(-1, (4, 4))


def rx(t):
    c, s = torch.cos(t / 2).to(torch.complex128), -1j * torch.sin(t / 2).to(torch.complex128)
    return torch.stack([c, s, s, c], -1).unflatten(-1, (2, 2))


def kron(a, b):
    """Batched Kronecker product of the last two dims (a's index is the high one)."""
    n, m = a.shape[-1], b.shape[-1]
    return (a[..., :, None, :, None] * b[..., None, :, None, :]).reshape(*a.shape[:-2], n * m, n * m)


_H2 = kron(*(2 * [torch.tensor([[1, 1], [1, -1]], dtype=torch.complex128) / math.sqrt(2)]))  # H (x) H
_CZ = torch.diag(torch.tensor([1, 1, 1, -1], dtype=torch.complex128))  # CZ on a pair


def small_matrices(theta):
    """theta: (NB, LAYERS * 16) -> the 4x4 matrices of every block's layers, all at once, with
    the fixed gates folded in. A layer is conv (0,1), (2,3); conv (1,2), (3,0); H on all; CZ
    (0,1), (1,2), (2,3); RX on all. H and CZ(1,2) act within the pairs (1,2), (3,0), so they
    join those conv units; CZ(0,1), CZ(2,3) and the RX layer act within (0,1), (2,3), so they
    join the next layer's first conv units (after the last layer, a last pair step of their
    own). Those applied from the right are stored transposed. Each: NB x L x 4 x 4."""
    nb = theta.shape[0]
    th = theta.view(nb, LAYERS, P_LAYER)
    cv = [conv_unit(th[..., 3 * u], th[..., 3 * u + 1], th[..., 3 * u + 2]) for u in range(4)]
    r = [rx(th[..., 12 + q]) for q in range(4)]
    post01, post23 = kron(r[1], r[0]) @ _CZ, kron(r[3], r[2]) @ _CZ  # CZ, then RX, on (0,1) and (2,3)
    eye = torch.eye(4, dtype=torch.complex128).expand(nb, 1, 4, 4)
    c01 = cv[0] @ torch.cat([eye, post01[:, :-1]], 1)
    c23 = cv[1] @ torch.cat([eye, post23[:, :-1]], 1)
    c12, c30 = _CZ @ _H2 @ cv[2], _H2 @ cv[3]
    t = lambda x: x.transpose(-1, -2)
    # layer-major (L x NB x 4 x 4), so that a layer's matrices of the gathered rows are contiguous
    return [x.transpose(0, 1).contiguous() for x in (t(c01), c23, t(c12), c30, t(post01[:, -1:]), post23[:, -1:])]


def pair_apply(s, lo_t, hi):
    """kron(hi, lo) applied to rows s (R x 16, index = 4 * high pair + low pair): hi s lo^T."""
    return hi @ (s @ lo_t)


def apply_block(mats, s):
    """One block on rows s (R x 16), mats: small_matrices gathered for the rows (L x R x 4 x 4).
    The state is kept as R x 4 x 4 (high pair, low pair); the qubit order switches between
    (q3 q2)(q1 q0) and (q0 q3)(q2 q1) so that each layer's second pairs are the halves."""
    c01, c23, c12, c30, p01, p23 = [m.unbind(0) for m in mats]
    s = s.view(-1, 4, 4)
    for l in range(LAYERS):
        s = pair_apply(s, c01[l], c23[l]).view(-1, 2, 2, 2, 2).permute(0, 4, 1, 2, 3).reshape(-1, 4, 4)
        s = pair_apply(s, c12[l], c30[l]).view(-1, 2, 2, 2, 2).permute(0, 2, 3, 4, 1).reshape(-1, 4, 4)
    return pair_apply(s, p01[0], p23[0]).reshape(-1, DIM)


def unitaries(theta):
    """The blocks' 16x16 unitaries (NB x 16 x 16): the columns are the blocks applied to the basis."""
    nb = theta.shape[0]
    mats = small_matrices(theta)
    eye = torch.eye(DIM, dtype=torch.complex128)
    rows = apply_block([m.repeat_interleave(DIM, 1) for m in mats], eye.repeat(nb, 1))
    return rows.view(nb, DIM, DIM).transpose(1, 2)


def unitaries_gate_by_gate(theta):
    """The same unitaries as a product of every gate's 16x16 matrix (the slow reference)."""
    eye2 = torch.eye(2, dtype=torch.complex128)

    def full(q, g):  # one-qubit gate g on qubit q
        out = torch.ones(1, 1, dtype=torch.complex128)
        for p in range(N_QUBITS - 1, -1, -1):
            out = kron(out, g if p == q else eye2)
        return out

    def cnot(c, t):
        m = torch.zeros(DIM, DIM, dtype=torch.complex128)
        for i in range(DIM):
            m[i ^ (1 << t) if (i >> c) & 1 else i, i] = 1
        return m

    def rz(t):
        return torch.diag(torch.tensor([complex(math.cos(t / 2), -math.sin(t / 2)), complex(math.cos(t / 2), math.sin(t / 2))],
                                       dtype=torch.complex128))

    def ry(t):
        c, s = math.cos(t / 2), math.sin(t / 2)
        return torch.tensor([[c, -s], [s, c]], dtype=torch.complex128)

    us = []
    for row in theta:
        u = torch.eye(DIM, dtype=torch.complex128)
        for l in range(LAYERS):
            p = row[l * P_LAYER:(l + 1) * P_LAYER].tolist()
            for k, (q0, q1) in enumerate([(0, 1), (2, 3), (1, 2), (3, 0)]):
                a, b, c = p[3 * k:3 * k + 3]
                for g in [full(q1, rz(math.pi / 2)), cnot(q1, q0), full(q0, rz(2 * c - math.pi / 2)),
                          full(q1, ry(math.pi / 2 - 2 * a)), cnot(q0, q1), full(q1, ry(2 * b - math.pi / 2)),
                          cnot(q1, q0), full(q0, rz(-math.pi / 2))]:
                    u = g @ u
            for q in range(N_QUBITS):
                u = full(q, torch.tensor([[1, 1], [1, -1]], dtype=torch.complex128) / math.sqrt(2)) @ u
            for q in range(N_QUBITS - 1):
                u = torch.diag(torch.tensor([-1.0 if (i >> q) & (i >> (q + 1)) & 1 else 1.0 for i in range(DIM)],
                                            dtype=torch.complex128)) @ u
            for q in range(N_QUBITS):
                u = full(q, rx(torch.tensor(p[12 + q], dtype=torch.float64))) @ u
        us.append(u)
    return torch.stack(us)


# ---------------------------------------------------------------- the model

class HybridUNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        d2 = 512
        self.enc1, self.enc2 = torch.nn.Linear(d2, 512), torch.nn.Linear(512, DIM)
        self.ln = torch.nn.LayerNorm(DIM)
        # dec1 on [features, x_t] as two Linears: autograd then forms no
        # gradient for x_t's 512 columns (qdm skips them likewise)
        self.dec1f, self.dec1s = torch.nn.Linear(K_ANO + 1, 512), torch.nn.Linear(d2, 512, bias=False)
        self.dec2 = torch.nn.Linear(512, d2)
        groups = T_STEPS * CLASSES
        self.theta = torch.nn.Parameter(torch.rand(groups * BLOCKS, LAYERS * P_LAYER, dtype=torch.float64) * 2 * math.pi)
        self.ano = torch.nn.Parameter(torch.randn(K_ANO, DIM, DIM, 2, dtype=torch.float64) / math.sqrt(DIM))

    def forward(self, xr, g):
        amp = F.normalize(self.ln(self.enc2(F.relu(self.enc1(xr)))), dim=1)
        psi = amp.to(torch.complex128)
        mats = [m.to(CIRCUIT_DTYPE).view(m.shape[0], -1, BLOCKS, 4, 4) for m in small_matrices(self.theta)]
        # each row its group's; in and out of a block in complex128 (no-ops unless c64)
        block = lambda k, s: apply_block([m[:, :, k][:, g] for m in mats], s.to(CIRCUIT_DTYPE)).to(torch.complex128)
        psi1 = block(0, psi)
        phi = block(1, psi1)  # block 2: the ancilla's |0> branch (I + U) psi / 2, <Z> = Re <psi|U|psi>
        z = (psi1.conj() * phi).sum(1).real
        beta = F.normalize(0.5 * (psi1 + phi), dim=1)
        gam = torch.complex(F.leaky_relu(beta.real, 0.01), F.leaky_relu(beta.imag, 0.01))
        psi3 = block(2, F.normalize(gam, dim=1))
        m = torch.view_as_complex(self.ano)
        h = 0.5 * (m + m.conj().transpose(1, 2))  # y_k = <psi|H_k|psi>, all K at once
        y = ((psi3 @ h.transpose(1, 2).reshape(DIM, -1)).view(-1, K_ANO, DIM) * psi3.conj()[:, None, :]).sum(-1).real
        feat = torch.cat([y, z[:, None]], 1).float()
        out = self.dec2(F.relu(self.dec1f(feat) + self.dec1s(xr)))
        return F.normalize(out, dim=1)  # [Re, Im] of the unit prediction


def infidelity(pred, tgt):
    pr, pi, tr, ti = pred[:, :256], pred[:, 256:], tgt[:, :256], tgt[:, 256:]
    re = (pr * tr + pi * ti).sum(1)
    im = (pr * ti - pi * tr).sum(1)
    return (1 - re * re - im * im).mean()


# ---------------------------------------------------------------- timing

def rows_per_s(args, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x0, lab = load_images(args.data, 8096)
    sch = schedule()
    gen = torch.Generator().manual_seed(2)
    model = HybridUNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    nb = x0.shape[0] // 32
    times = []
    for s in range(args.steps + 1):
        b = s % nb
        t0 = time.perf_counter()
        xt, tg, g = make_rows(x0[32 * b:32 * b + 32], lab[32 * b:32 * b + 32], sch, gen)
        loss = infidelity(model(xt, g), tg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if s:  # the first step warms up
            times.append(time.perf_counter() - t0)
    return 320 / statistics.median(times), float(loss)


def qdm_rows_per_s(args, threads):
    out = subprocess.run([args.qdm, "bench", "train", "--json", "--precision", "f32", "--threads", str(threads),
                          "--circuit-precision", args.circuit_precision, "--steps", str(args.steps)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["runs"][0]["rows_per_s"]


def compare(args, thread_list):
    core = os.environ.get("OPENBLAS_CORETYPE", "as OpenBLAS detects")
    print(f"torch {torch.__version__} (same OpenBLAS as qdm, kernels: {core}), qdm: {args.qdm}; {args.steps} steps per run, "
          f"{args.rounds} interleaved rounds; load average {os.getloadavg()[0]:.2f}")
    for th in thread_list:
        q, t = [], []
        for _ in range(args.rounds):
            t.append(rows_per_s(args, th)[0])
            q.append(qdm_rows_per_s(args, th))
        mq, mt = statistics.median(q), statistics.median(t)
        print(f"threads {th}: qdm (f32, {args.circuit_precision}) {mq:8.0f} rows/s   torch fast {mt:8.0f} rows/s   qdm / torch = {mq / mt:.2f}x"
              f"   (rounds: qdm {', '.join(f'{v:.0f}' for v in q)}; torch {', '.join(f'{v:.0f}' for v in t)})")


# ---------------------------------------------------------------- checks

def check(args):
    torch.manual_seed(5)
    theta = torch.rand(3, LAYERS * P_LAYER, dtype=torch.float64) * 2 * math.pi
    fast, slow = unitaries(theta), unitaries_gate_by_gate(theta)
    err = (fast - slow).abs().max().item()
    unit = (fast @ fast.conj().transpose(1, 2) - torch.eye(DIM)).abs().max().item()
    ok = err < 1e-12 and unit < 1e-12
    print(f"fast path (4x4 matrices on rows) vs gate by gate: max |diff| {err:.2e}, unitarity {unit:.2e}: "
          f"{'ok' if ok else 'MISMATCH'}")
    if args.qdm:
        params = ",".join(f"{v:.17g}" for v in theta[0].tolist())
        out = subprocess.run([args.qdm, "circuit", "--ansatz", "authors", "--qubits", "4", "--layers", str(LAYERS),
                              "--params", params, "--state"], check=True, capture_output=True, text=True).stdout
        state = torch.tensor(json.loads(out)["state"], dtype=torch.float64)
        want = torch.complex(state[:, 0], state[:, 1])
        d = (fast[0, :, 0] - want).abs().max().item()  # U |0000> is the first column
        print(f"fast builder vs qdm circuit --state (authors, 10 layers): max |diff| {d:.2e}: "
              f"{'ok' if d < 1e-12 else 'MISMATCH'}")
        ok = ok and d < 1e-12
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist"))
    ap.add_argument("--threads", default="1")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--qdm", help="the qdm binary: run `qdm bench train` interleaved and print the ratio")
    ap.add_argument("--check", action="store_true", help="check the fast circuit builder and exit")
    ap.add_argument("--circuit-precision", choices=["c128", "c64"], default="c128",
                    help="the circuit blocks' complex precision, for both implementations")
    args = ap.parse_args()
    global CIRCUIT_DTYPE
    CIRCUIT_DTYPE = torch.complex64 if args.circuit_precision == "c64" else torch.complex128
    if args.check:
        return check(args)
    threads = [int(v) for v in args.threads.split(",")]
    if args.qdm:
        compare(args, threads)
        return 0
    for th in threads:
        r, loss = rows_per_s(args, th)
        print(f"threads {th}: torch fast {r:.0f} rows/s (loss of the last step {loss:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
