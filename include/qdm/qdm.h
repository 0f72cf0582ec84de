/* qdm.h -- hybrid quantum-classical diffusion models in C.
 * One include for the whole library. Each layer has its own header, listed
 * here bottom up: a layer calls only the layers listed before it
 * (docs/architecture.md draws the graph). Public names start with qdm_. */
#ifndef QDM_H
#define QDM_H
#include "qdm/core.h"       /* status codes, messages, RNG, threads, clock, paths, enum names */
#include "qdm/dist.h"       /* ranks under mpirun or srun: collectives, agreement on errors */
#include "qdm/io.h"         /* atomic files, JSON, safetensors, PNG pictures and plots */
#include "qdm/data.h"       /* IDX files, datasets, the authors' preprocessing */
#include "qdm/qsim.h"       /* state vectors, gates, circuits, adjoint, fused unitaries */
#include "qdm/density.h"    /* density matrices, channels, Kraus maps, shots */
#include "qdm/circuits.h"   /* encodings, ansatz library, ANO (report 3-5) */
#include "qdm/nn.h"         /* classical layers, losses, Adam */
#include "qdm/diffusion.h"  /* schedules, noising, targets, samplers (report 2.1) */
#include "qdm/metrics.h"    /* expressibility, entangling capability (report 6) */
#include "qdm/qngd.h"       /* Fubini-Study metric, QNGD, gradient variance (report 8) */
#include "qdm/qdiff.h"      /* quantum diffusion of density matrices (report 2.2) */
#include "qdm/model.h"      /* the hybrid quantum-classical U-Net (report 6.4) */
#include "qdm/train.h"      /* training runs, checkpoints, sampling, benchmarks */
#include "qdm/eval.h"       /* classifier features, Frechet distance, precision/recall */
#include "qdm/experiment.h" /* named sets of runs -> tables (the report's claims) */
#endif
