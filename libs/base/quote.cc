#include "libs/base/quote.h"

#include "absl/strings/str_cat.h"

namespace mxgrid {
namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  // text[n] is the first byte left out: when it continues a character, that character
  // started inside the prefix and is dropped whole.
  size_t n = max_bytes;
  for (int i = 0; i < 3 && n > 0 && IsContinuationByte(text[n]); ++i) --n;
  if (IsContinuationByte(text[n])) n = max_bytes;  // malformed: cut where asked
  return text.substr(0, n);
}

std::string Clipped(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return absl::StrCat(Utf8Prefix(text, max_bytes), "\xE2\x80\xA6 (", text.size(), " bytes)");
}

std::string Quoted(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", Utf8Prefix(text, max_bytes), "\xE2\x80\xA6' (", text.size(),
                      " bytes)");
}

}  // namespace mxgrid
