/* unet_hw.h -- the hybrid U-Net's hardware-realism paths (issue 7): shots
 * and noisy density-matrix blocks, in unet_noise.c. Off by default; the
 * exact path in unet.c does not touch them. */
#ifndef QDM_UNET_HW_H
#define QDM_UNET_HW_H
#include "qdm/density.h"
#include "qdm/model.h"

typedef struct unet_hw unet_hw;
unet_hw *unet_hw_new(const qdm_unet_cfg *cfg, const qdm_noise *noise, int nblk, int P, int max_rows,
                     const qdm_rng *init);
void unet_hw_free(unet_hw *h);
void unet_hw_set_seed(unet_hw *h, uint64_t seed);
void unet_hw_seed_rows(unet_hw *h, const qdm_cplx *x, int D, const int *t, const int *labels, int B);
int unet_hw_dm_forward(unet_hw *h, const qdm_circuit *c, const double *theta, const qdm_ano *ano,
                       const qdm_cplx *psi0, const int *gstart, int G, double *y);
int unet_hw_dm_backward(unet_hw *h, const qdm_circuit *c, const double *theta, double *gtheta, const qdm_ano *ano,
                        qdm_cplx *gM, const double *dy, const qdm_cplx *psi0, const int *gstart, int G,
                        qdm_cplx *gpsi0);
int unet_hw_shots(unet_hw *h, const qdm_ano *ano, const qdm_cplx *psi, const int *perm, int B, double *y,
                  double *z);
#endif
