#!/usr/bin/env python3
"""The authors' preset of qdm against the authors' model written again, here,
in plain PyTorch from its description (docs/architecture.md, "The authors'
configuration"): the preprocessing (per-image L2 norm, then
F.interpolate(bilinear, align_corners=False) to 16x16), the schedule (their
linspace(1e-4, 0.02, 11) with a 0 prepended), the noising and the posterior
mean target, both renormalised; the model with their layer sizes
(Linear 512-512, ReLU, Linear 512-16, LayerNorm, L2 to a 4-qubit amplitude
state), the circuit gate by gate (Vatan-Williams conv units, H, CZ chain, RX;
block 2 on five qubits with the ancilla, controlled-U2, H, the sum of both
ancilla branches and the ancilla's <Z>; the complex leaky ReLU), the ANO
features, the skip connection and the decoder; the infidelity loss and
torch.autograd for the gradients, torch.optim.Adam for the step.

usage: test_authors_torch.py AUTHORS_EXPORT DIR
AUTHORS_EXPORT (tests/authors_export.c) trains the preset for an epoch and
writes what one step of qdm's training loop saw and computed; this test
reads the checkpoint's weights and Adam moments and that step, and requires
qdm's preprocessing, batch, loss, every gradient and the parameters after
the Adam step to agree to 1e-6 relative (per tensor: the largest difference
over the largest magnitude). Exit 0 on success, 1 on a mismatch, 77 (skip)
without torch."""
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("test_authors_torch: skipped (no torch: apt-get install python3-torch)")
    sys.exit(77)

torch.set_default_dtype(torch.float64)
TOL = 1e-6
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def read_safetensors(path):
    """name -> float64 array, the metadata, and the names in data order."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__", {})
    base, out = 8 + n, {}
    for name, e in head.items():
        assert e["dtype"] == "F64", (name, e["dtype"])
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype="<f8").reshape(e["shape"])
    order = sorted(head, key=lambda k: head[k]["data_offsets"][0])
    return out, meta, order


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(np.abs(b).max(), 1e-300)
    return float(np.abs(a - b).max() / scale)


def cplx(a):
    """rows of (re, im) pairs -> complex"""
    a = a if torch.is_tensor(a) else torch.tensor(a)
    return torch.complex(a[..., 0::2], a[..., 1::2])


# ---------------- the circuit, gate by gate (qubit q = bit q of an index) ----------------

def rot(axis, th):
    """R_P(th) = exp(-i th P / 2) for each row's angle: (B, 2, 2)"""
    c, s = torch.cos(th / 2).to(torch.complex128), torch.sin(th / 2).to(torch.complex128)
    z = torch.zeros_like(c)
    if axis == "x":
        m = [[c, -1j * s], [-1j * s, c]]
    elif axis == "y":
        m = [[c, -s], [s, c]]
    else:
        e = torch.exp(-0.5j * th.to(torch.complex128))
        m = [[e, z], [z, e.conj()]]
    return torch.stack([torch.stack(r, -1) for r in m], -2)


HAD = torch.tensor([[1, 1], [1, -1]], dtype=torch.complex128) / math.sqrt(2)


def apply1(psi, u, q, nq):
    """u (2x2, or B x 2 x 2) on qubit q of rows psi (B x 2^nq)"""
    s = psi.reshape((psi.shape[0],) + (2,) * nq).movedim(nq - q, -1)
    s = s @ u.T if u.dim() == 2 else torch.einsum("b...j,bij->b...i", s, u)
    return s.movedim(-1, nq - q).reshape(psi.shape)


def cnot(psi, c, t, nq):
    idx = torch.arange(2 ** nq)
    src = torch.where((idx >> c) & 1 == 1, idx ^ (1 << t), idx)
    return psi[:, src]


def cz(psi, a, b, nq):
    idx = torch.arange(2 ** nq)
    return psi * torch.where(((idx >> a) & (idx >> b) & 1) == 1, -1.0, 1.0)


def conv_unit(psi, q, r, a, b, c, nq):
    """Vatan-Williams N(a, b, c) on (q, r), their Fig. 6"""
    const = lambda v: torch.full_like(a, v)
    psi = apply1(psi, rot("z", const(math.pi / 2)), r, nq)
    psi = cnot(psi, r, q, nq)
    psi = apply1(psi, rot("z", 2 * c - math.pi / 2), q, nq)
    psi = apply1(psi, rot("y", math.pi / 2 - 2 * a), r, nq)
    psi = cnot(psi, q, r, nq)
    psi = apply1(psi, rot("y", 2 * b - math.pi / 2), r, nq)
    psi = cnot(psi, r, q, nq)
    return apply1(psi, rot("z", const(-math.pi / 2)), q, nq)


def block(psi, th, nq=4, layers=10):
    """one block: per layer conv (0,1), (2,3), (1,2), (3,0); H on all; CZ chain; RX each"""
    for l in range(layers):
        p = th[:, 16 * l:16 * (l + 1)]
        for k, (q, r) in enumerate([(0, 1), (2, 3), (1, 2), (3, 0)]):
            psi = conv_unit(psi, q, r, p[:, 3 * k], p[:, 3 * k + 1], p[:, 3 * k + 2], nq)
        for q in range(4):
            psi = apply1(psi, HAD, q, nq)
        for q in range(3):
            psi = cz(psi, q, q + 1, nq)
        for q in range(4):
            psi = apply1(psi, rot("x", p[:, 12 + q]), q, nq)
    return psi


def unit(z):
    return z / torch.linalg.vector_norm(z, dim=1, keepdim=True)


def clrelu(z, slope=0.01):
    return torch.complex(F.leaky_relu(z.real, slope), F.leaky_relu(z.imag, slope))


def model(W, xin, t, lab, classes=10):
    """the authors' hybrid U-Net on unit rows xin (B x 256 complex)"""
    xr = torch.cat([xin.real, xin.imag], 1)
    h = F.relu(F.linear(xr, W["enc1.weight"], W["enc1.bias"]))
    h = F.linear(h, W["enc2.weight"], W["enc2.bias"])
    h = F.layer_norm(h, (16,), W["enc_ln.weight"], W["enc_ln.bias"], eps=1e-5)
    psi0 = unit(h).to(torch.complex128)
    th = W["circuit.theta"][(t - 1) * classes + lab]  # (B, 3 blocks, 160)
    psi1 = block(psi0, th[:, 0])
    # block 2: psi (x) |+> on the ancilla q4 (the high bit), U2 controlled by
    # it (applied where the ancilla is 1), H on the ancilla
    a0 = psi1 / math.sqrt(2)
    a1 = block(psi1 / math.sqrt(2), th[:, 1])
    s = apply1(torch.cat([a0, a1], 1), HAD, 4, 5)
    s0, s1 = s[:, :16], s[:, 16:]
    z = (s0.abs() ** 2).sum(1) - (s1.abs() ** 2).sum(1)
    psi2 = unit(clrelu(unit(s0 + s1)))  # their "<+| projection": both branches added
    psi3 = block(psi2, th[:, 2])
    M = cplx(W["ano.M"])
    Hk = (M + M.conj().transpose(1, 2)) / 2
    y = torch.einsum("bi,kij,bj->bk", psi3.conj(), Hk, psi3).real
    din = torch.cat([y, z[:, None], xr], 1)
    h = F.relu(F.linear(din, W["dec1.weight"], W["dec1.bias"]))
    h = F.linear(h, W["dec2.weight"], W["dec2.bias"])
    return unit(torch.complex(h[:, :256], h[:, 256:]))


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    subprocess.run([exe, work], check=True)
    ck, ckmeta, order = read_safetensors(os.path.join(work, "run", "checkpoint.safetensors"))
    st, stmeta, _ = read_safetensors(os.path.join(work, "step.safetensors"))
    T, B = 10, st["images"].shape[0]
    rows = B * T

    # preprocessing: per-image L2 norm, then bilinear to 16x16 (align_corners=False)
    img = torch.tensor(st["images"]).reshape(B, 1, 28, 28)
    img = img / torch.linalg.vector_norm(img.reshape(B, -1), dim=1).reshape(B, 1, 1, 1)
    x0 = F.interpolate(img, size=(16, 16), mode="bilinear", align_corners=False).reshape(B, 256)
    q0 = cplx(st["x0"])
    check(rel(x0.numpy(), q0.real.numpy()) < 1e-6 and np.abs(q0.imag.numpy()).max() == 0,
          "x0 = F.interpolate of the L2-normalised image (%.2g; qdm's pixels are float32)" %
          rel(x0.numpy(), q0.real.numpy()))

    # the schedule and the batch: every image at every t, rows i*T + t - 1
    betas = torch.cat([torch.zeros(1), torch.linspace(1e-4, 0.02, 11)])[:T + 1]
    alpha = 1 - betas
    abar = torch.cumprod(alpha, 0)
    check(abs(abar[T].item() - 0.9129) < 5e-5, "alpha_bar_10 = %.4f (docs: 0.9129)" % abar[T].item())
    t = torch.tensor(st["t"]).long()
    lab = torch.tensor(st["label"]).long()
    check(torch.equal(t, torch.arange(rows) % T + 1), "row r is t = r mod T + 1")
    xq = q0[torch.arange(rows) // T]
    eps = cplx(st["eps"])
    ab, ab1 = abar[t][:, None], abar[t - 1][:, None]
    xt = ab.sqrt() * xq + (1 - ab).sqrt() * eps
    mean = (ab1.sqrt() * betas[t][:, None] / (1 - ab)) * xq + (alpha[t].sqrt()[:, None] * (1 - ab1) / (1 - ab)) * xt
    xin, tgt = cplx(st["xin"]), cplx(st["target"])
    check(rel(unit(xt).numpy(), xin.numpy()) < 1e-12, "x_t = sqrt(ab) x0 + sqrt(1 - ab) eps, unit (%.2g)" %
          rel(unit(xt).numpy(), xin.numpy()))
    check(rel(unit(mean).numpy(), tgt.numpy()) < 1e-12, "target = DDPM posterior mean, unit (%.2g)" %
          rel(unit(mean).numpy(), tgt.numpy()))

    # the model, its loss and gradients
    names = [n for n in order if not n.startswith(("optim.", "ema", "history"))]
    W = {n: torch.tensor(ck[n], requires_grad=True) for n in names}
    pred = model(W, xin, t, lab)
    loss = (1 - ((pred.conj() * tgt).sum(1).abs() ** 2)).mean()
    loss.backward()
    ql = float(st["loss"][0])
    check(abs(loss.item() - ql) <= TOL * abs(ql), "loss %.15f, qdm %.15f (%.2g relative)" %
          (loss.item(), ql, abs(loss.item() - ql) / abs(ql)))
    for n in names:
        e = rel(W[n].grad.numpy(), st["grad." + n])
        check(e < TOL, "d loss / d %-14s %s  %.2g" % (n, "x".join(map(str, ck[n].shape)), e))

    # one Adam step from the checkpoint's moments (their flat buffer is the
    # tensors in the checkpoint's order)
    lr = float(stmeta["lr"])
    opt = torch.optim.Adam([W[n] for n in names], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    step, off = float(ckmeta["state.adam_t"]), 0
    for n in names:
        k = W[n].numel()
        opt.state[W[n]] = {"step": torch.tensor(step),
                           "exp_avg": torch.tensor(ck["optim.adam_m"][off:off + k]).reshape(W[n].shape),
                           "exp_avg_sq": torch.tensor(ck["optim.adam_v"][off:off + k]).reshape(W[n].shape)}
        off += k
    check(off == ck["optim.adam_m"].size, "Adam moments cover every parameter (%d)" % off)
    opt.step()
    for n in names:
        moved = np.abs(st["after." + n] - ck[n]).max()
        e = rel(W[n].detach().numpy() - ck[n], st["after." + n] - ck[n]) if moved > 0 else 0.0
        check(e < TOL, "Adam step of %-14s %.2g (moved by up to %.2g)" % (n, e, moved))
    if failures:
        print("test_authors_torch: %d failed" % len(failures))
        return 1
    print("test_authors_torch: all agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
