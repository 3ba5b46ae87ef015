#include "libs/ops/nn/nn_ops.h"

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_util.h"

namespace mxgrid::ops {

absl::Status RegisterNNOps(Registry* registry) {
  for (OpDef (*make)() :
       {nn::MakeFullyConnectedOp, nn::MakeActivationOp, nn::MakeLeakyReLUOp, nn::MakeSoftmaxOp,
        nn::MakeLogSoftmaxOp, nn::MakeSoftmaxActivationOp, nn::MakeSoftmaxOutputOp,
        nn::MakeLinearRegressionOutputOp, nn::MakeLogisticRegressionOutputOp,
        nn::MakeMAERegressionOutputOp, nn::MakeDropoutOp, nn::MakeLayerNormOp,
        nn::MakeMakeLossOp, nn::MakeSmoothL1Op, nn::MakeSequenceMaskOp, nn::MakeSequenceLastOp,
        nn::MakeSequenceReverseOp, nn::MakeInstanceNormOp, nn::MakeL2NormalizationOp,
        nn::MakePadOp, nn::MakeUpSamplingOp, nn::MakeLRNOp}) {
    MXGRID_RETURN_IF_ERROR(registry->Register(make()));
  }
  MXGRID_RETURN_IF_ERROR(registry->Register(nn::MakeSoftminOp()));
  MXGRID_RETURN_IF_ERROR(registry->Register(nn::MakeRNNOp()));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
