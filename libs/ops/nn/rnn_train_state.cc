#include "libs/ops/nn/rnn_train_state.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

namespace mxgrid::ops::nn {

float* AlignedBuffer::Get(int64_t count) {
  const size_t bytes = static_cast<size_t>(count) * sizeof(float);
  if (p_ == nullptr || bytes_ < bytes) {
    const size_t rounded = std::max<size_t>((bytes + 63) / 64 * 64, 64);
    p_.reset(static_cast<float*>(std::aligned_alloc(64, rounded)));
    bytes_ = 0;
    if (p_ == nullptr) throw std::bad_alloc();
    bytes_ = rounded;
  }
  return p_.get();
}

uint64_t RnnChecksum(const float* v, int64_t count) {
  // Fletcher-style sums over the bits: any change of one value changes the result.
  uint64_t a = 0, b = 0;
  for (int64_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, v + i, sizeof(bits));
    a += bits;
    b += a;
  }
  return a ^ (b * 0x9e3779b97f4a7c15ull);
}

size_t RnnTrainState::Bytes() const {
  size_t bytes = 0;
  for (const AlignedBuffer& b : buffers) bytes += b.bytes();
  return bytes;
}

RnnTrainStates& RnnTrainStates::Global() {
  static RnnTrainStates* store = new RnnTrainStates();  // never destroyed: used at exit
  return *store;
}

std::unique_ptr<RnnTrainState> RnnTrainStates::Recycled() {
  absl::MutexLock lock(&mu_);
  if (spare_ != nullptr) return std::move(spare_);
  return std::make_unique<RnnTrainState>();
}

void RnnTrainStates::Keep(std::unique_ptr<RnnTrainState> s) {
  absl::MutexLock lock(&mu_);
  if (s->Bytes() > kMaxBytes) return;
  waiting_.push_back(std::move(s));
  TrimLocked();
}

std::unique_ptr<RnnTrainState> RnnTrainStates::Take(const RnnCallId& id) {
  absl::MutexLock lock(&mu_);
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->id == id) {
      std::unique_ptr<RnnTrainState> s = std::move(*it);
      waiting_.erase(it);
      return s;
    }
  }
  return nullptr;
}

void RnnTrainStates::Recycle(std::unique_ptr<RnnTrainState> s) {
  absl::MutexLock lock(&mu_);
  if (spare_ == nullptr || spare_->Bytes() < s->Bytes()) spare_ = std::move(s);
  TrimLocked();
}

size_t RnnTrainStates::TotalBytesLocked() const {
  size_t bytes = spare_ ? spare_->Bytes() : 0;
  for (const auto& s : waiting_) bytes += s->Bytes();
  return bytes;
}

void RnnTrainStates::TrimLocked() {
  if (spare_ != nullptr && TotalBytesLocked() > kMaxBytes) spare_.reset();
  while (!waiting_.empty() &&
         (waiting_.size() > kMaxWaiting || TotalBytesLocked() > kMaxBytes)) {
    waiting_.pop_front();
  }
}

}  // namespace mxgrid::ops::nn
