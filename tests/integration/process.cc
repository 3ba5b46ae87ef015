#include "tests/integration/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace mxgrid::integration {
namespace {

constexpr int kStartAttempts = 4;
constexpr absl::Duration kPoll = absl::Milliseconds(10);

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

std::string ReadTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

// Converts a waitpid status to an exit status (128 + signal when killed).
int ExitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Forks and execs `binary` with `args`, stdout and stderr to `log_fd`, stdin from /dev/null.
// The child dies with the forking thread (PR_SET_PDEATHSIG).
absl::StatusOr<pid_t> Spawn(const std::string& binary, const std::vector<std::string>& args,
                            int log_fd) {
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {  // child: async-signal-safe calls only
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Reaps `pid` if it has exited; returns its exit status, or -1 when still running.
int TryReap(pid_t pid) {
  int status = 0;
  const pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) return ExitStatus(status);
  if (r < 0 && errno == ECHILD) return 255;  // already reaped elsewhere
  return -1;
}

}  // namespace

std::string RunfilePath(absl::string_view workspace_relative) {
  const std::string rel(workspace_relative);
  std::vector<std::string> candidates;
  const char* workspace = std::getenv("TEST_WORKSPACE");
  const std::string ws = workspace != nullptr && *workspace != '\0' ? workspace : "mxgrid";
  for (const char* var : {"TEST_SRCDIR", "RUNFILES_DIR"}) {
    const char* dir = std::getenv(var);
    if (dir != nullptr && *dir != '\0') candidates.push_back(absl::StrCat(dir, "/", ws, "/", rel));
  }
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    const std::string exe(self, static_cast<size_t>(n));
    candidates.push_back(absl::StrCat(exe, ".runfiles/", ws, "/", rel));
  }
  for (const std::string& c : candidates) {
    if (IsFile(c)) return c;
  }
  return rel;
}

absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("binding a loopback port: ", std::strerror(err)));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(ServerProcessOptions options) {
  const std::string binary = RunfilePath(options.binary);
  if (!IsFile(binary)) {
    return absl::NotFoundError(
        absl::StrCat("no binary at ", binary, "; list it in the target's data"));
  }
  if (options.name.empty()) {
    options.name = options.binary.substr(options.binary.find_last_of('/') + 1);
  }
  static std::atomic<int> counter{0};
  absl::Status last = absl::UnavailableError("not started");
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    std::unique_ptr<ServerProcess> p(new ServerProcess());
    absl::StatusOr<int> port = PickFreePort();
    absl::StatusOr<int> metrics_port = PickFreePort();
    if (!port.ok()) return port.status();
    if (!metrics_port.ok()) return metrics_port.status();
    if (*port == *metrics_port) continue;
    p->port_ = *port;
    p->metrics_port_ = *metrics_port;
    p->log_path_ = absl::StrCat(TempDir(), "/", options.name, ".", getpid(), ".",
                                counter.fetch_add(1), ".log");
    const int log_fd = open(p->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      return absl::InternalError(absl::StrCat("open ", p->log_path_, ": ", std::strerror(errno)));
    }
    std::vector<std::string> args = {
        absl::StrCat("--address=127.0.0.1:", p->port_),
        absl::StrCat("--metrics_address=127.0.0.1:", p->metrics_port_)};
    args.insert(args.end(), options.args.begin(), options.args.end());
    absl::StatusOr<pid_t> pid = Spawn(binary, args, log_fd);
    close(log_fd);
    if (!pid.ok()) return pid.status();
    p->pid_ = *pid;

    const absl::Time deadline = absl::Now() + options.startup_timeout;
    while (true) {
      const int status = TryReap(p->pid_);
      if (status >= 0) {
        p->exited_ = true;
        p->exit_status_ = status;
        const std::string log = p->Log(4096);
        last =
            absl::UnavailableError(absl::StrCat(options.name, " exited with status ", status,
                                                " before serving; log ", p->log_path_, ":\n", log));
        break;
      }
      // A fresh channel per probe: a channel that found the port closed backs off before
      // its next connection attempt.
      if (HealthCheck(p->NewChannel(), absl::Seconds(2)) == 1) return p;
      if (absl::Now() > deadline) {
        const std::string log = p->Log(4096);
        (void)p->Stop(absl::Seconds(2));
        return absl::DeadlineExceededError(absl::StrCat(
            options.name, " not SERVING after ", absl::FormatDuration(options.startup_timeout),
            "; log ", p->log_path_, ":\n", log));
      }
      absl::SleepFor(kPoll * 2);
    }
    // Exited: retry only when a port was taken between the probe and the server's bind.
    if (!absl::StrContains(last.message(), "in use") &&
        !absl::StrContains(last.message(), "bind") &&
        !absl::StrContains(last.message(), "Unavailable")) {
      return last;
    }
  }
  return last;
}

ServerProcess::~ServerProcess() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

std::string ServerProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string ServerProcess::Log(size_t max_bytes) const { return ReadTail(log_path_, max_bytes); }

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Reconnect soon after a failure. (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its default:
  // it is also the connect timeout, and a short one fails every handshake on a busy machine.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A distinct argument gives every channel its own subchannel, hence its own connection.
  static std::atomic<int> channel_id{0};
  args.SetInt("mxgrid.integration.channel_id", channel_id.fetch_add(1));
  return grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
}

void ServerProcess::Signal(int sig) const {
  if (!exited_ && pid_ > 0) kill(pid_, sig);
}

absl::StatusOr<int> ServerProcess::WaitForExit(absl::Duration timeout) {
  if (exited_) return exit_status_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const int status = TryReap(pid_);
    if (status >= 0) {
      exited_ = true;
      exit_status_ = status;
      return status;
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("pid ", pid_, " still running after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(kPoll);
  }
}

absl::StatusOr<int> ServerProcess::Stop(absl::Duration grace) {
  if (exited_) return exit_status_;
  kill(pid_, SIGTERM);
  absl::StatusOr<int> status = WaitForExit(grace);
  if (status.ok()) return status;
  kill(pid_, SIGKILL);
  return WaitForExit(absl::Seconds(10));
}

absl::StatusOr<RunResult> RunToCompletion(const std::string& binary,
                                          const std::vector<std::string>& args,
                                          absl::Duration timeout) {
  const std::string path = RunfilePath(binary);
  if (!IsFile(path)) return absl::NotFoundError(absl::StrCat("no binary at ", path));
  static std::atomic<int> counter{0};
  const std::string out_path =
      absl::StrCat(TempDir(), "/run.", getpid(), ".", counter.fetch_add(1), ".out");
  const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", out_path));
  absl::StatusOr<pid_t> pid = Spawn(path, args, fd);
  close(fd);
  if (!pid.ok()) return pid.status();
  const absl::Time deadline = absl::Now() + timeout;
  RunResult result;
  while ((result.exit_status = TryReap(*pid)) < 0) {
    if (absl::Now() > deadline) {
      kill(*pid, SIGKILL);
      int status = 0;
      waitpid(*pid, &status, 0);
      return absl::DeadlineExceededError(
          absl::StrCat(binary, " ran past ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(kPoll);
  }
  result.output = ReadTail(out_path, size_t{1} << 20);
  return result;
}

}  // namespace mxgrid::integration
