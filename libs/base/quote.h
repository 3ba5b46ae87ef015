// Quoting client input in status messages. A message that repeats what a request sent (an
// operator name, a key, a session id, an attribute value) must not grow with the request:
// gRPC sends the message as a header and fails the whole call with RESOURCE_EXHAUSTED once it
// passes the metadata limit (8 KiB by default), hiding the real error. So every site that
// quotes client-controlled text quotes it through Quoted():
//
//   return absl::NotFoundError(absl::StrCat("no session ", Quoted(id), " on this worker"));
//   // id = 100 KB of 'x':  no session 'xxxx…xxxx…' (102400 bytes) on this worker
//
// Thread-safety: pure functions.
#ifndef MXGRID_LIBS_BASE_QUOTE_H_
#define MXGRID_LIBS_BASE_QUOTE_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace mxgrid {

// The most bytes of one piece of client input a status message quotes.
inline constexpr size_t kMaxQuotedBytes = 256;

// `text` in single quotes. Longer than `max_bytes`, it is cut to its longest prefix of at most
// `max_bytes` bytes that ends on a UTF-8 character boundary, followed by "…" inside the quotes
// and the original length after them: "'AAAA…' (20000 bytes)". Nothing is escaped.
std::string Quoted(absl::string_view text, size_t max_bytes = kMaxQuotedBytes);

// As Quoted, without the quotes, for text that is not a name (a parser's description that
// repeats the input): "AAAA… (20000 bytes)"; `text` itself when it fits.
std::string Clipped(absl::string_view text, size_t max_bytes = kMaxQuotedBytes);

// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
// multi-byte character (for malformed UTF-8 it backs off at most 3 bytes).
absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes);

}  // namespace mxgrid

#endif  // MXGRID_LIBS_BASE_QUOTE_H_
