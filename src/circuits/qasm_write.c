/* qasm_write.c -- OpenQASM 3 out: every gate of a qdm circuit as the
 * stdgates.inc gate (or `ctrl @` form) with the same matrix, angles as
 * exact expressions in the inputs theta_<i> or as bound values. The
 * conventions and what has no OpenQASM form are in include/qdm/circuits.h
 * ("OpenQASM"); qasm_read.c reads everything written here back exactly. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/circuits.h"
#include "qdm/io.h"

static const char *const base_name[QDM_GKINDS] = {
    "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "p", "U", "swap", "rxx", "ryy", "rzz",
    NULL, NULL};

/* exact definitions of the gates stdgates.inc lacks: exp(-i theta P(x)P / 2)
 * = (V (x) V)^dagger RZZ(theta) (V (x) V) with V Z V^dagger = P, and
 * RZZ = CX (I (x) RZ) CX */
static const char *const pp_def[3] = {
    "gate rxx(theta) a, b { h a; h b; cx a, b; rz(theta) b; cx a, b; h a; h b; }\n",
    "gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; rx(-pi/2) a; rx(-pi/2) b; }\n",
    "gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }\n"};

static int nangles(int kind) {
  if (kind == QDM_GU3) return 3;
  return (kind >= QDM_GRX && kind <= QDM_GP) || (kind >= QDM_GRXX && kind <= QDM_GRZZ);
}

/* The shortest %g form that reads back to v. */
static void fmt_double(char *b, size_t n, double v) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(b, n, "%.*g", prec, v);
    if (strtod(b, NULL) == v) return;
  }
}

/* k*pi/m when (k * pi) / m, which is what the reader computes, is exactly v. */
static void fmt_const(char *b, size_t n, double v) {
  static const int den[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024};
  for (size_t i = 0; v != 0 && fabs(v) < 64 * M_PI && i < sizeof den / sizeof *den; i++) {
    double k = nearbyint(v * den[i] / M_PI);
    if (k == 0 || (k * M_PI) / den[i] != v) continue;
    int w = k == 1 ? snprintf(b, n, "pi") : k == -1 ? snprintf(b, n, "-pi") : snprintf(b, n, "%.0f*pi", k);
    if (den[i] != 1 && w > 0 && (size_t)w < n) snprintf(b + w, n - w, "/%d", den[i]);
    return;
  }
  fmt_double(b, n, v);
}

/* a * theta_i + b, or its value when theta is given */
static void fmt_angle(char *b, size_t n, qdm_angle a, const double *theta) {
  if (a.src < 0 || a.a == 0 || theta) {
    fmt_const(b, n, a.src >= 0 && theta ? a.a * theta[a.src] + a.b : a.b);
    return;
  }
  char k[64], c[64];
  if (a.a == 1) snprintf(b, n, "theta_%d", a.src);
  else if (a.a == -1) snprintf(b, n, "-theta_%d", a.src);
  else fmt_const(k, sizeof k, a.a), snprintf(b, n, "%s*theta_%d", k, a.src);
  if (a.b == 0) return;
  fmt_const(c, sizeof c, fabs(a.b));
  size_t w = strlen(b);
  snprintf(b + w, n - w, " %c %s", a.b > 0 ? '+' : '-', c);
}

/* One gate line: the c-prefixed stdgates.inc name when there is one for
 * this many controls, else ctrl(k) @ base; controls first, ascending. */
static void w_gate(FILE *f, int kind, const qdm_angle *ang, const double *theta, uint32_t cm, const int *t, int nt) {
  int nc = __builtin_popcount(cm), na = nangles(kind);
  int cnamed = nc == 1 && (kind == QDM_GX || kind == QDM_GY || kind == QDM_GZ || kind == QDM_GH || kind == QDM_GP ||
                           kind == QDM_GRX || kind == QDM_GRY || kind == QDM_GRZ || kind == QDM_GSWAP);
  if (nc == 2 && kind == QDM_GX) fputs("ccx", f);
  else if (cnamed) fprintf(f, "c%s", base_name[kind]);
  else if (nc == 1) fprintf(f, "ctrl @ %s", base_name[kind]);
  else if (nc > 1) fprintf(f, "ctrl(%d) @ %s", nc, base_name[kind]);
  else fputs(base_name[kind], f);
  for (int j = 0; j < na; j++) {
    char b[160];
    fmt_angle(b, sizeof b, ang[j], theta);
    fprintf(f, "%s%s", j ? ", " : "(", b);
  }
  if (na) fputc(')', f);
  const char *sep = " ";
  for (int q = 0; q < 32; q++)
    if (cm >> q & 1) fprintf(f, "%sq[%d]", sep, q), sep = ", ";
  for (int i = 0; i < nt; i++) fprintf(f, "%sq[%d]", sep, t[i]), sep = ", ";
  fputs(";\n", f);
}

/* A phase gate p(v) on t under controls cm; with neither, gphase(v). */
static void w_phase(FILE *f, double v, uint32_t cm, int t) {
  qdm_angle a = qdm_fixed(v);
  if (t < 0 && !cm) {
    char b[64];
    fmt_const(b, sizeof b, v);
    fprintf(f, "gphase(%s);\n", b);
    return;
  }
  if (t < 0) t = __builtin_ctz(cm), cm &= ~(1u << t);
  w_gate(f, QDM_GP, &a, NULL, cm, &t, 1);
}

/* DIAG: the Moebius coefficients of its phases (circuits.h), each a
 * controlled phase; zero ones are left out. */
static void w_diag(FILE *f, const qdm_circuit *c, const qdm_gate *g) {
  int k = g->nt, d = 1 << k;
  double phi[1 << QDM_MAX_TARGETS];
  for (int j = 0; j < d; j++) phi[j] = carg(c->pool[g->mat + j]);
  for (int S = 0; S < d; S++) {
    double cs = 0;
    for (int T = S;; T = (T - 1) & S) { /* every subset T of S */
      cs += (__builtin_popcount(S ^ T) & 1 ? -1 : 1) * phi[T];
      if (!T) break;
    }
    if (cs == 0) continue;
    if (!S) {
      w_phase(f, cs, g->cmask, -1);
      continue;
    }
    int top = 31 - __builtin_clz((unsigned)S);
    uint32_t cm = g->cmask;
    for (int j = 0; j < top; j++)
      if (S >> j & 1) cm |= 1u << g->t[j];
    w_phase(f, cs, cm, g->t[top]);
  }
}

/* Everything that can fail is checked before anything is written. */
static int check(const qdm_circuit *c, const double *theta) {
  for (int i = 0; i < c->ngates; i++) {
    const qdm_gate *g = &c->g[i];
    const char *nm = qdm_gate_name(g->kind);
    if (g->kind >= QDM_GKINDS) return qdm_fail(QDM_EINVAL, "OpenQASM export: gate %d has unknown kind %d", i, g->kind);
    if (g->kind == QDM_GDENSE)
      return qdm_fail(QDM_EINVAL, "OpenQASM export: gate %d (DENSE on %d qubits) has no OpenQASM form (qdm does not "
                      "synthesise dense unitaries into gates)", i, g->nt);
    for (int j = 0; g->kind == QDM_GDIAG && j < (1 << g->nt); j++)
      if (fabs(cabs(c->pool[g->mat + j]) - 1) > 1e-12)
        return qdm_fail(QDM_EINVAL, "OpenQASM export: gate %d (DIAG) entry %d has modulus %.17g; only phases (modulus "
                        "1) have an OpenQASM form", i, j, cabs(c->pool[g->mat + j]));
    for (int j = 0; j < nangles(g->kind); j++) {
      qdm_angle a = g->ang[j];
      if (a.src <= -2)
        return qdm_fail(QDM_EINVAL, "OpenQASM export: gate %d (%s) reads the per-row input x[%d]; OpenQASM needs "
                        "parameters or bound values", i, nm, -a.src - 2);
      if (theta && a.src >= 0 && !isfinite(theta[a.src]))
        return qdm_fail(QDM_EINVAL, "OpenQASM export: theta[%d] = %g is not finite", a.src, theta[a.src]);
    }
  }
  return QDM_OK;
}

static void w_header(FILE *f, const qdm_circuit *c, const double *theta, const char *comment) {
  fprintf(f, "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n// written by qdm %s: %d qubits, %d gates, %d parameters %s\n"
          "// qubit q[i] is qdm qubit i, bit i of a basis index (q[0] least significant)\n",
          QDM_VERSION, c->n, c->ngates, c->nparams, theta ? "bound to values" : "as inputs theta_<i>");
  for (const char *s = comment; s && *s;) {
    const char *e = strchr(s, '\n');
    int len = e ? (int)(e - s) : (int)strlen(s);
    fprintf(f, "// %.*s\n", len, s);
    s += len + (e != NULL);
  }
  for (int i = 0; !theta && i < c->nparams; i++) fprintf(f, "input float[64] theta_%d;\n", i);
  int used[3] = {0, 0, 0};
  for (int i = 0; i < c->ngates; i++)
    if (c->g[i].kind >= QDM_GRXX && c->g[i].kind <= QDM_GRZZ) used[c->g[i].kind - QDM_GRXX] = 1;
  for (int k = 0; k < 3; k++)
    if (used[k]) fputs(pp_def[k], f);
  fprintf(f, "qubit[%d] q;\n", c->n);
}

int qdm_qasm_fwrite(FILE *f, const qdm_circuit *c, const double *theta, const char *comment) {
  if (!f || !c) return qdm_fail(QDM_EINVAL, "qdm_qasm_fwrite: NULL file or circuit");
  int e = check(c, theta);
  if (e) return e;
  w_header(f, c, theta, comment);
  for (int i = 0; i < c->ngates; i++) {
    const qdm_gate *g = &c->g[i];
    int t[QDM_MAX_TARGETS];
    for (int j = 0; j < g->nt; j++) t[j] = g->t[j];
    if (g->kind == QDM_GDIAG) w_diag(f, c, g);
    else w_gate(f, g->kind, g->ang, theta, g->cmask, t, g->nt);
  }
  return ferror(f) ? qdm_fail(QDM_EIO, "OpenQASM export: write error") : QDM_OK;
}

int qdm_qasm_write(const char *path, const qdm_circuit *c, const double *theta, const char *comment) {
  if (!path || !c) return qdm_fail(QDM_EINVAL, "qdm_qasm_write: NULL path or circuit");
  int e = check(c, theta);
  qdm_atomic a;
  if (e || (e = qdm_atomic_open(&a, path))) return e;
  if ((e = qdm_qasm_fwrite(a.f, c, theta, comment))) {
    qdm_atomic_abort(&a);
    return qdm_fail_wrap(e, "%s", path);
  }
  return qdm_atomic_commit(&a);
}
