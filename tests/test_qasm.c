/* test_qasm.c -- OpenQASM in and out against references that do not come
 * from the reader or writer: the same circuit built directly with the qsim
 * API (export -> import of every ansatz family, bound and unbound), the
 * DFT matrix for hand-written QFTs, the GHZ state, textbook gate matrices,
 * and qelib1.inc's own decompositions (as user gate definitions) for the
 * controlled gates, up to the global phase OpenQASM 2 leaves free.
 * Malformed input must give one line naming the file and line. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "check.h"
#include "qdm/circuits.h"
#include "tmpdir.h"

static qdm_rng rng;
static double unif(double lo, double hi) { return lo + (hi - lo) * qdm_rng_uniform(&rng); }

static double maxdiff(const qdm_cplx *a, const qdm_cplx *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, cabs(a[i] - b[i]));
  return m;
}

/* 1 - |tr(V^dagger U)| / dim: 0 iff U = e^{i phi} V */
static double phase_dist(const qdm_cplx *U, const qdm_cplx *V, int dim) {
  qdm_cplx s = 0;
  for (int i = 0; i < dim * dim; i++) s += conj(V[i]) * U[i];
  return 1 - cabs(s) / dim;
}

static int parse(const char *text, qdm_qasm *q) { return qdm_qasm_parse(text, strlen(text), "t.qasm", q); }

/* the unitary of a text with no parameters (dim x dim); 0 on success */
static int text_unitary(const char *text, int n, qdm_cplx *U) {
  qdm_qasm q;
  if (parse(text, &q)) {
    fprintf(stderr, "  parse: %s\n", qdm_errmsg());
    return -1;
  }
  int bad = q.c->n != n || qdm_unitary(q.c, NULL, U);
  qdm_qasm_free(&q);
  return bad;
}

/* ---------------- export -> import ---------------- */

/* c written unbound and bound, read back: same unitary at theta. */
static void roundtrip(const qdm_circuit *c, const double *theta, const char *what, double tol, int up_to_phase) {
  int dim = 1 << c->n;
  qdm_cplx *U0 = malloc(sizeof(qdm_cplx) * dim * dim), *U1 = malloc(sizeof(qdm_cplx) * dim * dim);
  CHECK(qdm_unitary(c, theta, U0) == QDM_OK, "%s: unitary", what);
  for (int bound = 0; bound < 2; bound++) {
    const char *path = tpath(bound ? "rt_bound.qasm" : "rt.qasm");
    qdm_qasm q;
    int e = qdm_qasm_write(path, c, bound ? theta : NULL, "round trip\nsecond line");
    CHECK(e == QDM_OK, "%s: write: %s", what, qdm_errmsg());
    e = qdm_qasm_read(path, &q);
    CHECK(e == QDM_OK, "%s (bound %d): read: %s", what, bound, qdm_errmsg());
    if (e) continue;
    CHECK(q.c->n == c->n && q.version == 3, "%s: %d qubits, version %d", what, q.c->n, q.version);
    CHECK(q.nparams == (bound ? 0 : c->nparams), "%s (bound %d): %d parameters, want %d", what, bound, q.nparams,
          bound ? 0 : c->nparams);
    CHECK(qdm_unitary(q.c, bound ? NULL : theta, U1) == QDM_OK, "%s: imported unitary", what);
    double d = up_to_phase ? phase_dist(U1, U0, dim) : maxdiff(U1, U0, (size_t)dim * dim);
    CHECK(d <= tol, "%s (bound %d): imported unitary differs by %.3g", what, bound, d);
    qdm_qasm_free(&q);
  }
  free(U0);
  free(U1);
}

static void test_roundtrip_ansatz(void) {
  for (int n = 3; n <= 4; n++)
    for (int i = 0; qdm_ansatz_name(i); i++) {
      const char *nm = qdm_ansatz_name(i);
      qdm_ansatz_opts o = {i % 2 ? QDM_INIT_RY_PI4 : QDM_INIT_NONE, 1};
      qdm_circuit *c = qdm_circuit_new(n);
      int P = qdm_ansatz_build(c, nm, 2, 0, &o);
      if (P < 0 && !strcmp(nm, "mera") && n == 3) { /* mera needs 2^k qubits */
        qdm_circuit_free(c);
        continue;
      }
      CHECK(P > 0, "%s builds: %s", nm, qdm_errmsg());
      double th[512];
      for (int k = 0; k < P && k < 512; k++) th[k] = unif(-7, 7);
      char what[64];
      snprintf(what, sizeof what, "%s n=%d", nm, n);
      roundtrip(c, th, what, 1e-12, 0);
      qdm_circuit_free(c);
    }
}

/* every gate kind, with 0, 1 and 2 controls, and affine angles */
static void test_roundtrip_kinds(void) {
  qdm_circuit *c = qdm_circuit_new(4);
  int e = 0;
  for (int k = QDM_GI; k <= QDM_GSX; k++) {
    e |= qdm_add1(c, k, k % 4);
    e |= qdm_addc(c, k, (k + 1) % 4, k % 4, qdm_fixed(0));
    qdm_gate g = c->g[c->ngates - 1];
    g.cmask |= 1u << ((k + 2) % 4);
    e |= qdm_add(c, g);
  }
  for (int k = QDM_GRX; k <= QDM_GP; k++) {
    e |= qdm_addr(c, k, k % 4, qdm_par_affine(k - QDM_GRX, -2.5, M_PI / 3));
    e |= qdm_addc(c, k, 3, k % 3, qdm_par_affine(4, 0.125, -0.1));
  }
  e |= qdm_u3(c, 2, qdm_par(5), qdm_par_affine(6, 3, 1), qdm_par_affine(7, -1, -M_PI));
  qdm_gate g = c->g[c->ngates - 1];
  g.cmask = 0x9;
  e |= qdm_add(c, g);
  for (int k = QDM_GSWAP; k <= QDM_GRZZ; k++) {
    e |= qdm_add2(c, k, 1, 3, qdm_par_affine(8 + k - QDM_GSWAP, 1.5, 0.25));
    g = c->g[c->ngates - 1];
    g.cmask = 0x1;
    e |= qdm_add(c, g);
  }
  int t2[2] = {2, 0};
  qdm_cplx d[4];
  for (int j = 0; j < 4; j++) d[j] = cexp(I * unif(-3, 3));
  e |= qdm_diag(c, 2, t2, d);
  g = c->g[--c->ngates]; /* re-added with a control: its constant phase becomes a phase on the control */
  g.cmask = 0x2;
  e |= qdm_add(c, g);
  CHECK(!e, "kinds circuit builds: %s", qdm_errmsg());
  double th[12];
  for (int k = 0; k < 12; k++) th[k] = unif(-4, 4);
  roundtrip(c, th, "every kind", 1e-12, 0);
  /* an uncontrolled DIAG keeps its constant phase only as gphase, which a
   * qdm circuit (no global phase) drops when reading */
  qdm_circuit *c2 = qdm_circuit_new(3);
  int t3[3] = {0, 2, 1};
  qdm_cplx d3[8];
  for (int j = 0; j < 8; j++) d3[j] = cexp(I * unif(-3, 3));
  CHECK(qdm_diag(c2, 3, t3, d3) == QDM_OK && qdm_addr(c2, QDM_GRX, 1, qdm_par(0)) == QDM_OK, "diag circuit");
  roundtrip(c2, th, "uncontrolled diag", 1e-12, 1);
  qdm_circuit_free(c2);
  qdm_circuit_free(c);
}

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static void test_write_errors(void) {
  qdm_circuit *c = qdm_circuit_new(2);
  qdm_cplx U[4] = {0, 1, 1, 0};
  int t = 1;
  qdm_add1(c, QDM_GH, 0);
  qdm_dense(c, 1, &t, U);
  const char *path = tpath("never.qasm");
  int e = qdm_qasm_write(path, c, NULL, NULL);
  CHECK(e == QDM_EINVAL && strstr(qdm_errmsg(), "gate 1") && strstr(qdm_errmsg(), "DENSE"), "dense: %s", qdm_errmsg());
  CHECK(!file_exists(path), "nothing written for a circuit without an OpenQASM form");
  qdm_circuit_clear(c);
  qdm_addr(c, QDM_GRY, 0, qdm_input(3, 1, 0));
  e = qdm_qasm_write(path, c, NULL, NULL);
  CHECK(e == QDM_EINVAL && strstr(qdm_errmsg(), "gate 0") && strstr(qdm_errmsg(), "x[3]"), "input angle: %s", qdm_errmsg());
  qdm_circuit_clear(c);
  qdm_cplx dg[2] = {1, 2};
  qdm_diag(c, 1, &t, dg);
  e = qdm_qasm_write(path, c, NULL, NULL);
  CHECK(e == QDM_EINVAL && strstr(qdm_errmsg(), "modulus"), "non-unitary diag: %s", qdm_errmsg());
  CHECK(!file_exists(path), "still nothing written");
  qdm_circuit_free(c);
}

/* ---------------- hand-written files against textbook results ---------------- */

static void dft(int m, qdm_cplx *F) {
  int N = 1 << m;
  for (int k = 0; k < N; k++)
    for (int j = 0; j < N; j++) F[k * N + j] = cexp(2 * M_PI * I * j * k / N) / sqrt(N);
}

static const char *qft2 =
    "OPENQASM 2.0;\n"
    "include \"qelib1.inc\";\n"
    "qreg q[3];\n"
    "h q[2];\n"
    "cu1(pi/2) q[1],q[2];\n"
    "cu1(pi/4) q[0],q[2];\n"
    "h q[1];\n"
    "cu1(pi/2) q[0],q[1];\n"
    "h q[0];\n"
    "swap q[0],q[2];\n";

/* the same in OpenQASM 3, as a gate used once forward and once inverted */
static const char *qft3 =
    "OPENQASM 3.0;\n"
    "include \"stdgates.inc\";\n"
    "gate qft3 a, b, c {\n"
    "  h c; cp(pi/2) b, c; ctrl @ p(π/4) a, c;\n"
    "  h b; ctrl @ phase(pi/2) a, b; h a; swap a, c;\n"
    "}\n"
    "qubit[3] q;\n"
    "%s qft3 q[0], q[1], q[2];\n";

static void test_qft(void) {
  qdm_cplx F[64], U[64], Fi[64];
  dft(3, F);
  CHECK(text_unitary(qft2, 3, U) == 0 && maxdiff(U, F, 64) < 1e-12, "OpenQASM 2 QFT = DFT: %.3g", maxdiff(U, F, 64));
  char buf[512];
  snprintf(buf, sizeof buf, qft3, "");
  CHECK(text_unitary(buf, 3, U) == 0 && maxdiff(U, F, 64) < 1e-12, "OpenQASM 3 QFT = DFT: %.3g", maxdiff(U, F, 64));
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) Fi[i * 8 + j] = conj(F[j * 8 + i]);
  snprintf(buf, sizeof buf, qft3, "inv @");
  CHECK(text_unitary(buf, 3, U) == 0 && maxdiff(U, Fi, 64) < 1e-12, "inv @ QFT = DFT^dagger: %.3g", maxdiff(U, Fi, 64));
  snprintf(buf, sizeof buf, qft3, "pow(-1) @");
  CHECK(text_unitary(buf, 3, U) == 0 && maxdiff(U, Fi, 64) < 1e-12, "pow(-1) @ QFT = DFT^dagger");
}

static void test_ghz(void) {
  const char *ghz = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\ncreg c[3];\n"
                    "h q[0];\ncx q[0],q[1];\ncx q[1],q[2];\nbarrier q;\nmeasure q -> c;\n";
  qdm_qasm q;
  qdm_cplx psi[8], want[8] = {M_SQRT1_2, 0, 0, 0, 0, 0, 0, M_SQRT1_2};
  CHECK(parse(ghz, &q) == QDM_OK, "GHZ parses: %s", qdm_errmsg());
  qdm_zero_state(psi, 3, 1);
  CHECK(qdm_run(q.c, NULL, NULL, 0, psi, 1) == QDM_OK && maxdiff(psi, want, 8) < 1e-15, "GHZ state (|000> + |111>)/sqrt 2");
  qdm_qasm_free(&q);
}

/* controlled-V with control q[0], target q[1]: index i = b0 + 2 b1 */
static void ctrl01(const qdm_cplx V[4], qdm_cplx U[16]) {
  memset(U, 0, 16 * sizeof *U);
  U[0] = U[2 * 4 + 2] = 1;
  U[1 * 4 + 1] = V[0];
  U[1 * 4 + 3] = V[1];
  U[3 * 4 + 1] = V[2];
  U[3 * 4 + 3] = V[3];
}

static void u3m(double t, double f, double l, qdm_cplx M[4]) {
  M[0] = cos(t / 2);
  M[1] = -cexp(I * l) * sin(t / 2);
  M[2] = cexp(I * f) * sin(t / 2);
  M[3] = cexp(I * (f + l)) * cos(t / 2);
}

/* text = header + one statement; compares with want (dim x dim) exactly */
static void gate_is(int v, int n, const char *stmt, const qdm_cplx *want, const char *what) {
  char buf[1024];
  int dim = 1 << n;
  qdm_cplx U[16];
  snprintf(buf, sizeof buf, "OPENQASM %s;\ninclude \"%s\";\nqreg q[%d];\n%s\n", v == 2 ? "2.0" : "3.0",
           v == 2 ? "qelib1.inc" : "stdgates.inc", n, stmt);
  int e = text_unitary(buf, n, U);
  CHECK(e == 0 && maxdiff(U, want, (size_t)dim * dim) < 1e-14, "%s: %s (diff %.3g)", what, stmt,
        e ? -1.0 : maxdiff(U, want, (size_t)dim * dim));
}

static void test_textbook_gates(void) {
  const double t = 0.7, f = -1.3, l = 2.1, g = 0.4;
  qdm_cplx M[4], C[16];
  char s[256];
  u3m(t, f, l, M);
  snprintf(s, sizeof s, "u3(%.17g, %.17g, %.17g) q[0];", t, f, l);
  gate_is(2, 1, s, M, "OpenQASM 2 u3 = U3");
  snprintf(s, sizeof s, "U(%.17g, %.17g, %.17g) q[0];", t, f, l);
  gate_is(3, 1, s, M, "OpenQASM 3 U = U3");
  snprintf(s, sizeof s, "u(%.17g, %.17g, %.17g) q[0];", t, f, l);
  gate_is(2, 1, s, M, "qelib1 u = U3");
  ctrl01(M, C);
  snprintf(s, sizeof s, "cu3(%.17g, %.17g, %.17g) q[0], q[1];", t, f, l);
  gate_is(2, 2, s, C, "cu3 = controlled U3 (Qiskit's CU3)");
  snprintf(s, sizeof s, "ctrl @ U(%.17g, %.17g, %.17g) q[0], q[1];", t, f, l);
  gate_is(3, 2, s, C, "ctrl @ U");
  /* OpenQASM 3 u3 = gphase(-(f+l)/2) U: the phase shows once controlled */
  qdm_cplx Mp[4];
  for (int i = 0; i < 4; i++) Mp[i] = cexp(-I * (f + l) / 2) * M[i];
  ctrl01(Mp, C);
  snprintf(s, sizeof s, "ctrl @ u3(%.17g, %.17g, %.17g) q[0], q[1];", t, f, l);
  gate_is(3, 2, s, C, "ctrl @ u3 keeps u3's phase");
  for (int i = 0; i < 4; i++) Mp[i] = cexp(I * g) * M[i];
  ctrl01(Mp, C);
  snprintf(s, sizeof s, "cu(%.17g, %.17g, %.17g, %.17g) q[0], q[1];", t, f, l, g);
  gate_is(3, 2, s, C, "cu(t, f, l, g) = controlled e^{ig} U3");
  gate_is(2, 2, s, C, "qelib1 cu as well");
  /* u2(f, l) = U3(pi/2, f, l) */
  u3m(M_PI / 2, f, l, M);
  snprintf(s, sizeof s, "u2(%.17g, %.17g) q[0];", f, l);
  gate_is(2, 1, s, M, "u2");
  /* phases */
  qdm_cplx P[4] = {1, 0, 0, cexp(I * l)}, RZ[4] = {cexp(-I * l / 2), 0, 0, cexp(I * l / 2)};
  ctrl01(P, C);
  const char *cps[4] = {"cu1(%.17g) q[0], q[1];", "cp(%.17g) q[0], q[1];", "ctrl @ p(%.17g) q[0], q[1];",
                        "cphase(%.17g) q[1], q[0];"};
  for (int k = 0; k < 4; k++) {
    snprintf(s, sizeof s, cps[k], l);
    gate_is(k < 2 ? 2 : 3, 2, s, C, "controlled phase diag(1, 1, 1, e^{il})");
  }
  gate_is(3, 1, (snprintf(s, sizeof s, "rz(%.17g) q[0];", l), s), RZ, "rz = R_Z");
  gate_is(3, 1, (snprintf(s, sizeof s, "ctrl @ gphase(%.17g) q[0];", l), s), P, "ctrl @ gphase = p");
  ctrl01(RZ, C);
  gate_is(2, 2, (snprintf(s, sizeof s, "crz(%.17g) q[0], q[1];", l), s), C, "crz = controlled R_Z");
  gate_is(3, 2, (snprintf(s, sizeof s, "ctrl @ rz(%.17g) q[0], q[1];", l), s), C, "ctrl @ rz");
  /* square roots of X */
  qdm_cplx SX[4] = {0.5 * (1 + I), 0.5 * (1 - I), 0.5 * (1 - I), 0.5 * (1 + I)}, SXd[4], X[4] = {0, 1, 1, 0};
  for (int i = 0; i < 4; i++) SXd[i] = conj(SX[(i % 2) * 2 + i / 2]);
  gate_is(2, 1, "sx q[0];", SX, "sx");
  gate_is(2, 1, "sxdg q[0];", SXd, "sxdg");
  gate_is(3, 1, "inv @ sx q[0];", SXd, "inv @ sx");
  gate_is(3, 1, "pow(2) @ sx q[0];", X, "pow(2) @ sx = x");
  qdm_cplx T3[4] = {1, 0, 0, cexp(3 * I * M_PI / 4)}, Id[4] = {1, 0, 0, 1};
  gate_is(3, 1, "pow(3) @ t q[0];", T3, "pow(3) @ t");
  gate_is(3, 1, "pow(0) @ h q[0];", Id, "pow(0) = identity");
  /* negctrl: X on q[1] when q[0] = 0 */
  qdm_cplx NX[16] = {0};
  NX[2 * 4 + 0] = NX[0 * 4 + 2] = NX[1 * 4 + 1] = NX[3 * 4 + 3] = 1;
  gate_is(3, 2, "negctrl @ x q[0], q[1];", NX, "negctrl @ x");
  /* two-qubit rotations exp(-i t P(x)P / 2) */
  qdm_cplx ZZ[16] = {0}, XX[16] = {0};
  for (int i = 0; i < 4; i++) {
    int par = (i ^ (i >> 1)) & 1;
    ZZ[i * 5] = cexp((par ? 1 : -1) * I * t / 2);
    XX[i * 5] = cos(t / 2);
    XX[i * 4 + (3 - i)] = -I * sin(t / 2);
  }
  gate_is(2, 2, (snprintf(s, sizeof s, "rzz(%.17g) q[0], q[1];", t), s), ZZ, "rzz");
  gate_is(3, 2, (snprintf(s, sizeof s, "rxx(%.17g) q[1], q[0];", t), s), XX, "rxx");
}

/* qelib1.inc's own definitions (renamed my*), read as user gates, against
 * the builtin meaning: equal up to a global phase (which OpenQASM 2
 * leaves free). Bodies copied from qelib1.inc. */
static const char *qelib_defs =
    "gate mycu3(theta,phi,lambda) c, t { u1((lambda+phi)/2) c; u1((lambda-phi)/2) t; cx c,t;"
    " u3(-theta/2,0,-(phi+lambda)/2) t; cx c,t; u3(theta/2,phi,0) t; }\n"
    "gate mycu(theta,phi,lambda,gamma) c, t { p(gamma) c; p((lambda+phi)/2) c; p((lambda-phi)/2) t; cx c,t;"
    " u(-theta/2,0,-(phi+lambda)/2) t; cx c,t; u(theta/2,phi,0) t; }\n"
    "gate mycrx(lambda) a,b { u1(pi/2) b; cx a,b; u3(-lambda/2,0,0) b; cx a,b; u3(lambda/2,-pi/2,0) b; }\n"
    "gate mycry(lambda) a,b { ry(lambda/2) b; cx a,b; ry(-lambda/2) b; cx a,b; }\n"
    "gate mycrz(lambda) a,b { rz(lambda/2) b; cx a,b; rz(-lambda/2) b; cx a,b; }\n"
    "gate mycu1(lambda) a,b { u1(lambda/2) a; cx a,b; u1(-lambda/2) b; cx a,b; u1(lambda/2) b; }\n"
    "gate mych a,b { h b; sdg b; cx a,b; h b; t b; cx a,b; t b; h b; s b; x b; s a; }\n"
    "gate mycsx a,b { h b; cu1(pi/2) a,b; h b; }\n"
    "gate myrxx(theta) a,b { u3(pi/2, theta, 0) a; h b; cx a,b; u1(-theta) b; cx a,b; h b; u2(-pi, pi-theta) a; }\n"
    "gate myrzz(theta) a,b { cx a,b; u1(theta) b; cx a,b; }\n"
    "gate mysx a { sdg a; h a; sdg a; }\n"
    "gate mysxdg a { s a; h a; s a; }\n"
    "gate mycy a,b { sdg b; cx a,b; s b; }\n"
    "gate myccx a,b,c { h c; cx b,c; tdg c; cx a,c; t c; cx b,c; tdg c; cx a,c; t b; t c; h c; cx a,b; t a; tdg b;"
    " cx a,b; }\n"
    "gate mycswap a,b,c { cx c,b; ccx a,b,c; cx c,b; }\n";

static void test_qelib_decompositions(void) {
  const char *calls[] = {"cu3(0.7,-1.3,2.1)", "cu(0.7,-1.3,2.1,0.4)", "crx(0.9)", "cry(-1.1)", "crz(2.3)",
                         "cu1(1.7)", "ch", "csx", "rxx(0.8)", "rzz(-0.6)", "sx", "sxdg", "cy", "ccx", "cswap"};
  const int nq[] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 2, 3, 3};
  const char *args[] = {"", "q[0]", "q[1], q[0]", "q[2], q[0], q[1]"};
  for (size_t k = 0; k < sizeof calls / sizeof *calls; k++) {
    char a[4096], b[4096];
    qdm_cplx Ua[64], Ub[64];
    const char *hdr = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\n";
    snprintf(a, sizeof a, "%s%smy%s %s;\n", hdr, qelib_defs, calls[k], args[nq[k]]);
    snprintf(b, sizeof b, "%s%s %s;\n", hdr, calls[k], args[nq[k]]);
    int e = text_unitary(a, 3, Ua) | text_unitary(b, 3, Ub);
    CHECK(!e && phase_dist(Ua, Ub, 8) < 1e-14, "%s = its qelib1.inc definition up to a global phase (%.3g)", calls[k],
          e ? -1.0 : phase_dist(Ua, Ub, 8));
  }
}

/* ---------------- parameters, registers, user gates ---------------- */

static void test_parameters(void) {
  const char *text = "OPENQASM 3;\ninclude \"stdgates.inc\";\ninput float[64] alpha;\ninput angle[32] beta;\n"
                     "qubit[2] q;\nrx(2*alpha + pi/2) q[0];\nry(-beta/3) q[1];\nrz(alpha*2 - (pi - 1)) q[0];\n"
                     "p(2^3 * beta) q[1];\nU(alpha, -alpha, 3*alpha + tau) q[1];\ncrx(-(-(beta))) q[1], q[0];\n"
                     "rzz(sin(pi/6) * beta + ln(euler)) q[0], q[1];\n";
  qdm_qasm q;
  CHECK(parse(text, &q) == QDM_OK, "parameters parse: %s", qdm_errmsg());
  if (!q.c) return;
  CHECK(q.nparams == 2 && !strcmp(q.names[0], "alpha") && !strcmp(q.names[1], "beta"), "two named inputs in order");
  qdm_circuit *c = qdm_circuit_new(2);
  qdm_addr(c, QDM_GRX, 0, qdm_par_affine(0, 2, M_PI / 2));
  qdm_addr(c, QDM_GRY, 1, qdm_par_affine(1, -1.0 / 3, 0));
  qdm_addr(c, QDM_GRZ, 0, qdm_par_affine(0, 2, 1 - M_PI));
  qdm_addr(c, QDM_GP, 1, qdm_par_affine(1, 8, 0));
  qdm_u3(c, 1, qdm_par(0), qdm_par_affine(0, -1, 0), qdm_par_affine(0, 3, 2 * M_PI));
  qdm_addc(c, QDM_GRX, 1, 0, qdm_par(1));
  qdm_add2(c, QDM_GRZZ, 0, 1, qdm_par_affine(1, 0.5, 1));
  double th[2] = {0.37, -1.9};
  qdm_cplx U[16], V[16];
  qdm_unitary(q.c, th, U);
  qdm_unitary(c, th, V);
  CHECK(maxdiff(U, V, 16) < 1e-14, "affine angles = the direct circuit (%.3g)", maxdiff(U, V, 16));
  qdm_circuit_free(c);
  qdm_qasm_free(&q);
}

static void test_registers_and_gates(void) {
  /* two registers, broadcasting, a user gate under ctrl and inv */
  const char *text = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[2] a;\nqreg b[2];\nh a;\ncx a, b;\n"
                     "gate rot(x) u, v { ry(x) u; cx u, v; rz(-x/2) v; }\n"
                     "gate two(x) u, v { rot(x) u, v; s v; }\n"
                     "ctrl @ two(0.3) b[1], a[0], b[0];\ninv @ two(1.1) a[1], a[0];\n";
  qdm_qasm q;
  CHECK(parse(text, &q) == QDM_OK, "registers parse: %s", qdm_errmsg());
  if (!q.c) return;
  CHECK(q.c->n == 4, "2 + 2 qubits");
  qdm_circuit *c = qdm_circuit_new(4), *two = qdm_circuit_new(4);
  qdm_add1(c, QDM_GH, 0), qdm_add1(c, QDM_GH, 1);
  qdm_cnot(c, 0, 2), qdm_cnot(c, 1, 3);
  /* controlled two(0.3) on (a[0], b[0]) = qubits (0, 2), control b[1] = 3 */
  qdm_addr(two, QDM_GRY, 0, qdm_fixed(0.3));
  qdm_cnot(two, 0, 2);
  qdm_addr(two, QDM_GRZ, 2, qdm_fixed(-0.15));
  qdm_add1(two, QDM_GS, 2);
  qdm_append(c, two, 0, 1u << 3);
  /* two(1.1)^-1 on (a[1], a[0]) = (1, 0): reversed, inverted */
  qdm_add1(c, QDM_GSDG, 0);
  qdm_addr(c, QDM_GRZ, 0, qdm_fixed(0.55));
  qdm_cnot(c, 1, 0);
  qdm_addr(c, QDM_GRY, 1, qdm_fixed(-1.1));
  qdm_cplx U[256], V[256];
  qdm_unitary(q.c, NULL, U);
  qdm_unitary(c, NULL, V);
  CHECK(maxdiff(U, V, 256) < 1e-14, "registers, broadcast, ctrl/inv of user gates (%.3g)", maxdiff(U, V, 256));
  qdm_circuit_free(two);
  qdm_circuit_free(c);
  qdm_qasm_free(&q);
}

static void test_ansatz_hook(void) {
  const char *path = tpath("ans.qasm");
  FILE *f = fopen(path, "w");
  fputs("OPENQASM 3.0;\ninclude \"stdgates.inc\";\ninput float[64] a;\ninput float[64] b;\nqubit[2] q;\n"
        "ry(a) q[0];\ncx q[0], q[1];\nrz(b) q[1];\n", f);
  fclose(f);
  qdm_circuit *c = qdm_circuit_new(2), *d = qdm_circuit_new(2);
  CHECK(qdm_ansatz_nparams(path, 2, 3, NULL) == 6, "3 layers of a 2-parameter file: 6 parameters");
  CHECK(qdm_ansatz_about(path) != NULL, "a .qasm name is an ansatz");
  qdm_ansatz_opts o = {QDM_INIT_RY_PI4, 0};
  CHECK(qdm_ansatz_build(c, path, 2, 1, &o) == 4, "build 2 layers at offset 1");
  for (int q = 0; q < 2; q++) qdm_addr(d, QDM_GRY, q, qdm_fixed(M_PI / 4));
  for (int l = 0; l < 2; l++) {
    qdm_addr(d, QDM_GRY, 0, qdm_par(1 + 2 * l));
    qdm_cnot(d, 0, 1);
    qdm_addr(d, QDM_GRZ, 1, qdm_par(2 + 2 * l));
  }
  double th[5] = {9, 0.1, 0.2, 0.3, 0.4};
  qdm_cplx U[16], V[16];
  qdm_unitary(c, th, U);
  qdm_unitary(d, th, V);
  CHECK(maxdiff(U, V, 16) < 1e-15, "the file repeated per layer with fresh parameters");
  qdm_circuit *c3 = qdm_circuit_new(3);
  int r = qdm_ansatz_build(c3, path, 1, 0, NULL);
  CHECK(r == -QDM_EINVAL && strstr(qdm_errmsg(), path) && strstr(qdm_errmsg(), "2 qubits") && c3->ngates == 0,
        "qubit count mismatch names the file: %s", qdm_errmsg());
  r = qdm_ansatz_build(c3, tpath("missing.qasm"), 1, 0, NULL);
  CHECK(r == -QDM_EIO && strstr(qdm_errmsg(), "missing.qasm"), "missing file: %s", qdm_errmsg());
  qdm_circuit_free(c3);
  qdm_circuit_free(c);
  qdm_circuit_free(d);
}

/* ---------------- malformed input ---------------- */

typedef struct {
  const char *text;
  int line;
  const char *what; /* substring of the message */
} bad_case;

#define H2 "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\n"
#define H3 "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[2] q;\n"

static const bad_case bad[] = {
    {H2 "foo q[0];\n", 4, "unknown gate 'foo'"},
    {"OPENQASM 2.0;\nqreg q[2];\nh q[0];\n", 3, "include"},
    {H2 "cx q[0];\n", 4, "takes 2 qubit argument(s), got 1"},
    {H2 "rx q[0];\n", 4, "takes 1 parameter(s), got 0"},
    {H2 "h q[2];\n", 4, "out of range"},
    {H2 "cx q[1], q[1];\n", 4, "twice"},
    {H2 "h q[0]\ncx q[0], q[1];\n", 4, "missing ';'"},
    {H2 "h q[0];\nh q[1]", 5, "missing ';'"},
    {H2 "gate g a { h a;\nx a;\n", 4, "unbalanced braces"},
    {H2 "h q[0];\n}\n", 5, "unbalanced braces"},
    {H2 "rx((pi/2) q[0];\n", 4, "expected ',' or ')'"},
    {H2 "rx(pi/2 q[0];\n", 4, "unbalanced parentheses"},
    {H2 "rx(pi/2)) q[0];\n", 4, "expected a qubit"},
    {H2 "rx(alpha) q[0];\n", 4, "unknown identifier 'alpha'"},
    {H3 "input float a;\ninput float b;\nrx(a*b) q[0];\n", 6, "non-affine"},
    {H3 "input float a;\ninput float b;\nrx(a+b) q[0];\n", 6, "two parameters"},
    {H3 "input float a;\nrx(sin(a)) q[0];\n", 5, "non-affine"},
    {H3 "input float a;\nrx(1/a) q[0];\n", 5, "division by the parameter"},
    {H3 "rx(1/0) q[0];\n", 4, "division by zero"},
    {H3 "cx q[0], q[", 4, "end of file"},
    {H3 "gate g(x", 4, "end of file"},
    {"", 1, "empty file"},
    {"// nothing but a comment\n\n", 1, "empty file"},
    {"OPENQASM 3.0;\n", 1, "no qubits"},
    {"\x7f" "ELF\x02\x01\x01", 1, "unexpected character '\\x7f'"},
    {"OPENQASM 3.0;\n\x01\xfe\xff", 2, "unexpected character"},
    {H3 "reset q[0];\n", 4, "unsupported construct 'reset'"},
    {H3 "bit c;\nc = measure q[0];\nif (c == 1) x q[1];\n", 6, "unsupported construct 'if'"},
    {H3 "for int i in [0:1] { h q[0]; }\n", 4, "unsupported construct 'for'"},
    {H3 "measure q[0];\nh q[1];\nx q[0];\n", 6, "gate after measurement"},
    {H3 "opaque g a;\n", 4, "unsupported construct 'opaque'"},
    {H3 "h q[0:1];\n", 4, "slice"},
    {H3 "h $0;\n", 4, "physical qubit"},
    {H3 "pow(0.5) @ x q[0];\n", 4, "pow"},
    {H3 "float[64] x = 1.0;\n", 4, "unsupported construct 'float'"},
    {H3 "input int[8] k;\n", 4, "unsupported construct 'input"},
    {H3 "qubit[2] q;\n", 4, "already declared"},
    {H3 "qubit[40] r;\n", 4, "at most 30"},
    {H3 "ctrl @ h q[0];\n", 4, "takes 2 qubit argument(s), got 1"},
    {H3 "ctrl @ h q[0], q[0];\n", 4, "twice"},
    {H3 "gate g a { g a; }\ng q[0];\n", 4, "unknown gate 'g'"}, /* no recursion: a body sees earlier gates */
    {H3 "gate g a { h b; }\ng q[0];\n", 4, "unknown qubit 'b'"},
    {H3 "gate g a { measure a; }\ng q[0];\n", 4, "inside a gate body"},
    {H3 "ctrl @ u3(a, 0, 0) q[0], q[1];\n", 4, "unknown identifier 'a'"},
    {H3 "input float a;\ninput float b;\nctrl @ u3(0, a, b) q[0], q[1];\n", 6, "global phase"},
    {H2 "ctrl @ x q[0], q[1];\n", 4, "OpenQASM 3 syntax"},
    {H2 "qubit[2] r;\n", 4, "OpenQASM 3 syntax"},
    {"OPENQASM 4.0;\n", 1, "version"},
    {H3 "include \"other.inc\";\n", 4, "only \"qelib1.inc\""},
    {H3 "/* never closed\nh q[0];\n", 4, "unterminated comment"},
    {H3 "h q[0]; \"open\n", 4, "unterminated string"},
    {H3 "rx(2pi) q[0];\n", 4, "malformed number"},
    {H3 "rx(1e999) q[0];\n", 4, "out of range"},
    {H3 "rx(sqrt(-1)) q[0];\n", 4, "not a finite"},
    {H3 "OPENQASM 3.0;\n", 4, "first statement"},
    {H3 "x q[0];\nh c[0];\n", 5, "'c' is not a qubit register"},
    {H3 "barrier q[0]\n", 4, "missing ';'"},
};

static void test_malformed(void) {
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    qdm_qasm q;
    int e = qdm_qasm_parse(bad[k].text, strlen(bad[k].text), "bad.qasm", &q);
    char want[32];
    snprintf(want, sizeof want, "bad.qasm:%d: ", bad[k].line);
    const char *m = qdm_errmsg();
    CHECK(e == QDM_EFORMAT && !strncmp(m, want, strlen(want)) && strstr(m, bad[k].what) && !strchr(m, '\n') && !q.c,
          "case %zu: want '%s...%s', got (%d) '%s'", k, want, bad[k].what, e, m);
  }
  /* a NUL byte inside the text (the length, not the NUL, ends it) */
  qdm_qasm q;
  const char nul[] = "OPENQASM 3.0;\nqubit q;\n\0U(0,0,0) q;\n";
  int e = qdm_qasm_parse(nul, sizeof nul - 1, "nul.qasm", &q);
  CHECK(e == QDM_EFORMAT && strstr(qdm_errmsg(), "nul.qasm:3: unexpected character '\\x00'"), "NUL: %s", qdm_errmsg());
  /* deep nesting and blow-up are bounded */
  char deep[8192];
  int n = snprintf(deep, sizeof deep, H3 "rx(");
  for (int i = 0; i < 3000; i++) deep[n++] = '(';
  snprintf(deep + n, sizeof deep - n, "1) q[0];\n");
  e = parse(deep, &q);
  CHECK(e == QDM_EFORMAT && strstr(qdm_errmsg(), "t.qasm:4:") && strstr(qdm_errmsg(), "nested"), "deep: %s", qdm_errmsg());
  char blow[8192];
  n = snprintf(blow, sizeof blow, H3 "gate g0 a { x a; x a; }\n");
  for (int i = 1; i < 40; i++) n += snprintf(blow + n, sizeof blow - n, "gate g%d a { g%d a; g%d a; }\n", i, i - 1, i - 1);
  snprintf(blow + n, sizeof blow - n, "g39 q[0];\n");
  e = parse(blow, &q);
  CHECK(e == QDM_EFORMAT && strstr(qdm_errmsg(), "too large"), "2^40 gates: %s", qdm_errmsg());
  /* files: the path is the name in the message */
  const char *path = tpath("bad_file.qasm");
  FILE *f = fopen(path, "w");
  fputs(H2 "h q[0];\nfoo q[1];\n", f);
  fclose(f);
  e = qdm_qasm_read(path, &q);
  char want[4200];
  snprintf(want, sizeof want, "%s:5: unknown gate 'foo'", path);
  CHECK(e == QDM_EFORMAT && strstr(qdm_errmsg(), want), "file name and line: %s", qdm_errmsg());
  e = qdm_qasm_read(tpath("no_such.qasm"), &q);
  CHECK(e == QDM_EIO && strstr(qdm_errmsg(), "no_such.qasm"), "missing file: %s", qdm_errmsg());
}

/* Random mutations of valid programs: every result is a circuit or one
 * clean error line (and ASan sees no bad access or leak). */
static void test_mutations(void) {
  const char *seeds[] = {qft2, qelib_defs, H3 "input float a;\ngate g(x) u, v { ctrl @ rx(x/2) u, v; inv @ s v; }\n"
                                           "ctrl @ g(a) q[0], q[1];\nnegctrl @ pow(2) @ h q[1], q[0];\n"};
  char buf[4096];
  int ok = 1, parsed = 0;
  for (int it = 0; it < 3000; it++) {
    const char *s = seeds[it % 3];
    size_t n = strlen(s);
    if (it % 3 == 1) n = (size_t)snprintf(buf, sizeof buf, H2 "%s" "mycu3(1,2,3) q[0], q[1];\n", s);
    else memcpy(buf, s, n + 1);
    for (int m = 1 + (int)(qdm_rng_u64(&rng) % 4); m > 0; m--) {
      size_t at = (size_t)(qdm_rng_u64(&rng) % (n ? n : 1));
      int op = (int)(qdm_rng_u64(&rng) % 4);
      if (op == 0) buf[at] = (char)(qdm_rng_u64(&rng) & 0xff);
      else if (op == 1 && n > 1) memmove(buf + at, buf + at + 1, n - at), n--;
      else if (op == 2 && n + 1 < sizeof buf) memmove(buf + at + 1, buf + at, n - at + 1), buf[at] = "(){};,[]@-*/"[qdm_rng_u64(&rng) % 12], n++;
      else n = at;
    }
    qdm_qasm q;
    int e = qdm_qasm_parse(buf, n, "fz.qasm", &q);
    if (e == QDM_OK) parsed++, qdm_qasm_free(&q);
    else if (e != QDM_EFORMAT || strncmp(qdm_errmsg(), "fz.qasm:", 8) || strchr(qdm_errmsg(), '\n')) ok = 0;
  }
  CHECK(ok, "3000 mutated programs: a circuit or one error line each (%d parsed)", parsed);
}

int main(void) {
  qdm_rng_seed(&rng, 20240531);
  setup_dir_named("qasm");
  test_roundtrip_ansatz();
  test_roundtrip_kinds();
  test_write_errors();
  test_qft();
  test_ghz();
  test_textbook_gates();
  test_qelib_decompositions();
  test_parameters();
  test_registers_and_gates();
  test_ansatz_hook();
  test_malformed();
  test_mutations();
  return check_done();
}
