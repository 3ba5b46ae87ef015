#include "services/common/internal/token_file.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "spdlog/spdlog.h"

namespace mxgrid::services::internal {
namespace {

std::array<uint8_t, 32> Sha256(absl::string_view s) {
  std::array<uint8_t, 32> digest;
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest.data());
  return digest;
}

absl::Status ErrnoStatus(const std::string& what, int error) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(error));
  if (error == ENOENT) return absl::NotFoundError(message);
  if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
  return absl::UnavailableError(message);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenFile>> TokenFile::Open(std::string path,
                                                           absl::Duration check_interval) {
  std::unique_ptr<TokenFile> file(new TokenFile(std::move(path), check_interval));
  base::MutexLock lock(&file->mu_);
  if (absl::Status s = file->Load(); !s.ok()) return s;
  file->next_check_ = absl::Now() + check_interval;
  return file;
}

absl::Status TokenFile::Load() {
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) return ErrnoStatus("token file " + path_, errno);
  const Stamp stamp{static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                    static_cast<int64_t>(st.st_size), static_cast<uint64_t>(st.st_ino)};
  if (!digests_.empty() && stamp == stamp_) return absl::OkStatus();
  std::ifstream in(path_);
  if (!in) return ErrnoStatus("token file " + path_, errno);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<Digest> digests;
  std::string first;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    if (first.empty()) first = std::string(line);
    digests.push_back(Sha256(line));
  }
  if (digests.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("token file ", path_, " holds no token"));
  }
  digests_ = std::move(digests);
  first_ = std::move(first);
  stamp_ = stamp;
  return absl::OkStatus();
}

void TokenFile::MaybeReload() {
  const absl::Time now = absl::Now();
  if (now < next_check_) return;
  next_check_ = now + check_interval_;
  if (absl::Status s = Load(); !s.ok()) {
    spdlog::warn("{}; keeping the {} tokens read before", s.ToString(), digests_.size());
  }
}

bool TokenFile::Accepts(absl::string_view token) {
  const Digest presented = Sha256(token);
  base::MutexLock lock(&mu_);
  MaybeReload();
  bool match = false;
  for (const Digest& d : digests_) {
    match |= CRYPTO_memcmp(d.data(), presented.data(), d.size()) == 0;
  }
  return match;
}

std::string TokenFile::First() {
  base::MutexLock lock(&mu_);
  MaybeReload();
  return first_;
}

}  // namespace mxgrid::services::internal
