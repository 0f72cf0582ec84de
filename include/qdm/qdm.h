/* qdm.h -- hybrid quantum-classical diffusion models in C.
 * One include for the whole library; each layer has its own header, and a
 * layer only calls the ones listed before it. Public names start with qdm_. */
#ifndef QDM_H
#define QDM_H
#include "qdm/qsim.h"      /* state vectors, gates, circuits, adjoint, fused unitaries */
#endif
