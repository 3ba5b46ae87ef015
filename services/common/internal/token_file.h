// TokenFile: the bearer tokens a server accepts, read from a file (one token per line; blank
// lines and lines starting with '#' are skipped) and read again when the file changes, so
// tokens rotate without a restart (a Kubernetes Secret mounted as a volume is updated in
// place). Only SHA-256 digests are kept, and a presented token is compared against them in
// constant time.
//
//   MXGRID_ASSIGN_OR_RETURN(auto tokens, TokenFile::Open("/etc/mxgrid/tokens", absl::Seconds(10)));
//   if (!tokens->Accepts(presented)) return Unauthenticated(...);
//   std::string mine = tokens->First();  // what this process sends on its own calls
//
// A file that cannot be read or holds no token when it changes keeps the previous tokens (and
// says so in the log): a half-written update must not lock every client out.
//
// Thread-safety: thread-safe.
#ifndef MXGRID_SERVICES_COMMON_INTERNAL_TOKEN_FILE_H_
#define MXGRID_SERVICES_COMMON_INTERNAL_TOKEN_FILE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/base/mutex.h"

namespace mxgrid::services::internal {

class TokenFile {
 public:
  // Reads `path` now. NotFound / PermissionDenied (as the OS says) when it cannot be read;
  // InvalidArgument when it holds no token. The file is checked for changes at most once
  // per `check_interval`.
  static absl::StatusOr<std::unique_ptr<TokenFile>> Open(std::string path,
                                                         absl::Duration check_interval);

  // True when `token` is one of the file's tokens (re-reading the file first if it changed).
  bool Accepts(absl::string_view token) ABSL_LOCKS_EXCLUDED(mu_);
  // The file's first token (re-reading it first if it changed).
  std::string First() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Digest = std::array<uint8_t, 32>;
  // What identifies a version of the file.
  struct Stamp {
    int64_t mtime_ns = 0;
    int64_t size = 0;
    uint64_t inode = 0;
    bool operator==(const Stamp& o) const {
      return mtime_ns == o.mtime_ns && size == o.size && inode == o.inode;
    }
  };

  TokenFile(std::string path, absl::Duration check_interval)
      : path_(std::move(path)), check_interval_(check_interval) {}
  // Reads the file into digests_/first_ when its stamp changed.
  absl::Status Load() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeReload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const absl::Duration check_interval_;
  base::Mutex mu_;
  std::vector<Digest> digests_ ABSL_GUARDED_BY(mu_);
  std::string first_ ABSL_GUARDED_BY(mu_);
  Stamp stamp_ ABSL_GUARDED_BY(mu_);
  absl::Time next_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_COMMON_INTERNAL_TOKEN_FILE_H_
