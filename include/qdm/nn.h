/* qdm/nn.h -- the classical layers of the hybrid U-Net (report 6.4), llm.c
 * style: each layer is a forward and a backward function side by side that
 * work on a whole batch of B rows (row-major, row r at x + r * width), never
 * allocate, and leave every buffer to the caller.
 *
 * Gradient conventions (all functions):
 *  - activation gradients (dx) are WRITTEN (=); parameter gradients (dW, db,
 *    dgamma, dbeta) are ACCUMULATED (+=), as in PyTorch, so one zero_grad per
 *    optimiser step suffices. Linear, LayerNorm and concat accept NULL for
 *    any gradient output that is not needed (e.g. dx of the first layer).
 *  - elementwise layers allow in-place use (y == x, dx == dy).
 *  - complex vectors are qdm_cplx arrays; their gradients are Wirtinger
 *    co-gradients g = dL/dRe + i dL/dIm (see qdm/qsim.h). Because qdm_cplx is
 *    laid out as interleaved (re, im) doubles and g uses the same layout, a
 *    complex layer that acts on re and im separately is exactly the real layer
 *    on 2n interleaved doubles; the complex entry points are thin wrappers.
 *  - every function returns QDM_OK or, on bad arguments, QDM_EINVAL after
 *    qdm_fail() with a one-line message.
 *
 * Precision: the real-valued layers (Linear, LayerNorm, ReLU, row L2 norm,
 * the [Re, Im] reshapes, concat) exist in double and in float. The float
 * variant of qdm_x is qdm_x_f32, with every real array a float array and
 * the same semantics; Linear uses sgemm. Complex arrays stay qdm_cplx
 * (complex128) in both, so the reshapes are where float rows meet complex
 * states. Both variants are compiled from one body (src/nn/real_layers.h);
 * row reductions accumulate in double in both. A model picks one precision
 * for all its classical layers (qdm_unet_cfg.precision).
 */
#ifndef QDM_NN_H
#define QDM_NN_H

#include <stddef.h>
#include "qdm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The precision of real arrays: QDM_F64 (double) or QDM_F32 (float). */
typedef enum { QDM_F64 = 0, QDM_F32 = 1 } qdm_precision;
/* The precision of a model's state vectors: complex128 or complex64. */
typedef enum { QDM_C128 = 0, QDM_C64 = 1 } qdm_circuit_precision;

/* ---- Linear: y = x W^T + b, W is out x in row-major (PyTorch layout) ----
 * x: B x in, y: B x out, b: out (NULL = no bias). One dgemm per call. */
int qdm_linear_forward(double *y, const double *x, const double *W, const double *b,
                       int B, int in, int out);
/* Input columns [lo, hi) alone: y = x W[:, lo:hi]^T (+ b when non-NULL),
 * or y += that when acc; x is B x (hi - lo) with rows ldx apart. Two calls
 * whose column ranges cover 0..in give qdm_linear_forward on the joined
 * input (up to rounding: two sums where it had one), so a layer can take
 * the inputs it knows early (the decoder's skip of x_t) before the rest. */
int qdm_linear_forward_cols(double *y, const double *x, int ldx, const double *W, const double *b, int B, int in,
                            int out, int lo, int hi, int acc);
/* dx = dy W (B x in, written); dW += dy^T x; db += column sums of dy. */
int qdm_linear_backward(double *dx, double *dW, double *db, const double *dy,
                        const double *x, const double *W, int B, int in, int out);
/* dx's first cols columns only (B x cols, written): the input gradient of a
 * layer whose later inputs need none, at cols/in of the work. */
int qdm_linear_backward_head(double *dx, int cols, const double *dy, const double *W, int B, int in, int out);

/* ---- LayerNorm over the last dim C (PyTorch: biased variance, eps inside
 * the square root): y = (x - mean) * rstd * gamma + beta,
 * rstd = 1 / sqrt(var + eps). mean and rstd (B each) are written by forward
 * and read by backward. gamma/beta NULL = no affine part. ---- */
#define QDM_LN_EPS 1e-5
int qdm_layernorm_forward(double *y, double *mean, double *rstd, const double *x,
                          const double *gamma, const double *beta, int B, int C);
int qdm_layernorm_backward(double *dx, double *dgamma, double *dbeta, const double *dy,
                           const double *x, const double *gamma, const double *mean,
                           const double *rstd, int B, int C);

/* ---- activations on n values. Backward takes the forward INPUT x; because
 * the sign of y equals the sign of x (for slope > 0), passing y after an
 * in-place forward is equally correct. Derivative at 0 is taken as the left
 * one (0 for ReLU, slope for leaky), as PyTorch does. ---- */
int qdm_relu_forward(double *y, const double *x, size_t n);
int qdm_relu_backward(double *dx, const double *dy, const double *x, size_t n);
int qdm_leaky_relu_forward(double *y, const double *x, size_t n, double slope);
int qdm_leaky_relu_backward(double *dx, const double *dy, const double *x, size_t n,
                            double slope);
/* Complex leaky ReLU (authors' block 2): leaky ReLU on Re and on Im
 * separately, n complex values (= the real one on 2n interleaved doubles). */
int qdm_cleaky_relu_forward(qdm_cplx *y, const qdm_cplx *x, size_t n, double slope);
int qdm_cleaky_relu_backward(qdm_cplx *dx, const qdm_cplx *dy, const qdm_cplx *x, size_t n,
                             double slope);

/* ---- L2 normalisation of each row: y = x / max(||x||, QDM_L2_EPS)
 * (torch.nn.functional.normalize). norm (B values) receives the denominator
 * used and is read by backward (NULL if no backward follows). Backward (unclamped rows):
 * dx = (dy - y <y, dy>) / ||x||, i.e. the projection orthogonal to y. ---- */
#define QDM_L2_EPS 1e-12
int qdm_l2norm_forward(double *y, double *norm, const double *x, int B, int D);
int qdm_l2norm_backward(double *dx, const double *dy, const double *y, const double *norm,
                        int B, int D);
/* Complex rows of D values: y = z / ||z||, ||z||^2 = sum |z_i|^2. With
 * co-gradients: dz = (dy - y Re<y, dy>) / ||z|| (real part of the inner
 * product, since the normaliser only depends on |z|). */
int qdm_cl2norm_forward(qdm_cplx *y, double *norm, const qdm_cplx *x, int B, int D);
int qdm_cl2norm_backward(qdm_cplx *dx, const qdm_cplx *dy, const qdm_cplx *y,
                         const double *norm, int B, int D);

/* ---- complex <-> [Re, Im] rows: the authors' "complex linear" feeds
 * torch.cat([z.real, z.imag], -1) (2D values, block layout, NOT interleaved)
 * to a real Linear, and reads a 2D-wide output back as out[:D] + i out[D:].
 * Both maps are real-linear; with co-gradients each one's backward is the
 * other one applied to the gradients. ---- */
int qdm_cplx_to_reim(double *out, const qdm_cplx *z, int B, int D);      /* out: B x 2D */
int qdm_cplx_to_reim_backward(qdm_cplx *dz, const double *dout, int B, int D);
int qdm_reim_to_cplx(qdm_cplx *z, const double *x, int B, int D);        /* x: B x 2D */
int qdm_reim_to_cplx_backward(double *dx, const qdm_cplx *dz, int B, int D);
/* The two in a row, as a decoder ends: qdm_reim_to_cplx then
 * qdm_cl2norm_forward (y, norm: B x D, B), and the backward of both (dy, y,
 * norm as qdm_cl2norm_backward's; dx: B x 2D). The same values as the
 * calls one after the other, in one pass over each row. */
int qdm_reim_to_cplx_l2norm(qdm_cplx *y, double *norm, const double *x, int B, int D);
int qdm_reim_to_cplx_l2norm_backward(double *dx, const qdm_cplx *dy, const qdm_cplx *y, const double *norm,
                                     int B, int D);

/* ---- concatenation of two row blocks (the skip connection):
 * out row r = [a row r (Da values), b row r (Db values)]. Backward splits
 * the gradient; da or db may be NULL. ---- */
int qdm_concat_forward(double *out, const double *a, const double *b, int B, int Da, int Db);
int qdm_concat_backward(double *da, double *db, const double *dout, int B, int Da, int Db);

/* ---- the same layers in float (see "Precision" above) ---- */
int qdm_linear_forward_f32(float *y, const float *x, const float *W, const float *b, int B, int in, int out);
int qdm_linear_backward_f32(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                            int B, int in, int out);
int qdm_linear_forward_cols_f32(float *y, const float *x, int ldx, const float *W, const float *b, int B, int in,
                                int out, int lo, int hi, int acc);
int qdm_linear_backward_head_f32(float *dx, int cols, const float *dy, const float *W, int B, int in, int out);
int qdm_layernorm_forward_f32(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                              const float *beta, int B, int C);
int qdm_layernorm_backward_f32(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                               const float *gamma, const float *mean, const float *rstd, int B, int C);
int qdm_relu_forward_f32(float *y, const float *x, size_t n);
int qdm_relu_backward_f32(float *dx, const float *dy, const float *x, size_t n);
int qdm_l2norm_forward_f32(float *y, float *norm, const float *x, int B, int D);
int qdm_l2norm_backward_f32(float *dx, const float *dy, const float *y, const float *norm, int B, int D);
int qdm_cplx_to_reim_f32(float *out, const qdm_cplx *z, int B, int D);   /* rounds to float */
int qdm_cplx_to_reim_backward_f32(qdm_cplx *dz, const float *dout, int B, int D);
int qdm_reim_to_cplx_f32(qdm_cplx *z, const float *x, int B, int D);     /* exact */
int qdm_reim_to_cplx_backward_f32(float *dx, const qdm_cplx *dz, int B, int D);
int qdm_reim_to_cplx_l2norm_f32(qdm_cplx *y, double *norm, const float *x, int B, int D);
int qdm_reim_to_cplx_l2norm_backward_f32(float *dx, const qdm_cplx *dy, const qdm_cplx *y, const double *norm,
                                         int B, int D);
int qdm_concat_forward_f32(float *out, const float *a, const float *b, int B, int Da, int Db);
int qdm_concat_backward_f32(float *da, float *db, const float *dout, int B, int Da, int Db);

/* ---- losses (loss is the batch mean; grad is written, may be NULL) ----
 * Infidelity of complex rows: L = (1/B) sum_r (1 - |<pred_r|target_r>|^2),
 * <p|t> = sum_i conj(p_i) t_i. Co-gradient w.r.t. pred:
 * g_r = -(2/B) <target_r|pred_r> target_r. The vectors are not renormalised
 * here (put qdm_cl2norm in front of it, as the authors do). */
int qdm_infidelity_loss(double *loss, qdm_cplx *grad, const qdm_cplx *pred,
                        const qdm_cplx *target, int B, int D);
/* Mean squared error over n values (torch MSELoss, reduction "mean"):
 * L = (1/n) sum (pred - target)^2, grad = 2 (pred - target) / n. For complex
 * data pass the interleaved doubles (n = 2 * count): that is
 * mse(view_as_real(pred), view_as_real(target)). */
int qdm_mse_loss(double *loss, double *grad, const double *pred, const double *target,
                 size_t n);

/* ---- initialisation (PyTorch defaults) ---- */
/* nn.Linear: kaiming_uniform(a = sqrt(5)) on W gives U(-1/sqrt(in), 1/sqrt(in));
 * the bias uses the same bound. W (out x in) is drawn first, then b (may be NULL). */
int qdm_init_linear(double *W, double *b, int in, int out, qdm_rng *rng);
int qdm_init_uniform(double *p, size_t n, double lo, double hi, qdm_rng *rng);
/* nn.LayerNorm: gamma = 1, beta = 0. */
int qdm_init_layernorm(double *gamma, double *beta, int C);

/* ---- Adam with parameter groups ----
 * Semantics of torch.optim.Adam (amsgrad off), per parameter and step t:
 *   g <- g + wd * p                   (only if decoupled == 0: L2, the authors' choice)
 *   p <- p * (1 - lr * wd)            (only if decoupled == 1: AdamW)
 *   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Each group points at caller-owned parameter and gradient arrays and has
 * its own lr multiplier and weight decay. A group is double (p, g; its
 * moments in m, v) or float (pf, gf; moments in mf, vf, updated in float
 * arithmetic as torch does for float32 parameters). The optimiser state is
 * plain and public so a checkpoint can store it: step t, and the moments,
 * the double groups' concatenated in m, v (n values each) and the float
 * groups' in mf, vf (nf each), in the order the groups were added.
 * A step runs elementwise over all groups as one flat range, split into
 * contiguous slices over the threads (qdm_set_threads): the same numbers
 * for any thread count. */
typedef struct {
  double *p, *g;        /* double group: parameters and gradients, n each (not owned); else NULL */
  float *pf, *gf;       /* float group: the same; else NULL */
  size_t n;
  size_t off;           /* offset of this group in m, v (double) or mf, vf (float) */
  double lr_mult;       /* group lr = lr * lr_mult */
  double weight_decay;
  char name[32];
} qdm_param_group;

typedef struct {
  double beta1, beta2, eps;
  int decoupled;        /* 0: L2 added to the gradient (torch Adam); 1: AdamW */
  int ngroups, capgroups;
  qdm_param_group *groups;
  size_t n;             /* parameters over the double groups */
  double *m, *v;        /* their first and second moments, n each (owned) */
  size_t nf;            /* parameters over the float groups */
  float *mf, *vf;       /* their moments, nf each (owned) */
  long long t;          /* steps taken */
} qdm_adam;

/* beta1 0.9, beta2 0.999, eps 1e-8 are the torch defaults. */
int qdm_adam_init(qdm_adam *opt, double beta1, double beta2, double eps, int decoupled);
/* Add a group (moments start at 0). name may be NULL. Allocates. */
int qdm_adam_add_group(qdm_adam *opt, const char *name, double *p, double *g, size_t n,
                       double lr_mult, double weight_decay);
/* The same for float parameters (moments in float). */
int qdm_adam_add_group_f32(qdm_adam *opt, const char *name, float *p, float *g, size_t n,
                           double lr_mult, double weight_decay);
/* One step with base learning rate lr for every group. */
int qdm_adam_step(qdm_adam *opt, double lr);
/* The same step (the same numbers), reading each gradient once: it also
 * zeroes the gradients for the next backward, and sets *finite to 0 if one
 * was a NaN or an Inf -- the parameters have then taken it in, and the
 * caller discards them (a training run stops, saving nothing). */
int qdm_adam_step_clear(qdm_adam *opt, double lr, int *finite);
/* Zero every group's gradient array. */
void qdm_adam_zero_grad(qdm_adam *opt);
/* Restore a saved state: t, and n values of m and v for the double groups
 * (the float groups' moments, if any, are written into mf, vf directly). */
int qdm_adam_set_state(qdm_adam *opt, long long t, const double *m, const double *v, size_t n);
void qdm_adam_free(qdm_adam *opt);

/* Step decay (torch StepLR): lr0 * gamma^floor(epoch / step_size), epoch from 0.
 * Bad arguments give NaN (and a message), which qdm_adam_step rejects. */
double qdm_lr_step_decay(double lr0, double gamma, int step_size, int epoch);

#ifdef __cplusplus
}
#endif
#endif
