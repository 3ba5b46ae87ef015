#include "libs/kvstore/snapshot_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libs/base/status_macros.h"

namespace mxgrid::kvstore {
namespace {

constexpr char kPrefix[] = "snapshot-";
constexpr char kSuffix[] = ".mxkv";
constexpr size_t kKeep = 2;

absl::Status Errno(absl::string_view what, const std::string& path) {
  const int err = errno;
  const std::string message = absl::StrCat("kvstore snapshot: ", what, " ", path, ": ",
                                           std::strerror(err));
  return err == ENOSPC || err == EDQUOT || err == EIO ? absl::UnavailableError(message)
                                                      : absl::InternalError(message);
}

// Buffered writes to a file descriptor.
class FdSink final : public SnapshotSink {
 public:
  FdSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  absl::Status Append(absl::string_view bytes) override {
    if (buffer_.size() + bytes.size() > kBuffer) MXGRID_RETURN_IF_ERROR(Flush());
    if (bytes.size() >= kBuffer) return WriteAll(bytes);
    buffer_.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  absl::Status Flush() {
    absl::Status s = WriteAll(buffer_);
    buffer_.clear();
    return s;
  }

 private:
  static constexpr size_t kBuffer = 1 << 20;
  absl::Status WriteAll(absl::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("write", path_);
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }
  int fd_;
  std::string path_;
  std::string buffer_;
};

// The sequence numbers of dir's snapshot files, ascending.
std::vector<int64_t> ListSeqs(const std::string& dir) {
  std::vector<int64_t> seqs;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return seqs;
  while (dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    int64_t seq = 0;
    if (absl::ConsumePrefix(&name, kPrefix) && absl::ConsumeSuffix(&name, kSuffix) &&
        absl::SimpleAtoi(name, &seq) && seq >= 0) {
      seqs.push_back(seq);
    }
  }
  ::closedir(d);
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

std::string SeqPath(const std::string& dir, int64_t seq) {
  return absl::StrCat(dir, "/", kPrefix, seq, kSuffix);
}

absl::Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("fsync", path);
  return absl::OkStatus();
}

// A read-only mapping of a whole file (no copy of a large snapshot into the heap).
class MappedFile {
 public:
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("open", path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      absl::Status s = Errno("stat", path);
      ::close(fd);
      return s;
    }
    auto file = std::unique_ptr<MappedFile>(new MappedFile());
    file->size_ = static_cast<size_t>(st.st_size);
    if (file->size_ > 0) {
      void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        absl::Status s = Errno("mmap", path);
        ::close(fd);
        return s;
      }
      ::madvise(p, file->size_, MADV_SEQUENTIAL);
      file->data_ = static_cast<const char*>(p);
    }
    ::close(fd);
    return file;
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  absl::string_view bytes() const { return absl::string_view(data_, size_); }

 private:
  MappedFile() = default;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

absl::StatusOr<SnapshotFile> WriteSnapshotFile(const std::string& dir,
                                               absl::Span<const JobSnapshot> jobs) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return Errno("mkdir", dir);
  const std::vector<int64_t> seqs = ListSeqs(dir);
  const int64_t seq = seqs.empty() ? 1 : seqs.back() + 1;
  const std::string path = SeqPath(dir, seq);
  const std::string tmp = absl::StrCat(path, ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", tmp);
  FdSink sink(fd, tmp);
  absl::StatusOr<int64_t> bytes = WriteSnapshot(jobs, &sink);
  absl::Status s = bytes.status();
  if (s.ok()) s = sink.Flush();
  if (s.ok() && ::fsync(fd) != 0) s = Errno("fsync", tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Errno("rename", tmp);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  MXGRID_RETURN_IF_ERROR(FsyncPath(dir, O_RDONLY | O_DIRECTORY));
  // Keep the newest kKeep (this one included).
  std::vector<int64_t> all = ListSeqs(dir);
  for (size_t i = 0; i + kKeep < all.size(); ++i) ::unlink(SeqPath(dir, all[i]).c_str());
  return SnapshotFile{path, *bytes, static_cast<int>(jobs.size())};
}

LoadedSnapshot LoadNewestSnapshot(const std::string& dir) {
  LoadedSnapshot loaded;
  std::vector<int64_t> seqs = ListSeqs(dir);
  for (auto it = seqs.rbegin(); it != seqs.rend(); ++it) {
    const std::string path = SeqPath(dir, *it);
    absl::StatusOr<std::unique_ptr<MappedFile>> file = MappedFile::Open(path);
    absl::StatusOr<std::vector<JobSnapshot>> jobs =
        file.ok() ? ReadSnapshot((*file)->bytes()) : file.status();
    if (!jobs.ok()) {
      loaded.skipped.push_back(absl::StrCat(path, ": ", jobs.status().message()));
      continue;
    }
    loaded.path = path;
    loaded.jobs = *std::move(jobs);
    break;
  }
  return loaded;
}

Snapshotter::Snapshotter(JobTable* table, SnapshotterOptions options)
    : table_(table), options_(std::move(options)) {
  {
    base::MutexLock lock(&mu_);
    last_time_ = absl::Now();
    for (const auto& [name, round] : table_->RestoredRounds()) last_rounds_[name] = round;
    // A table just restored (and not changed since) is on disk already.
    if (!table_->RestoredRounds().empty()) last_generation_ = table_->Generation();
  }
  thread_ = std::thread([this] { Run(); });
}

Snapshotter::~Snapshotter() {
  {
    base::MutexLock lock(&mu_);
    stop_ = true;
    stop_cv_.SignalAll();
  }
  thread_.join();
}

bool Snapshotter::Due(absl::Time now) {
  if (table_->NumJobs() == 0 || table_->Generation() == last_generation_) return false;
  if (options_.interval > absl::ZeroDuration() && now - last_time_ >= options_.interval) {
    return true;
  }
  if (options_.every_rounds <= 0) return false;
  for (const std::string& name : table_->Names()) {
    absl::StatusOr<std::shared_ptr<Job>> job = table_->Find(name);
    if (!job.ok()) continue;
    if ((*job)->Round() >= last_rounds_[name] + options_.every_rounds) return true;
  }
  return false;
}

void Snapshotter::Run() {
  base::MutexLock lock(&mu_);
  while (!stop_) {
    stop_cv_.WaitFor(absl::ToChronoNanoseconds(options_.poll));
    if (stop_ || !Due(absl::Now())) continue;
    mu_.Unlock();
    absl::Status s = SnapshotNow().status();
    mu_.Lock();
    last_error_ = s;
  }
}

absl::StatusOr<SnapshotFile> Snapshotter::SnapshotNow() {
  base::MutexLock write_lock(&write_mu_);
  // The rounds and generation before capturing: a change meanwhile is at most written again.
  const int64_t generation = table_->Generation();
  std::map<std::string, int64_t> rounds;
  for (const std::string& name : table_->Names()) {
    absl::StatusOr<std::shared_ptr<Job>> job = table_->Find(name);
    if (job.ok()) rounds[name] = (*job)->Round();
  }
  MXGRID_ASSIGN_OR_RETURN(std::vector<JobSnapshot> jobs, table_->CaptureAll());
  absl::StatusOr<SnapshotFile> file = WriteSnapshotFile(options_.dir, jobs);
  base::MutexLock lock(&mu_);
  last_time_ = absl::Now();  // a failed write is retried after the interval, not at once
  if (file.ok()) {
    last_rounds_ = std::move(rounds);
    last_generation_ = generation;
  }
  return file;
}

absl::Status Snapshotter::last_error() const {
  base::MutexLock lock(&mu_);
  return last_error_;
}

}  // namespace mxgrid::kvstore
