/* qasm_read.c -- OpenQASM 2 and 3 in: a recursive-descent reader for the
 * subset a qdm circuit represents (see "OpenQASM" in include/qdm/circuits.h
 * for the subset and its conventions).
 *
 * The text is lexed on the fly. A gate definition is kept as the source
 * range of its body and read again at every call with its parameters and
 * qubits bound, so modifiers act on the gates that a call emits: ctrl adds
 * controls to each of them (a global phase becomes a phase gate on a
 * control), inv reverses and inverts the emitted segment, pow repeats it.
 * Everything is bounded (text size, identifier length, expression depth,
 * call depth, total work), so no input can crash it or run it for long.
 * The first error wins; it is reported as "file:line: what". */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/circuits.h"

enum {
  MAX_ID = 64, MAX_REGS = 256, MAX_ARGS = 32, MAX_GPAR = 16, MAX_EXPR_DEPTH = 64, MAX_DEFS = 1024,
  MAX_CALL_DEPTH = 64, MAX_PARAMS = 1 << 16, MAX_WORK = 1 << 23, MAX_POW = 1 << 16
};

enum { T_EOF, T_ID, T_NUM, T_STR, T_OP };

typedef struct {
  int type, line;
  const char *s;
  int len;
  double num;
  int isint;
} tok;

typedef struct {
  size_t pos, end;
  int line;
  tok t;         /* the current (look-ahead) token */
  int prev_line; /* line of the last token consumed */
} lexer;

typedef struct {
  const char *s;
  int len;
} span;

typedef struct {
  span name;
  int npar, nq;
  span par[MAX_GPAR], q[MAX_ARGS];
  size_t body, end; /* source range between '{' and '}' */
  int line;         /* line of the '{' */
} gdef;

typedef struct {
  span name;
  int off, size, isbit;
} reg;

typedef struct { /* what names mean inside a gate body */
  const gdef *d;  /* NULL at top level */
  int idx;        /* its index in the definitions (a body calls only earlier ones) */
  const qdm_angle *par;
  const int *q;
} env;

typedef struct {
  const char *file, *text;
  lexer *L;
  int version, included, any_token;
  reg regs[MAX_REGS];
  int nreg, nq;
  span *pn; /* input parameter names */
  int np, pcap;
  gdef *defs;
  int ndef, dcap;
  qdm_gate *g, *tmp; /* emitted gates; scratch for inverting a segment */
  int ng, gcap, tcap;
  env E;
  uint32_t ctl; /* controls added by the enclosing calls */
  int depth, edepth, sline;
  long work;
  span call_name; /* outermost gate being expanded, for messages */
  int call_line;
  uint32_t measured;
  int mline[QDM_MAX_QUBITS];
  int err, ecode, eline;
  char emsg[400];
} qp;

/* ---------------- errors ---------------- */

static int perr(qp *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(qp *p, int line, const char *fmt, ...) {
  if (p->err) return -1;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(p->emsg, sizeof p->emsg, fmt, ap);
  va_end(ap);
  if (p->depth > 0 && n >= 0 && (size_t)n < sizeof p->emsg)
    snprintf(p->emsg + n, sizeof p->emsg - n, " (in gate '%.*s' called on line %d)", p->call_name.len,
             p->call_name.s, p->call_line);
  p->err = 1;
  p->ecode = p->ecode ? p->ecode : QDM_EFORMAT;
  p->eline = line;
  return -1;
}

static int nomem(qp *p) {
  p->ecode = QDM_ENOMEM;
  return perr(p, p->L->t.line, "out of memory");
}

/* A token as it may appear in a message: quoted, at most 24 characters,
 * bytes that are not printable ASCII as \xNN. */
static const char *tdesc(const tok *t, char buf[128]) {
  if (t->type == T_EOF) return "end of file";
  int n = t->len < 24 ? t->len : 24, k = 0;
  buf[k++] = '\'';
  for (int i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)t->s[i];
    if (ch >= 32 && ch < 127) buf[k++] = (char)ch;
    else k += snprintf(buf + k, 5, "\\x%02x", ch);
  }
  if (t->len > n) buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
  buf[k++] = '\'';
  buf[k] = 0;
  return buf;
}

/* ---------------- lexer ---------------- */

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* Whitespace and comments; 0, or -1 after an error. */
static int skip_space(qp *p, lexer *L) {
  const char *s = p->text;
  while (L->pos < L->end) {
    char c = s[L->pos];
    if (c == '\n') L->line++, L->pos++;
    else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') L->pos++;
    else if (c == '/' && L->pos + 1 < L->end && s[L->pos + 1] == '/') {
      while (L->pos < L->end && s[L->pos] != '\n') L->pos++;
    } else if (c == '/' && L->pos + 1 < L->end && s[L->pos + 1] == '*') {
      int line = L->line;
      for (L->pos += 2; L->pos + 1 < L->end && !(s[L->pos] == '*' && s[L->pos + 1] == '/'); L->pos++)
        if (s[L->pos] == '\n') L->line++;
      if (L->pos + 1 >= L->end) return perr(p, line, "unterminated comment: '/*' is never closed");
      L->pos += 2;
    } else {
      break;
    }
  }
  return 0;
}

/* pi, tau and Euler's number as the single-character names OpenQASM 3 allows */
static int utf8_const(const unsigned char *u, size_t left) {
  if (left >= 2 && u[0] == 0xCF && (u[1] == 0x80 || u[1] == 0x84)) return 2;
  if (left >= 3 && u[0] == 0xE2 && u[1] == 0x84 && u[2] == 0xAF) return 3;
  return 0;
}

static int lex_number(qp *p, lexer *L, tok *t) {
  const char *s = p->text;
  size_t i = L->pos;
  int isint = 1;
  while (i < L->end && is_digit(s[i])) i++;
  if (i < L->end && s[i] == '.') {
    isint = 0;
    for (i++; i < L->end && is_digit(s[i]); i++) {}
  }
  if (i < L->end && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < L->end && (s[j] == '+' || s[j] == '-')) j++;
    if (j < L->end && is_digit(s[j])) {
      isint = 0;
      for (i = j; i < L->end && is_digit(s[i]); i++) {}
    }
  }
  size_t len = i - L->pos;
  t->len = (int)(len < 64 ? len : 64);
  if (len >= 64 || (i < L->end && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '.'))) {
    char b[128];
    while (i < L->end && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '.') && i - L->pos < 64) i++;
    t->len = (int)(i - L->pos);
    return perr(p, L->line, "malformed number %s", tdesc(t, b));
  }
  char buf[64];
  memcpy(buf, s + L->pos, len);
  buf[len] = 0;
  t->type = T_NUM;
  t->num = strtod(buf, NULL);
  t->isint = isint;
  L->pos = i;
  return isfinite(t->num) ? 0 : perr(p, L->line, "number '%s' is out of range", buf);
}

static int lex_punct(qp *p, lexer *L, tok *t) {
  const char *s = p->text + L->pos;
  size_t left = L->end - L->pos;
  t->type = T_OP;
  t->len = 1;
  if (left >= 2 && ((s[0] == '-' && s[1] == '>') || (s[0] == '*' && s[1] == '*'))) t->len = 2;
  else if (!s[0] || !strchr(";,()[]{}+-*/^@=<>!&|~%:#.$", s[0])) {
    char b[128];
    t->len = 1;
    return perr(p, L->line, "unexpected character %s", tdesc(t, b));
  }
  L->pos += t->len;
  return 0;
}

/* Reads the next token into L->t; after an error the token is end-of-file
 * and the lexer stays at the end. */
static void lex_next(qp *p, lexer *L) {
  L->prev_line = L->t.line;
  tok t = {T_EOF, 0, NULL, 0, 0, 0};
  int e = skip_space(p, L);
  t.line = L->line;
  t.s = p->text + L->pos;
  if (!e && L->pos < L->end) {
    const char *s = p->text;
    int u = utf8_const((const unsigned char *)s + L->pos, L->end - L->pos);
    if (is_alpha(s[L->pos]) || u) {
      size_t i = L->pos + (u ? (size_t)u : 0);
      if (!u)
        while (i < L->end && (is_alpha(s[i]) || is_digit(s[i]))) i++;
      t.type = T_ID;
      t.len = (int)(i - L->pos < 1000 ? i - L->pos : 1000);
      L->pos = i;
      if (t.len >= MAX_ID) e = perr(p, t.line, "identifier '%.20s...' is longer than %d characters", t.s, MAX_ID - 1);
    } else if (is_digit(s[L->pos]) || (s[L->pos] == '.' && L->pos + 1 < L->end && is_digit(s[L->pos + 1]))) {
      e = lex_number(p, L, &t);
    } else if (s[L->pos] == '"' || s[L->pos] == '\'') {
      size_t i = L->pos + 1;
      while (i < L->end && s[i] != s[L->pos] && s[i] != '\n') i++;
      if (i >= L->end || s[i] != s[L->pos]) e = perr(p, t.line, "unterminated string");
      t.type = T_STR;
      t.s = s + L->pos + 1;
      t.len = (int)(i - L->pos - 1 < 1000 ? i - L->pos - 1 : 1000);
      L->pos = i + 1;
    } else {
      e = lex_punct(p, L, &t);
    }
  }
  if (e) {
    t.type = T_EOF;
    L->pos = L->end;
  }
  if (t.type != T_EOF) p->any_token = 1;
  L->t = t;
  if (p->depth > 0 && ++p->work > MAX_WORK) { /* bodies are read again at every call */
    perr(p, t.line, "circuit too large: more than %d gates, calls and gate-body tokens", MAX_WORK);
    L->t.type = T_EOF;
    L->pos = L->end;
  }
}

/* ---------------- token helpers ---------------- */

#define CUR (p->L->t)

static int span_eq(span a, const char *s, int len) { return a.len == len && !memcmp(a.s, s, (size_t)len); }
static int is_op(const tok *t, const char *op) {
  return t->type == T_OP && t->len == (int)strlen(op) && !memcmp(t->s, op, (size_t)t->len);
}
static int is_id(const tok *t, const char *w) {
  return t->type == T_ID && t->len == (int)strlen(w) && !memcmp(t->s, w, (size_t)t->len);
}
static span tspan(const tok *t) { span s = {t->s, t->len}; return s; }
static void adv(qp *p) { lex_next(p, p->L); }

static int expect(qp *p, const char *op, const char *what) {
  char b[128];
  if (is_op(&CUR, op)) {
    adv(p);
    return 0;
  }
  if (p->err) return -1;
  if (!strcmp(op, ";")) {
    if (CUR.type == T_EOF) return perr(p, p->L->prev_line, "missing ';' after %s (the file ends here)", what);
    return perr(p, p->L->prev_line, "missing ';' after %s (next is %s on line %d)", what, tdesc(&CUR, b), CUR.line);
  }
  return perr(p, CUR.line, "expected '%s' %s, found %s", op, what, tdesc(&CUR, b));
}

static int need_v3(qp *p, const char *what) {
  if (p->version == 3) return 0;
  return perr(p, CUR.line, "%s is OpenQASM 3 syntax; this file declares OPENQASM 2.0", what);
}

/* A non-negative integer literal in [lo, hi]. */
static int int_lit(qp *p, long lo, long hi, const char *what, long *v) {
  char b[128];
  if (CUR.type != T_NUM || !CUR.isint || CUR.num < lo || CUR.num > hi) {
    if (p->err) return -1;
    return perr(p, CUR.line, "%s: expected an integer in %ld..%ld, found %s", what, lo, hi, tdesc(&CUR, b));
  }
  *v = (long)CUR.num;
  adv(p);
  return 0;
}

static int name_taken(const qp *p, span s) {
  for (int i = 0; i < p->nreg; i++)
    if (span_eq(p->regs[i].name, s.s, s.len)) return 1;
  for (int i = 0; i < p->np; i++)
    if (span_eq(p->pn[i], s.s, s.len)) return 1;
  for (int i = 0; i < p->ndef; i++)
    if (span_eq(p->defs[i].name, s.s, s.len)) return 1;
  return 0;
}

/* An identifier that names something new. */
static int new_name(qp *p, span *out, const char *what) {
  char b[128];
  if (CUR.type != T_ID) return p->err ? -1 : perr(p, CUR.line, "expected the name of %s, found %s", what, tdesc(&CUR, b));
  *out = tspan(&CUR);
  if (name_taken(p, *out)) return perr(p, CUR.line, "'%.*s' is already declared", out->len, out->s);
  adv(p);
  return 0;
}

/* ---------------- angle expressions: affine in at most one parameter ---------------- */

static const char *pname(const qp *p, int src, char buf[80]) {
  if (src >= 0 && src < p->np) snprintf(buf, 80, "'%.*s'", p->pn[src].len, p->pn[src].s);
  else snprintf(buf, 80, "theta[%d]", src);
  return buf;
}

static int aff_add(qp *p, qdm_angle *x, qdm_angle y, double sign, int line) {
  char b1[80], b2[80];
  if (x->src >= 0 && y.src >= 0 && x->src != y.src)
    return perr(p, line, "angle expression depends on two parameters (%s and %s); qdm angles are a * theta + b in "
                "one parameter", pname(p, x->src, b1), pname(p, y.src, b2));
  if (x->src < 0) x->src = y.src;
  x->a += sign * y.a;
  x->b += sign * y.b;
  return 0;
}

static int aff_mul(qp *p, qdm_angle *x, qdm_angle y, int div, int line) {
  char b1[80];
  if (div) {
    if (y.src >= 0) return perr(p, line, "non-affine angle expression: division by the parameter %s", pname(p, y.src, b1));
    if (y.b == 0) return perr(p, line, "division by zero in an angle expression");
    x->a /= y.b;
    x->b /= y.b;
    return 0;
  }
  if (x->src >= 0 && y.src >= 0)
    return perr(p, line, "non-affine angle expression: a product of terms in %s; qdm angles are a * theta + b",
                pname(p, x->src, b1));
  if (x->src < 0) {
    double k = x->b;
    *x = y;
    x->a *= k;
    x->b *= k;
  } else {
    x->a *= y.b;
    x->b *= y.b;
  }
  return 0;
}

static int need_const(qp *p, qdm_angle v, const char *what, int line) {
  char b1[80];
  if (v.src < 0) return 0;
  return perr(p, line, "non-affine angle expression: %s of the parameter %s; qdm angles are a * theta + b", what,
              pname(p, v.src, b1));
}

static int expr(qp *p, qdm_angle *v);
static int unary(qp *p, qdm_angle *v);

static int function(qp *p, const tok *f, qdm_angle *v) {
  static const char *nm[] = {"sin", "cos", "tan", "exp", "ln", "sqrt", "arcsin", "arccos", "arctan"};
  static double (*const fn[])(double) = {sin, cos, tan, exp, log, sqrt, asin, acos, atan};
  int line = f->line;
  for (int i = 0; i < 9; i++)
    if (is_id(f, nm[i])) {
      adv(p);
      if (expect(p, "(", "after a function name") || expr(p, v) || expect(p, ")", "to close the function call") ||
          need_const(p, *v, nm[i], line))
        return -1;
      *v = qdm_fixed(fn[i](v->b));
      return isfinite(v->b) ? 0 : perr(p, line, "%s(...) is not a finite real number", nm[i]);
    }
  return 1;
}

static int identifier(qp *p, qdm_angle *v) {
  tok t = CUR;
  char b[128];
  if (is_id(&t, "pi") || is_id(&t, "\xCF\x80")) *v = qdm_fixed(M_PI);
  else if (is_id(&t, "tau") || is_id(&t, "\xCF\x84")) *v = qdm_fixed(2 * M_PI);
  else if (is_id(&t, "euler") || is_id(&t, "\xE2\x84\xAF")) *v = qdm_fixed(M_E);
  else {
    int r = function(p, &t, v);
    if (r <= 0) return r;
    int found = 0;
    if (p->E.d) {
      for (int i = 0; i < p->E.d->npar && !found; i++)
        if (span_eq(p->E.d->par[i], t.s, t.len)) *v = p->E.par[i], found = 1;
    } else {
      for (int i = 0; i < p->np && !found; i++)
        if (span_eq(p->pn[i], t.s, t.len)) *v = qdm_par(i), found = 1;
    }
    if (!found) return perr(p, t.line, "unknown identifier %s in an angle expression", tdesc(&t, b));
  }
  adv(p);
  return 0;
}

static int primary(qp *p, qdm_angle *v) {
  char b[128];
  if (CUR.type == T_NUM) {
    *v = qdm_fixed(CUR.num);
    adv(p);
    return 0;
  }
  if (is_op(&CUR, "(")) {
    adv(p);
    return expr(p, v) || expect(p, ")", "to close '('") ? -1 : 0;
  }
  if (CUR.type == T_ID) return identifier(p, v);
  if (p->err) return -1;
  return perr(p, CUR.line, "expected a number, a parameter or '(' in an angle expression, found %s", tdesc(&CUR, b));
}

/* primary [('^' | '**') unary]: right-associative, binds tighter than unary minus */
static int power(qp *p, qdm_angle *v) {
  if (primary(p, v)) return -1;
  if (!is_op(&CUR, "^") && !is_op(&CUR, "**")) return 0;
  int line = CUR.line;
  qdm_angle e;
  adv(p);
  if (unary(p, &e) || need_const(p, *v, "a power", line) || need_const(p, e, "a power", line)) return -1;
  v->b = pow(v->b, e.b);
  return isfinite(v->b) ? 0 : perr(p, line, "a power in an angle expression is not a finite real number");
}

static int unary(qp *p, qdm_angle *v) {
  if (++p->edepth > MAX_EXPR_DEPTH) return perr(p, CUR.line, "angle expression nested more than %d deep", MAX_EXPR_DEPTH);
  int r;
  if (is_op(&CUR, "-") || is_op(&CUR, "+")) {
    int neg = is_op(&CUR, "-");
    adv(p);
    r = unary(p, v);
    if (neg) v->a = -v->a, v->b = -v->b;
  } else {
    r = power(p, v);
  }
  p->edepth--;
  return r;
}

static int term(qp *p, qdm_angle *v) {
  if (unary(p, v)) return -1;
  while (is_op(&CUR, "*") || is_op(&CUR, "/")) {
    int div = is_op(&CUR, "/"), line = CUR.line;
    qdm_angle y;
    adv(p);
    if (unary(p, &y) || aff_mul(p, v, y, div, line)) return -1;
  }
  return 0;
}

static int expr(qp *p, qdm_angle *v) {
  if (++p->edepth > MAX_EXPR_DEPTH) return perr(p, CUR.line, "angle expression nested more than %d deep", MAX_EXPR_DEPTH);
  int r = term(p, v);
  while (!r && (is_op(&CUR, "+") || is_op(&CUR, "-"))) {
    double sign = is_op(&CUR, "-") ? -1 : 1;
    int line = CUR.line;
    qdm_angle y;
    adv(p);
    r = term(p, &y) || aff_add(p, v, y, sign, line) ? -1 : 0;
  }
  p->edepth--;
  if (!r && v->a == 0) v->src = -1;
  if (!r && (!isfinite(v->a) || !isfinite(v->b))) r = perr(p, CUR.line, "angle expression is not finite");
  return r;
}

/* ---------------- emitting gates ---------------- */

static const char *qname(const qp *p, int q, char buf[96]) {
  for (int i = 0; i < p->nreg; i++) {
    const reg *r = &p->regs[i];
    if (!r->isbit && q >= r->off && q < r->off + r->size) {
      snprintf(buf, 96, "%.*s[%d]", r->name.len, r->name.s, q - r->off);
      return buf;
    }
  }
  snprintf(buf, 96, "qubit %d", q);
  return buf;
}

/* buf with room for element n (doubling *cap), or NULL after an error. */
static void *grow(qp *p, void *buf, int *cap, int n, size_t size) {
  if (n < *cap) return buf;
  int c = *cap ? 2 * *cap : 16;
  void *b = realloc(buf, (size_t)c * size);
  if (!b) return nomem(p), NULL;
  *cap = c;
  return b;
}

static int push(qp *p, const qdm_gate *g) {
  if (++p->work > MAX_WORK) return perr(p, p->sline, "circuit too large: more than %d gates, calls and gate-body tokens", MAX_WORK);
  qdm_gate *ng = grow(p, p->g, &p->gcap, p->ng, sizeof *ng);
  if (!ng) return -1;
  p->g = ng;
  p->g[p->ng++] = *g;
  return 0;
}

/* A gate of kind k on targets t[0..nt-1] with controls cm. */
static int emit(qp *p, int kind, int nt, const int *t, uint32_t cm, const qdm_angle *ang) {
  qdm_gate g;
  char b[96];
  memset(&g, 0, sizeof g);
  g.kind = (uint8_t)kind;
  g.nt = (uint8_t)nt;
  g.cmask = cm;
  g.mat = -1;
  uint32_t tm = 0;
  for (int i = 0; i < nt; i++) g.t[i] = (int8_t)t[i], tm |= 1u << t[i];
  for (int j = 0; j < 3; j++) g.ang[j] = ang ? ang[j] : qdm_fixed(0);
  assert(!(tm & cm)); /* apply() checks that arguments are distinct */
  uint32_t hit = (tm | cm) & p->measured;
  if (hit) {
    int q = __builtin_ctz(hit);
    return perr(p, p->sline, "unsupported construct 'gate after measurement': %s was measured on line %d "
                "(qdm reads unitary circuits; only final measurements are allowed)", qname(p, q, b), p->mline[q]);
  }
  return push(p, &g);
}

/* A global phase e^{i a}: nothing on its own; under controls, the phase
 * gate P(a) on the lowest control, controlled by the others. */
static int phase(qp *p, qdm_angle a, int affine, const char *gate) {
  if (!p->ctl) return 0;
  if (!affine)
    return perr(p, p->sline, "'ctrl @ %s': its global phase depends on two parameters (not a * theta + b)", gate);
  int q = __builtin_ctz(p->ctl);
  qdm_angle ang[3] = {a, qdm_fixed(0), qdm_fixed(0)};
  return emit(p, QDM_GP, 1, &q, p->ctl & ~(1u << q), ang);
}

/* -(x + y)/2, the phase of OpenQASM 3's u2 and u3; affine flags whether
 * it is a * theta + b in one parameter. */
static qdm_angle half_sum(qdm_angle x, qdm_angle y, int *affine) {
  qdm_angle r = {x.src >= 0 ? x.src : y.src, -(x.a + y.a) / 2, -(x.b + y.b) / 2};
  *affine = x.src < 0 || y.src < 0 || x.src == y.src;
  return r;
}

/* Builtin gates: one qdm kind with nctl leading control arguments, or a
 * special form. All take the OpenQASM 3 meaning, global phase included;
 * in OpenQASM 2 nothing is ever controlled, so the phases never show. */
enum { B_ONE, B_NOP, B_GPHASE, B_U2, B_U3, B_CU, B_SXDG };
enum { AV_INC = 0, AV_BASE = 1, AV_BASE2 = 2, AV_BASE3 = 3 }; /* available without an include? */
typedef struct {
  const char *name;
  uint8_t kind, npar, nq, nctl, how, avail;
} bgate;

static const bgate builtin[] = {
    {"U", QDM_GU3, 3, 1, 0, B_ONE, AV_BASE}, {"CX", QDM_GX, 0, 2, 1, B_ONE, AV_BASE2},
    {"gphase", 0, 1, 0, 0, B_GPHASE, AV_BASE3},
    {"id", QDM_GI, 0, 1, 0, B_ONE, 0}, {"u0", 0, 1, 1, 0, B_NOP, 0},
    {"x", QDM_GX, 0, 1, 0, B_ONE, 0}, {"y", QDM_GY, 0, 1, 0, B_ONE, 0}, {"z", QDM_GZ, 0, 1, 0, B_ONE, 0},
    {"h", QDM_GH, 0, 1, 0, B_ONE, 0}, {"s", QDM_GS, 0, 1, 0, B_ONE, 0}, {"sdg", QDM_GSDG, 0, 1, 0, B_ONE, 0},
    {"t", QDM_GT, 0, 1, 0, B_ONE, 0}, {"tdg", QDM_GTDG, 0, 1, 0, B_ONE, 0}, {"sx", QDM_GSX, 0, 1, 0, B_ONE, 0},
    {"sxdg", 0, 0, 1, 0, B_SXDG, 0},
    {"rx", QDM_GRX, 1, 1, 0, B_ONE, 0}, {"ry", QDM_GRY, 1, 1, 0, B_ONE, 0}, {"rz", QDM_GRZ, 1, 1, 0, B_ONE, 0},
    {"p", QDM_GP, 1, 1, 0, B_ONE, 0}, {"phase", QDM_GP, 1, 1, 0, B_ONE, 0}, {"u1", QDM_GP, 1, 1, 0, B_ONE, 0},
    {"u", QDM_GU3, 3, 1, 0, B_ONE, 0}, {"u2", 0, 2, 1, 0, B_U2, 0}, {"u3", 0, 3, 1, 0, B_U3, 0},
    {"cx", QDM_GX, 0, 2, 1, B_ONE, 0}, {"cy", QDM_GY, 0, 2, 1, B_ONE, 0}, {"cz", QDM_GZ, 0, 2, 1, B_ONE, 0},
    {"ch", QDM_GH, 0, 2, 1, B_ONE, 0}, {"csx", QDM_GSX, 0, 2, 1, B_ONE, 0},
    {"cp", QDM_GP, 1, 2, 1, B_ONE, 0}, {"cphase", QDM_GP, 1, 2, 1, B_ONE, 0}, {"cu1", QDM_GP, 1, 2, 1, B_ONE, 0},
    {"crx", QDM_GRX, 1, 2, 1, B_ONE, 0}, {"cry", QDM_GRY, 1, 2, 1, B_ONE, 0}, {"crz", QDM_GRZ, 1, 2, 1, B_ONE, 0},
    {"cu3", QDM_GU3, 3, 2, 1, B_ONE, 0}, {"cu", 0, 4, 2, 1, B_CU, 0},
    {"swap", QDM_GSWAP, 0, 2, 0, B_ONE, 0}, {"cswap", QDM_GSWAP, 0, 3, 1, B_ONE, 0},
    {"ccx", QDM_GX, 0, 3, 2, B_ONE, 0}, {"c3x", QDM_GX, 0, 4, 3, B_ONE, 0}, {"c4x", QDM_GX, 0, 5, 4, B_ONE, 0},
    {"rxx", QDM_GRXX, 1, 2, 0, B_ONE, 0}, {"ryy", QDM_GRYY, 1, 2, 0, B_ONE, 0}, {"rzz", QDM_GRZZ, 1, 2, 0, B_ONE, 0},
};
#define NBUILTIN ((int)(sizeof builtin / sizeof *builtin))

static int emit_builtin(qp *p, const bgate *b, const qdm_angle *par, const int *q) {
  uint32_t cm = p->ctl;
  for (int i = 0; i < b->nctl; i++) cm |= 1u << q[i];
  qdm_angle ang[3] = {qdm_fixed(0), qdm_fixed(0), qdm_fixed(0)};
  int affine;
  switch (b->how) {
  case B_ONE:
    for (int j = 0; j < b->npar; j++) ang[j] = par[j];
    return emit(p, b->kind, b->nq - b->nctl, q + b->nctl, cm, ang);
  case B_NOP: return 0;
  case B_GPHASE: return phase(p, par[0], 1, b->name);
  case B_U2: /* gphase(-(phi + lambda)/2) U(pi/2, phi, lambda) */
  case B_U3: { /* gphase(-(phi + lambda)/2) U(theta, phi, lambda) */
    int o = b->how == B_U3;
    ang[0] = o ? par[0] : qdm_fixed(M_PI / 2);
    ang[1] = par[o];
    ang[2] = par[o + 1];
    qdm_angle ph = half_sum(ang[1], ang[2], &affine);
    return phase(p, ph, affine, b->name) || emit(p, QDM_GU3, 1, q, cm, ang) ? -1 : 0;
  }
  case B_CU: { /* p(gamma) c; ctrl @ U(theta, phi, lambda) c, t */
    qdm_angle g[3] = {par[3], qdm_fixed(0), qdm_fixed(0)};
    for (int j = 0; j < 3; j++) ang[j] = par[j];
    return emit(p, QDM_GP, 1, q, p->ctl, g) || emit(p, QDM_GU3, 1, q + 1, cm, ang) ? -1 : 0;
  }
  default: /* B_SXDG: SX^-1 = SX^3 = X SX, no phase needed */
    return emit(p, QDM_GX, 1, q, cm, NULL) || emit(p, QDM_GSX, 1, q, cm, NULL) ? -1 : 0;
  }
}

/* Appends the inverse of g: rotations negate their angle, U3(t, f, l)^-1 =
 * U3(-t, -l, -f), S <-> Sdg, T <-> Tdg, SX^-1 = X SX. */
static int push_inverse(qp *p, qdm_gate g) {
  switch (g.kind) {
  case QDM_GS: g.kind = QDM_GSDG; break;
  case QDM_GSDG: g.kind = QDM_GS; break;
  case QDM_GT: g.kind = QDM_GTDG; break;
  case QDM_GTDG: g.kind = QDM_GT; break;
  case QDM_GSX: {
    qdm_gate x = g;
    x.kind = QDM_GX;
    if (push(p, &x)) return -1;
    break;
  }
  case QDM_GU3: {
    qdm_angle f = g.ang[1];
    g.ang[1] = g.ang[2];
    g.ang[2] = f;
    for (int j = 0; j < 3; j++) g.ang[j].a = -g.ang[j].a, g.ang[j].b = -g.ang[j].b;
    break;
  }
  case QDM_GRX: case QDM_GRY: case QDM_GRZ: case QDM_GP: case QDM_GRXX: case QDM_GRYY: case QDM_GRZZ:
    for (int j = 0; j < 3; j++) g.ang[j].a = -g.ang[j].a, g.ang[j].b = -g.ang[j].b;
    break;
  default: break; /* I X Y Z H SWAP are their own inverses */
  }
  return push(p, &g);
}

/* Replaces the gates emitted since `start` by the inverse of their product. */
static int invert_from(qp *p, int start) {
  int n = p->ng - start;
  if (n > p->tcap) {
    qdm_gate *t = realloc(p->tmp, (size_t)n * sizeof *t);
    if (!t) return nomem(p);
    p->tmp = t;
    p->tcap = n;
  }
  memcpy(p->tmp, p->g + start, (size_t)n * sizeof *p->tmp);
  p->ng = start;
  for (int i = n - 1; i >= 0; i--)
    if (push_inverse(p, p->tmp[i])) return -1;
  return 0;
}

/* ---------------- gate calls ---------------- */

typedef struct {
  const gdef *d;
  const bgate *b;
  int idx;
} gref;

static int body_statement(qp *p);

/* Runs the body of d with its parameters and qubits bound. */
static int call_def(qp *p, const gref *r, const qdm_angle *par, const int *q) {
  const gdef *d = r->d;
  if (p->depth >= MAX_CALL_DEPTH) return perr(p, p->sline, "gate calls nested more than %d deep", MAX_CALL_DEPTH);
  if (++p->work > MAX_WORK) return perr(p, p->sline, "circuit too large: more than %d gates, calls and gate-body tokens", MAX_WORK);
  lexer sub = {d->body, d->end, d->line, {T_EOF, d->line, NULL, 0, 0, 0}, d->line}, *saveL = p->L;
  env saveE = p->E;
  int saveline = p->sline;
  p->E.d = d;
  p->E.idx = r->idx;
  p->E.par = par;
  p->E.q = q;
  p->L = &sub;
  p->depth++;
  lex_next(p, &sub);
  while (!p->err && sub.t.type != T_EOF) body_statement(p);
  p->depth--;
  p->L = saveL;
  p->E = saveE;
  p->sline = saveline;
  return p->err ? -1 : 0;
}

typedef struct {
  int nctl;
  uint8_t neg[MAX_ARGS];
  long expo; /* net power: inv flips its sign */
} mods;

/* One application: controls q[0..nctl-1], then the gate's own qubits. */
static int apply(qp *p, const gref *r, const qdm_angle *par, const int *q, int nq, const mods *m) {
  char b[96];
  for (int i = 0; i < nq; i++)
    for (int j = i + 1; j < nq; j++)
      if (q[i] == q[j]) return perr(p, p->sline, "qubit %s appears twice in one gate", qname(p, q[i], b));
  for (int i = 0; i < nq; i++)
    if (p->ctl & (1u << q[i])) return perr(p, p->sline, "qubit %s is also a control of the enclosing call", qname(p, q[i], b));
  uint32_t save = p->ctl, cm = 0;
  for (int i = 0; i < m->nctl; i++) cm |= 1u << q[i];
  for (int i = 0; i < m->nctl; i++)
    if (m->neg[i] && emit(p, QDM_GX, 1, &q[i], p->ctl, NULL)) return -1;
  p->ctl |= cm;
  int start = p->ng, e = 0;
  for (long k = 0; k < labs(m->expo) && !e; k++)
    e = r->d ? call_def(p, r, par, q + m->nctl) : emit_builtin(p, r->b, par, q + m->nctl);
  if (!e && m->expo < 0) e = invert_from(p, start);
  p->ctl = save;
  for (int i = 0; i < m->nctl && !e; i++)
    if (m->neg[i]) e = emit(p, QDM_GX, 1, &q[i], p->ctl, NULL);
  return e;
}

static int find_gate(qp *p, const tok *t, gref *r) {
  char b[128];
  int lim = p->E.d ? p->E.idx : p->ndef; /* a body sees only earlier definitions: no recursion */
  for (int i = lim - 1; i >= 0; i--)
    if (span_eq(p->defs[i].name, t->s, t->len)) {
      r->d = &p->defs[i], r->b = NULL, r->idx = i;
      return 0;
    }
  for (int i = 0; i < NBUILTIN; i++)
    if (is_id(t, builtin[i].name)) {
      const bgate *g = &builtin[i];
      int ok = g->avail == AV_BASE || (g->avail == AV_BASE3 ? p->version == 3
                                       : p->included || (g->avail == AV_BASE2 && p->version == 2));
      if (!ok)
        return perr(p, t->line, "unknown gate %s (it is defined in %s: add include \"%s\";)", tdesc(t, b),
                    p->version == 2 ? "qelib1.inc" : "stdgates.inc", p->version == 2 ? "qelib1.inc" : "stdgates.inc");
      r->d = NULL, r->b = g, r->idx = -1;
      return 0;
    }
  return perr(p, t->line, "unknown gate %s", tdesc(t, b));
}

typedef struct {
  int first, size, whole;
} qarg;

static const reg *find_reg(const qp *p, const tok *t) {
  for (int i = 0; i < p->nreg; i++)
    if (span_eq(p->regs[i].name, t->s, t->len)) return &p->regs[i];
  return NULL;
}

/* reg[i] or reg (whole register) at top level; a qubit argument name in a body. */
static int parse_qarg(qp *p, qarg *a, int bits) {
  char b[128];
  tok t = CUR;
  if (is_op(&t, "$")) return perr(p, t.line, "unsupported construct 'physical qubit $n' (declare a register)");
  if (t.type != T_ID) return p->err ? -1 : perr(p, t.line, "expected a %s, found %s", bits ? "bit" : "qubit", tdesc(&t, b));
  if (p->E.d && !bits) {
    for (int i = 0; i < p->E.d->nq; i++)
      if (span_eq(p->E.d->q[i], t.s, t.len)) {
        a->first = p->E.q[i], a->size = 1, a->whole = 0;
        adv(p);
        if (is_op(&CUR, "[")) return perr(p, CUR.line, "unsupported construct 'indexed qubit argument' in a gate body");
        return 0;
      }
    return perr(p, t.line, "unknown qubit %s in the body of gate '%.*s'", tdesc(&t, b), p->E.d->name.len, p->E.d->name.s);
  }
  const reg *r = find_reg(p, &t);
  if (!r || r->isbit != bits)
    return perr(p, t.line, "%s is not a %s register", tdesc(&t, b), bits ? "bit" : "qubit");
  adv(p);
  a->first = r->off, a->size = r->size, a->whole = 1;
  if (!is_op(&CUR, "[")) return 0;
  adv(p);
  if (CUR.type != T_NUM || !CUR.isint) {
    if (p->err) return -1;
    if (is_op(&CUR, "{") || CUR.type == T_ID || is_op(&CUR, "-"))
      return perr(p, CUR.line, "unsupported construct 'register index %s': only integer literals", tdesc(&CUR, b));
    return perr(p, CUR.line, "expected an integer index into '%.*s', found %s", r->name.len, r->name.s, tdesc(&CUR, b));
  }
  if (CUR.num >= r->size)
    return perr(p, CUR.line, "%s index %.0f out of range: register '%.*s' has %d", bits ? "bit" : "qubit", CUR.num,
                r->name.len, r->name.s, r->size);
  a->first = r->off + (int)CUR.num, a->size = 1, a->whole = 0;
  adv(p);
  if (is_op(&CUR, ":")) return perr(p, CUR.line, "unsupported construct 'register slice'");
  return expect(p, "]", "to close the register index");
}

static int parse_qargs(qp *p, qarg *a, int *n) {
  *n = 0;
  if (is_op(&CUR, ";")) return 0;
  do {
    if (*n > 0) adv(p);
    if (*n == MAX_ARGS) return perr(p, CUR.line, "more than %d qubit arguments", MAX_ARGS);
    if (parse_qarg(p, &a[(*n)++], 0)) return -1;
  } while (is_op(&CUR, ","));
  return 0;
}

/* ctrl[(k)] @, negctrl[(k)] @, inv @, pow(k) @ */
static int is_modifier(const tok *t) {
  return is_id(t, "ctrl") || is_id(t, "negctrl") || is_id(t, "inv") || is_id(t, "pow");
}

static int parse_mods(qp *p, mods *m) {
  m->nctl = 0;
  m->expo = 1;
  while (is_modifier(&CUR)) {
    char what[32];
    snprintf(what, sizeof what, "'%.*s @'", CUR.len, CUR.s);
    if (need_v3(p, what)) return -1;
    int neg = is_id(&CUR, "negctrl"), ctl = neg || is_id(&CUR, "ctrl"), inv = is_id(&CUR, "inv"), line = CUR.line;
    adv(p);
    long k = 1;
    if (ctl && is_op(&CUR, "(")) {
      adv(p);
      if (int_lit(p, 1, MAX_ARGS, "number of controls", &k) || expect(p, ")", "after the number of controls")) return -1;
    } else if (!ctl && !inv) {
      qdm_angle e;
      if (expect(p, "(", "after 'pow'") || expr(p, &e) || expect(p, ")", "after the exponent")) return -1;
      if (e.src >= 0 || e.b != floor(e.b) || fabs(e.b) > MAX_POW)
        return perr(p, line, "unsupported construct 'pow' with a non-integer or parameter exponent (integers up to %d "
                    "are supported)", MAX_POW);
      k = (long)e.b;
    }
    if (expect(p, "@", "after a gate modifier")) return -1;
    if (inv) m->expo = -m->expo;
    else if (!ctl) {
      if (labs(m->expo * k) > MAX_POW) return perr(p, line, "pow: net exponent beyond %d", MAX_POW);
      m->expo *= k;
    } else {
      if (m->nctl + k > MAX_ARGS) return perr(p, line, "more than %d controls", MAX_ARGS);
      for (long i = 0; i < k; i++) m->neg[m->nctl++] = (uint8_t)neg;
    }
  }
  return 0;
}

static void gate_arity(const gref *r, int *npar, int *nq, span *name) {
  if (r->d) *npar = r->d->npar, *nq = r->d->nq, *name = r->d->name;
  else *npar = r->b->npar, *nq = r->b->nq, name->s = r->b->name, name->len = (int)strlen(r->b->name);
}

/* [modifiers] name [(angles)] qubits ; -- applied once per broadcast index. */
static int st_call(qp *p) {
  mods m;
  gref r = {NULL, NULL, -1};
  qdm_angle par[MAX_GPAR];
  qarg a[MAX_ARGS];
  int line = CUR.line, npar = 0, nargs, want_par, want_q;
  span name;
  p->sline = line;
  if (parse_mods(p, &m)) return -1;
  tok t = CUR;
  if (t.type != T_ID) {
    char b[128];
    return p->err ? -1 : perr(p, t.line, "expected a gate name after the modifiers, found %s", tdesc(&t, b));
  }
  if (find_gate(p, &t, &r)) return -1;
  adv(p);
  gate_arity(&r, &want_par, &want_q, &name);
  if (is_op(&CUR, "(")) {
    adv(p);
    for (; !is_op(&CUR, ")");) {
      char b[128];
      if (npar == MAX_GPAR) return perr(p, CUR.line, "more than %d gate parameters", MAX_GPAR);
      if (expr(p, &par[npar++])) return -1;
      if (is_op(&CUR, ")")) break;
      if (!is_op(&CUR, ","))
        return perr(p, CUR.line, "expected ',' or ')' in the parameters of '%.*s', found %s (unbalanced parentheses?)",
                    name.len, name.s, tdesc(&CUR, b));
      adv(p);
    }
    adv(p);
  }
  if (npar != want_par)
    return perr(p, line, "gate '%.*s' takes %d parameter(s), got %d", name.len, name.s, want_par, npar);
  if (parse_qargs(p, a, &nargs) || expect(p, ";", "the gate call")) return -1;
  p->sline = line;
  if (nargs != m.nctl + want_q) {
    if (m.nctl)
      return perr(p, line, "'%.*s' with %d control(s) takes %d qubit argument(s), got %d", name.len, name.s, m.nctl,
                  m.nctl + want_q, nargs);
    return perr(p, line, "gate '%.*s' takes %d qubit argument(s), got %d", name.len, name.s, want_q, nargs);
  }
  int size = -1;
  for (int i = 0; i < nargs; i++)
    if (a[i].whole) {
      if (size >= 0 && a[i].size != size)
        return perr(p, line, "gate '%.*s' on registers of different sizes (%d and %d)", name.len, name.s, size, a[i].size);
      size = a[i].size;
    }
  if (size < 0) size = 1;
  for (int k = 0; k < size; k++) {
    int q[MAX_ARGS];
    for (int i = 0; i < nargs; i++) q[i] = a[i].first + (a[i].whole ? k : 0);
    if (p->depth == 0) p->call_name = name, p->call_line = line;
    if (apply(p, &r, par, q, nargs, &m)) return -1;
  }
  return 0;
}

/* ---------------- statements ---------------- */

static int st_include(qp *p) {
  char b[128];
  adv(p);
  tok t = CUR;
  if (t.type != T_STR) return p->err ? -1 : perr(p, t.line, "include expects a file name in quotes, found %s", tdesc(&t, b));
  if (!(t.len == 10 && !memcmp(t.s, "qelib1.inc", 10)) && !(t.len == 12 && !memcmp(t.s, "stdgates.inc", 12)))
    return perr(p, t.line, "include '%.*s': only \"qelib1.inc\" and \"stdgates.inc\" are known (qdm reads one "
                "self-contained file)", t.len > 64 ? 64 : t.len, t.s);
  p->included = 1;
  adv(p);
  return expect(p, ";", "the include");
}

static int add_reg(qp *p, span name, long size, int isbit, int line) {
  if (p->nreg == MAX_REGS) return perr(p, line, "more than %d registers", MAX_REGS);
  if (!isbit && p->nq + size > QDM_MAX_QUBITS)
    return perr(p, line, "%ld qubits in all: qdm simulates at most %d", p->nq + size, QDM_MAX_QUBITS);
  reg *r = &p->regs[p->nreg++];
  r->name = name;
  r->size = (int)size;
  r->isbit = isbit;
  r->off = isbit ? 0 : p->nq;
  if (!isbit) p->nq += (int)size;
  return 0;
}

/* qreg name[n]; creg name[n]; */
static int st_oldreg(qp *p) {
  int isbit = is_id(&CUR, "creg"), line = CUR.line;
  long n = 0;
  span name;
  adv(p);
  if (new_name(p, &name, "a register") || expect(p, "[", "after the register name") ||
      int_lit(p, 1, 1 << 20, "register size", &n) || expect(p, "]", "after the register size") ||
      expect(p, ";", "the register declaration"))
    return -1;
  return add_reg(p, name, n, isbit, line);
}

/* qubit[n] name; bit[n] name; (size 1 without [n]) */
static int st_newreg(qp *p) {
  int isbit = is_id(&CUR, "bit"), line = CUR.line;
  long n = 1;
  span name;
  if (need_v3(p, isbit ? "'bit'" : "'qubit'")) return -1;
  adv(p);
  if (is_op(&CUR, "[")) {
    adv(p);
    if (int_lit(p, 1, 1 << 20, "register size", &n) || expect(p, "]", "after the register size")) return -1;
  }
  if (new_name(p, &name, "a register") || expect(p, ";", "the register declaration")) return -1;
  return add_reg(p, name, n, isbit, line);
}

/* input float[64] name; input angle[k] name; -> the next theta index */
static int st_input(qp *p) {
  char b[128];
  long w;
  span name;
  if (need_v3(p, "'input'")) return -1;
  adv(p);
  if (!is_id(&CUR, "float") && !is_id(&CUR, "angle"))
    return p->err ? -1 : perr(p, CUR.line, "unsupported construct 'input %s': only float and angle inputs (circuit "
                              "parameters)", CUR.type == T_EOF ? "" : tdesc(&CUR, b));
  adv(p);
  if (is_op(&CUR, "[")) {
    adv(p);
    if (int_lit(p, 1, 1024, "input width", &w) || expect(p, "]", "after the input width")) return -1;
  }
  if (new_name(p, &name, "an input parameter") || expect(p, ";", "the input declaration")) return -1;
  if (p->np == MAX_PARAMS) return perr(p, p->L->prev_line, "more than %d input parameters", MAX_PARAMS);
  span *pn = grow(p, p->pn, &p->pcap, p->np, sizeof *pn);
  if (!pn) return -1;
  p->pn = pn;
  p->pn[p->np++] = name;
  return 0;
}

static int unique_in(const span *s, int n, span x) {
  for (int i = 0; i < n; i++)
    if (span_eq(s[i], x.s, x.len)) return 0;
  return 1;
}

/* gate name[(params)] qubits { body }: the header is checked now, the body
 * at every call (balanced braces are checked now). */
static int gate_header(qp *p, gdef *d) {
  char b[128];
  if (new_name(p, &d->name, "a gate")) return -1;
  if (is_op(&CUR, "(")) {
    adv(p);
    while (!is_op(&CUR, ")")) {
      if (d->npar && expect(p, ",", "between gate parameter names")) return -1;
      if (d->npar == MAX_GPAR) return perr(p, CUR.line, "more than %d gate parameters", MAX_GPAR);
      if (CUR.type != T_ID || !unique_in(d->par, d->npar, tspan(&CUR)))
        return p->err ? -1 : perr(p, CUR.line, "expected a new parameter name, found %s", tdesc(&CUR, b));
      d->par[d->npar++] = tspan(&CUR);
      adv(p);
    }
    adv(p);
  }
  while (CUR.type == T_ID) {
    if (d->nq == MAX_ARGS) return perr(p, CUR.line, "more than %d qubit arguments", MAX_ARGS);
    if (!unique_in(d->q, d->nq, tspan(&CUR)) || !unique_in(d->par, d->npar, tspan(&CUR)))
      return perr(p, CUR.line, "gate argument %s is given twice", tdesc(&CUR, b));
    d->q[d->nq++] = tspan(&CUR);
    adv(p);
    if (!is_op(&CUR, ",")) break;
    adv(p);
  }
  if (!d->nq && !p->err) return perr(p, CUR.line, "gate '%.*s' has no qubit arguments", d->name.len, d->name.s);
  return p->err ? -1 : 0;
}

static int st_gate(qp *p) {
  gdef d;
  memset(&d, 0, sizeof d);
  adv(p);
  if (gate_header(p, &d)) return -1;
  int open = CUR.line;
  if (!is_op(&CUR, "{")) return expect(p, "{", "to open the gate body");
  d.body = p->L->pos;
  d.line = p->L->line;
  for (adv(p); !is_op(&CUR, "}"); adv(p)) {
    if (CUR.type == T_EOF)
      return p->err ? -1 : perr(p, open, "unbalanced braces: the '{' of gate '%.*s' is never closed", d.name.len, d.name.s);
    if (is_op(&CUR, "{")) return perr(p, CUR.line, "unsupported construct '{' inside a gate body");
  }
  d.end = (size_t)(CUR.s - p->text);
  adv(p);
  if (p->ndef == MAX_DEFS) return perr(p, open, "more than %d gate definitions", MAX_DEFS);
  gdef *nd = grow(p, p->defs, &p->dcap, p->ndef, sizeof *nd);
  if (!nd) return -1;
  p->defs = nd;
  p->defs[p->ndef++] = d;
  return 0;
}

static int st_barrier(qp *p) {
  qarg a[MAX_ARGS];
  int n;
  adv(p);
  return parse_qargs(p, a, &n) || expect(p, ";", "the barrier") ? -1 : 0;
}

static void mark_measured(qp *p, const qarg *a, int line) {
  for (int i = 0; i < a->size; i++) {
    int q = a->first + i;
    if (!(p->measured & (1u << q))) p->mline[q] = line;
    p->measured |= 1u << q;
  }
}

/* measure q [-> c]; (a final measurement: the circuit is the unitary before it) */
static int st_measure(qp *p) {
  qarg q, c;
  int line = CUR.line;
  adv(p);
  if (parse_qarg(p, &q, 0)) return -1;
  if (is_op(&CUR, "->")) {
    adv(p);
    if (parse_qarg(p, &c, 1)) return -1;
  }
  mark_measured(p, &q, line);
  return expect(p, ";", "the measurement");
}

/* c = measure q; c[i] = measure q[j]; */
static int st_assign(qp *p) {
  qarg q, c;
  char b[128];
  int line = CUR.line;
  if (parse_qarg(p, &c, 1) || expect(p, "=", "after the bit")) return -1;
  if (!is_id(&CUR, "measure"))
    return p->err ? -1 : perr(p, CUR.line, "unsupported construct 'classical assignment' (%s)", tdesc(&CUR, b));
  adv(p);
  if (parse_qarg(p, &q, 0)) return -1;
  mark_measured(p, &q, line);
  return expect(p, ";", "the measurement");
}

static const char *const unsupported[] = {
    "opaque", "reset", "if", "else", "for", "while", "def", "defcal", "cal", "defcalgrammar", "box", "delay", "let",
    "const", "extern", "output", "return", "break", "continue", "end", "switch", "case", "default", "stretch",
    "duration", "int", "uint", "float", "angle", "bool", "complex", "array", "void", "durationof", "mutable",
    "readonly", "pragma"};

static int unsupported_kw(qp *p) {
  for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
    if (is_id(&CUR, unsupported[i]))
      return perr(p, CUR.line, "unsupported construct '%s' (qdm reads unitary circuits: gates, registers, inputs, gate "
                  "definitions, barriers and final measurements)", unsupported[i]);
  return 1;
}

static int stray_op(qp *p) {
  char b[128];
  if (is_op(&CUR, ";")) {
    adv(p);
    return 0;
  }
  if (is_op(&CUR, "}")) return perr(p, CUR.line, "unbalanced braces: '}' without a matching '{'");
  if (is_op(&CUR, "{")) return perr(p, CUR.line, "unsupported construct '{' (scope blocks)");
  if (is_op(&CUR, "#") || is_op(&CUR, "@")) return perr(p, CUR.line, "unsupported construct '%c' (pragmas, annotations)", *CUR.s);
  if (is_op(&CUR, "$")) return perr(p, CUR.line, "unsupported construct 'physical qubit $n' (declare a register)");
  return perr(p, CUR.line, "unexpected %s at the start of a statement", tdesc(&CUR, b));
}

static int body_statement(qp *p) {
  if (CUR.type == T_OP) return stray_op(p);
  if (is_id(&CUR, "barrier")) return st_barrier(p);
  if (is_id(&CUR, "measure") || is_id(&CUR, "gate") || is_id(&CUR, "qreg") || is_id(&CUR, "qubit") ||
      is_id(&CUR, "input") || is_id(&CUR, "include"))
    return perr(p, CUR.line, "unsupported construct '%.*s' inside a gate body", CUR.len, CUR.s);
  int u = unsupported_kw(p);
  return u <= 0 ? u : st_call(p);
}

static int statement(qp *p) {
  char b[128];
  if (CUR.type == T_OP) return stray_op(p);
  if (CUR.type != T_ID) return perr(p, CUR.line, "unexpected %s at the start of a statement", tdesc(&CUR, b));
  if (is_id(&CUR, "OPENQASM")) return perr(p, CUR.line, "OPENQASM must be the first statement");
  if (is_id(&CUR, "include")) return st_include(p);
  if (is_id(&CUR, "qreg") || is_id(&CUR, "creg")) return st_oldreg(p);
  if (is_id(&CUR, "qubit") || is_id(&CUR, "bit")) return st_newreg(p);
  if (is_id(&CUR, "input")) return st_input(p);
  if (is_id(&CUR, "gate")) return st_gate(p);
  if (is_id(&CUR, "barrier")) return st_barrier(p);
  if (is_id(&CUR, "measure")) return st_measure(p);
  const reg *r = find_reg(p, &CUR);
  if (r && r->isbit) return st_assign(p);
  int u = unsupported_kw(p);
  return u <= 0 ? u : st_call(p);
}

static int program(qp *p) {
  char b[128];
  adv(p);
  p->version = 3;
  if (is_id(&CUR, "OPENQASM")) {
    adv(p);
    if (CUR.type != T_NUM || (CUR.num != 2.0 && floor(CUR.num) != 3.0))
      return p->err ? -1 : perr(p, CUR.line, "unsupported OpenQASM version %s (expected 2.0 or 3)", tdesc(&CUR, b));
    p->version = CUR.num == 2.0 ? 2 : 3;
    adv(p);
    if (expect(p, ";", "the version")) return -1;
  }
  while (!p->err && CUR.type != T_EOF) statement(p);
  if (!p->err && !p->any_token) return perr(p, 1, "empty file: no OpenQASM program");
  if (!p->err && !p->nq) return perr(p, p->L->prev_line, "no qubits declared (expected qreg or qubit)");
  return p->err ? -1 : 0;
}

/* ---------------- public entry points ---------------- */

static void parser_free(qp *p) {
  free(p->pn);
  free(p->defs);
  free(p->g);
  free(p->tmp);
  free(p);
}

/* The parsed gates into a circuit; the names into owned strings. */
static int finish(qp *p, qdm_qasm *out) {
  out->c = qdm_circuit_new(p->nq);
  out->names = calloc(p->np ? (size_t)p->np : 1, sizeof *out->names);
  if (!out->c || !out->names) return qdm_fail(QDM_ENOMEM, "%s: out of memory", p->file);
  for (int i = 0; i < p->ng; i++)
    if (qdm_add(out->c, p->g[i])) return qdm_fail(QDM_EFORMAT, "%s: gate %d: %s", p->file, i, qdm_errmsg());
  for (int i = 0; i < p->np; i++) {
    out->names[i] = malloc((size_t)p->pn[i].len + 1);
    if (!out->names[i]) return qdm_fail(QDM_ENOMEM, "%s: out of memory", p->file);
    memcpy(out->names[i], p->pn[i].s, (size_t)p->pn[i].len);
    out->names[i][p->pn[i].len] = 0;
    out->nparams = i + 1;
  }
  out->version = p->version;
  return QDM_OK;
}

int qdm_qasm_parse(const char *text, size_t len, const char *name, qdm_qasm *out) {
  if (!out) return qdm_fail(QDM_EINVAL, "qdm_qasm_parse: out is NULL");
  memset(out, 0, sizeof *out);
  if (!name) name = "<string>";
  if (!text && len) return qdm_fail(QDM_EINVAL, "qdm_qasm_parse: %s: text is NULL", name);
  if (len > QDM_QASM_MAX_TEXT)
    return qdm_fail(QDM_EFORMAT, "%s: %zu bytes, more than the %d an OpenQASM file may have here", name, len,
                    QDM_QASM_MAX_TEXT);
  qp *p = calloc(1, sizeof *p);
  if (!p) return qdm_fail(QDM_ENOMEM, "%s: out of memory", name);
  lexer L = {0, len, 1, {T_EOF, 1, NULL, 0, 0, 0}, 1};
  p->file = name;
  p->text = text ? text : "";
  p->L = &L;
  int rc = program(p) ? qdm_fail(p->ecode, "%s:%d: %s", name, p->eline, p->emsg) : finish(p, out);
  parser_free(p);
  if (rc) qdm_qasm_free(out);
  return rc;
}

static int read_text(const char *path, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return qdm_fail(QDM_EIO, "cannot read %s: %s", path, strerror(errno));
  size_t cap = 4096, n = 0, got;
  char *t = malloc(cap);
  while (t && (got = fread(t + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n > QDM_QASM_MAX_TEXT) break;
    char *nt = n == cap ? realloc(t, cap *= 2) : t;
    if (!nt) free(t);
    t = nt;
  }
  int bad = ferror(f);
  fclose(f);
  if (!t) return qdm_fail(QDM_ENOMEM, "%s: out of memory", path);
  if (bad) {
    free(t);
    return qdm_fail(QDM_EIO, "cannot read %s", path);
  }
  *text = t;
  *len = n;
  return QDM_OK;
}

int qdm_qasm_read(const char *path, qdm_qasm *out) {
  if (!out) return qdm_fail(QDM_EINVAL, "qdm_qasm_read: out is NULL");
  memset(out, 0, sizeof *out);
  if (!path) return qdm_fail(QDM_EINVAL, "qdm_qasm_read: path is NULL");
  char *text = NULL;
  size_t len = 0;
  int rc = read_text(path, &text, &len);
  if (rc) return rc;
  rc = qdm_qasm_parse(text, len, path, out);
  free(text);
  return rc;
}

void qdm_qasm_free(qdm_qasm *q) {
  if (!q) return;
  for (int i = 0; q->names && i < q->nparams; i++) free(q->names[i]);
  free(q->names);
  qdm_circuit_free(q->c);
  memset(q, 0, sizeof *q);
}

int qdm_qasm_append(qdm_circuit *c, const qdm_qasm *q, int layers, int param_offset) {
  if (!c || !q || !q->c) return -qdm_fail(QDM_EINVAL, "qdm_qasm_append: NULL circuit or program");
  if (layers < 0 || param_offset < 0)
    return -qdm_fail(QDM_EINVAL, "qdm_qasm_append: layers = %d and param_offset = %d, expected >= 0", layers, param_offset);
  if (q->c->n != c->n)
    return -qdm_fail(QDM_EINVAL, "OpenQASM circuit has %d qubits, the circuit it goes into %d", q->c->n, c->n);
  for (int l = 0; l < layers; l++) {
    int e = qdm_append(c, q->c, param_offset + l * q->nparams, 0);
    if (e) return -e;
  }
  return layers * q->nparams;
}
