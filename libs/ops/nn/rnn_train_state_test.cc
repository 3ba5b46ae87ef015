#include "libs/ops/nn/rnn_train_state.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace mxgrid::ops::nn {
namespace {

std::unique_ptr<RnnTrainState> State(const void* x, int64_t floats) {
  auto s = std::make_unique<RnnTrainState>();
  s->id.x = x;
  s->buffers.resize(1);
  s->buffers[0].Get(floats);
  return s;
}

TEST(RnnTrainStatesTest, TakeFindsTheMatchingCallOnce) {
  RnnTrainStates store;
  int a = 0, b = 0;
  store.Keep(State(&a, 16));
  store.Keep(State(&b, 16));
  RnnCallId id;
  id.x = &b;
  std::unique_ptr<RnnTrainState> got = store.Take(id);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->id.x, &b);
  EXPECT_EQ(store.Take(id), nullptr);  // taken
  id.x = &a;
  id.y_checksum = 1;  // another output: not this call's state
  EXPECT_EQ(store.Take(id), nullptr);
}

TEST(RnnTrainStatesTest, OldestWaitingStateIsDroppedPastTheLimit) {
  RnnTrainStates store;
  std::vector<int> xs(RnnTrainStates::kMaxWaiting + 1);
  for (int& x : xs) store.Keep(State(&x, 16));
  RnnCallId id;
  id.x = &xs[0];
  EXPECT_EQ(store.Take(id), nullptr);
  id.x = &xs.back();
  EXPECT_NE(store.Take(id), nullptr);
}

TEST(RnnTrainStatesTest, RecycledStateKeepsItsBuffers) {
  RnnTrainStates store;
  int x = 0;
  std::unique_ptr<RnnTrainState> s = State(&x, 1000);
  const float* p = s->buffers[0].Get(1000);
  store.Recycle(std::move(s));
  std::unique_ptr<RnnTrainState> again = store.Recycled();
  ASSERT_EQ(again->buffers.size(), 1u);
  EXPECT_EQ(again->buffers[0].Get(500), p);
  EXPECT_TRUE(store.Recycled()->buffers.empty());  // none left: a new one
}

TEST(RnnTrainStatesTest, ChecksumSeesOneChangedValue) {
  std::vector<float> v(1000, 0.25f);
  const uint64_t before = RnnChecksum(v.data(), 1000);
  v[617] = 0.2500001f;
  EXPECT_NE(RnnChecksum(v.data(), 1000), before);
  v[617] = 0.25f;
  std::swap(v[0], v[1]);
  EXPECT_EQ(RnnChecksum(v.data(), 1000), before);
}

}  // namespace
}  // namespace mxgrid::ops::nn
