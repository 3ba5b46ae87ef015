// RandomSource: the random generators of one session, one per device — what MXNet's
// `mx.random.seed(seed_state, ctx)` seeds (its per-device kRandom resources).
//
// Random operators (OpDef::random: the samplers, Dropout) do not read these generators
// while they run: when a call is pushed (an imperative Invoke, an executor's forward step),
// the caller draws one 64-bit seed from the generator of the call's device, in program order
// on the calling thread, and the kernel runs on an engine thread with a generator seeded
// from that value alone. So a seed reproduces the same values whatever the engine's thread
// scheduling.
//
//   auto random = std::make_shared<RandomSource>();   // unseeded: values differ per run
//   random->Seed(42);                                  // every device, as seed(42)
//   random->Seed(7, Context::Gpu(1));                  // one device, as seed(7, mx.gpu(1))
//   uint64_t call_seed = random->NextSeed(Context::Cpu());
//
// As in MXNet, a device's generator after Seed(s) depends on s and on the device, so two
// devices seeded alike still give different streams. A device never seeded (nor covered by
// a Seed for all devices) starts from std::random_device.
//
// Thread-safety: thread-safe (one mutex); calls are ordered as they take it.
#ifndef MXGRID_LIBS_EXECUTOR_RANDOM_SOURCE_H_
#define MXGRID_LIBS_EXECUTOR_RANDOM_SOURCE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <random>

#include "absl/base/thread_annotations.h"
#include "libs/base/mutex.h"
#include "libs/base/context.h"

namespace mxgrid::executor {

class RandomSource {
 public:
  RandomSource() = default;
  RandomSource(const RandomSource&) = delete;
  RandomSource& operator=(const RandomSource&) = delete;

  // Seeds every device's generator, those first used later included (ctx='all').
  void Seed(uint64_t seed) ABSL_LOCKS_EXCLUDED(mu_);
  // Seeds the generator of `ctx` only.
  void Seed(uint64_t seed, Context ctx) ABSL_LOCKS_EXCLUDED(mu_);
  // The next per-call seed of `ctx`'s generator.
  uint64_t NextSeed(Context ctx) ABSL_LOCKS_EXCLUDED(mu_);

  // The process-wide source of callers without a session (library tests, tools).
  static RandomSource& Default();

 private:
  static std::mt19937_64 Generator(uint64_t seed, Context ctx);

  base::Mutex mu_;
  // The last Seed for all devices: devices first used after it start from it.
  std::optional<uint64_t> all_seed_ ABSL_GUARDED_BY(mu_);
  std::map<Context, std::mt19937_64> generators_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::executor

#endif  // MXGRID_LIBS_EXECUTOR_RANDOM_SOURCE_H_
