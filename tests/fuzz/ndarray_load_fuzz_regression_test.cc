// Replays the committed seed corpus of the NDArray format fuzzer, plus deterministic
// mutations of every seed (bit flips, truncations, big integers written or inserted at
// random offsets, spliced chunks), through the fuzz target in a normal build. Any crash or
// broken oracle in ndarray_load_fuzz.cc aborts the test.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr char kCorpus[] = "tests/fuzz/corpus/ndarray_load";
constexpr int kMutationsPerSeed = 20000;

using Bytes = std::vector<uint8_t>;

std::vector<std::pair<std::string, Bytes>> LoadCorpus() {
  std::vector<std::pair<std::string, Bytes>> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpus)) {
    std::ifstream in(entry.path(), std::ios::binary);
    seeds.emplace_back(entry.path().filename().string(),
                       Bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()});
  }
  std::sort(seeds.begin(), seeds.end());  // directory order is not deterministic
  return seeds;
}

void RunInput(const Bytes& input) { LLVMFuzzerTestOneInput(input.data(), input.size()); }

// Integers that stress size checks when they land on a count, ndim, dim or magic.
constexpr uint64_t kInteresting[] = {0,          1,          2,          3,
                                     6,          7,          12,         32,
                                     33,         0x7F,       0x80,       0xFF,
                                     0x7FFF,     0xFFFF,     0x7FFFFFFF, 0x80000000,
                                     0xFFFFFFFF, 0xF993FAC8, 0xF993FAC9, 0xF993FACA,
                                     0x112,      uint64_t{1} << 32,      uint64_t{1} << 40,
                                     uint64_t{1} << 60,      uint64_t{1} << 62,
                                     ~uint64_t{0}, ~uint64_t{0} - 1, uint64_t{1} << 63};

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  Bytes Mutate(const Bytes& seed) {
    Bytes out = seed;
    const int steps = 1 + Below(3);
    for (int i = 0; i < steps; ++i) MutateOnce(&out);
    return out;
  }

 private:
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  uint64_t BigInteger() {
    return Below(4) == 0 ? rng_() : kInteresting[Below(std::size(kInteresting))];
  }

  void MutateOnce(Bytes* out) {
    switch (Below(6)) {
      case 0:  // flip a bit
        if (!out->empty()) (*out)[Below(out->size())] ^= static_cast<uint8_t>(1u << Below(8));
        break;
      case 1:  // truncate
        out->resize(Below(out->size() + 1));
        break;
      case 2: {  // overwrite 4 or 8 bytes with a big integer
        const size_t width = Below(2) == 0 ? 4 : 8;
        if (out->size() < width) break;
        const uint64_t value = BigInteger();
        std::memcpy(out->data() + Below(out->size() - width + 1), &value, width);
        break;
      }
      case 3: {  // insert a big integer
        const size_t width = Below(2) == 0 ? 4 : 8;
        const uint64_t value = BigInteger();
        const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&value);
        out->insert(out->begin() + Below(out->size() + 1), bytes, bytes + width);
        break;
      }
      case 4: {  // overwrite a 4-byte-aligned word (fields are 4-byte aligned in most files)
        if (out->size() < 4) break;
        const uint32_t value = static_cast<uint32_t>(BigInteger());
        std::memcpy(out->data() + 4 * Below(out->size() / 4), &value, 4);
        break;
      }
      case 5: {  // duplicate or drop a chunk
        if (out->empty()) break;
        const size_t begin = Below(out->size());
        const size_t length = 1 + Below(std::min<size_t>(64, out->size() - begin));
        if (Below(2) == 0) {
          const Bytes chunk(out->begin() + begin, out->begin() + begin + length);
          out->insert(out->begin() + Below(out->size() + 1), chunk.begin(), chunk.end());
        } else {
          out->erase(out->begin() + begin, out->begin() + begin + length);
        }
        break;
      }
    }
  }

  std::mt19937_64 rng_;
};

TEST(NDArrayLoadFuzzRegressionTest, CorpusHasSeeds) {
  const auto seeds = LoadCorpus();
  EXPECT_GE(seeds.size(), 20u);
}

TEST(NDArrayLoadFuzzRegressionTest, EverySeedAndItsTruncations) {
  for (const auto& [name, bytes] : LoadCorpus()) {
    SCOPED_TRACE(name);
    for (size_t length = 0; length <= bytes.size(); ++length) {
      RunInput(Bytes(bytes.begin(), bytes.begin() + length));
    }
  }
}

TEST(NDArrayLoadFuzzRegressionTest, DeterministicMutationsOfEverySeed) {
  uint64_t seed_number = 0;
  for (const auto& [name, bytes] : LoadCorpus()) {
    SCOPED_TRACE(name);
    Mutator mutator(0x5EED0000 + seed_number++);
    for (int i = 0; i < kMutationsPerSeed; ++i) RunInput(mutator.Mutate(bytes));
  }
}

}  // namespace

// Under --config=fuzz every binary links libFuzzer, whose main() replaces gtest's. libFuzzer
// calls this hook before fuzzing; it runs the tests instead (ASan/UBSan-instrumented) and
// exits. In normal builds nothing calls it.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  ::testing::InitGoogleTest(argc, *argv);
  std::exit(RUN_ALL_TESTS());
}
