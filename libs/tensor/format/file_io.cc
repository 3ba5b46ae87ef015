// File-backed Sink and Source over POSIX file descriptors (see byte_io.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/tensor/format/byte_io.h"

namespace mxgrid::tensor::format {
namespace {

// Writes and reads go through a buffer of this size; larger blocks bypass it.
constexpr size_t kBufferSize = 64 * 1024;

absl::Status ErrnoError(int error, absl::string_view what, const std::string& path) {
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat(what, " '", path, "': ", std::strerror(error)));
}

// Owns a file descriptor.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

class FileSink : public Sink {
 public:
  FileSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
    buffer_.reserve(kBufferSize);
  }
  ~FileSink() override { (void)Flush(); }

  absl::Status Append(const void* data, size_t n) override {
    const char* bytes = static_cast<const char*>(data);
    if (buffer_.size() + n <= kBufferSize) {
      buffer_.insert(buffer_.end(), bytes, bytes + n);
      return absl::OkStatus();
    }
    absl::Status status = Flush();
    if (!status.ok()) return status;
    if (n < kBufferSize) {
      buffer_.insert(buffer_.end(), bytes, bytes + n);
      return absl::OkStatus();
    }
    return WriteAll(bytes, n);
  }

  absl::Status Flush() override {
    absl::Status status = WriteAll(buffer_.data(), buffer_.size());
    buffer_.clear();
    return status;
  }

 private:
  absl::Status WriteAll(const char* bytes, size_t n) {
    while (n > 0) {
      ssize_t written = ::write(fd_.get(), bytes, n);
      if (written < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "cannot write", path_);
      }
      bytes += written;
      n -= static_cast<size_t>(written);
    }
    return absl::OkStatus();
  }

  FileDescriptor fd_;
  std::string path_;
  std::vector<char> buffer_;
};

class FileSource : public Source {
 public:
  FileSource(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}

  absl::Status Read(void* dst, size_t n) override {
    if (n > remaining()) return TruncatedError(offset_, n, remaining());
    char* out = static_cast<char*>(dst);
    size_t from_buffer = std::min(n, buffer_.size() - buffer_pos_);
    if (from_buffer > 0) std::memcpy(out, buffer_.data() + buffer_pos_, from_buffer);
    buffer_pos_ += from_buffer;
    offset_ += from_buffer;
    out += from_buffer;
    n -= from_buffer;
    if (n == 0) return absl::OkStatus();
    if (n >= kBufferSize) return ReadFromFile(out, n);
    // Refill the buffer with what is left of the file, up to its capacity.
    size_t refill = static_cast<size_t>(std::min<uint64_t>(kBufferSize, remaining()));
    buffer_.resize(refill);
    buffer_pos_ = 0;
    absl::Status status = ReadAll(buffer_.data(), refill);
    if (!status.ok()) {
      buffer_.clear();
      return status;
    }
    std::memcpy(out, buffer_.data(), n);
    buffer_pos_ = n;
    offset_ += n;
    return absl::OkStatus();
  }

  uint64_t offset() const override { return offset_; }
  uint64_t remaining() const override { return size_ - offset_; }

 private:
  absl::Status ReadFromFile(char* out, size_t n) {
    absl::Status status = ReadAll(out, n);
    if (status.ok()) offset_ += n;
    return status;
  }

  // Reads exactly n bytes at the file position (which is past the buffered bytes).
  absl::Status ReadAll(char* out, size_t n) {
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::read(fd_.get(), out + done, n - done);
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "cannot read", path_);
      }
      if (got == 0) {
        return absl::DataLossError(absl::StrCat("file '", path_, "' shrank while reading: ",
                                                TruncatedError(offset_ + done, n - done, 0)
                                                    .message()));
      }
      done += static_cast<size_t>(got);
    }
    return absl::OkStatus();
  }

  FileDescriptor fd_;
  std::string path_;
  uint64_t size_;
  uint64_t offset_ = 0;
  std::vector<char> buffer_;
  size_t buffer_pos_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sink>> OpenFileSink(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "cannot open for writing", path);
  return std::unique_ptr<Sink>(std::make_unique<FileSink>(fd, path));
}

absl::StatusOr<std::unique_ptr<Source>> OpenFileSource(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open for reading", path);
  FileDescriptor guard(fd);
  struct stat info;
  if (::fstat(fd, &info) != 0) return ErrnoError(errno, "cannot stat", path);
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("'", path, "' is not a regular file"));
  }
  return std::unique_ptr<Source>(std::make_unique<FileSource>(
      guard.release(), path, static_cast<uint64_t>(info.st_size)));
}

}  // namespace mxgrid::tensor::format
