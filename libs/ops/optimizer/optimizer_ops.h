// The optimizer operator family: MXNet 1.9.1's dense *_update operators (sgd_update,
// sgd_mom_update, mp_sgd_update, mp_sgd_mom_update, nag_mom_update, mp_nag_mom_update,
// signsgd_update, signum_update, adam_update, _adamw_update, _mp_adamw_update,
// rmsprop_update, rmspropalex_update, ftrl_update, ftml_update, lamb_update_phase1/2,
// mp_lamb_update_phase1/2, and SGD's aggregated multi_sgd_update, multi_sgd_mom_update,
// multi_mp_sgd_update, multi_mp_sgd_mom_update), registered by RegisterOptimizerOps.
//
// Each writes the new weight to its output (MXNet's Python optimizers pass out=weight) and
// updates its state inputs in place (MXNet's FMutateInputs: auxiliary states when they are
// the trailing inputs, OpDef::mutate_indices otherwise). CPU kernels for float16, float32
// and float64 weights; the mixed-precision variants keep float32 states and master copy.
// No gradients (MXNet registers none). Dense arrays only (no row_sparse lazy updates:
// lazy_update is accepted and has no effect, as in MXNet for dense gradients).
#ifndef MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_OPS_H_
#define MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_OPS_H_

#include "absl/status/status.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {

// Adds every optimizer operator; AlreadyExists when one of their names is taken.
absl::Status RegisterOptimizerOps(Registry* registry);

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_OPS_H_
