/* ansatz.c -- the ansatz library of report section 4: hardware-efficient
 * (HEA) and Hamiltonian-variational (HVA) layers (4.1), QCNN and MERA
 * (4.2), the Vatan-Williams block and its brick layers (4.3), phase mixing
 * (4.4, eq. 20), their combination (the report's ansatz) and the authors'
 * code form (docs/architecture.md). The 19 circuits of Sim et al. live in
 * sim.c. Builders only append gates; see include/qdm/circuits.h for the
 * parameter-offset and return conventions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/circuits.h"

/* Builders return counts >= 0 and negative statuses; engine calls return
 * positive statuses. */
#define TRY(x) do { int e_ = (x); if (e_) return -e_; } while (0)
#define TRYN(x) do { int e_ = (x); if (e_ < 0) return e_; } while (0)

static int ans_check(const qdm_circuit *c, int layers, int param_offset, int min_n, const char *who) {
  if (!c) return -qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  if (c->n < min_n) return -qdm_fail(QDM_EINVAL, "%s: needs at least %d qubits, circuit has %d", who, min_n, c->n);
  if (layers < 0) return -qdm_fail(QDM_EINVAL, "%s: layers = %d, expected >= 0", who, layers);
  if (param_offset < 0) return -qdm_fail(QDM_EINVAL, "%s: param_offset = %d, expected >= 0", who, param_offset);
  return 0;
}

/* ---- two-qubit blocks ---- */

/* Vatan & Williams, Phys. Rev. A 69, 032315 (2004), Fig. 6, in the report's
 * Fig. 1 form; the angles are affine in the parameters, e.g. RZ(2c - pi/2).
 * Its unitary is exp(-i(-a XX - b YY + (c - pi/2) ZZ)) up to global phase
 * (circuits.h; test in tests/test_circuits.c). */
int qdm_vw_block(qdm_circuit *c, int q0, int q1, int p) {
  if (!c) return -qdm_fail(QDM_EINVAL, "qdm_vw_block: circuit is NULL");
  if (p < 0) return -qdm_fail(QDM_EINVAL, "qdm_vw_block: param_offset = %d, expected >= 0", p);
  TRY(qdm_addr(c, QDM_GRZ, q1, qdm_fixed(M_PI / 2)));
  TRY(qdm_cnot(c, q1, q0));
  TRY(qdm_addr(c, QDM_GRZ, q0, qdm_par_affine(p + 2, 2, -M_PI / 2)));
  TRY(qdm_addr(c, QDM_GRY, q1, qdm_par_affine(p + 0, -2, M_PI / 2)));
  TRY(qdm_cnot(c, q0, q1));
  TRY(qdm_addr(c, QDM_GRY, q1, qdm_par_affine(p + 1, 2, -M_PI / 2)));
  TRY(qdm_cnot(c, q1, q0));
  TRY(qdm_addr(c, QDM_GRZ, q0, qdm_fixed(-M_PI / 2)));
  return 3;
}

/* N(a, b, c) alone maps |00> into span{|00>, |11>} (it is Bell-diagonal), so
 * tree networks that start from |0...0> need local rotations in front. */
int qdm_block5(qdm_circuit *c, int q0, int q1, int p) {
  if (!c) return -qdm_fail(QDM_EINVAL, "qdm_block5: circuit is NULL");
  if (p < 0) return -qdm_fail(QDM_EINVAL, "qdm_block5: param_offset = %d, expected >= 0", p);
  TRY(qdm_addr(c, QDM_GRY, q0, qdm_par(p)));
  TRY(qdm_addr(c, QDM_GRY, q1, qdm_par(p + 1)));
  int r = qdm_vw_block(c, q0, q1, p + 2);
  return r < 0 ? r : 5;
}

/* ---- 4.1: HEA and HVA ---- */

/* Kandala et al. style: RY and RZ on every qubit, then a CNOT chain
 * (q, q+1), optionally closed by (n-1, 0). Parameters per layer: 2n,
 * ordered [RY q0..q_{n-1}, RZ q0..q_{n-1}]. */
int qdm_hea(qdm_circuit *c, int layers, int param_offset, int ring) {
  int e = ans_check(c, layers, param_offset, 1, "qdm_hea");
  if (e) return e;
  int n = c->n, p = param_offset;
  for (int l = 0; l < layers; l++) {
    for (int q = 0; q < n; q++) TRY(qdm_addr(c, QDM_GRY, q, qdm_par(p++)));
    for (int q = 0; q < n; q++) TRY(qdm_addr(c, QDM_GRZ, q, qdm_par(p++)));
    for (int q = 0; q + 1 < n; q++) TRY(qdm_cnot(c, q, q + 1));
    if (ring && n > 2) TRY(qdm_cnot(c, n - 1, 0));
  }
  return p - param_offset;
}

/* Transverse-field Ising HVA: start in |+>^n (ground state of the driver
 * -sum X), then per layer exp(-i g ZZ) on every neighbour pair and
 * exp(-i b X) on every qubit, one shared angle per term: 2 per layer
 * (g, b). exp(-i g ZZ) = RZZ(2g), exp(-i b X) = RX(2b). */
int qdm_hva(qdm_circuit *c, int layers, int param_offset, int ring) {
  int e = ans_check(c, layers, param_offset, 1, "qdm_hva");
  if (e) return e;
  int n = c->n, p = param_offset;
  for (int q = 0; q < n; q++) TRY(qdm_add1(c, QDM_GH, q));
  for (int l = 0; l < layers; l++, p += 2) {
    for (int q = 0; q + 1 < n; q++) TRY(qdm_add2(c, QDM_GRZZ, q, q + 1, qdm_par_affine(p, 2, 0)));
    if (ring && n > 2) TRY(qdm_add2(c, QDM_GRZZ, n - 1, 0, qdm_par_affine(p, 2, 0)));
    for (int q = 0; q < n; q++) TRY(qdm_addr(c, QDM_GRX, q, qdm_par_affine(p + 1, 2, 0)));
  }
  return p - param_offset;
}

/* ---- 4.3: brick layers of N(a, b, c) ---- */

/* Even pairs (0,1), (2,3), ... then odd pairs (1,2), (3,4), ...; with
 * wrap, the pair (n-1, 0) closes the ring (n >= 3). 3 parameters a pair. */
static int ans_bricks(qdm_circuit *c, int p, int wrap) {
  int n = c->n, p0 = p;
  for (int q = 0; q + 1 < n; q += 2) { TRYN(qdm_vw_block(c, q, q + 1, p)); p += 3; }
  for (int q = 1; q + 1 < n; q += 2) { TRYN(qdm_vw_block(c, q, q + 1, p)); p += 3; }
  if (wrap && n >= 3) { TRYN(qdm_vw_block(c, n - 1, 0, p)); p += 3; }
  return p - p0;
}

int qdm_conv(qdm_circuit *c, int layers, int param_offset, int ring) {
  int e = ans_check(c, layers, param_offset, 2, "qdm_conv");
  if (e) return e;
  int p = param_offset;
  for (int l = 0; l < layers; l++) {
    int k = ans_bricks(c, p, ring);
    if (k < 0) return k;
    p += k;
  }
  return p - param_offset;
}

/* ---- 4.4: phase mixing, eq. (20): QFT . prod_i CRZ_{0 -> i}(phi_i) ---- */
static int mix(qdm_circuit *c, int p) {
  int n = c->n, q[QDM_MAX_QUBITS];
  for (int i = 1; i < n; i++) TRY(qdm_addc(c, QDM_GRZ, 0, i, qdm_par(p + i - 1)));
  for (int i = 0; i < n; i++) q[i] = i;
  TRY(qdm_qft(c, n, q));
  return n - 1;
}

int qdm_phasemix(qdm_circuit *c, int layers, int param_offset) {
  int e = ans_check(c, layers, param_offset, 1, "qdm_phasemix");
  if (e) return e;
  int p = param_offset;
  for (int l = 0; l < layers; l++) {
    int k = mix(c, p);
    if (k < 0) return k;
    p += k;
  }
  return p - param_offset;
}

/* The report's ansatz: conv brick layers then phase mixing, per layer. */
int qdm_paper(qdm_circuit *c, int layers, int param_offset, int ring) {
  int e = ans_check(c, layers, param_offset, 2, "qdm_paper");
  if (e) return e;
  int p = param_offset;
  for (int l = 0; l < layers; l++) {
    int k = ans_bricks(c, p, ring);
    if (k < 0) return k;
    p += k;
    if ((k = mix(c, p)) < 0) return k;
    p += k;
  }
  return p - param_offset;
}

/* The authors' code form (docs/architecture.md): conv on (0,1), (2,3), ...;
 * conv on (1,2), (3,0) (wrap-around); H on all; CZ chain; RX per qubit.
 * n = 4: 16 parameters per layer. */
int qdm_authors(qdm_circuit *c, int layers, int param_offset) {
  int e = ans_check(c, layers, param_offset, 2, "qdm_authors");
  if (e) return e;
  int n = c->n, p = param_offset;
  for (int l = 0; l < layers; l++) {
    int k = ans_bricks(c, p, 1);
    if (k < 0) return k;
    p += k;
    for (int q = 0; q < n; q++) TRY(qdm_add1(c, QDM_GH, q));
    for (int q = 0; q + 1 < n; q++) TRY(qdm_cz(c, q, q + 1));
    for (int q = 0; q < n; q++) TRY(qdm_addr(c, QDM_GRX, q, qdm_par(p++)));
  }
  return p - param_offset;
}

/* ---- 4.2: QCNN and MERA ---- */

/* Pooling of `drop` into `keep`: the measurement-controlled correction of
 * Cong, Choi & Lukin (Nat. Phys. 15, 1273, 2019) made coherent, as in Hur,
 * Kim & Park (Quantum Mach. Intell. 4, 3, 2022): CRZ(t0) drop->keep, X drop,
 * CRX(t1) drop->keep, X drop. 2 parameters. */
static int pool(qdm_circuit *c, int drop, int keep, int p) {
  TRY(qdm_addc(c, QDM_GRZ, drop, keep, qdm_par(p)));
  TRY(qdm_add1(c, QDM_GX, drop));
  TRY(qdm_addc(c, QDM_GRX, drop, keep, qdm_par(p + 1)));
  TRY(qdm_add1(c, QDM_GX, drop));
  return 2;
}

/* Levels: the active qubits a[0..m-1] get `layers` brick layers of the
 * 5-parameter block (even pairs then odd pairs of the active list), then
 * pooling folds a[2i+1] into a[2i]; the kept qubits are the next level's.
 * Down to one active qubit (qubit 0). With meas (the measured form), each
 * pooled qubit is measured just before its pooling gates, which then act
 * as rotations of the kept qubit chosen by the outcome (RZ(t0) after a 1,
 * RX(t1) after a 0: Cong, Choi & Lukin's measurement and feed-forward). */
static int qcnn_build(qdm_circuit *c, int layers, int param_offset, qdm_dm_meas *meas, int *nm) {
  int a[QDM_MAX_QUBITS], m = c->n, p = param_offset;
  for (int i = 0; i < m; i++) a[i] = i;
  while (m > 1) {
    for (int l = 0; l < layers; l++) {
      for (int i = 0; i + 1 < m; i += 2) { TRYN(qdm_block5(c, a[i], a[i + 1], p)); p += 5; }
      for (int i = 1; i + 1 < m; i += 2) { TRYN(qdm_block5(c, a[i], a[i + 1], p)); p += 5; }
    }
    int k = 0;
    for (int i = 0; i < m; i += 2) {
      if (i + 1 < m) {
        if (meas) meas[(*nm)++] = (qdm_dm_meas){c->ngates, a[i + 1]};
        TRYN(pool(c, a[i + 1], a[i], p));
        p += 2;
      }
      a[k++] = a[i];
    }
    m = k;
  }
  return p - param_offset;
}

int qdm_qcnn(qdm_circuit *c, int layers, int param_offset) {
  int e = ans_check(c, layers, param_offset, 2, "qdm_qcnn");
  return e ? e : qcnn_build(c, layers, param_offset, NULL, NULL);
}

int qdm_qcnn_measured(qdm_circuit *c, int layers, int param_offset, qdm_dm_meas *meas, int *nm) {
  int e = ans_check(c, layers, param_offset, 2, "qdm_qcnn_measured");
  if (e) return e;
  if (!meas || !nm) return -qdm_fail(QDM_EINVAL, "qdm_qcnn_measured: meas and nm must be given");
  *nm = 0;
  return qcnn_build(c, layers, param_offset, meas, nm);
}

/* Binary MERA over n = 2^k qubits, read as a state preparation (top of the
 * tree first): at scale s = n/2, n/4, ..., 1 the isometries put a block on
 * (i, i+s) for i = 0 mod 2s (bringing qubit i+s into play), then the
 * disentanglers put a block on (i, i+s) for i = s mod 2s, i+s < n (across
 * neighbouring isometries). Blocks: the 5-parameter block. A layer is the
 * whole tree; n = 4 has 4 blocks = 20 parameters per layer. */
int qdm_mera(qdm_circuit *c, int layers, int param_offset) {
  int e = ans_check(c, layers, param_offset, 2, "qdm_mera");
  if (e) return e;
  int n = c->n, p = param_offset;
  if (n & (n - 1)) return -qdm_fail(QDM_EINVAL, "qdm_mera: n = %d qubits, expected a power of two", n);
  for (int l = 0; l < layers; l++)
    for (int s = n / 2; s >= 1; s /= 2) {
      for (int i = 0; i + s < n; i += 2 * s) { TRYN(qdm_block5(c, i, i + s, p)); p += 5; }
      for (int i = s; i + s < n; i += 2 * s) { TRYN(qdm_block5(c, i, i + s, p)); p += 5; }
    }
  return p - param_offset;
}

/* ---- the named library ---- */

typedef struct {
  const char *name, *about;
} ans_entry;

static const ans_entry lib[] = {
    {"hea", "hardware-efficient: RY, RZ on each qubit, CNOT chain (--ring closes it); 2n per layer"},
    {"hva", "Ising HVA: H on all, then exp(-i g ZZ) on neighbours (--ring closes), exp(-i b X) on all; 2 per layer"},
    {"qcnn", "QCNN: L brick layers of RY.RY.N(a,b,c) per level, pooling halves the qubits down to q0"},
    {"mera", "binary MERA (n = 2^k): isometries then disentanglers per scale, 5-param blocks; layer = tree"},
    {"conv", "Vatan-Williams N(a,b,c) brick layers, even then odd pairs (--ring adds (n-1,0)); 3 per pair"},
    {"phasemix", "report eq. 20: CRZ from q0 to every qubit, then QFT; n-1 per layer"},
    {"paper", "report ansatz: conv brick layers then phasemix, per layer (--ring as conv)"},
    {"authors", "authors' code: conv (0,1),(2,3); conv (1,2),(3,0); H all, CZ chain, RX each; 16 per layer at n=4"},
    {"sim1", "Sim et al. 1: RX, RZ on each; 2n per layer"},
    {"sim2", "Sim et al. 2: RX, RZ; CNOT ladder; 2n"},
    {"sim3", "Sim et al. 3: RX, RZ; CRZ ladder; 3n-1"},
    {"sim4", "Sim et al. 4: RX, RZ; CRX ladder; 3n-1"},
    {"sim5", "Sim et al. 5: RX, RZ; all-to-all CRZ; RX, RZ; 4n+n(n-1)"},
    {"sim6", "Sim et al. 6: RX, RZ; all-to-all CRX; RX, RZ; 4n+n(n-1)"},
    {"sim7", "Sim et al. 7: RX, RZ; CRZ on pairs; RX, RZ; CRZ on shifted pairs"},
    {"sim8", "Sim et al. 8: RX, RZ; CRX on pairs; RX, RZ; CRX on shifted pairs"},
    {"sim9", "Sim et al. 9: H; CZ ladder; RX; n"},
    {"sim10", "Sim et al. 10: RY; CZ ring; RY; 2n"},
    {"sim11", "Sim et al. 11: RY, RZ; CNOT pairs; RY, RZ on inner qubits; CNOT shifted pairs"},
    {"sim12", "Sim et al. 12: RY, RZ; CZ pairs; RY, RZ on inner qubits; CZ shifted pairs"},
    {"sim13", "Sim et al. 13: RY; CRZ ring; RY; CRZ ring the other way; 4n"},
    {"sim14", "Sim et al. 14: RY; CRX ring; RY; CRX ring the other way; 4n"},
    {"sim15", "Sim et al. 15: RY; CNOT ring; RY; CNOT ring the other way; 2n"},
    {"sim16", "Sim et al. 16: RX, RZ; CRZ on pairs then shifted pairs"},
    {"sim17", "Sim et al. 17: RX, RZ; CRX on pairs then shifted pairs"},
    {"sim18", "Sim et al. 18: RX, RZ; CRZ ring; 3n"},
    {"sim19", "Sim et al. 19: RX, RZ; CRX ring; 3n"},
};
#define NLIB ((int)(sizeof lib / sizeof *lib))

const char *qdm_ansatz_name(int i) { return i >= 0 && i < NLIB ? lib[i].name : NULL; }

static int is_qasm(const char *name) {
  size_t n = strlen(name);
  return n > 5 && !strcmp(name + n - 5, ".qasm");
}

/* Not in the list that `all` and `qdm circuit --list` walk: its pooling is
 * a measurement, so it runs on density matrices only. */
static const char qcnn_measured_about[] =
    "QCNN with pooling by mid-circuit measurement and feed-forward (density-matrix path only); same parameters as qcnn";

const char *qdm_ansatz_about(const char *name) {
  if (name && is_qasm(name)) return "the circuit of this OpenQASM 2/3 file, one layer; its inputs are the parameters";
  if (name && !strcmp(name, "qcnn-measured")) return qcnn_measured_about;
  for (int i = 0; name && i < NLIB; i++)
    if (!strcmp(name, lib[i].name)) return lib[i].about;
  return NULL;
}

const qdm_enum_name qdm_ansatz_init_names[] = {{"none", QDM_INIT_NONE}, {"ry-pi4", QDM_INIT_RY_PI4}, {NULL, 0}};

static int sim_id(const char *name) {
  if (strncmp(name, "sim", 3) || !name[3]) return 0;
  char *end;
  long id = strtol(name + 3, &end, 10);
  return *end || id < 1 || id > 19 || name[3] == '0' ? 0 : (int)id;
}

/* A .qasm ansatz: the file's circuit is one layer (circuits.h). */
static int build_qasm(qdm_circuit *c, const char *path, int layers, int param_offset) {
  qdm_qasm q;
  int e = qdm_qasm_read(path, &q);
  if (e) return -e;
  int r = q.c->n == c->n ? qdm_qasm_append(c, &q, layers, param_offset)
                         : -qdm_fail(QDM_EINVAL, "ansatz %s has %d qubits, the circuit %d", path, q.c->n, c->n);
  qdm_qasm_free(&q);
  return r;
}

static int build_named(qdm_circuit *c, const char *name, int layers, int param_offset, const qdm_ansatz_opts *o) {
  if (o->init == QDM_INIT_RY_PI4)
    for (int q = 0; q < c->n; q++) TRY(qdm_addr(c, QDM_GRY, q, qdm_fixed(M_PI / 4)));
  if (is_qasm(name)) {
    if (layers < 0 || param_offset < 0)
      return -qdm_fail(QDM_EINVAL, "ansatz %s: layers = %d and param_offset = %d, expected >= 0", name, layers, param_offset);
    return build_qasm(c, name, layers, param_offset);
  }
  int id = sim_id(name);
  if (id) return qdm_sim(c, id, layers, param_offset);
  if (!strcmp(name, "hea")) return qdm_hea(c, layers, param_offset, o->ring);
  if (!strcmp(name, "hva")) return qdm_hva(c, layers, param_offset, o->ring);
  if (!strcmp(name, "qcnn") || !strcmp(name, "qcnn-measured")) return qdm_qcnn(c, layers, param_offset);
  if (!strcmp(name, "mera")) return qdm_mera(c, layers, param_offset);
  if (!strcmp(name, "conv")) return qdm_conv(c, layers, param_offset, o->ring);
  if (!strcmp(name, "phasemix")) return qdm_phasemix(c, layers, param_offset);
  if (!strcmp(name, "paper")) return qdm_paper(c, layers, param_offset, o->ring);
  return qdm_authors(c, layers, param_offset);
}

int qdm_ansatz_build(qdm_circuit *c, const char *name, int layers, int param_offset, const qdm_ansatz_opts *o) {
  if (!c) return -qdm_fail(QDM_EINVAL, "qdm_ansatz_build: circuit is NULL");
  if (!name || !qdm_ansatz_about(name))
    return -qdm_fail(QDM_EINVAL, "qdm_ansatz_build: unknown ansatz '%s' (expected hea, hva, qcnn, mera, conv, "
                     "phasemix, paper, authors, sim1..sim19 or a .qasm file)", name ? name : "(null)");
  qdm_ansatz_opts d = {QDM_INIT_NONE, 0};
  if (!o) o = &d;
  if (o->init != QDM_INIT_NONE && o->init != QDM_INIT_RY_PI4)
    return -qdm_fail(QDM_EINVAL, "qdm_ansatz_build: init = %d, expected QDM_INIT_NONE or QDM_INIT_RY_PI4", o->init);
  /* on failure the circuit is left as it was (builders append plain data) */
  int ng = c->ngates, np = c->nparams, ni = c->ninputs;
  size_t npool = c->npool;
  int r = build_named(c, name, layers, param_offset, o);
  if (r < 0) c->ngates = ng, c->nparams = np, c->ninputs = ni, c->npool = npool;
  return r;
}

int qdm_ansatz_measurements(const char *name, int n, int layers, const qdm_ansatz_opts *o, qdm_dm_meas *meas) {
  if (!name || strcmp(name, "qcnn-measured")) return 0;
  if (!meas) return -qdm_fail(QDM_EINVAL, "qdm_ansatz_measurements: meas is NULL");
  qdm_circuit *c = qdm_circuit_new(n);
  if (!c) return -qdm_fail(QDM_ENOMEM, "qdm_ansatz_measurements: out of memory");
  int nm = 0, r = qdm_qcnn_measured(c, layers, 0, meas, &nm);
  qdm_circuit_free(c);
  int shift = o && o->init == QDM_INIT_RY_PI4 ? n : 0; /* the init layer's n gates come first */
  for (int k = 0; k < nm; k++) meas[k].before += shift;
  return r < 0 ? r : nm;
}

int qdm_ansatz_nparams(const char *name, int n, int layers, const qdm_ansatz_opts *o) {
  if (n < 1 || n > QDM_MAX_QUBITS)
    return -qdm_fail(QDM_EINVAL, "qdm_ansatz_nparams: n = %d, expected 1..%d", n, QDM_MAX_QUBITS);
  qdm_circuit *c = qdm_circuit_new(n);
  if (!c) return -qdm_fail(QDM_ENOMEM, "qdm_ansatz_nparams: out of memory");
  int r = qdm_ansatz_build(c, name, layers, 0, o);
  qdm_circuit_free(c);
  return r;
}
