/* unet_hw.h -- the hybrid U-Net's hardware-realism paths: shots and
 * noisy density-matrix blocks, in unet_hw.c. Off by default; the
 * exact path in unet.c does not touch them. */
#ifndef QDM_UNET_HW_H
#define QDM_UNET_HW_H
#include "qdm/density.h"
#include "qdm/model.h"

typedef struct qdm__hw qdm__hw;
qdm__hw *qdm__hw_new(const qdm_unet_cfg *cfg, const qdm_noise *noise, int nblk, int P, int max_rows,
                     const qdm_rng *init);
void qdm__hw_free(qdm__hw *h);
void qdm__hw_set_seed(qdm__hw *h, uint64_t seed);
void qdm__hw_seed_rows(qdm__hw *h, const qdm_cplx *x, int D, const int *t, const int *labels, int B);
int qdm__hw_dm_forward(qdm__hw *h, const qdm_circuit *c, const double *theta, const qdm_ano *ano,
                       const qdm_cplx *psi0, const int *gstart, int G, double *y);
int qdm__hw_dm_backward(qdm__hw *h, const qdm_circuit *c, const double *theta, double *gtheta, const qdm_ano *ano,
                        qdm_cplx *gM, const double *dy, const qdm_cplx *psi0, const int *gstart, int G,
                        qdm_cplx *gpsi0);
int qdm__hw_shots(qdm__hw *h, const qdm_ano *ano, const qdm_cplx *psi, const int *perm, int B, double *y,
                  double *z);
#endif
