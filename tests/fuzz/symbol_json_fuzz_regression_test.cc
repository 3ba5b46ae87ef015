// Replays the committed seed corpus of the Symbol JSON fuzzer, plus deterministic mutations
// of every seed (byte flips, truncations, JSON tokens and big numbers inserted or written at
// random offsets, chunks duplicated, dropped or spliced in from another seed), through the
// fuzz target in a normal build. Any crash or broken oracle in symbol_json_fuzz.cc aborts.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr char kCorpus[] = "tests/fuzz/corpus/symbol_json";
constexpr int kMutationsPerSeed = 4000;

std::vector<std::pair<std::string, std::string>> LoadCorpus() {
  std::vector<std::pair<std::string, std::string>> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpus)) {
    std::ifstream in(entry.path(), std::ios::binary);
    seeds.emplace_back(entry.path().filename().string(),
                       std::string{std::istreambuf_iterator<char>(in),
                                   std::istreambuf_iterator<char>()});
  }
  std::sort(seeds.begin(), seeds.end());  // directory order is not deterministic
  return seeds;
}

void RunInput(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// Tokens that stress the reader when they land on an id, an index, a count, an op name or a
// structural position.
const char* const kTokens[] = {
    "0", "1", "2", "3", "-1", "10", "65535", "4294967296", "9223372036854775807",
    "18446744073709551616", "1e12", "0.5", "null", "true", "\"\"", "\"null\"", "[]", "{}",
    "[", "]", "{", "}", ",", ":", "\"", "\\", "[0, 0]", "[0, 0, 0]", "[[0, 0, 0]]",
    "\"inputs\"", "\"heads\"", "\"nodes\"", "\"attrs\"", "\"attr\"", "\"param\"",
    "\"control_deps\"", "\"subgraphs\"", "\"mxnet_version\"", "[\"int\", 800]",
    "[\"int\", 903]", "\"BatchNorm\"", "\"Concat\"", "\"SliceChannel\"", "\"argmax\"",
    "\"FullyConnected\"", "\"lr_mult\"", "\"weight_lr_mult\"", "\"ctx_group\"",
    "\"num_args\"", "\"num_outputs\"", "\"output_mean_var\"", "\"True\"", "\"\\u0000\"",
    "\"\\ud800\"", "\"\xff\""};

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  std::string Mutate(const std::string& seed, const std::string& other) {
    std::string out = seed;
    const int steps = 1 + Below(3);
    for (int i = 0; i < steps; ++i) MutateOnce(&out, other);
    return out;
  }

 private:
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  // A random position, biased towards the byte after a JSON delimiter.
  size_t Position(const std::string& s) {
    size_t pos = Below(s.size() + 1);
    if (Below(2) == 0) {
      const size_t next = s.find_first_of("[{,:\"", pos);
      if (next != std::string::npos) pos = next + 1;
    }
    return pos;
  }

  void MutateOnce(std::string* out, const std::string& other) {
    const size_t kind = Below(7);
    switch (kind) {
      case 0:  // flip a bit
        if (!out->empty()) (*out)[Below(out->size())] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // truncate
        out->resize(Below(out->size() + 1));
        break;
      case 2:  // insert a token
        out->insert(Position(*out), kTokens[Below(std::size(kTokens))]);
        break;
      case 3: {  // replace the number or token at a position
        const size_t begin = Position(*out);
        size_t end = begin;
        while (end < out->size() && std::string("[]{},: ").find((*out)[end]) == std::string::npos) {
          ++end;
        }
        out->replace(begin, end - begin, kTokens[Below(std::size(kTokens))]);
        break;
      }
      case 4:    // duplicate or drop a chunk
      case 5: {  // or splice one in from another seed
        const bool splice = kind == 5;
        const std::string& source = splice ? other : *out;
        if (source.empty()) break;
        const size_t begin = Below(source.size());
        const size_t length = 1 + Below(std::min<size_t>(128, source.size() - begin));
        if (splice || Below(2) == 0) {
          const std::string chunk = source.substr(begin, length);
          out->insert(Below(out->size() + 1), chunk);
        } else {
          out->erase(begin, length);
        }
        break;
      }
      case 6: {  // change a digit: redirects an id or an index
        const size_t pos = out->find_first_of("0123456789", Below(out->size() + 1));
        if (pos != std::string::npos) (*out)[pos] = static_cast<char>('0' + Below(10));
        break;
      }
    }
  }

  std::mt19937_64 rng_;
};

TEST(SymbolJsonFuzzRegressionTest, CorpusHasSeeds) {
  const auto seeds = LoadCorpus();
  EXPECT_GE(seeds.size(), 15u);
}

TEST(SymbolJsonFuzzRegressionTest, EverySeedAndItsTruncations) {
  for (const auto& [name, text] : LoadCorpus()) {
    SCOPED_TRACE(name);
    for (size_t length = 0; length <= text.size(); ++length) RunInput(text.substr(0, length));
  }
}

TEST(SymbolJsonFuzzRegressionTest, DeterministicMutationsOfEverySeed) {
  const auto seeds = LoadCorpus();
  for (size_t s = 0; s < seeds.size(); ++s) {
    SCOPED_TRACE(seeds[s].first);
    Mutator mutator(0x5EED0000 + s);
    const std::string& other = seeds[(s + 1) % seeds.size()].second;
    for (int i = 0; i < kMutationsPerSeed; ++i) RunInput(mutator.Mutate(seeds[s].second, other));
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
