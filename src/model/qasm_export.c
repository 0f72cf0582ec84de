/* qasm_export.c -- the trained bottleneck as OpenQASM 3: one file per
 * (t, label) group and circuit block with the trained angles bound, block 2
 * as the ancilla circuit the model means, and the measurement (ANO
 * Hermitians or Pauli-Z) in observables.json, since a Hermitian matrix is
 * not an OpenQASM object. Layout of the model: include/qdm/model.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/io.h"
#include "qdm/diffusion.h"
#include "qdm/model.h"

static const double *tensor(qdm_unet *m, const char *name) {
  for (int i = 0; i < qdm_unet_nparams(m); i++) {
    const qdm_unet_param *p = qdm_unet_param_at(m, i);
    if (!strcmp(p->name, name)) return p->p;
  }
  return NULL;
}

/* Block 2 on n + 1 qubits: H on the ancilla q[n], U2 controlled by it, H
 * again; keeping the ancilla's |0> branch leaves (I + U2) psi / 2. */
static qdm_circuit *ancilla_circuit(const qdm_circuit *u) {
  qdm_circuit *c = qdm_circuit_new(u->n + 1);
  if (c && (qdm_add1(c, QDM_GH, u->n) || qdm_append(c, u, 0, 1u << u->n) || qdm_add1(c, QDM_GH, u->n))) {
    qdm_circuit_free(c);
    c = NULL;
  }
  return c;
}

static const char *const block_about[3] = {
    "block 1: U1, applied to the encoder's amplitude state psi0 on q[0..%d]",
    "block 2 (ancilla): q[%d] is the ancilla (H, controlled-U2, H); the model keeps the ancilla's |0> branch\n"
    "(I + U2) psi / 2, renormalises it and applies a complex leaky ReLU (classical, not in this file);\n"
    "<Z> of the ancilla is the feature Re <psi|U2|psi>",
    "block 3: U3 on q[0..%d], then the measurement described in observables.json"};
/* block 2 with both branches kept (QDM_ANCILLA_SUM, the authors' code) */
static const char *const block2_sum =
    "block 2 (ancilla): q[%d] is the ancilla (H, controlled-U2, H); the model keeps the sum of both ancilla\n"
    "branches, s0 + s1 = psi, the block's input (renormalised, then a complex leaky ReLU: classical, not in\n"
    "this file), so U2 acts only through <Z> of the ancilla, the feature Re <psi|U2|psi>";

/* One block of one group: dir/tTT[_labelL]_blockB.qasm */
static int write_block(const qdm_unet *m, const qdm_circuit *u, qdm_circuit *anc, const char *dir, int g, int blk,
                       const double *theta) {
  const qdm_unet_cfg *c = qdm_unet_config(m);
  /* t: the step, or with t_groups the stratum's first step (qdm_t_stratum_bounds) */
  int per = c->conditional ? c->classes : 1, t = g / per + 1, label = g % per, nblk = c->ancilla ? 3 : 2, hi;
  if (c->t_groups > 0) qdm_t_stratum_bounds(t - 1, c->T, c->t_groups, &t, &hi);
  int b = blk == 0 ? 1 : blk == nblk - 1 ? 3 : 2;
  char name[96], path[4200], about[1024];
  if (c->conditional) snprintf(name, sizeof name, "t%02d_label%d_block%d.qasm", t, label, b);
  else snprintf(name, sizeof name, "t%02d_block%d.qasm", t, b);
  int e = qdm_path_join(path, sizeof path, dir, name);
  if (e) return e;
  int w = snprintf(about, sizeof about, "qdm model bottleneck: t = %d", t);
  if (c->conditional) w += snprintf(about + w, sizeof about - w, ", label = %d", label);
  w += snprintf(about + w, sizeof about - w, ", ansatz %s with %d layer(s), angles bound\n", c->ansatz, c->layers);
  const char *what = b == 2 && c->ancilla_mode == QDM_ANCILLA_SUM ? block2_sum : block_about[b - 1];
  w += snprintf(about + w, sizeof about - w, what, b == 2 ? c->n : c->n - 1);
  if (c->noise[0] && strcmp(c->noise, "none"))
    snprintf(about + w, sizeof about - w, "\ntrained with noise %s after every gate (not in this file)", c->noise);
  return qdm_qasm_write(path, b == 2 ? anc : u, theta, about);
}

/* observables.json: the K Hermitians H_k = (M_k + M_k^dagger) / 2 as re/im
 * matrices, or the Pauli-Z readout. */
static int write_observables(qdm_unet *m, const char *dir) {
  const qdm_unet_cfg *c = qdm_unet_config(m);
  int ano = c->measure == QDM_MEASURE_ANO, local = c->ano_layout != QDM_ANO_GLOBAL;
  char path[4200];
  qdm_atomic a;
  qdm_ano *o = ano ? qdm_ano_new(c->n, local ? c->ano_k : c->n, c->ano_layout, c->K) : NULL;
  int d = o ? o->d : 0, K = o ? o->K : 0; /* local layouts: K per site set, 2^k x 2^k each */
  qdm_cplx *H = o ? malloc(sizeof *H * (size_t)K * d * d) : NULL;
  int e = ano && (!o || !H) ? qdm_fail(QDM_ENOMEM, "OpenQASM export: out of memory") : QDM_OK;
  if (!e && ano) memcpy(o->M, tensor(m, "ano.M"), sizeof *H * (size_t)K * d * d);
  if (!e && ano) e = qdm_ano_hermitian(o, H);
  if (!e) e = qdm_path_join(path, sizeof path, dir, "observables.json");
  if (!e) e = qdm_atomic_open(&a, path);
  if (!e) {
    qdm_json j;
    qdm_json_init(&j, a.f, 1);
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "measure", ano ? "ano" : "pauli-z");
    qdm_json_kv_int(&j, "qubits", c->n);
    qdm_json_kv_str(&j, "basis", "index i = sum_q b_q 2^q over q[0..n-1] of the block-3 file (q[0] least significant)");
    qdm_json_kv_str(&j, "features", ano ? "y_k = <psi|H_k|psi> after block 3, H_k = (M_k + M_k^dagger) / 2 "
                                          "(report eqs. 21-22), for every (t, label)"
                                        : "y_q = <psi|Z_q|psi> after block 3, q = 0..n-1");
    qdm_json_kv_str(&j, "encoding", qdm_enum_str(qdm_encoding_names, c->encoding));
    qdm_json_kv_int(&j, "K", ano ? K : c->n);
    if (ano) {
      qdm_json_kv_str(&j, "layout", qdm_enum_str(qdm_ano_layout_names, c->ano_layout));
      qdm_json_key(&j, "sites"); /* per observable its qubits; sites[k][0] is the LSB of its local index */
      qdm_json_arr(&j);
      for (int k = 0; k < K; k++) {
        qdm_json_arr(&j);
        for (int i = 0; i < o->k; i++) qdm_json_int(&j, o->sites[(size_t)(k / o->per_set) * o->k + i]);
        qdm_json_arr_end(&j);
      }
      qdm_json_arr_end(&j);
    }
    for (int part = 0; ano && part < 2; part++) {
      qdm_json_key(&j, part ? "im" : "re"); /* [k][row][column] */
      qdm_json_arr(&j);
      for (int k = 0; k < K; k++) {
        qdm_json_arr(&j);
        for (int r = 0; r < d; r++) {
          const qdm_cplx *row = H + ((size_t)k * d + r) * d;
          qdm_json_arr(&j);
          for (int s = 0; s < d; s++) qdm_json_num(&j, part ? cimag(row[s]) : creal(row[s]));
          qdm_json_arr_end(&j);
        }
        qdm_json_arr_end(&j);
      }
      qdm_json_arr_end(&j);
    }
    qdm_json_obj_end(&j);
    qdm_json_end(&j);
    e = qdm_atomic_commit(&a);
  }
  free(H);
  qdm_ano_free(o);
  return e;
}

int qdm_unet_write_qasm(qdm_unet *m, const char *dir) {
  if (!m || !dir) return qdm_fail(QDM_EINVAL, "qdm_unet_write_qasm: NULL model or directory");
  int nblk, P, G;
  const qdm_circuit *u = qdm_unet_block_circuit(m, &nblk, &P, &G);
  if (!u) return qdm_fail(QDM_EINVAL, "OpenQASM export: the model has a classical bottleneck (no circuits)");
  const double *theta = tensor(m, "circuit.theta");
  qdm_circuit *anc = ancilla_circuit(u);
  int e = anc ? qdm_mkdirs(dir) : qdm_fail(QDM_ENOMEM, "OpenQASM export: out of memory");
  for (int g = 0; g < G && !e; g++)
    for (int blk = 0; blk < nblk && !e; blk++) e = write_block(m, u, anc, dir, g, blk, theta + ((size_t)g * nblk + blk) * P);
  qdm_circuit_free(anc);
  return e ? e : write_observables(m, dir);
}
