/* qdm.h -- hybrid quantum-classical diffusion models in C.
 * One include for the whole library; each layer has its own header, and a
 * layer only calls the ones listed before it. Public names start with qdm_. */
#ifndef QDM_H
#define QDM_H
#include "qdm/qsim.h"      /* state vectors, gates, circuits, adjoint, fused unitaries */
#include "qdm/density.h"   /* density matrices, channels, quantum diffusion (report 2.2) */
#include "qdm/circuits.h"  /* encodings, ansatz library, ANO (report 3-5) */
#include "qdm/nn.h"        /* classical layers, losses, Adam */
#include "qdm/diffusion.h" /* schedules, noising, targets, samplers (report 2.1) */
#include "qdm/data.h"      /* IDX files, datasets, the authors' preprocessing */
#include "qdm/model.h"     /* the hybrid quantum-classical U-Net (report 6.4) */
#include "qdm/train.h"     /* training runs, checkpoints, sampling, benchmarks */
#include "qdm/qngd.h"      /* Fubini-Study metric, quantum natural gradient (report 8) */
#include "qdm/metrics.h"   /* expressibility, entangling capability (report 6) */
#include "qdm/eval.h"      /* classifier features, Frechet distance, precision/recall */
#include "qdm/io.h"        /* atomic files, JSON, safetensors, PNG pictures */
#endif
