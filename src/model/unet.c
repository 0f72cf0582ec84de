/* unet.c -- the hybrid quantum-classical U-Net (report 6.4; the authors'
 * configuration is described in docs/architecture.md).
 * Stages, each a forward and a backward side by side:
 *   encoder     x_t -> the encoder's values -> state psi0 (amplitude, angle,
 *               phase, dense or basis encoding)
 *   bottleneck  psi0 -> features (circuit blocks + measurement, per group),
 *               or the classical stand-in of the same shape
 *   decoder     features (+ skip) -> predicted unit vector
 * Activations live in one allocation sized for max_rows rows. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/density.h"
#include "qdm/diffusion.h"
#include "qdm/model.h"
#include "core/check.h"
#include "core/parallel.h"
#include "qsim/pairs.h"
#include "run.h"

#define MAXP 16

#include "unet.h"
#include "unet_hw.h"

/* The model's tensors as llm.c's ParameterTensors: one struct used twice,
 * for the parameters (m->w) and for their gradients (m->gw), both views
 * into one allocation; a tensor the configuration does not have is NULL.
 * Names say what each is in report 6.4 (enc = encoder, ln = its
 * LayerNorm, bott = the classical stand-in for the circuit, dec = decoder).
 * The classical tensors (void *) hold REAL numbers: double or float, as
 * cfg.precision says; the circuit's are double in both. */
typedef struct {
  void *enc1_w, *enc1_b, *enc2_w, *enc2_b, *ln_g, *ln_b;   /* x_t -> amplitudes */
  void *bott_w1, *bott_b1, *bott_w2, *bott_b2;             /* classical bottleneck, per group */
  double *theta;                                           /* circuit table [group][block][P] */
  double *ano_m;                                           /* K complex d x d ANO matrices M_k */
  void *dec1_w, *dec1_b, *dec2_w, *dec2_b;                 /* features (+ skip) -> prediction */
} unet_tensors;

struct qdm_unet {
  qdm_unet_cfg cfg;
  int d;            /* 2^n */
  int F;            /* features into the decoder */
  int G;            /* circuit groups */
  int nblk, P;      /* circuit blocks and parameters per block */
  int hc;           /* hidden width of the classical bottleneck */
  int E;            /* the encoder's output width (qdm_unet_enc_width) */
  int max_rows;
  int gate_path;        /* 1: gate-by-gate engine path (for tests), 0: fused */
  qdm_circuit *circ;    /* the ansatz block (same structure for every block) */
  qdm_circuit *encc;    /* the feature encoding's circuit (angle, phase, dense, basis), or NULL */
  qdm_ano *ano;
  qdm_unet_param prm[MAXP]; /* the tensors' names, shapes and groups */
  int nprm;
  int f32;              /* the classical part in float (cfg.precision == QDM_F32) */
  size_t esz;           /* bytes of one REAL: 8 or 4 */
  size_t np, npf;       /* parameters in the double tensors and in the float ones */
  void *pmem;           /* one allocation: the parameters (np double, npf float), then the gradients */
  double *pd, *gd;      /* the double parameters and their gradients (flat) */
  float *pf, *gf;       /* the float ones */
  unet_tensors w, gw;   /* views of the parameters and of the gradients */
  /* activations of the last forward; the void * ones are REAL rows */
  int B;
  int *grp, *perm, *gstart;      /* group of each row, rows sorted by group, group starts */
  void *xr, *h1, *h2, *ln_mu, *ln_rs, *h3, *amp, *amp_n;
  qdm_cplx *psi0, *psi1, *phi, *beta, *bhat, *gam, *psi2, *psi3;  /* in group order */
  double *bnorm, *gnorm, *zf;
  double *xang, *gang;  /* the encoding circuit's inputs (group order, B x E; bits for basis), their gradient */
  double *y, *feat;     /* measured features (group order), the decoder's features (row order) */
  void *dec_in, *h4, *h5, *cls_h;
  qdm_cplx *out;
  double *pnorm;
  qdm_cplx *U;          /* nblk unitaries per group present */
  /* gradient scratch: rows as wide as any layer's, in doubles (so a REAL row
   * or a complex state fits) */
  double *dA, *dB2, *dC;
  void *dskip;          /* B x 2D: the skip connection's share of dL/d[Re, Im](x_t) */
  void *g4;             /* B x H: dL/d(dec1's output), kept for dec1's weight gradient (first_layers_backward) */
  qdm_cplx *gz1, *gz2, *gz3, *dU;
  /* the pair path (qsim/pairs.h): the ansatz block as 4x4 steps; per step
   * the matrices of each (group, block) it runs, in pwork; the rows it takes
   * (those of groups smaller than 2d), their positions, their group's slot
   * and work area, and each area's theta row (puse) */
  qdm__pairs *pairs;
  double *pwork;
  int *ppos, *pg0, *pgrp, *puse, npair;
  int pslots; /* work areas per block: the pair groups, padded to whole chunks (pairs.h) */
  double *amem;
  double t_dense, t_circuit, t_ano, t_other, c_flops; /* seconds and flops, as qdm_unet_timing */
  qdm_noise noise;      /* parsed cfg.noise; kind NONE: the exact path */
  qdm__hw *hw;          /* shots / noise state, NULL when both are off */
};

void qdm_unet_timing_get(qdm_unet *m, qdm_unet_timing *t, int reset) {
  if (!m) return;
  if (t) *t = (qdm_unet_timing){m->t_dense, m->t_circuit, m->t_ano, m->t_other, m->c_flops};
  if (reset) m->t_dense = m->t_circuit = m->t_ano = m->t_other = m->c_flops = 0;
}

void qdm__unet_add_other(qdm_unet *m, double seconds) { m->t_other += seconds; }

/* ---------------- the classical part's precision ---------------- */

/* The nn.h layer fn in the model's precision (fn or fn_f32), on REAL
 * buffers passed as void *; its arguments were checked when the model was
 * built, so a failure is a bug. */
#define NN(m, fn, ...) QDM__OK((m)->f32 ? fn##_f32(__VA_ARGS__) : fn(__VA_ARGS__))

/* Element i of a REAL buffer: its address, its value, a new value. */
static void *rat(const qdm_unet *m, const void *p, size_t i) { return (char *)p + i * m->esz; }
static double rget(const qdm_unet *m, const void *p, size_t i) {
  return m->f32 ? ((const float *)p)[i] : ((const double *)p)[i];
}
static void rset(const qdm_unet *m, void *p, size_t i, double v) {
  if (m->f32) ((float *)p)[i] = (float)v;
  else ((double *)p)[i] = v;
}

/* y += x over n REAL values, typed so that it vectorises, over the threads
 * when large (each element on one thread: no dependence on their count).
 * BLAS's axpy does the same; measured 1-2% slower a step here on 2
 * threads (interleaved runs), so the loop stays. */
static void add_rows(const qdm_unet *m, void *y, const void *x, size_t n) {
  if (m->f32) {
    float *a = y;
    const float *b = x;
#pragma omp parallel for schedule(static) if (qdm__parallel_worth((double)n))
    for (size_t k = 0; k < n; k++) a[k] += b[k];
  } else {
    double *a = y;
    const double *b = x;
#pragma omp parallel for schedule(static) if (qdm__parallel_worth((double)n))
    for (size_t k = 0; k < n; k++) a[k] += b[k];
  }
}

const qdm_enum_name qdm_ancilla_mode_names[] = {{"project", QDM_ANCILLA_PROJECT}, {"sum", QDM_ANCILLA_SUM}, {NULL, 0}};
const qdm_enum_name qdm_encoding_names[] = {{"amplitude", QDM_ENC_AMPLITUDE}, {"angle", QDM_ENC_ANGLE},
                                            {"phase", QDM_ENC_PHASE},         {"dense", QDM_ENC_DENSE},
                                            {"basis", QDM_ENC_BASIS},         {NULL, 0}};
const qdm_enum_name qdm_ano_layout_names[] = {
    {"global", QDM_ANO_GLOBAL}, {"sliding", QDM_ANO_SLIDING}, {"subsets", QDM_ANO_SUBSETS}, {NULL, 0}};

int qdm_unet_enc_width(const qdm_unet_cfg *c) {
  switch (c->encoding) {
  case QDM_ENC_AMPLITUDE: return 1 << c->n;
  case QDM_ENC_DENSE: return 2 * c->n;
  default: return c->n;
  }
}

/* 1 (global), n - k + 1 windows, or C(n, k) subsets (ano.c's order) */
int qdm_unet_ano_sets(const qdm_unet_cfg *c) {
  int k = c->ano_k;
  if (c->ano_layout == QDM_ANO_GLOBAL || k < 1 || k > c->n) return 1;
  if (c->ano_layout == QDM_ANO_SLIDING) return c->n - k + 1;
  long long r = 1;
  for (int i = 1; i <= k; i++) r = r * (c->n - k + i) / i;
  return (int)r;
}

void qdm_unet_cfg_authors(qdm_unet_cfg *c) {
  memset(c, 0, sizeof *c);
  c->D = 256;
  c->hidden = 512;
  c->n = 4;
  c->layers = 10;
  strcpy(c->ansatz, "authors");
  c->ancilla = 1;
  c->ancilla_mode = QDM_ANCILLA_SUM;
  c->measure = QDM_MEASURE_ANO;
  c->K = 16;
  c->skip = 1;
  c->classical = 0;
  c->conditional = 1;
  c->T = 10;
  c->classes = 10;
  c->leak = 0.01;
}

const qdm_unet_cfg *qdm_unet_config(const qdm_unet *m) { return &m->cfg; }
int qdm_unet_nparams(const qdm_unet *m) { return m->nprm; }
qdm_unet_param *qdm_unet_param_at(qdm_unet *m, int i) { return i >= 0 && i < m->nprm ? &m->prm[i] : NULL; }

/* The ansatz block: a named builder, or the OpenQASM layer the config
 * carries, repeated `layers` times (qdm_qasm_append). c may be NULL: the
 * parameter count only. */
static int build_block(qdm_circuit *c, const qdm_unet_cfg *cfg) {
  if (!cfg->ansatz_qasm[0]) {
    if (!c) return qdm_ansatz_nparams(cfg->ansatz, cfg->n, cfg->layers, NULL);
    return qdm_ansatz_build(c, cfg->ansatz, cfg->layers, 0, NULL);
  }
  qdm_qasm q;
  int e = qdm_qasm_parse(cfg->ansatz_qasm, strlen(cfg->ansatz_qasm), cfg->ansatz, &q);
  if (e) return -e;
  int r = q.c->n != cfg->n ? -qdm_fail(QDM_EINVAL, "model: ansatz %s has %d qubits, the bottleneck %d", cfg->ansatz, q.c->n, cfg->n)
          : c ? qdm_qasm_append(c, &q, cfg->layers, 0) : cfg->layers * q.nparams;
  qdm_qasm_free(&q);
  return r;
}

int qdm_unet_cfg_ansatz_file(qdm_unet_cfg *c, const char *path) {
  if (!c || !path) return qdm_fail(QDM_EINVAL, "qdm_unet_cfg_ansatz_file: NULL argument");
  FILE *f = fopen(path, "rb");
  if (!f) return qdm_fail(QDM_EIO, "ansatz %s: %s", path, strerror(errno));
  size_t n = fread(c->ansatz_qasm, 1, sizeof c->ansatz_qasm, f);
  int rd = ferror(f);
  fclose(f);
  if (rd) return qdm_fail(QDM_EIO, "ansatz %s: read error", path);
  if (n >= sizeof c->ansatz_qasm) {
    c->ansatz_qasm[0] = 0;
    return qdm_fail(QDM_EINVAL, "ansatz %s: longer than %d bytes, the most a model's ansatz may be", path,
                    QDM_QASM_ANSATZ_MAX - 1);
  }
  c->ansatz_qasm[n] = 0;
  const char *base = strrchr(path, '/');
  snprintf(c->ansatz, sizeof c->ansatz, "%s", base ? base + 1 : path);
  qdm_qasm q;
  int e = qdm_qasm_parse(c->ansatz_qasm, n, path, &q);
  if (e) {
    c->ansatz_qasm[0] = 0;
    return e;
  }
  qdm_qasm_free(&q);
  return QDM_OK;
}

int qdm_unet_t_groups(const qdm_unet_cfg *c) { return c->t_groups > 0 ? c->t_groups : c->T; }

int qdm_unet_block_params(const qdm_unet_cfg *c) {
  if (!c) return -qdm_fail(QDM_EINVAL, "qdm_unet_block_params: NULL config");
  int P = build_block(NULL, c);
  if (P < 0 && !c->ansatz_qasm[0]) qdm_fail(QDM_EINVAL, "model: unknown ansatz '%s' for %d qubits", c->ansatz, c->n);
  return P;
}

/* The encoding and the ANO layout: in their domains, and combined only
 * with what they are defined for. */
static int cfg_check_bottleneck(const qdm_unet_cfg *c) {
  if (c->encoding < QDM_ENC_AMPLITUDE || c->encoding > QDM_ENC_BASIS)
    return qdm_fail(QDM_EINVAL, "model: encoding %d, expected amplitude, angle, phase, dense or basis", c->encoding);
  if (c->encoding != QDM_ENC_AMPLITUDE && c->classical)
    return qdm_fail(QDM_EINVAL, "model: encoding %s prepares a circuit's state; the classical bottleneck takes "
                    "the amplitude encoder's 2^n values", qdm_enum_str(qdm_encoding_names, c->encoding));
  if (c->ano_layout == QDM_ANO_GLOBAL) {
    if (c->ano_k != 0) return qdm_fail(QDM_EINVAL, "model: ano_k = %d with the global layout, expected 0", c->ano_k);
    return QDM_OK;
  }
  if (c->ano_layout != QDM_ANO_SLIDING && c->ano_layout != QDM_ANO_SUBSETS)
    return qdm_fail(QDM_EINVAL, "model: ano layout %d, expected global, sliding or subsets", c->ano_layout);
  if (c->ano_k < 1 || c->ano_k > c->n)
    return qdm_fail(QDM_EINVAL, "model: ano layout %s:%d, expected a locality 1..qubits = %d",
                    qdm_enum_str(qdm_ano_layout_names, c->ano_layout), c->ano_k, c->n);
  if ((long long)c->K * qdm_unet_ano_sets(c) > 4096)
    return qdm_fail(QDM_EINVAL, "model: ano %d per site set x %d sets = %lld observables, expected at most 4096", c->K,
                    qdm_unet_ano_sets(c), (long long)c->K * qdm_unet_ano_sets(c));
  if (c->measure == QDM_MEASURE_ANO && (c->shots || (c->noise[0] && strcmp(c->noise, "none"))))
    return qdm_fail(QDM_EINVAL, "model: shots and noise measure global observables; ano layout %s needs both off",
                    qdm_enum_str(qdm_ano_layout_names, c->ano_layout));
  return QDM_OK;
}

int qdm_unet_cfg_check(const qdm_unet_cfg *c) {
  if (!c) return qdm_fail(QDM_EINVAL, "model: NULL config");
  if (c->t_groups < 0 || c->t_groups > c->T)
    return qdm_fail(QDM_EINVAL, "model: t_groups = %d, expected 0 (one circuit per step) or 1..T = %d", c->t_groups, c->T);
  /* upper bounds: what the CLI accepts, so a file cannot describe more */
  if (c->D < 1 || c->D > (1 << 24)) return qdm_fail(QDM_EINVAL, "model: D = %d values, expected 1..2^24", c->D);
  if (c->hidden < 1 || c->hidden > 65536) return qdm_fail(QDM_EINVAL, "model: hidden = %d, expected 1..65536", c->hidden);
  if (c->precision != QDM_F64 && c->precision != QDM_F32)
    return qdm_fail(QDM_EINVAL, "model: precision %d, expected QDM_F64 or QDM_F32", (int)c->precision);
  if (c->circuit_precision != QDM_C128 && c->circuit_precision != QDM_C64)
    return qdm_fail(QDM_EINVAL, "model: circuit_precision %d, expected QDM_C128 or QDM_C64", (int)c->circuit_precision);
  if (c->n < 1 || c->n > 10) return qdm_fail(QDM_EINVAL, "model: qubits = %d, expected 1..10", c->n);
  if (c->layers < 0 || c->layers > 200) return qdm_fail(QDM_EINVAL, "model: layers = %d, expected 0..200", c->layers);
  if (c->T < 1 || c->T > 10000) return qdm_fail(QDM_EINVAL, "model: T = %d steps, expected 1..10000", c->T);
  if (c->classes < 1 || c->classes > 256) return qdm_fail(QDM_EINVAL, "model: classes = %d, expected 1..256", c->classes);
  if (c->measure == QDM_MEASURE_ANO && (c->K < 1 || c->K > 4096))
    return qdm_fail(QDM_EINVAL, "model: ano K = %d observables, expected 1..4096", c->K);
  if (c->ancilla_mode != QDM_ANCILLA_PROJECT && c->ancilla_mode != QDM_ANCILLA_SUM)
    return qdm_fail(QDM_EINVAL, "model: ancilla mode %d, expected project or sum", c->ancilla_mode);
  int e = cfg_check_bottleneck(c);
  if (e) return e;
  if (!memchr(c->ansatz, 0, sizeof c->ansatz) || !memchr(c->ansatz_qasm, 0, sizeof c->ansatz_qasm))
    return qdm_fail(QDM_EINVAL, "model: ansatz name or OpenQASM text is not terminated");
  size_t na = strlen(c->ansatz);
  if (!c->ansatz_qasm[0] && na >= 5 && !memcmp(c->ansatz + na - 5, ".qasm", 5))
    return qdm_fail(QDM_EINVAL, "model: ansatz '%s' names a file; the model takes the file's text (ansatz_qasm)", c->ansatz);
  if (qdm_unet_block_params(c) < 0) return QDM_EINVAL;
  if (c->shots < 0 || c->shots > 1000000000L)
    return qdm_fail(QDM_EINVAL, "model: shots = %ld, expected 0 (exact) or 1..1e9", c->shots);
  qdm_noise nz;
  if (memchr(c->noise, 0, sizeof c->noise) == NULL || qdm_noise_parse(c->noise[0] ? c->noise : "none", &nz))
    return qdm_fail(QDM_EINVAL, "model: noise '%.31s': expected none, depolarizing:P or amplitude_damping:G with "
                    "P, G in [0, 1]", c->noise);
  if ((nz.kind != QDM_NOISE_NONE || c->shots) && c->classical)
    return qdm_fail(QDM_EINVAL, "model: noise and shots act on the circuit; the classical bottleneck has none");
  if (nz.kind != QDM_NOISE_NONE && c->ancilla)
    return qdm_fail(QDM_EINVAL, "model: noise needs the ancilla block off: block 2's complex leaky ReLU acts on "
                    "amplitudes and their global phase, which a density matrix does not have, so a noisy "
                    "block 2 is not defined (docs/noise.md)");
  if (nz.kind == QDM_NOISE_NONE && !c->ansatz_qasm[0] && !strcmp(c->ansatz, "qcnn-measured"))
    return qdm_fail(QDM_EINVAL, "model: ansatz qcnn-measured pools by mid-circuit measurement, which runs on density "
                    "matrices: give a noise (depolarizing:0 for none)");
  if (nz.kind != QDM_NOISE_NONE && c->n > 6)
    return qdm_fail(QDM_EINVAL, "model: noise simulates 4^n-entry density matrices per row; qubits = %d, "
                    "expected <= 6", c->n);
  return QDM_OK;
}

/* One row per tensor, in checkpoint order: name, group, shape, and where
 * its view lives in unet_tensors. */
typedef struct {
  const char *name;
  int group, ndim;
  int64_t shape[3];
  size_t field; /* offsetof(unet_tensors, ...) */
} tensor_spec;

static int tensor_specs(const qdm_unet *m, tensor_spec *ts) {
  const qdm_unet_cfg *c = &m->cfg;
  int64_t H = c->hidden, D2 = 2 * c->D, d = m->d, F = m->F, G = m->G, hc = m->hc, E = m->E;
  int64_t nobs = (int64_t)c->K * qdm_unet_ano_sets(c), dk = c->ano_layout == QDM_ANO_GLOBAL ? d : 1 << c->ano_k;
  int n = 0;
#define SPEC(nm, grp, nd, a, b, e, fld) ts[n++] = (tensor_spec){nm, grp, nd, {a, b, e}, offsetof(unet_tensors, fld)}
  SPEC("enc1.weight", QDM_PG_CLASSICAL, 2, H, D2, 0, enc1_w);
  SPEC("enc1.bias", QDM_PG_CLASSICAL, 1, H, 0, 0, enc1_b);
  SPEC("enc2.weight", QDM_PG_CLASSICAL, 2, E, H, 0, enc2_w);
  SPEC("enc2.bias", QDM_PG_CLASSICAL, 1, E, 0, 0, enc2_b);
  SPEC("enc_ln.weight", QDM_PG_CLASSICAL, 1, E, 0, 0, ln_g);
  SPEC("enc_ln.bias", QDM_PG_CLASSICAL, 1, E, 0, 0, ln_b);
  if (c->classical) {
    SPEC("bottleneck.w1", QDM_PG_CLASSICAL, 3, G, hc, d, bott_w1);
    SPEC("bottleneck.b1", QDM_PG_CLASSICAL, 2, G, hc, 0, bott_b1);
    SPEC("bottleneck.w2", QDM_PG_CLASSICAL, 3, G, F, hc, bott_w2);
    SPEC("bottleneck.b2", QDM_PG_CLASSICAL, 2, G, F, 0, bott_b2);
  } else {
    SPEC("circuit.theta", QDM_PG_CIRCUIT, 3, G, m->nblk, m->P, theta);
    if (c->measure == QDM_MEASURE_ANO) SPEC("ano.M", QDM_PG_ANO, 3, nobs, dk, 2 * dk, ano_m);
  }
  SPEC("dec1.weight", QDM_PG_CLASSICAL, 2, H, F + (c->skip ? D2 : 0), 0, dec1_w);
  SPEC("dec1.bias", QDM_PG_CLASSICAL, 1, H, 0, 0, dec1_b);
  SPEC("dec2.weight", QDM_PG_CLASSICAL, 2, D2, H, 0, dec2_w);
  SPEC("dec2.bias", QDM_PG_CLASSICAL, 1, D2, 0, 0, dec2_b);
#undef SPEC
  assert(n <= MAXP);
  return n;
}

/* The sizes qdm_unet_new derives from a valid configuration. */
static void derive(qdm_unet *m, const qdm_unet_cfg *cfg, int max_rows) {
  m->cfg = *cfg;
  m->d = 1 << cfg->n;
  m->f32 = cfg->precision == QDM_F32;
  m->esz = m->f32 ? sizeof(float) : sizeof(double);
  m->max_rows = max_rows;
  m->G = qdm_unet_t_groups(cfg) * (cfg->conditional ? cfg->classes : 1);
  m->nblk = cfg->ancilla ? 3 : 2;
  m->P = qdm_unet_block_params(cfg); /* the classical stand-in matches its budget */
  m->E = qdm_unet_enc_width(cfg);
  m->F = (cfg->measure == QDM_MEASURE_ANO ? cfg->K * qdm_unet_ano_sets(cfg) : cfg->n) + (cfg->ancilla ? 1 : 0);
  if (cfg->classical) {
    /* match the circuit's per-group parameter budget: d*hc + hc + hc*F + F ~ nblk*P */
    int budget = m->nblk * m->P;
    m->hc = (budget - m->F) / (m->d + 1 + m->F);
    if (m->hc < 1) m->hc = 1;
  }
}

int qdm__unet_tensors(const qdm_unet_cfg *cfg, qdm_tensor *t) {
  if (qdm_unet_cfg_check(cfg)) return -1;
  qdm_unet m;
  memset(&m, 0, sizeof m);
  derive(&m, cfg, 1);
  tensor_spec ts[MAXP];
  int n = tensor_specs(&m, ts);
  for (int i = 0; i < n; i++) {
    t[i] = (qdm_tensor){ts[i].name, ts[i].ndim, {ts[i].shape[0], ts[i].shape[1], ts[i].shape[2], 0}, NULL, NULL};
  }
  return n;
}

/* One half of the parameter block: the parameters (np double, npf float);
 * the gradients take as much again. Each set is contiguous, the float part
 * padded to whole cache lines. */
static size_t param_half_bytes(size_t np, size_t npf) {
  return np * sizeof(double) + (npf + 15) / 16 * 16 * sizeof(float);
}

/* The view of tensor ts in w: a REAL (void *) field for the classical
 * tensors, a double * one for the circuit's. */
static void set_view(unet_tensors *w, const tensor_spec *ts, void *ptr) {
  char *f = (char *)w + ts->field;
  if (ts->group == QDM_PG_CLASSICAL) *(void **)f = ptr;
  else *(double **)f = ptr;
}

/* Sizes from the specs, one allocation, then the two sets of views. A
 * QDM_F32 model keeps its classical tensors in float. */
static int alloc_params(qdm_unet *m) {
  tensor_spec ts[MAXP];
  m->nprm = tensor_specs(m, ts);
  m->np = m->npf = 0;
  for (int i = 0; i < m->nprm; i++) {
    qdm_unet_param *p = &m->prm[i];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", ts[i].name);
    p->ndim = ts[i].ndim;
    p->group = ts[i].group;
    p->dtype = m->f32 && p->group == QDM_PG_CLASSICAL ? QDM_F32 : QDM_F64;
    p->n = 1;
    for (int k = 0; k < p->ndim; k++) p->n *= (size_t)(p->shape[k] = ts[i].shape[k]);
    *(p->dtype == QDM_F32 ? &m->npf : &m->np) += p->n;
  }
  size_t half = param_half_bytes(m->np, m->npf);
  m->pmem = calloc(2 * half, 1);
  if (!m->pmem) return qdm_fail(QDM_ENOMEM, "model: out of memory for %zu parameters", m->np + m->npf);
  m->pd = m->pmem;
  m->pf = (float *)(m->pd + m->np);
  m->gd = (double *)((char *)m->pmem + half);
  m->gf = (float *)(m->gd + m->np);
  size_t od = 0, of = 0;
  for (int i = 0; i < m->nprm; i++) {
    qdm_unet_param *p = &m->prm[i];
    if (p->dtype == QDM_F32) {
      p->pf = m->pf + of;
      p->gf = m->gf + of;
      of += p->n;
    } else {
      p->p = m->pd + od;
      p->g = m->gd + od;
      od += p->n;
    }
    set_view(&m->w, &ts[i], p->dtype == QDM_F32 ? (void *)p->pf : (void *)p->p);
    set_view(&m->gw, &ts[i], p->dtype == QDM_F32 ? (void *)p->gf : (void *)p->g);
  }
  if (m->ano) { /* the observables' matrices live in the parameter block */
    free(m->ano->M);
    m->ano->M = (qdm_cplx *)m->w.ano_m;
  }
  return QDM_OK;
}

/* The initial values, drawn in double through the views w (the classical
 * ones double here even in a QDM_F32 model: see init_params). */
static void init_tensors(qdm_unet *m, const unet_tensors *w, qdm_rng *rng) {
  const qdm_unet_cfg *c = &m->cfg;
  int H = c->hidden, D2 = 2 * c->D, d = m->d;
  QDM__OK(qdm_init_linear(w->enc1_w, w->enc1_b, D2, H, rng));
  QDM__OK(qdm_init_linear(w->enc2_w, w->enc2_b, H, m->E, rng));
  QDM__OK(qdm_init_layernorm(w->ln_g, w->ln_b, m->E));
  if (c->classical) {
    for (int g = 0; g < m->G; g++) {
      QDM__OK(qdm_init_linear((double *)w->bott_w1 + (size_t)g * m->hc * d, (double *)w->bott_b1 + (size_t)g * m->hc, d,
                              m->hc, rng));
      QDM__OK(qdm_init_linear((double *)w->bott_w2 + (size_t)g * m->F * m->hc, (double *)w->bott_b2 + (size_t)g * m->F,
                              m->hc, m->F, rng));
    }
  } else {
    QDM__OK(qdm_init_uniform(w->theta, (size_t)m->G * m->nblk * m->P, 0, 2 * M_PI, rng));
    if (m->ano) qdm_ano_init(m->ano, rng, 1.0 / sqrt((double)m->ano->d)); /* 1/sqrt(2^n) when global */
  }
  QDM__OK(qdm_init_linear(w->dec1_w, w->dec1_b, m->F + (c->skip ? D2 : 0), H, rng));
  QDM__OK(qdm_init_linear(w->dec2_w, w->dec2_b, H, D2, rng));
}

/* The same draws in both precisions: a QDM_F32 model starts from the
 * QDM_F64 model of the same seed, rounded to float. */
static int init_params(qdm_unet *m, qdm_rng *rng) {
  if (!m->f32) {
    init_tensors(m, &m->w, rng);
    return QDM_OK;
  }
  double *tmp = malloc(m->npf * sizeof *tmp);
  if (!tmp) return qdm_fail(QDM_ENOMEM, "model: out of memory for %zu parameters", m->npf);
  tensor_spec ts[MAXP];
  tensor_specs(m, ts);
  unet_tensors dw = m->w;
  for (int i = 0; i < m->nprm; i++)
    if (m->prm[i].dtype == QDM_F32) set_view(&dw, &ts[i], tmp + (m->prm[i].pf - m->pf));
  init_tensors(m, &dw, rng);
  for (size_t k = 0; k < m->npf; k++) m->pf[k] = (float)tmp[k];
  free(tmp);
  return QDM_OK;
}

/* scratch rows dA, dB2, dC hold any layer's row, or a complex state (2d) */
static size_t widest(const qdm_unet *m) {
  const qdm_unet_cfg *c = &m->cfg;
  size_t H = c->hidden, D2 = 2 * (size_t)c->D, d = m->d, din = m->F + (c->skip ? D2 : 0);
  size_t wide = H > D2 ? H : D2;
  if (din > wide) wide = din;
  if (2 * d > wide) wide = 2 * d;
  return wide;
}

/* the pair path's work: every block's groups padded to whole chunks, and 8
 * doubles to align it to 64 bytes (alloc_acts) */
static size_t pair_doubles(const qdm_unet *m) {
  int ng = m->G < m->max_rows ? m->G : m->max_rows, L = m->pairs ? qdm__pairs_lanes(m->pairs) : 0;
  return m->pairs ? qdm__pairs_work_doubles(m->pairs, m->nblk * ((ng + L - 1) / L * L)) + 8 : 0;
}

/* ints beside the activations: grp, perm, gstart, ppos, pg0, pgrp, puse
 * (every block's pair groups padded to chunks of at most 16) */
static size_t act_ints(const qdm_unet *m) {
  return 5 * (size_t)m->max_rows + (size_t)m->G + 1 + (size_t)(m->G + 16) * m->nblk;
}

/* Doubles of the activation arena for max_rows rows (alloc_acts). */
static size_t act_doubles(const qdm_unet *m) {
  const qdm_unet_cfg *c = &m->cfg;
  size_t R = (size_t)m->max_rows, H = c->hidden, D2 = 2 * c->D, d = m->d, F = m->F;
  size_t din = F + (c->skip ? D2 : 0), Gs = (size_t)m->G, wide = widest(m);
  return R * (D2 + 2 * H + 3 * d + 2 + d + 1) /* xr h1 h2 ln h3 amp amp_n */
                + R * d * 2 * 8                      /* eight complex state buffers */
                + R * 3 + R * m->E * 2               /* bnorm gnorm zf xang gang */
                + R * (F + F + din + H + D2)         /* y feat dec_in h4 h5 */
                + R * (m->hc > 0 ? m->hc : 1)        /* cls_h */
                + R * c->D * 2 + R                   /* out pnorm */
                + Gs * m->nblk * d * d * 2           /* U */
                + R * wide * 3 + R * D2 + R * H      /* dA dB2 dC dskip g4 */
                + R * d * 2 * 3 + (size_t)omp_get_max_threads() * d * d * 2 /* gz1..3, dU per thread */
                + pair_doubles(m);
}

/* Activation arena: all per-row buffers for max_rows rows. */
static int alloc_acts(qdm_unet *m) {
  const qdm_unet_cfg *c = &m->cfg;
  size_t R = (size_t)m->max_rows, H = c->hidden, D2 = 2 * c->D, d = m->d, F = m->F;
  size_t din = F + (c->skip ? D2 : 0), Gs = (size_t)m->G, wide = widest(m);
  m->amem = calloc(act_doubles(m), sizeof(double));
  m->grp = calloc(act_ints(m), sizeof(int));
  if (!m->amem || !m->grp) return qdm_fail(QDM_ENOMEM, "model: out of memory for activations of %zu rows", R);
  m->perm = m->grp + R;
  m->gstart = m->perm + R;
  m->ppos = m->gstart + Gs + 1;
  m->pg0 = m->ppos + R;
  m->pgrp = m->pg0 + R;
  m->puse = m->pgrp + R;
  double *a = m->amem;
#define TAKE(ptr, count) (ptr = (void *)a, a += (count))
  TAKE(m->xr, R * D2); TAKE(m->h1, R * H); TAKE(m->h2, R * d); TAKE(m->ln_mu, R); TAKE(m->ln_rs, R);
  TAKE(m->h3, R * d); TAKE(m->amp, R * d); TAKE(m->amp_n, R);
  TAKE(m->psi0, R * d * 2); TAKE(m->psi1, R * d * 2); TAKE(m->phi, R * d * 2); TAKE(m->beta, R * d * 2);
  TAKE(m->bhat, R * d * 2); TAKE(m->gam, R * d * 2); TAKE(m->psi2, R * d * 2); TAKE(m->psi3, R * d * 2);
  TAKE(m->bnorm, R); TAKE(m->gnorm, R); TAKE(m->zf, R); TAKE(m->xang, R * m->E); TAKE(m->gang, R * m->E);
  TAKE(m->y, R * F); TAKE(m->feat, R * F); TAKE(m->dec_in, R * din); TAKE(m->h4, R * H); TAKE(m->h5, R * D2);
  TAKE(m->cls_h, R * (m->hc > 0 ? m->hc : 1));
  TAKE(m->out, R * c->D * 2); TAKE(m->pnorm, R);
  TAKE(m->U, Gs * m->nblk * d * d * 2);
  TAKE(m->dA, R * wide); TAKE(m->dB2, R * wide); TAKE(m->dC, R * wide); TAKE(m->dskip, R * D2); TAKE(m->g4, R * H);
  TAKE(m->gz1, R * d * 2); TAKE(m->gz2, R * d * 2); TAKE(m->gz3, R * d * 2); TAKE(m->dU, (size_t)omp_get_max_threads() * d * d * 2);
  TAKE(m->pwork, pair_doubles(m));
#undef TAKE
  if (m->pairs) m->pwork = (double *)(((uintptr_t)m->pwork + 63) & ~(uintptr_t)63); /* the sweeps' vectors */
  return QDM_OK;
}

/* The feature encoding's circuit (circuits.h): n angles (RY, eq. 16), n
 * phases (H then P, eq. 17), 2n dense angles (eq. 19: RY(2x) then P(y),
 * no global phase), or n bits as RY(pi b) (eq. 13). */
static int build_encoding(qdm_unet *m) {
  int n = m->cfg.n, e;
  if (!(m->encc = qdm_circuit_new(n))) return QDM_ENOMEM;
  switch (m->cfg.encoding) {
  case QDM_ENC_ANGLE: e = qdm_enc_angle(m->encc, n, 0); break;
  case QDM_ENC_PHASE: e = qdm_enc_phase(m->encc, n, 0); break;
  case QDM_ENC_DENSE: e = qdm_enc_dense(m->encc, 2 * n, 0, QDM_DENSE_EQ19); break;
  default: e = qdm_enc_basis(m->encc, n, 0);
  }
  return e;
}

qdm_unet *qdm_unet_new(const qdm_unet_cfg *cfg, int max_rows, qdm_rng *rng) {
  if (!cfg || !rng || max_rows < 1) {
    QDM__OK(qdm_fail(QDM_EINVAL, "qdm_unet_new: NULL config or rng, or max_rows = %d < 1", max_rows));
    return NULL;
  }
  if (qdm_unet_cfg_check(cfg)) return NULL;
  qdm_unet *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  derive(m, cfg, max_rows);
  qdm_noise_parse(cfg->noise[0] ? cfg->noise : "none", &m->noise); /* validated by qdm_unet_cfg_check */
  const qdm_rng init0 = *rng; /* the shot seed derives from it, unadvanced */
  int err = QDM_OK;
  if (!cfg->classical) {
    m->circ = qdm_circuit_new(cfg->n);
    if (!m->circ || build_block(m->circ, cfg) < 0) err = QDM_EINVAL;
    /* NULL when the ansatz has gates the pair path does not cover (or noise is on) */
    if (!err && m->noise.kind == QDM_NOISE_NONE) m->pairs = qdm__pairs_new(m->circ, cfg->circuit_precision == QDM_C64);
    if (!err && cfg->measure == QDM_MEASURE_ANO) {
      m->ano = qdm_ano_new(cfg->n, cfg->ano_layout == QDM_ANO_GLOBAL ? cfg->n : cfg->ano_k, cfg->ano_layout, cfg->K);
      if (!m->ano) err = QDM_ENOMEM;
    }
    if (!err && cfg->encoding != QDM_ENC_AMPLITUDE) err = build_encoding(m);
  }
  if (!err) err = alloc_params(m);
  if (!err) err = alloc_acts(m);
  if (!err) err = init_params(m, rng);
  if (err) {
    qdm_unet_free(m);
    return NULL;
  }
  if (!cfg->classical && (m->noise.kind != QDM_NOISE_NONE || cfg->shots > 0)) {
    m->hw = qdm__hw_new(cfg, &m->noise, m->nblk, m->P, max_rows, &init0);
    if (!m->hw) {
      qdm_unet_free(m);
      return NULL;
    }
  }
  return m;
}

size_t qdm_unet_bytes(const qdm_unet_cfg *cfg, int max_rows) {
  if (!cfg || max_rows < 1 || qdm_unet_cfg_check(cfg)) return 0;
  qdm_unet m;
  memset(&m, 0, sizeof m);
  derive(&m, cfg, max_rows);
  tensor_spec ts[MAXP];
  size_t np = 0, npf = 0; /* double and float parameters (alloc_params) */
  for (int i = 0, n = tensor_specs(&m, ts); i < n; i++) {
    size_t k = 1;
    for (int j = 0; j < ts[i].ndim; j++) k *= (size_t)ts[i].shape[j];
    *(m.f32 && ts[i].group == QDM_PG_CLASSICAL ? &npf : &np) += k;
  }
  qdm_noise nz;
  qdm_circuit *c = NULL;
  qdm_noise_parse(cfg->noise[0] ? cfg->noise : "none", &nz);
  if (!cfg->classical && (c = qdm_circuit_new(cfg->n)) && build_block(c, cfg) >= 0 && nz.kind == QDM_NOISE_NONE)
    m.pairs = qdm__pairs_new(c, cfg->circuit_precision == QDM_C64); /* lanes per chunk */
  size_t bytes = 2 * param_half_bytes(np, npf) + act_doubles(&m) * sizeof(double) + act_ints(&m) * sizeof(int) +
                 qdm__pairs_bytes(m.pairs) + qdm__circuit_bytes(c);
  qdm__pairs_free(m.pairs);
  qdm_circuit_free(c);
  return bytes;
}

void qdm_unet_set_shot_seed(qdm_unet *m, uint64_t seed) {
  if (m) qdm__hw_set_seed(m->hw, seed);
}

const double *qdm_unet_features(const qdm_unet *m, int *F) {
  if (!m) return NULL;
  if (F) *F = m->F;
  return m->feat;
}

void qdm_unet_free(qdm_unet *m) {
  if (!m) return;
  if (m->ano) {
    if (m->pmem) m->ano->M = NULL; /* owned by pmem */
    qdm_ano_free(m->ano);
  }
  qdm_circuit_free(m->circ);
  qdm__pairs_free(m->pairs);
  qdm_circuit_free(m->encc);
  qdm__hw_free(m->hw);
  free(m->pmem);
  free(m->amem);
  free(m->grp);
  free(m);
}

/* The gradient buffers are contiguous (gd then gf): cleared in 64 kB
 * slices over the threads (the authors' 3.3 MB took 0.3 ms on one). */
void qdm_unet_zero_grad(qdm_unet *m) {
  char *g = (char *)m->gd;
  size_t n = (size_t)((char *)(m->gf + m->npf) - g), nb = (n + 65535) / 65536;
#pragma omp parallel for schedule(static) if (qdm__parallel_worth((double)n / 8))
  for (size_t b = 0; b < nb; b++) memset(g + b * 65536, 0, b + 1 < nb ? 65536 : n - b * 65536);
}

double *qdm_unet_params(qdm_unet *m, size_t *n) {
  if (n) *n = m ? m->np : 0;
  return m ? m->pd : NULL;
}

double *qdm_unet_grads(qdm_unet *m, size_t *n) {
  if (n) *n = m ? m->np : 0;
  return m ? m->gd : NULL;
}

float *qdm_unet_params_f32(qdm_unet *m, size_t *n) {
  if (n) *n = m ? m->npf : 0;
  return m && m->npf ? m->pf : NULL;
}

float *qdm_unet_grads_f32(qdm_unet *m, size_t *n) {
  if (n) *n = m ? m->npf : 0;
  return m && m->npf ? m->gf : NULL;
}

void qdm_unet_counts(const qdm_unet *m, size_t *circuit, size_t *ano, size_t *classical) {
  size_t s[3] = {0, 0, 0};
  for (int i = 0; i < m->nprm; i++) s[m->prm[i].group] += m->prm[i].n;
  if (circuit) *circuit = s[QDM_PG_CIRCUIT];
  if (ano) *ano = s[QDM_PG_ANO];
  if (classical) *classical = s[QDM_PG_CLASSICAL];
}

int qdm_unet_linear_shapes(const qdm_unet *m, int *in, int *out, int *dx_cols, int max) {
  const qdm_unet_cfg *c = &m->cfg;
  int H = c->hidden, D2 = 2 * c->D, din = m->F + (c->skip ? D2 : 0);
  const int io[4][3] = {{D2, H, 0}, {H, m->E, H}, {din, H, m->F}, {H, D2, H}}; /* enc1 enc2 dec1 dec2 */
  for (int i = 0; i < 4 && i < max; i++) {
    in[i] = io[i][0];
    out[i] = io[i][1];
    if (dx_cols) dx_cols[i] = io[i][2];
  }
  return 4;
}

double qdm_unet_dense_macs(const qdm_unet *m) {
  int in[4], out[4], n = qdm_unet_linear_shapes(m, in, out, NULL, 4);
  double macs = 0;
  for (int i = 0; i < n; i++) macs += (double)in[i] * out[i];
  return macs;
}

/* enc1's forward, and with the skip connection dec1's skip columns
 * (h4 = [Re, Im] x_t W_skip^T + b; decoder_forward adds the features'
 * part): the forward's two largest GEMMs, independent, both reading only
 * x_t. On exactly two threads they run one per thread, each
 * single-threaded and reading its own weights, as first_layers_backward's
 * pair: the authors' step at 2 threads went from 69.0-71.0 k to 70.6-72.8 k
 * rows/s (`qdm bench train`, 5 alternating rounds, cores on two dies). */
static void first_layers_forward(qdm_unet *m, int B) {
  const qdm_unet_cfg *c = &m->cfg;
  int H = c->hidden, D2 = 2 * c->D, F = m->F, din = F + D2;
  if (!c->skip) {
    NN(m, qdm_linear_forward, m->h1, m->xr, m->w.enc1_w, m->w.enc1_b, B, D2, H);
    return;
  }
  if (qdm__pair_of_threads((double)B * H * D2)) {
#pragma omp parallel sections num_threads(2)
    {
#pragma omp section
      NN(m, qdm_linear_forward, m->h1, m->xr, m->w.enc1_w, m->w.enc1_b, B, D2, H);
#pragma omp section
      NN(m, qdm_linear_forward_cols, m->h4, m->xr, D2, m->w.dec1_w, m->w.dec1_b, B, din, H, F, din, 0);
    }
    return;
  }
  NN(m, qdm_linear_forward, m->h1, m->xr, m->w.enc1_w, m->w.enc1_b, B, D2, H);
  NN(m, qdm_linear_forward_cols, m->h4, m->xr, D2, m->w.dec1_w, m->w.dec1_b, B, din, H, F, din, 0);
}

/* ---------------- encoder: x_t -> psi0's values (report 6.4, section 3) ---------------- */

/* amp = the E values per row the state preparation reads: unit-norm
 * amplitudes (eqs. 14-15), or the LayerNorm's output as angles (the
 * feature encodings need no normalisation: any angle is a state). */
static void encoder_forward(qdm_unet *m, const qdm_cplx *x, int B) {
  const qdm_unet_cfg *c = &m->cfg;
  int H = c->hidden, E = m->E;
  NN(m, qdm_cplx_to_reim, m->xr, x, B, c->D);
  first_layers_forward(m, B);
  NN(m, qdm_relu_forward, m->h1, m->h1, (size_t)B * H);
  NN(m, qdm_linear_forward, m->h2, m->h1, m->w.enc2_w, m->w.enc2_b, B, H, E);
  NN(m, qdm_layernorm_forward, m->h3, m->ln_mu, m->ln_rs, m->h2, m->w.ln_g, m->w.ln_b, B, E);
  if (c->encoding == QDM_ENC_AMPLITUDE) NN(m, qdm_l2norm_forward, m->amp, m->amp_n, m->h3, B, E);
  else memcpy(m->amp, m->h3, (size_t)B * E * m->esz);
}

/* The weight gradients of enc1 (dL/d its output: g1) and of dec1
 * (m->g4, left by decoder_backward), the backward's two largest GEMMs
 * and independent. On exactly two threads, in training (no dx wanted),
 * they run one per thread, each single-threaded: on the authors' shapes
 * OpenBLAS's own two-thread sgemm reaches about 1.7x its one-thread rate
 * (`qdm bench train`'s ceiling), two GEMMs side by side about 2x. */
static void first_layers_backward(qdm_unet *m, void *g1, void *gxr, int B) {
  const qdm_unet_cfg *c = &m->cfg;
  int H = c->hidden, D2 = 2 * c->D, din = m->F + (c->skip ? D2 : 0);
  if (!gxr && qdm__pair_of_threads((double)B * H * din)) {
#pragma omp parallel sections num_threads(2)
    {
#pragma omp section
      NN(m, qdm_linear_backward, NULL, m->gw.enc1_w, m->gw.enc1_b, g1, m->xr, m->w.enc1_w, B, D2, H);
#pragma omp section
      NN(m, qdm_linear_backward, NULL, m->gw.dec1_w, m->gw.dec1_b, m->g4, m->dec_in, NULL, B, din, H);
    }
    return;
  }
  NN(m, qdm_linear_backward, gxr, m->gw.enc1_w, m->gw.enc1_b, g1, m->xr, m->w.enc1_w, B, D2, H);
  NN(m, qdm_linear_backward, NULL, m->gw.dec1_w, m->gw.dec1_b, m->g4, m->dec_in, NULL, B, din, H);
}

/* damp: B x d real gradient w.r.t. the amplitudes. dx (NULL: not wanted)
 * receives the co-gradient w.r.t. x_t: the encoder's path plus the skip
 * connection's (m->dskip, left by decoder_backward); x_t enters as [Re, Im],
 * so its co-gradient is the [Re, Im] gradient read back as complex. */
static void encoder_backward(qdm_unet *m, const void *damp, int B, qdm_cplx *dx) {
  const qdm_unet_cfg *c = &m->cfg;
  int H = c->hidden, D2 = 2 * c->D, E = m->E;
  void *g3 = m->dA, *g2 = m->dB2, *g1 = m->dC, *gxr = dx ? m->dA : NULL; /* g3 is dead once g2 exists */
  if (c->encoding == QDM_ENC_AMPLITUDE) NN(m, qdm_l2norm_backward, g3, damp, m->amp, m->amp_n, B, E);
  else g3 = (void *)damp;
  NN(m, qdm_layernorm_backward, g2, m->gw.ln_g, m->gw.ln_b, g3, m->h2, m->w.ln_g, m->ln_mu, m->ln_rs, B, E);
  NN(m, qdm_linear_backward, g1, m->gw.enc2_w, m->gw.enc2_b, g2, m->h1, m->w.enc2_w, B, H, E);
  NN(m, qdm_relu_backward, g1, g1, m->h1, (size_t)B * H);
  first_layers_backward(m, g1, gxr, B);
  if (!dx) return;
  if (c->skip) add_rows(m, gxr, m->dskip, (size_t)B * D2);
  NN(m, qdm_cplx_to_reim_backward, dx, gxr, B, c->D);
}

/* ---------------- grouping rows by circuit (t, label) ---------------- */

static int group_rows(qdm_unet *m, const int *t, const int *labels, int B) {
  const qdm_unet_cfg *c = &m->cfg;
  int G = m->G;
  memset(m->gstart, 0, (G + 1) * sizeof(int));
  for (int r = 0; r < B; r++) {
    int lab = labels ? labels[r] : 0;
    if (t[r] < 1 || t[r] > c->T) return qdm_fail(QDM_EINVAL, "model: row %d has t = %d, expected 1..%d", r, t[r], c->T);
    if (c->conditional && (lab < 0 || lab >= c->classes))
      return qdm_fail(QDM_EINVAL, "model: row %d has label %d, expected 0..%d", r, lab, c->classes - 1);
    m->grp[r] = qdm_t_stratum(t[r], c->T, qdm_unet_t_groups(c)) * (c->conditional ? c->classes : 1) +
                (c->conditional ? lab : 0);
    m->gstart[m->grp[r] + 1]++;
  }
  for (int g = 0; g < G; g++) m->gstart[g + 1] += m->gstart[g];
  int *fill = (int *)m->dA; /* scratch counters */
  memcpy(fill, m->gstart, G * sizeof(int));
  for (int r = 0; r < B; r++) m->perm[fill[m->grp[r]]++] = r; /* stable: deterministic */
  return QDM_OK;
}

/* ---------------- quantum bottleneck, one group ---------------- */

static const double *theta_of(const qdm_unet *m, int g, int blk) { return m->w.theta + ((size_t)g * m->nblk + blk) * m->P; }
static double *gtheta_of(const qdm_unet *m, int g, int blk) { return m->gw.theta + ((size_t)g * m->nblk + blk) * m->P; }
static qdm_cplx *U_of(const qdm_unet *m, int g, int blk) { return m->U + ((size_t)g * m->nblk + blk) * m->d * m->d; }

void qdm_unet_set_gate_path(qdm_unet *m, int on) { m->gate_path = on; }

/* out = U(theta[g, blk]) in for nr rows: one unitary and one zgemm (fused),
 * or the circuit gate by gate on every row. */
/* A group with fewer rows than a 16-row tile is cheaper to simulate gate by
 * gate on its own rows than to build the unitary's d columns. */
static int gate_path(const qdm_unet *m, int nr) { return m->gate_path || nr <= 8 || nr < m->d / 2; }

static void block_forward(qdm_unet *m, int g, int blk, const qdm_cplx *in, qdm_cplx *out, int nr) {
  int d = m->d;
  if (gate_path(m, nr)) {
    memcpy(out, in, (size_t)nr * d * sizeof *out);
    QDM__OK(qdm_run(m->circ, theta_of(m, g, blk), NULL, 0, out, nr));
    return;
  }
  QDM__OK(qdm_unitary(m->circ, theta_of(m, g, blk), U_of(m, g, blk)));
  QDM__OK(qdm_apply_unitary(d, U_of(m, g, blk), in, out, nr));
}

/* gin = U^dagger gout (may alias nothing), dtheta[g, blk] += dL/dtheta. The
 * fused path reduces the rows to one dL/dU first; the gate path runs the
 * adjoint sweep on every row (tmp: nr x d scratch). */
static void block_backward(qdm_unet *m, int g, int blk, const qdm_cplx *in, const qdm_cplx *out,
                           const qdm_cplx *gout, qdm_cplx *gin, qdm_cplx *tmp, int nr) {
  int d = m->d;
  qdm_cplx *dU = m->dU + (size_t)omp_get_thread_num() * d * d; /* per thread */
  if (gate_path(m, nr)) {
    memcpy(tmp, out, (size_t)nr * d * sizeof *tmp);
    memcpy(gin, gout, (size_t)nr * d * sizeof *gin);
    QDM__OK(qdm_run_adjoint(m->circ, theta_of(m, g, blk), NULL, 0, tmp, gin, nr, gtheta_of(m, g, blk), NULL));
    return;
  }
  memset(dU, 0, (size_t)d * d * sizeof *dU);
  QDM__OK(qdm_apply_unitary_backward(d, U_of(m, g, blk), in, gout, gin, dU, nr));
  QDM__OK(qdm_unitary_backward(m->circ, theta_of(m, g, blk), U_of(m, g, blk), dU, gtheta_of(m, g, blk)));
}

/* Block 2 (the authors' ancilla block): with the ancilla in |+> and
 * controlled-U, the state is (|0> psi + |1> U psi) / sqrt 2; H on the
 * ancilla makes it |0> s0 + |1> s1, s0 = (I + U) psi / 2, s1 = (I - U) psi / 2,
 * so <Z_anc> = |s0|^2 - |s1|^2 = Re <psi|U|psi>. What goes on is
 * beta = a psi + b U psi: the projection on ancilla |0> keeps s0 (a = b =
 * 1/2); the authors' sum s0 + s1 is psi itself (a = 1, b = 0), so there U
 * reaches the loss only through <Z_anc>. Simulated exactly without the
 * ancilla qubit: the 2^(n+1) state never needs to exist. */
static void branch_weights(const qdm_unet *m, double *a, double *b) {
  int sum = m->cfg.ancilla_mode == QDM_ANCILLA_SUM;
  *a = sum ? 1.0 : 0.5;
  *b = sum ? 0.0 : 0.5;
}

/* The rows whose group runs on the pair path: groups of fewer than 2d rows
 * (building a d x d unitary costs about d rows of pair steps, and its
 * adjoint as much again); their (group, block) factor values built once
 * for the forward and the backward. */
static int on_pairs(const qdm_unet *m, int nr) { return m->pairs && !m->gate_path && nr > 0 && nr < 2 * m->d; }

/* The pair groups in slots by decreasing row count (ties: group order), a
 * counting sort; group g's block blk is work area blk * pslots + slot. The
 * sweeps batch groups in that order, so each batch is one chunk of the
 * work, read in place (pairs.h). The rows go in slot order (the adjoint
 * wants each area's rows together). */
static void pairs_setup(qdm_unet *m) {
  m->npair = m->pslots = 0;
  if (!m->pairs || m->gate_path) return;
  int top = 2 * m->d, first[2 * 1024 + 1] = {0}, *gof = m->pgrp, ns = 0; /* d <= 2^10 (qdm_unet_cfg_check) */
  for (int g = 0; g < m->G; g++) {
    int nr = m->gstart[g + 1] - m->gstart[g];
    if (on_pairs(m, nr)) first[top - nr]++, ns++; /* index top - nr: larger groups first */
  }
  if (!ns) return;
  for (int k = 0, at = 0; k <= top; k++) { /* counts -> first slot of each size */
    int c = first[k];
    first[k] = at, at += c;
  }
  for (int g = 0; g < m->G; g++) {
    int nr = m->gstart[g + 1] - m->gstart[g];
    if (on_pairs(m, nr)) gof[first[top - nr]++] = g;
  }
  int L = qdm__pairs_lanes(m->pairs);
  m->pslots = (ns + L - 1) / L * L;
  for (int s = 0; s < m->pslots; s++) {
    int g = gof[s < ns ? s : ns - 1]; /* padding repeats the last group's theta rows; it has no rows */
    for (int r = m->gstart[g]; s < ns && r < m->gstart[g + 1]; r++) m->ppos[m->npair] = r, m->pg0[m->npair++] = s;
    for (int b = 0; b < m->nblk; b++) m->puse[b * m->pslots + s] = g * m->nblk + b; /* its theta rows */
  }
}

/* the pair rows' work areas for block blk */
static const int *pair_groups(qdm_unet *m, int blk) {
  for (int i = 0; i < m->npair; i++) m->pgrp[i] = blk * m->pslots + m->pg0[i];
  return m->pgrp;
}

/* Block blk on every row: out = U(theta[g, blk]) in. Groups off the pair
 * path one by one (threads take whole groups), then the pair rows. */
static void blocks_forward(qdm_unet *m, int blk, const qdm_cplx *in, qdm_cplx *out, int B) {
  int d = m->d;
#pragma omp parallel for schedule(dynamic) if (B >= 64 && m->npair < B)
  for (int g = 0; g < m->G; g++) {
    int r0 = m->gstart[g], nr = m->gstart[g + 1] - r0;
    if (nr > 0 && !on_pairs(m, nr)) block_forward(m, g, blk, in + (size_t)r0 * d, out + (size_t)r0 * d, nr);
  }
  if (!m->npair) return;
  /* the block's factor values right before its sweep, which reads them
   * while they are still in cache (all blocks' at once, the first block's
   * were evicted by the others' before it ran) */
  int n0 = blk * m->pslots;
  double *w = m->pwork + qdm__pairs_work_doubles(m->pairs, n0);
  qdm__pairs_build(m->pairs, m->w.theta, m->P, m->pslots, m->puse + n0, w);
  qdm__pairs_forward(m->pairs, m->pwork, pair_groups(m, blk), m->ppos, in, out, m->npair);
}

/* The mirror: gin = U^dagger gout, dtheta[g, blk] += dL/dtheta (scratch:
 * m->dC, for the groups off the pair path; the pair path reads out and
 * gout as they are and writes gin only). */
static void blocks_backward(qdm_unet *m, int blk, const qdm_cplx *in, const qdm_cplx *out, const qdm_cplx *gout,
                            qdm_cplx *gin, int B) {
  int d = m->d;
  qdm_cplx *tmp = (qdm_cplx *)m->dC;
#pragma omp parallel for schedule(dynamic) if (B >= 64 && m->npair < B)
  for (int g = 0; g < m->G; g++) {
    size_t r0 = m->gstart[g], nr = m->gstart[g + 1] - r0, o = r0 * d;
    if (nr > 0 && !on_pairs(m, nr)) block_backward(m, g, blk, in + o, out + o, gout + o, gin + o, tmp + o, nr);
  }
  if (!m->npair) return;
  QDM__OK(qdm__pairs_adjoint(m->pairs, m->pwork, pair_groups(m, blk), m->ppos, out, NULL, gout, gin, m->npair,
                             m->gw.theta, m->P, m->puse));
}

/* Between blocks 1 and 2 (rows r0 .. r0 + nr - 1): z = Re <psi1|phi>,
 * beta = a psi1 + b phi, then l2norm, complex leaky ReLU, l2norm -> psi2. */
static void ancilla_forward(qdm_unet *m, int r0, int nr) {
  int d = m->d;
  size_t off = (size_t)r0 * d;
  qdm_cplx *p1 = m->psi1 + off, *ph = m->phi + off, *be = m->beta + off, *bh = m->bhat + off, *ga = m->gam + off;
  double a, b;
  branch_weights(m, &a, &b);
  for (int r = 0; r < nr; r++) {
    double z = 0;
    for (int i = 0; i < d; i++) {
      size_t k = (size_t)r * d + i;
      z += creal(conj(p1[k]) * ph[k]);
      be[k] = a * p1[k] + b * ph[k];
    }
    m->zf[r0 + r] = z;
  }
  QDM__OK(qdm_cl2norm_forward(bh, m->bnorm + r0, be, nr, d));
  QDM__OK(qdm_cleaky_relu_forward(ga, bh, (size_t)nr * d, m->cfg.leak));
  QDM__OK(qdm_cl2norm_forward(m->psi2 + off, m->gnorm + r0, ga, nr, d));
}

/* Its backward: g2 (the co-gradient at psi2, overwritten) -> gph at phi
 * and g1 at psi1 (direct part; block 1's share is added later). */
static void ancilla_backward(qdm_unet *m, int r0, int nr, qdm_cplx *g2, qdm_cplx *gph, qdm_cplx *g1, const double *dz) {
  int d = m->d;
  size_t off = (size_t)r0 * d, nd = (size_t)nr * d;
  const qdm_cplx *p1 = m->psi1 + off, *ph = m->phi + off;
  g2 += off, gph += off, g1 += off;
  QDM__OK(qdm_cl2norm_backward(g2, g2, m->psi2 + off, m->gnorm + r0, nr, d));
  QDM__OK(qdm_cleaky_relu_backward(g2, g2, m->bhat + off, nd, m->cfg.leak));
  QDM__OK(qdm_cl2norm_backward(g2, g2, m->bhat + off, m->bnorm + r0, nr, d));
  /* beta = a psi1 + b phi and z = Re <psi1|phi>: co-gradients add */
  double a, b;
  branch_weights(m, &a, &b);
  for (int r = 0; r < nr; r++)
    for (int i = 0; i < d; i++) {
      size_t k = (size_t)r * d + i;
      gph[k] = b * g2[k] + dz[r0 + r] * p1[k];
      g1[k] = a * g2[k] + dz[r0 + r] * ph[k];
    }
}

/* Either over the threads, one range of rows each (every row whole in one
 * thread, so the same bits on any count): serial, they held the second
 * core idle between the blocks. back: ancilla_backward with g2, gph, g1,
 * dz; else ancilla_forward (they are unused). */
static void ancilla_rows(qdm_unet *m, int B, int back, qdm_cplx *g2, qdm_cplx *gph, qdm_cplx *g1, const double *dz) {
#pragma omp parallel if (qdm__parallel_worth(8.0 * B * m->d))
  {
    int r0, r1;
    qdm__thread_part(B, &r0, &r1);
    if (r1 > r0 && back) ancilla_backward(m, r0, r1 - r0, g2, gph, g1, dz);
    else if (r1 > r0) ancilla_forward(m, r0, r1 - r0);
  }
}

/* The pair path's arithmetic for one pass over the blocks (qdm_unet_timing):
 * a step applies a 4x4 to each of a row's d/4 amplitude quadruples, 16
 * complex multiply-adds (8 flops each), so 32 d flops a row; the adjoint
 * does three such products per quadruple (psi back, lambda back, the 4x4
 * gradient sum lambda psi^dagger). */
static double pair_flops(const qdm_unet *m, int products) {
  if (!m->npair) return 0;
  return (double)m->npair * m->nblk * qdm__pairs_nops(m->pairs, NULL) * products * 32.0 * m->d;
}

/* All blocks on all B rows (group order): psi0 -> psi3, block by block so
 * that the pair path's tiles take rows of every group at once. */
static void circuits_forward(qdm_unet *m, int B) {
  pairs_setup(m);
  m->c_flops += pair_flops(m, 1);
  blocks_forward(m, 0, m->psi0, m->psi1, B);
  const qdm_cplx *in3 = m->psi1;
  if (m->cfg.ancilla) {
    blocks_forward(m, 1, m->psi1, m->phi, B);
    ancilla_rows(m, B, 0, NULL, NULL, NULL, NULL);
    in3 = m->psi2;
  }
  blocks_forward(m, m->nblk - 1, in3, m->psi3, B);
}

/* gz3: in, the co-gradient at psi3; out, the co-gradient at psi0 (it
 * doubles as scratch in between). dz = dL/d<Z_anc> per row. */
static void circuits_backward(qdm_unet *m, int B, const double *dz) {
  int last = m->nblk - 1;
  m->c_flops += pair_flops(m, 3);
  qdm_cplx *g3 = m->gz3, *g2 = m->gz2, *g1 = m->gz1;
  const qdm_cplx *in3 = m->cfg.ancilla ? m->psi2 : m->psi1;
  blocks_backward(m, last, in3, m->psi3, g3, m->cfg.ancilla ? g2 : g1, B);
  if (m->cfg.ancilla) {
    ancilla_rows(m, B, 1, g2, g3, g1, dz); /* g3 is free again: dL/dphi */
    blocks_backward(m, 1, m->psi1, m->phi, g3, g2, B);
    for (size_t k = 0; k < (size_t)B * m->d; k++) g1[k] += g2[k];
  }
  blocks_backward(m, 0, m->psi0, m->psi1, g1, g3, B);
}

/* ---------------- measurement (report section 5) ---------------- */

static void measure_forward(qdm_unet *m, int B) {
  if (m->cfg.measure == QDM_MEASURE_ANO) qdm_ano_forward(m->ano, m->psi3, B, m->y);
  else qdm_zreadout_forward(m->psi3, m->cfg.n, B, m->y);
}

static void measure_backward(qdm_unet *m, const double *dy, qdm_cplx *g3, int B) {
  memset(g3, 0, (size_t)B * m->d * sizeof *g3);
  if (m->cfg.measure == QDM_MEASURE_ANO) qdm_ano_backward(m->ano, m->psi3, B, dy, g3, (qdm_cplx *)m->gw.ano_m);
  else qdm_zreadout_backward(m->psi3, m->cfg.n, B, dy, g3);
}

/* ---------------- the whole bottleneck ---------------- */

static int nmeas(const qdm_unet *m) { return m->F - (m->cfg.ancilla ? 1 : 0); }

/* The seam between the classical layers and the circuits. The encoder's
 * amplitudes (REAL, row order) become states psi0 (complex128, group
 * order); the measured features y, z (group order) go back to the
 * decoder's features (double, row order; decoder_input makes them REAL).
 * Backward mirrors both. */
static void bottleneck_gather(qdm_unet *m, int B) {
  int d = m->d, E = m->E, enc = m->cfg.encoding;
  if (enc == QDM_ENC_AMPLITUDE) {
    for (int i = 0; i < B; i++)
      for (int k = 0; k < d; k++) m->psi0[(size_t)i * d + k] = rget(m, m->amp, (size_t)m->perm[i] * d + k);
    return;
  }
  /* a feature encoding: its circuit on |0...0>, inputs x (bits for basis) */
  for (int i = 0; i < B; i++)
    for (int k = 0; k < E; k++) {
      double v = rget(m, m->amp, (size_t)m->perm[i] * E + k);
      m->xang[(size_t)i * E + k] = enc == QDM_ENC_BASIS ? (v > 0) : v;
    }
  memset(m->psi0, 0, (size_t)B * d * sizeof *m->psi0);
  for (int i = 0; i < B; i++) m->psi0[(size_t)i * d] = 1;
  QDM__OK(qdm_run(m->encc, NULL, m->xang, E, m->psi0, B));
}

static void bottleneck_scatter(qdm_unet *m, int B) {
  int K = nmeas(m);
  for (int i = 0; i < B; i++) {
    double *f = m->feat + (size_t)m->perm[i] * m->F;
    memcpy(f, m->y + (size_t)i * K, K * sizeof(double));
    if (m->cfg.ancilla) f[K] = m->zf[i];
  }
}

/* dfeat (row order) -> dy, dz (group order) */
static void bottleneck_scatter_backward(qdm_unet *m, const double *dfeat, double *dy, double *dz, int B) {
  int K = nmeas(m);
  for (int i = 0; i < B; i++) {
    const double *f = dfeat + (size_t)m->perm[i] * m->F;
    memcpy(dy + (size_t)i * K, f, K * sizeof(double));
    dz[i] = m->cfg.ancilla ? f[K] : 0;
  }
}

/* Amplitude: psi0 = amp + 0i, so the real part of the co-gradient gpsi0 is
 * dL/damp (REAL). A feature encoding: the adjoint sweep of its circuit
 * gives dL/dx (for basis, dL/db of RY(pi b): straight-through). gpsi0 is
 * consumed (the sweep runs in place), m->dC is scratch. */
static void bottleneck_gather_backward(qdm_unet *m, qdm_cplx *gpsi0, void *damp, int B) {
  int d = m->d, E = m->E;
  if (m->cfg.encoding == QDM_ENC_AMPLITUDE) {
    for (int i = 0; i < B; i++)
      for (int k = 0; k < d; k++) rset(m, damp, (size_t)m->perm[i] * d + k, creal(gpsi0[(size_t)i * d + k]));
    return;
  }
  qdm_cplx *psi = (qdm_cplx *)m->dC;
  double *gx = m->gang;
  memcpy(psi, m->psi0, (size_t)B * d * sizeof *psi);
  memset(gx, 0, (size_t)B * E * sizeof *gx);
  QDM__OK(qdm_run_adjoint(m->encc, NULL, m->xang, E, psi, gpsi0, B, NULL, gx));
  for (int i = 0; i < B; i++)
    for (int k = 0; k < E; k++) rset(m, damp, (size_t)m->perm[i] * E + k, gx[(size_t)i * E + k]);
}

static int quantum_forward(qdm_unet *m, int B) {
  int err = QDM_OK;
  bottleneck_gather(m, B);
  if (m->noise.kind != QDM_NOISE_NONE) {
    err = qdm__hw_dm_forward(m->hw, m->circ, m->w.theta, m->ano, m->psi0, m->gstart, m->G, m->y);
  } else {
    circuits_forward(m, B);
    double ta = qdm_now();
    measure_forward(m, B);
    m->t_ano += qdm_now() - ta;
  }
  /* a device reports shot means: they replace the exact values here, and
   * the backward still differentiates the exact ones (straight-through) */
  if (!err && m->cfg.shots > 0)
    err = qdm__hw_shots(m->hw, m->ano, m->noise.kind != QDM_NOISE_NONE ? NULL : m->psi3, m->perm, B, m->y,
                        m->cfg.ancilla ? m->zf : NULL);
  if (err) return err;
  bottleneck_scatter(m, B);
  return QDM_OK;
}

/* dfeat: B x F in row order; writes damp (B x d REAL, row order) */
static int quantum_backward(qdm_unet *m, const double *dfeat, void *damp, int B) {
  double *dy = m->y, *dz = m->zf; /* forward values are no longer needed */
  bottleneck_scatter_backward(m, dfeat, dy, dz, B);
  if (m->noise.kind != QDM_NOISE_NONE) {
    int err = qdm__hw_dm_backward(m->hw, m->circ, m->w.theta, m->gw.theta, m->ano, (qdm_cplx *)m->gw.ano_m, dy, m->psi0,
                                  m->gstart, m->G, m->gz3);
    if (err) return err;
  } else {
    double ta = qdm_now();
    measure_backward(m, dy, m->gz3, B);
    m->t_ano += qdm_now() - ta;
    circuits_backward(m, B, dz);
  }
  bottleneck_gather_backward(m, m->gz3, damp, B);
  return QDM_OK;
}

/* Classical stand-in: per group, amp -> Linear(d, hc) -> tanh -> Linear(hc, F),
 * in REAL; its features go to m->feat (double) like the circuit's. */
static void classical_forward(qdm_unet *m, int B) {
  int d = m->d, hc = m->hc, F = m->F;
  void *yr = m->dA; /* one row's F outputs */
  for (int r = 0; r < B; r++) {
    size_t g = (size_t)m->grp[r];
    void *h = rat(m, m->cls_h, (size_t)r * hc);
    NN(m, qdm_linear_forward, h, rat(m, m->amp, (size_t)r * d), rat(m, m->w.bott_w1, g * hc * d),
       rat(m, m->w.bott_b1, g * hc), 1, d, hc);
    for (int k = 0; k < hc; k++) rset(m, h, k, tanh(rget(m, h, k)));
    NN(m, qdm_linear_forward, yr, h, rat(m, m->w.bott_w2, g * F * hc), rat(m, m->w.bott_b2, g * F), 1, hc, F);
    for (int j = 0; j < F; j++) m->feat[(size_t)r * F + j] = rget(m, yr, j);
  }
}

static void classical_backward(qdm_unet *m, const double *dfeat, void *damp, int B) {
  int d = m->d, hc = m->hc, F = m->F;
  void *dh = m->dB2, *dy = m->dC; /* one row's hidden and output gradients; both fit a scratch row */
  assert((size_t)hc <= (size_t)m->max_rows * m->cfg.hidden);
  for (int r = 0; r < B; r++) {
    size_t g = (size_t)m->grp[r];
    void *h = rat(m, m->cls_h, (size_t)r * hc);
    for (int j = 0; j < F; j++) rset(m, dy, j, dfeat[(size_t)r * F + j]);
    NN(m, qdm_linear_backward, dh, rat(m, m->gw.bott_w2, g * F * hc), rat(m, m->gw.bott_b2, g * F), dy, h,
       rat(m, m->w.bott_w2, g * F * hc), 1, hc, F);
    for (int k = 0; k < hc; k++) rset(m, dh, k, rget(m, dh, k) * (1 - rget(m, h, k) * rget(m, h, k)));
    NN(m, qdm_linear_backward, rat(m, damp, (size_t)r * d), rat(m, m->gw.bott_w1, g * hc * d),
       rat(m, m->gw.bott_b1, g * hc), dh, rat(m, m->amp, (size_t)r * d), rat(m, m->w.bott_w1, g * hc * d), 1, d, hc);
  }
}

/* ---------------- decoder with the skip connection ---------------- */

/* The decoder's input rows [features, skip = [Re, Im] of x_t] in REAL: the
 * other side of the seam, where the bottleneck's double features become
 * numbers of the classical part. */
static void decoder_input(qdm_unet *m, int B) {
  int F = m->F, D2 = 2 * m->cfg.D, skip = m->cfg.skip;
  size_t din = (size_t)F + (skip ? D2 : 0);
#pragma omp parallel for schedule(static) if (qdm__parallel_worth((double)B * din))
  for (int r = 0; r < B; r++) {
    for (int j = 0; j < F; j++) rset(m, m->dec_in, r * din + j, m->feat[(size_t)r * F + j]);
    if (skip) memcpy(rat(m, m->dec_in, r * din + F), rat(m, m->xr, (size_t)r * D2), D2 * m->esz);
  }
}

/* gin (B rows of ld REAL) -> dfeat (B x F double) and, when gin holds the
 * skip's columns too (ld > F), their share m->dskip */
static void decoder_input_backward(qdm_unet *m, const void *gin, size_t ld, int B, double *dfeat) {
  int F = m->F, D2 = 2 * m->cfg.D, skip = m->cfg.skip && ld > (size_t)F;
#pragma omp parallel for schedule(static) if (qdm__parallel_worth((double)B * ld))
  for (int r = 0; r < B; r++) {
    for (int j = 0; j < F; j++) dfeat[(size_t)r * F + j] = rget(m, gin, r * ld + j);
    if (skip) memcpy(rat(m, m->dskip, (size_t)r * D2), rat(m, gin, r * ld + F), D2 * m->esz);
  }
}

/* The prediction: Linear -> ReLU -> Linear in REAL, read as complex
 * (complex128) and normalised in double, where the loss takes over. */
static void decoder_forward(qdm_unet *m, int B, qdm_cplx *out) {
  const qdm_unet_cfg *c = &m->cfg;
  int H = c->hidden, D2 = 2 * c->D, din = m->F + (c->skip ? D2 : 0);
  decoder_input(m, B);
  if (c->skip) /* h4 holds the skip columns' part already (first_layers_forward) */
    NN(m, qdm_linear_forward_cols, m->h4, m->dec_in, din, m->w.dec1_w, NULL, B, din, H, 0, m->F, 1);
  else NN(m, qdm_linear_forward, m->h4, m->dec_in, m->w.dec1_w, m->w.dec1_b, B, din, H);
  NN(m, qdm_relu_forward, m->h4, m->h4, (size_t)B * H);
  NN(m, qdm_linear_forward, m->h5, m->h4, m->w.dec2_w, m->w.dec2_b, B, H, D2);
  NN(m, qdm_reim_to_cplx_l2norm, m->out, m->pnorm, m->h5, B, c->D);
  if (out) memcpy(out, m->out, (size_t)B * c->D * sizeof *out);
}

/* writes dL/dfeat (B x F) into dfeat, and the skip's share of dL/dx_t
 * into m->dskip when want_dx. Training wants no dx: the skip's 2D columns
 * of dec1's input gradient are then not formed (dec1's dx GEMM shrinks
 * from F + 2D columns to F: 12% of the authors' dense flops). */
static void decoder_backward(qdm_unet *m, const qdm_cplx *dout, int B, double *dfeat, int want_dx) {
  const qdm_unet_cfg *c = &m->cfg;
  int H = c->hidden, D2 = 2 * c->D, din = m->F + (c->skip ? D2 : 0);
  void *g5 = m->dB2, *g4 = m->g4, *gin = m->dA;
  NN(m, qdm_reim_to_cplx_l2norm_backward, g5, dout, m->out, m->pnorm, B, c->D);
  NN(m, qdm_linear_backward, g4, m->gw.dec2_w, m->gw.dec2_b, g5, m->h4, m->w.dec2_w, B, H, D2);
  NN(m, qdm_relu_backward, g4, g4, m->h4, (size_t)B * H);
  int head = c->skip && !want_dx; /* only the features' columns of dL/d(dec_in) */
  if (head) NN(m, qdm_linear_backward_head, gin, m->F, g4, m->w.dec1_w, B, din, H);
  else NN(m, qdm_linear_backward, gin, NULL, NULL, g4, NULL, m->w.dec1_w, B, din, H); /* its dW: first_layers_backward */
  decoder_input_backward(m, gin, head ? (size_t)m->F : (size_t)din, B, dfeat);
}

/* ---------------- the whole model ---------------- */

/* ---------------- what an outside optimiser of the circuit table needs ---------------- */

const qdm_circuit *qdm_unet_block_circuit(const qdm_unet *m, int *nblocks, int *P, int *groups) {
  if (nblocks) *nblocks = m->nblk;
  if (P) *P = m->P;
  if (groups) *groups = m->G;
  return m->circ;
}

int qdm_unet_block_inputs(const qdm_unet *m, int g, int blk, const qdm_cplx **psi, int *rows) {
  if (!m->circ || g < 0 || g >= m->G || blk < 0 || blk >= m->nblk)
    return qdm_fail(QDM_EINVAL, "qdm_unet_block_inputs: group %d / block %d out of range (or no circuit)", g, blk);
  const qdm_cplx *in[3] = {m->psi0, m->psi1, m->cfg.ancilla ? m->psi2 : m->psi1};
  int r0 = m->gstart[g];
  *rows = m->B > 0 ? m->gstart[g + 1] - r0 : 0;
  *psi = in[blk == m->nblk - 1 ? 2 : blk] + (size_t)r0 * m->d;
  return QDM_OK;
}

int qdm_unet_forward(qdm_unet *m, const qdm_cplx *x, const int *t, const int *labels, int B, qdm_cplx *out) {
  if (!m || !x || !t || B < 1) return qdm_fail(QDM_EINVAL, "qdm_unet_forward: NULL argument or B = %d < 1", B);
  if (B > m->max_rows) return qdm_fail(QDM_EINVAL, "qdm_unet_forward: B = %d rows, the model was sized for %d", B, m->max_rows);
  if (m->cfg.conditional && m->cfg.classes > 1 && !labels)
    return qdm_fail(QDM_EINVAL, "qdm_unet_forward: a conditional model needs labels");
  int err = group_rows(m, t, labels, B);
  if (err) return err;
  m->B = 0; /* no backward until this forward completes */
  if (m->hw && m->cfg.shots > 0) qdm__hw_seed_rows(m->hw, x, m->cfg.D, t, labels, B);
  double t0 = qdm_now(), a0 = m->t_ano;
  encoder_forward(m, x, B);
  double t1 = qdm_now();
  if (m->cfg.classical) classical_forward(m, B);
  else if ((err = quantum_forward(m, B))) return err;
  m->B = B;
  double t2 = qdm_now();
  decoder_forward(m, B, out);
  double t3 = qdm_now();
  m->t_dense += (t1 - t0) + (t3 - t2);
  m->t_circuit += t2 - t1 - (m->t_ano - a0);
  return QDM_OK;
}

const qdm_cplx *qdm_unet_output(const qdm_unet *m) { return m ? m->out : NULL; }

int qdm_unet_backward(qdm_unet *m, const qdm_cplx *dout, qdm_cplx *dx) {
  if (!m || !dout || m->B < 1) return qdm_fail(QDM_EINVAL, "qdm_unet_backward: no forward pass to differentiate");
  int B = m->B;
  double *dfeat = m->feat; /* forward features are consumed by now */
  double t0 = qdm_now(), a0 = m->t_ano;
  decoder_backward(m, dout, B, dfeat, dx != NULL);
  double t1 = qdm_now();
  void *damp = m->h3; /* LayerNorm output is not needed by backward */
  int err = QDM_OK;
  if (m->cfg.classical) classical_backward(m, dfeat, damp, B);
  else err = quantum_backward(m, dfeat, damp, B);
  if (err) return err;
  double t2 = qdm_now();
  encoder_backward(m, damp, B, dx);
  double t3 = qdm_now();
  m->t_dense += (t1 - t0) + (t3 - t2);
  m->t_circuit += t2 - t1 - (m->t_ano - a0);
  return QDM_OK;
}
