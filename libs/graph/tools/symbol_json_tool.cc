// symbol_json_tool FILE: loads MXNet Symbol JSON with LoadJson and prints SaveJson's text on
// stdout. On failure prints the status on stderr and exits 1 (2 for usage or I/O errors).
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/status/statusor.h"
#include "libs/graph/json.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SYMBOL_JSON_FILE\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", argv[1]);
    return 2;
  }
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  absl::StatusOr<mxgrid::graph::Symbol> symbol = mxgrid::graph::LoadJson(text);
  if (!symbol.ok()) {
    std::fprintf(stderr, "%s\n", symbol.status().ToString().c_str());
    return 1;
  }
  const std::string out = mxgrid::graph::SaveJson(*symbol);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
