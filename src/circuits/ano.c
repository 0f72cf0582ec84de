/* ano.c -- adaptive non-local observables, report section 5: K trainable
 * Hermitians H_j = (M_j + M_j^dagger) / 2 with M_j a free complex matrix
 * (eq. 21), features y_j = <psi|H_j|psi> = tr(rho H_j) (eq. 22), on the
 * whole register (the authors' global form) or on k-qubit site sets.
 *
 * All observables on one site set S share the reduced state: with
 * R_r[i d + j] = conj(rho_r[i][j]) (rho_r = tr_{not S} |psi_r><psi_r|),
 * y_r = Re sum_ij R_r[ij] H[ij], so a batch is one complex GEMM
 * Y = Re(R H^T) per site set. Backward: dL/dM_j = sum_r dy_rj rho_r (a GEMM
 * with R conjugated; H = (M + M^dagger)/2 and rho Hermitian give the same
 * co-gradient for M as for H), and dL/dpsi_r = 2 (sum_j dy_rj H_j) psi_r on
 * the sites. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/circuits.h"
#include "core/parallel.h"

static long long binom(int n, int k) {
  long long r = 1;
  for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
  return r;
}

/* Next k-subset of {0..n-1} in lexicographic order; 0 when done. */
static int next_subset(int *s, int k, int n) {
  int i = k - 1;
  while (i >= 0 && s[i] == n - k + i) i--;
  if (i < 0) return 0;
  s[i]++;
  for (int j = i + 1; j < k; j++) s[j] = s[j - 1] + 1;
  return 1;
}

qdm_ano *qdm_ano_new(int n, int k, int layout, int per_set) {
  if (n < 1 || n > QDM_MAX_QUBITS) { qdm_fail(QDM_EINVAL, "qdm_ano_new: n = %d, expected 1..%d", n, QDM_MAX_QUBITS); return NULL; }
  if (layout == QDM_ANO_GLOBAL) k = n;
  else if (layout != QDM_ANO_SLIDING && layout != QDM_ANO_SUBSETS) {
    qdm_fail(QDM_EINVAL, "qdm_ano_new: layout = %d, expected QDM_ANO_GLOBAL, _SLIDING or _SUBSETS", layout);
    return NULL;
  }
  if (k < 1 || k > n || k > 12) {
    qdm_fail(QDM_EINVAL, "qdm_ano_new: locality k = %d, expected 1..min(n = %d, 12)", k, n);
    return NULL;
  }
  if (per_set < 1) { qdm_fail(QDM_EINVAL, "qdm_ano_new: per_set = %d, expected >= 1", per_set); return NULL; }
  long long nsets = layout == QDM_ANO_GLOBAL ? 1 : layout == QDM_ANO_SLIDING ? n - k + 1 : binom(n, k);
  if (nsets * per_set > 1000000) {
    qdm_fail(QDM_EINVAL, "qdm_ano_new: %lld observables, expected at most 1e6", nsets * per_set);
    return NULL;
  }
  qdm_ano *a = calloc(1, sizeof *a);
  if (!a) { qdm_fail(QDM_ENOMEM, "qdm_ano_new: out of memory"); return NULL; }
  a->n = n; a->k = k; a->d = 1 << k; a->layout = layout;
  a->nsets = (int)nsets; a->per_set = per_set; a->K = (int)nsets * per_set;
  a->sites = malloc((size_t)nsets * k * sizeof *a->sites);
  a->M = calloc((size_t)a->K * a->d * a->d, sizeof *a->M);
  if (!a->sites || !a->M) { qdm_ano_free(a); qdm_fail(QDM_ENOMEM, "qdm_ano_new: out of memory"); return NULL; }
  int s[QDM_MAX_QUBITS];
  for (int i = 0; i < k; i++) s[i] = i;
  for (int t = 0; t < a->nsets; t++) {
    if (layout == QDM_ANO_SLIDING)
      for (int i = 0; i < k; i++) s[i] = t + i;
    memcpy(a->sites + (size_t)t * k, s, k * sizeof *s);
    if (layout == QDM_ANO_SUBSETS) next_subset(s, k, n);
  }
  return a;
}

void qdm_ano_free(qdm_ano *a) {
  if (!a) return;
  free(a->sites);
  free(a->M);
  free(a);
}

void qdm_ano_init(qdm_ano *a, qdm_rng *r, double scale) {
  if (!a || !r) return;
  size_t m = (size_t)a->K * a->d * a->d;
  for (size_t i = 0; i < m; i++) {
    double re = qdm_rng_normal(r), im = qdm_rng_normal(r);
    a->M[i] = scale * (re + I * im);
  }
}

int qdm_ano_hermitian(const qdm_ano *a, qdm_cplx *H) {
  if (!a || !H) return qdm_fail(QDM_EINVAL, "qdm_ano_hermitian: a and H must be non-NULL");
  int d = a->d;
  for (int j = 0; j < a->K; j++) {
    const qdm_cplx *M = a->M + (size_t)j * d * d;
    qdm_cplx *h = H + (size_t)j * d * d;
    for (int r = 0; r < d; r++)
      for (int c = 0; c < d; c++) h[r * d + c] = 0.5 * (M[r * d + c] + conj(M[c * d + r]));
  }
  return QDM_OK;
}

/* Basis offsets: loc[i] puts the bits of local index i on the sites;
 * rest[b] enumerates the other qubits' configurations. */
typedef struct {
  size_t *loc, *rest;
  size_t nrest;
} sitemap;

static int sitemap_make(const qdm_ano *a, int set, sitemap *m) {
  const int *s = a->sites + (size_t)set * a->k;
  int n = a->n, k = a->k, d = a->d;
  size_t smask = 0;
  for (int i = 0; i < k; i++) smask |= (size_t)1 << s[i];
  m->nrest = (size_t)1 << (n - k);
  m->loc = malloc(d * sizeof *m->loc);
  m->rest = malloc(m->nrest * sizeof *m->rest);
  if (!m->loc || !m->rest) {
    free(m->loc);
    free(m->rest);
    return qdm_fail(QDM_ENOMEM, "qdm_ano: out of memory for the site map");
  }
  for (int i = 0; i < d; i++) {
    size_t o = 0;
    for (int b = 0; b < k; b++)
      if (i >> b & 1) o |= (size_t)1 << s[b];
    m->loc[i] = o;
  }
  for (size_t r = 0; r < m->nrest; r++) {
    size_t o = 0, bit = 0;
    for (int q = 0; q < n; q++) {
      if (smask >> q & 1) continue;
      if (r >> bit & 1) o |= (size_t)1 << q;
      bit++;
    }
    m->rest[r] = o;
  }
  return QDM_OK;
}

static void sitemap_free(sitemap *m) {
  free(m->loc);
  free(m->rest);
}

/* R[i d + j] = sum_rest conj(v_i) v_j = conj(rho_ij) for one state. */
static void reduced_conj(const qdm_cplx *psi, const sitemap *m, int d, qdm_cplx *R, qdm_cplx *v) {
  memset(R, 0, (size_t)d * d * sizeof *R);
  for (size_t b = 0; b < m->nrest; b++) {
    for (int i = 0; i < d; i++) v[i] = psi[m->rest[b] | m->loc[i]];
    for (int i = 0; i < d; i++) {
      qdm_cplx ci = conj(v[i]);
      if (ci == 0) continue;
      qdm_cplx *Ri = R + (size_t)i * d;
      for (int j = 0; j < d; j++) Ri[j] += ci * v[j];
    }
  }
}

/* Rows per GEMM chunk: keep R under about 16 MB. */
static int chunk_rows(int d, int rows) {
  long long c = (1LL << 20) / ((long long)d * d);
  if (c < 1) c = 1;
  return c < rows ? (int)c : rows;
}

static int ano_check(const qdm_ano *a, const qdm_cplx *psi, int rows, const void *y, const char *who) {
  if (!a || !psi || !y) return qdm_fail(QDM_EINVAL, "%s: ano, psi and output must be non-NULL", who);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "%s: rows = %d, expected >= 0", who, rows);
  return QDM_OK;
}

/* The global layout (one set on all qubits) as real GEMMs on the packed
 * densities. For Hermitian rho = psi psi^dagger and H (eq. 22),
 *   y = tr(rho H) = sum_i rho_ii H_ii + sum_{i<j} 2 (Re rho_ij Re H_ij + Im rho_ij Im H_ij),
 * a real dot product of length d^2 between
 *   R = pack(rho): R[ii] = rho_ii, R[ij] = 2 Re rho_ij, R[ji] = 2 Im rho_ij  (i < j),
 *   V = pack(H):   V[ii] = H_ii,   V[ij] = Re H_ij,     V[ji] = Im H_ij,
 * so the batch is Y = R V^T (rows x K, inner d^2): a quarter of the
 * multiply-adds of the complex form Psi [H_1 .. H_K]^T (d^2 complex ones
 * per row and observable). Backward, with the same packing:
 *   dL/dpsi_r = 2 Heff_r psi_r, Heff_r = sum_k dy_rk H_k: E = dY V is pack(Heff_r);
 *   dM_k += sum_r dy_rk rho_r (H = (M + M^dagger) / 2 and rho Hermitian give
 *   M the co-gradient of H): G = dY^T R, unpacked (the factor 2 comes off).
 * Rows in chunks: R stays under 8 MB. */
static int global_rows(const qdm_ano *a, int rows) {
  long long c = (1LL << 20) / ((long long)a->d * a->d);
  return c < 1 ? 1 : c < rows ? (int)c : rows;
}

/* The pairs (i, j), i <= j, of a d x d matrix in 32 x 32 tiles, so that
 * reading [i][j] and its transpose [j][i] together stays in cache at 8
 * qubits (d = 256: a row is 4 kB). */
#define FOR_UPPER_TILED(d, i, j)                                                     \
  for (int i0 = 0; i0 < (d); i0 += 32)                                              \
    for (int j0 = i0; j0 < (d); j0 += 32)                                           \
      for (int i = i0; i < i0 + 32 && i < (d); i++)                                  \
        for (int j = j0 > i ? j0 : i; j < j0 + 32 && j < (d); j++)

/* One observable per thread at a time: each k writes only its own V_k
 * (and add_unpacked its own dM_k), so the numbers do not depend on the
 * thread count; serial, they held the second core idle at 6 qubits. */
static void pack_hermitian(const qdm_ano *a, double *V) {
  int d = a->d;
#pragma omp parallel for schedule(static) if (qdm__parallel_worth((double)a->K * d * d))
  for (int k = 0; k < a->K; k++) {
    const qdm_cplx *M = a->M + (size_t)k * d * d;
    double *v = V + (size_t)k * d * d;
    FOR_UPPER_TILED(d, i, j) {
      qdm_cplx h = 0.5 * (M[i * d + j] + conj(M[j * d + i])); /* eq. 21 */
      v[i * d + j] = creal(h);
      if (j > i) v[j * d + i] = cimag(h);
    }
  }
}

/* R = pack(p p^dagger), row by row (no strided stores): in row a, R[ab] =
 * 2 Re(p_a conj p_b) for b > a and 2 Im rho_ba = 2 Im(p_b conj p_a) for b < a */
static void pack_density(const qdm_cplx *p, int d, double *R) {
  const double *q = (const double *)p; /* [Re, Im] pairs (C11 6.2.5) */
  for (int a = 0; a < d; a++) {
    double ar = q[2 * a], ai = q[2 * a + 1], *Ra = R + (size_t)a * d;
    for (int b = 0; b < a; b++) Ra[b] = 2 * (q[2 * b + 1] * ar - q[2 * b] * ai);
    Ra[a] = ar * ar + ai * ai;
    for (int b = a + 1; b < d; b++) Ra[b] = 2 * (ar * q[2 * b] + ai * q[2 * b + 1]);
  }
}

/* g += 2 Heff p, Heff Hermitian given packed in E, read row by row: an
 * entry e = E[ab] above the diagonal is Re Heff_ab = Re Heff_ba, below it
 * (b < a) Im Heff_ba = -Im Heff_ab; each adds to two outputs (real
 * arithmetic on the [Re, Im] pairs, which vectorises) */
static void add_heff_psi(const double *E, const qdm_cplx *p, int d, qdm_cplx *g) {
  const double *q = (const double *)p;
  double *o = (double *)g;
  for (int a = 0; a < d; a++) {
    const double *Ea = E + (size_t)a * d;
    double pr = q[2 * a], pi = q[2 * a + 1], sr = 2 * Ea[a] * pr, si = 2 * Ea[a] * pi;
    for (int b = 0; b < a; b++) { /* Heff_ba = ... + i e, Heff_ab = ... - i e */
      double e = 2 * Ea[b];
      o[2 * b] -= e * pi, o[2 * b + 1] += e * pr; /* g_b += 2 i e p_a */
      sr += e * q[2 * b + 1], si -= e * q[2 * b]; /* g_a -= 2 i e p_b */
    }
    for (int b = a + 1; b < d; b++) {
      double e = 2 * Ea[b];
      o[2 * b] += e * pr, o[2 * b + 1] += e * pi;
      sr += e * q[2 * b], si += e * q[2 * b + 1];
    }
    o[2 * a] += sr, o[2 * a + 1] += si;
  }
}

/* dM_k += unpack(G_k): rho_ij = (R[ij] + i R[ji]) / 2 above the diagonal, its conjugate below */
static void add_unpacked(const double *G, int K, int d, qdm_cplx *dM) {
#pragma omp parallel for schedule(static) if (qdm__parallel_worth((double)K * d * d))
  for (int k = 0; k < K; k++) {
    const double *g = G + (size_t)k * d * d;
    qdm_cplx *m = dM + (size_t)k * d * d;
    FOR_UPPER_TILED(d, i, j) {
      if (j == i) {
        m[i * d + i] += g[i * d + i];
        continue;
      }
      m[i * d + j] += 0.5 * (g[i * d + j] + I * g[j * d + i]);
      m[j * d + i] += 0.5 * (g[i * d + j] - I * g[j * d + i]);
    }
  }
}

/* The work of a chunk's nr rows that is each row's own, in one parallel
 * region: each thread takes a contiguous range of rows and runs its own
 * single-threaded GEMM on them (inside the region OpenBLAS runs one
 * thread). Pass 0 packs the densities and forms Y = R V^T; pass 1 forms
 * E = dY V into R (whose densities dM's GEMM has used by then) and
 * dL/dpsi. At 4 qubits the GEMMs are a few 10 us; run between the
 * packing loops, each on both threads, their hand-offs cost more than
 * their arithmetic, and the ANO took as long on 2 threads as on 1. */
typedef struct {
  const qdm_ano *a;
  const qdm_cplx *P;
  const double *V, *dY;
  double *R, *y;
  qdm_cplx *g;
} ano_chunk;

static void rows_pass(const ano_chunk *c, int nr, int pass) {
  int d = c->a->d, d2 = d * d, K = c->a->K;
#pragma omp parallel if (qdm__parallel_worth((double)nr * d2))
  {
    int lo, hi;
    qdm__thread_part(nr, &lo, &hi);
    int n = hi - lo;
    const qdm_cplx *P = c->P + (size_t)lo * d;
    double *R = c->R + (size_t)lo * d2;
    if (n > 0 && pass == 0) {
      for (int r = 0; r < n; r++) pack_density(P + (size_t)r * d, d, R + (size_t)r * d2);
      if (c->y) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, K, d2, 1, R, d2, c->V, d2, 0, c->y + (size_t)lo * K, K);
    }
    if (n > 0 && pass == 1) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d2, K, 1, c->dY + (size_t)lo * K, K, c->V, d2, 0, R, d2);
      for (int r = 0; r < n; r++) add_heff_psi(R + (size_t)r * d2, P + (size_t)r * d, d, c->g + (size_t)(lo + r) * d);
    }
  }
}

static int ano_global_packed(const qdm_ano *a, const qdm_cplx *psi, int rows, double *y, const double *dy,
                             qdm_cplx *gpsi, qdm_cplx *dM) {
  int d = a->d, K = a->K, d2 = d * d, ch = global_rows(a, rows), e = QDM_OK;
  double *V = malloc((size_t)K * d2 * sizeof *V), *R = malloc((size_t)ch * d2 * sizeof *R);
  double *G = dM ? malloc((size_t)K * d2 * sizeof *G) : NULL;
  if (!V || !R || (dM && !G)) e = qdm_fail(QDM_ENOMEM, "qdm_ano: out of memory");
  if (!e) pack_hermitian(a, V);
  for (int r0 = 0; r0 < rows && !e; r0 += ch) {
    int nr = rows - r0 < ch ? rows - r0 : ch;
    ano_chunk c = {a, psi + (size_t)r0 * d, V, dy ? dy + (size_t)r0 * K : NULL, R, y ? y + (size_t)r0 * K : NULL,
                   gpsi ? gpsi + (size_t)r0 * d : NULL};
    if (y || dM) rows_pass(&c, nr, 0);
    if (dM) { /* a sum over the rows: one GEMM over all of them */
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, d2, nr, 1, c.dY, K, R, d2, 0, G, d2);
      add_unpacked(G, K, d, dM);
    }
    if (gpsi) rows_pass(&c, nr, 1); /* R now holds E = dY V */
  }
  free(V), free(R), free(G);
  return e;
}

/* The global layout in complex GEMMs, for large registers: Y =
 * Psi [H_1 .. H_K]^T (rows x K d: row r holds H_k psi_r for every k), then
 * y_rk = Re <psi_r|H_k psi_r> (eq. 22); no d^2-wide reduced states. The
 * backward: dL/dpsi_r = 2 sum_k dy_rk H_k psi_r from the same Y, and dM_k
 * += sum_r dy_rk psi_r psi_r^dagger as one GEMM, W^T conj(Psi) with W_r =
 * [dy_r1 psi_r .. dy_rK psi_r]. Rows in chunks: Y stays under 16 MB. */
static int complex_rows(const qdm_ano *a, int rows) {
  long long c = (1LL << 20) / ((long long)a->K * a->d);
  return c < 1 ? 1 : c < rows ? (int)c : rows;
}

static int ano_global_complex(const qdm_ano *a, const qdm_cplx *psi, int rows, double *y, const double *dy,
                              qdm_cplx *gpsi, qdm_cplx *dM) {
  int d = a->d, K = a->K, ch = complex_rows(a, rows), e = QDM_OK;
  size_t Kd = (size_t)K * d;
  qdm_cplx *H = malloc(Kd * d * sizeof *H), *Y = malloc((size_t)ch * Kd * sizeof *Y);
  if (!H || !Y) e = qdm_fail(QDM_ENOMEM, "qdm_ano: out of memory");
  if (!e) qdm_ano_hermitian(a, H);
  const qdm_cplx one = 1, zero = 0;
  for (int r0 = 0; r0 < rows && !e; r0 += ch) {
    int nr = rows - r0 < ch ? rows - r0 : ch;
    const qdm_cplx *P = psi + (size_t)r0 * d;
    if (y || gpsi) cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, (int)Kd, d, &one, P, d, H, d, &zero, Y, (int)Kd);
    for (int r = 0; r < nr; r++) {
      const qdm_cplx *p = P + (size_t)r * d, *Yr = Y + (size_t)r * Kd;
      for (int k = 0; k < K && y; k++) {
        double s = 0;
        for (int i = 0; i < d; i++) s += creal(p[i]) * creal(Yr[k * d + i]) + cimag(p[i]) * cimag(Yr[k * d + i]);
        y[(size_t)(r0 + r) * K + k] = s;
      }
      if (gpsi)
        for (int k = 0; k < K; k++) {
          double w = 2 * dy[(size_t)(r0 + r) * K + k];
          qdm_cplx *g = gpsi + (size_t)(r0 + r) * d;
          for (int i = 0; i < d; i++) g[i] += w * Yr[k * d + i];
        }
    }
    if (dM) { /* Y becomes W */
      for (int r = 0; r < nr; r++)
        for (int k = 0; k < K; k++) {
          double w = dy[(size_t)(r0 + r) * K + k];
          for (int i = 0; i < d; i++) Y[(size_t)r * Kd + k * d + i] = w * P[(size_t)r * d + i];
        }
      cblas_zgemm(CblasRowMajor, CblasTrans, CblasConjNoTrans, (int)Kd, d, nr, &one, Y, (int)Kd, P, d, &one, dM, d);
    }
  }
  free(H), free(Y);
  return e;
}

/* Packed (a quarter of the multiply-adds, d^2 doubles per row) or complex
 * (2 K d doubles per row): at d <= 4 K the packed form is the faster
 * (measured, `qdm bench train --qubits 4,6,8`: 4 and 6 qubits 2x and 1.2x
 * faster; 8 qubits, d = 256, 1.5x slower: the packed rows, 0.5 MB each,
 * make it memory-bound). */
static int ano_global(const qdm_ano *a, const qdm_cplx *psi, int rows, double *y, const double *dy, qdm_cplx *gpsi,
                      qdm_cplx *dM) {
  if (a->d <= 4 * a->K) return ano_global_packed(a, psi, rows, y, dy, gpsi, dM);
  return ano_global_complex(a, psi, rows, y, dy, gpsi, dM);
}

int qdm_ano_forward(const qdm_ano *a, const qdm_cplx *psi, int rows, double *y) {
  int e = ano_check(a, psi, rows, y, "qdm_ano_forward");
  if (e || rows == 0) return e;
  if (a->nsets == 1 && a->k == a->n) return ano_global(a, psi, rows, y, NULL, NULL, NULL);
  int d = a->d, d2 = d * d, per = a->per_set, ch = chunk_rows(d, rows);
  size_t dim = (size_t)1 << a->n;
  qdm_cplx *H = malloc((size_t)a->K * d2 * sizeof *H), *R = malloc((size_t)ch * d2 * sizeof *R);
  qdm_cplx *C = malloc((size_t)ch * per * sizeof *C), *v = malloc(d * sizeof *v);
  if (!H || !R || !C || !v) e = qdm_fail(QDM_ENOMEM, "qdm_ano_forward: out of memory");
  if (!e) qdm_ano_hermitian(a, H);
  const qdm_cplx one = 1, zero = 0;
  for (int s = 0; s < a->nsets && !e; s++) {
    sitemap m;
    if ((e = sitemap_make(a, s, &m))) break;
    for (int r0 = 0; r0 < rows; r0 += ch) {
      int nr = rows - r0 < ch ? rows - r0 : ch;
      for (int r = 0; r < nr; r++) reduced_conj(psi + (size_t)(r0 + r) * dim, &m, d, R + (size_t)r * d2, v);
      cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, per, d2, &one, R, d2,
                  H + (size_t)s * per * d2, d2, &zero, C, per);
      for (int r = 0; r < nr; r++)
        for (int j = 0; j < per; j++) y[(size_t)(r0 + r) * a->K + s * per + j] = creal(C[(size_t)r * per + j]);
    }
    sitemap_free(&m);
  }
  free(H); free(R); free(C); free(v);
  return e;
}

int qdm_ano_backward(const qdm_ano *a, const qdm_cplx *psi, int rows, const double *dy, qdm_cplx *gpsi,
                     qdm_cplx *dM) {
  int e = ano_check(a, psi, rows, dy, "qdm_ano_backward");
  if (e || rows == 0 || (!gpsi && !dM)) return e;
  if (a->nsets == 1 && a->k == a->n) return ano_global(a, psi, rows, NULL, dy, gpsi, dM);
  int d = a->d, d2 = d * d, per = a->per_set, ch = chunk_rows(d, rows);
  size_t dim = (size_t)1 << a->n;
  qdm_cplx *H = malloc((size_t)a->K * d2 * sizeof *H), *R = malloc((size_t)ch * d2 * sizeof *R);
  qdm_cplx *DY = malloc((size_t)ch * per * sizeof *DY), *v = malloc(2 * d * sizeof *v);
  if (!H || !R || !DY || !v) e = qdm_fail(QDM_ENOMEM, "qdm_ano_backward: out of memory");
  if (!e) qdm_ano_hermitian(a, H);
  const qdm_cplx one = 1, zero = 0;
  for (int s = 0; s < a->nsets && !e; s++) {
    sitemap m;
    if ((e = sitemap_make(a, s, &m))) break;
    const qdm_cplx *Hs = H + (size_t)s * per * d2;
    for (int r0 = 0; r0 < rows; r0 += ch) {
      int nr = rows - r0 < ch ? rows - r0 : ch;
      for (int r = 0; r < nr; r++)
        for (int j = 0; j < per; j++) DY[(size_t)r * per + j] = dy[(size_t)(r0 + r) * a->K + s * per + j];
      if (dM) {
        /* dM_s += DY^T conj(R): sum_r dy_rj rho_r */
        for (int r = 0; r < nr; r++) reduced_conj(psi + (size_t)(r0 + r) * dim, &m, d, R + (size_t)r * d2, v);
        cblas_zgemm(CblasRowMajor, CblasTrans, CblasConjNoTrans, per, d2, nr, &one, DY, per, R, d2, &one,
                    dM + (size_t)s * per * d2, d2);
      }
      if (gpsi) {
        /* Heff_r = sum_j dy_rj H_j (reuses R), then gpsi_r += 2 Heff_r psi_r on the sites */
        cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, d2, per, &one, DY, per, Hs, d2, &zero, R, d2);
        for (int r = 0; r < nr; r++) {
          const qdm_cplx *p = psi + (size_t)(r0 + r) * dim, *He = R + (size_t)r * d2;
          qdm_cplx *g = gpsi + (size_t)(r0 + r) * dim, *w = v + d;
          for (size_t b = 0; b < m.nrest; b++) {
            for (int i = 0; i < d; i++) v[i] = p[m.rest[b] | m.loc[i]];
            for (int i = 0; i < d; i++) {
              qdm_cplx t = 0;
              for (int j = 0; j < d; j++) t += He[(size_t)i * d + j] * v[j];
              w[i] = t;
            }
            for (int i = 0; i < d; i++) g[m.rest[b] | m.loc[i]] += 2 * w[i];
          }
        }
      }
    }
    sitemap_free(&m);
  }
  free(H); free(R); free(DY); free(v);
  return e;
}

/* <Z_q> = sum_i (-1)^{bit q of i} |psi_i|^2. */
int qdm_zreadout_forward(const qdm_cplx *psi, int n, int rows, double *y) {
  if (!psi || !y) return qdm_fail(QDM_EINVAL, "qdm_zreadout_forward: psi and y must be non-NULL");
  if (n < 1 || n > QDM_MAX_QUBITS || rows < 0)
    return qdm_fail(QDM_EINVAL, "qdm_zreadout_forward: n = %d, rows = %d; expected n in 1..%d, rows >= 0", n, rows, QDM_MAX_QUBITS);
  size_t dim = (size_t)1 << n;
  for (int r = 0; r < rows; r++) {
    double *yr = y + (size_t)r * n;
    for (int q = 0; q < n; q++) yr[q] = 0;
    const qdm_cplx *p = psi + r * dim;
    for (size_t i = 0; i < dim; i++) {
      double pr = creal(p[i]) * creal(p[i]) + cimag(p[i]) * cimag(p[i]);
      for (int q = 0; q < n; q++) yr[q] += i >> q & 1 ? -pr : pr;
    }
  }
  return QDM_OK;
}

int qdm_zreadout_backward(const qdm_cplx *psi, int n, int rows, const double *dy, qdm_cplx *gpsi) {
  if (!psi || !dy || !gpsi) return qdm_fail(QDM_EINVAL, "qdm_zreadout_backward: psi, dy and gpsi must be non-NULL");
  if (n < 1 || n > QDM_MAX_QUBITS || rows < 0)
    return qdm_fail(QDM_EINVAL, "qdm_zreadout_backward: n = %d, rows = %d; expected n in 1..%d, rows >= 0", n, rows, QDM_MAX_QUBITS);
  size_t dim = (size_t)1 << n;
  for (int r = 0; r < rows; r++) {
    const double *dr = dy + (size_t)r * n;
    for (size_t i = 0; i < dim; i++) {
      double s = 0;
      for (int q = 0; q < n; q++) s += i >> q & 1 ? -dr[q] : dr[q];
      gpsi[r * dim + i] += 2 * s * psi[r * dim + i];
    }
  }
  return QDM_OK;
}
