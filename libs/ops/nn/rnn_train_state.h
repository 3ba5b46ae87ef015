// What a training forward of the float32 RNN kernels (rnn_dnnl.cc) leaves for its backward:
// each layer's outputs, final states and oneDNN workspace, so that backward need not run the
// forward again (MXNet keeps the same in its stateful operator). A state names the call that
// made it (input pointers, geometry, a checksum of the output it wrote); backward takes the
// state only when all of that matches what it is given, and otherwise recomputes.
//
//   RnnTrainStates& store = RnnTrainStates::Global();
//   std::unique_ptr<RnnTrainState> s = store.Recycled();  // forward: fill s->buffers, s->id
//   store.Keep(std::move(s));
//   if (auto s = store.Take(id)) { ...; store.Recycle(std::move(s)); }  // backward
//
// Thread-safety: RnnTrainStates is thread-safe; a state belongs to one caller at a time.
#ifndef MXGRID_LIBS_OPS_NN_RNN_TRAIN_STATE_H_
#define MXGRID_LIBS_OPS_NN_RNN_TRAIN_STATE_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "libs/ops/nn/rnn_internal.h"

namespace mxgrid::ops::nn {

// A 64-byte aligned float buffer that only grows. Get throws std::bad_alloc.
class AlignedBuffer {
 public:
  float* Get(int64_t count);
  size_t bytes() const { return bytes_; }

 private:
  std::unique_ptr<float, decltype(&std::free)> p_{nullptr, &std::free};
  size_t bytes_ = 0;
};

// The call a state belongs to.
struct RnnCallId {
  const void* x = nullptr;
  const void* params = nullptr;
  const void* h0 = nullptr;
  const void* c0 = nullptr;
  bool masked = false;  // dropout between layers (the mask's values show in y_checksum)
  RnnMode mode = RnnMode::kTanh;
  int64_t layers = 0, state_size = 0, directions = 0, t = 0, n = 0, c = 0;
  uint64_t y_checksum = 0;  // RnnChecksum of the output y the forward produced

  auto Tie() const {
    return std::make_tuple(x, params, h0, c0, masked, mode, layers, state_size, directions, t, n,
                           c, y_checksum);
  }
  bool operator==(const RnnCallId& o) const { return Tie() == o.Tie(); }
};

// A checksum of `count` floats (their bits, position-dependent).
uint64_t RnnChecksum(const float* v, int64_t count);

struct RnnTrainState {
  RnnCallId id;
  std::vector<AlignedBuffer> buffers;  // the kernels' layout (rnn_dnnl.cc)
  size_t Bytes() const;
};

class RnnTrainStates {
 public:
  // Most states kept waiting for their backward, and most bytes in all (waiting and
  // recycled); past either the oldest waiting state is dropped (its backward recomputes).
  static constexpr size_t kMaxWaiting = 8;
  static constexpr size_t kMaxBytes = size_t{1} << 30;

  static RnnTrainStates& Global();

  // A recycled state (buffers kept) or a new one.
  std::unique_ptr<RnnTrainState> Recycled();
  // Files `s` for its backward.
  void Keep(std::unique_ptr<RnnTrainState> s);
  // The waiting state of call `id`, removed from the store; null when none.
  std::unique_ptr<RnnTrainState> Take(const RnnCallId& id);
  // Returns a state's buffers for reuse by the next forward.
  void Recycle(std::unique_ptr<RnnTrainState> s);

 private:
  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Bytes of the waiting states and the spare one.
  size_t TotalBytesLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<RnnTrainState>> waiting_ ABSL_GUARDED_BY(mu_);  // oldest first
  std::unique_ptr<RnnTrainState> spare_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::ops::nn

#endif  // MXGRID_LIBS_OPS_NN_RNN_TRAIN_STATE_H_
