#include "libs/executor/random_source.h"

namespace mxgrid::executor {

std::mt19937_64 RandomSource::Generator(uint64_t seed, Context ctx) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(ctx.device_type),
                    static_cast<uint32_t>(ctx.device_id)};
  return std::mt19937_64(seq);
}

void RandomSource::Seed(uint64_t seed) {
  base::MutexLock lock(&mu_);
  all_seed_ = seed;
  for (auto& [ctx, gen] : generators_) gen = Generator(seed, ctx);
}

void RandomSource::Seed(uint64_t seed, Context ctx) {
  base::MutexLock lock(&mu_);
  generators_.insert_or_assign(ctx, Generator(seed, ctx));
}

uint64_t RandomSource::NextSeed(Context ctx) {
  base::MutexLock lock(&mu_);
  auto it = generators_.find(ctx);
  if (it == generators_.end()) {
    std::mt19937_64 gen;
    if (all_seed_) {
      gen = Generator(*all_seed_, ctx);
    } else {
      std::random_device device;
      std::seed_seq seq{device(), device(), device(), device()};
      gen.seed(seq);
    }
    it = generators_.emplace(ctx, gen).first;
  }
  return it->second();
}

RandomSource& RandomSource::Default() {
  static RandomSource source;
  return source;
}

}  // namespace mxgrid::executor
