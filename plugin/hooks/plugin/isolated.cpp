#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "hooks/plugin/frames.hpp"
#include "hooks/plugin/plugin_calls.hpp"
#include "log/log.hpp"
#include "rapport/hook.hpp"

extern char** environ;

namespace rapport::hooks {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string plugin_host_path() {
  if (const char* env = std::getenv("RAPPORT_PLUGIN_HOST"); env && *env) return env;
  std::vector<fs::path> dirs;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&plugin_host_path), &info) && info.dli_fname &&
      fs::path(info.dli_fname).is_absolute()) {
    dirs.push_back(fs::path(info.dli_fname).parent_path());
  }
  std::error_code ec;
  if (auto self = fs::read_symlink("/proc/self/exe", ec); !ec) dirs.push_back(self.parent_path());
  for (const auto& dir : dirs) {
    for (const auto& candidate : {dir / "rapport-plugin-host",
                                  dir / ".." / "libexec" / "rapport" / "rapport-plugin-host"}) {
      if (fs::exists(candidate, ec)) return candidate.lexically_normal().string();
    }
  }
  return RAPPORT_LIBEXEC_DIR "/rapport-plugin-host";
}

namespace {

// Why the child could not answer: it is gone (crashed, killed) or too slow.
struct ChildLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Isolated final : public PluginCalls {
 public:
  Isolated(std::string path, std::string config_json, IsolationOptions options)
      : path_(std::move(path)), config_(std::move(config_json)), options_(std::move(options)) {
    if (options_.host.empty()) options_.host = plugin_host_path();
    try {
      start();
    } catch (const ChildLost& e) {
      throw std::runtime_error("plugin \"" + path_ + "\": its process did not start: " + e.what());
    }
  }
  ~Isolated() override { stop(); }
  Isolated(const Isolated&) = delete;
  Isolated& operator=(const Isolated&) = delete;

  const PluginInfo& info() const override { return info_; }

  std::pair<rapport_status, std::string> handle(const std::string& event_json,
                                                const std::string& context_json) override {
    if (pid_ < 0) {
      auto now = Clock::now();
      if (now < restart_at_) {
        throw RetryLater(
            "plugin process restarting in " +
            std::to_string(std::chrono::ceil<std::chrono::seconds>(restart_at_ - now).count()) +
            " s");
      }
      try {
        start();
      } catch (const ChildLost& e) {
        lost(std::string("did not start again: ") + e.what());
      } catch (const std::runtime_error& e) {
        lost(e.what());  // rejected its config this time, say: treated like a crash
      }
    }
    auto deadline = Clock::now() + options_.call_timeout;
    try {
      send(event_json, deadline);
      send(context_json, deadline);
      auto status = receive(deadline);
      auto text = receive(deadline);
      int code = status.empty() ? -1 : status[0] - '0';
      if (code < RAPPORT_STATUS_OK || code > RAPPORT_STATUS_ERROR || status.size() != 1) {
        throw ChildLost("answered with an unknown status");
      }
      crashes_ = 0;
      return {static_cast<rapport_status>(code), std::move(text)};
    } catch (const ChildLost& e) {
      lost(e.what());
    }
  }

 private:
  [[noreturn]] void lost(const std::string& why) {
    std::string ending = stop();
    ++crashes_;
    auto delay = std::chrono::seconds(std::min<long long>(60, 1LL << std::min(crashes_ - 1, 6)));
    restart_at_ = Clock::now() + delay;
    log::warn("plugin", "plugin process lost; the event is retried, the process restarted",
              {{"plugin", info_.kind},
               {"why", why},
               {"ending", ending},
               {"restart_in_s", std::int64_t(delay.count())}});
    throw RetryLater("plugin process lost (" + why + (ending.empty() ? "" : ", " + ending) + ")");
  }

  void start() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      throw ChildLost(std::string("socketpair: ") + std::strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], plugin_wire::kChildFd);
    // A plugin that prints must not write into our protocol or a host's standard output.
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
    std::string limit = std::to_string(options_.memory_limit);
    std::vector<char*> argv{const_cast<char*>(options_.host.c_str()),
                            const_cast<char*>("--memory-limit"), limit.data(),
                            const_cast<char*>(path_.c_str()), nullptr};
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, options_.host.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      throw ChildLost("cannot run " + options_.host + ": " + std::strerror(rc));
    }
    pid_ = pid;
    fd_ = fds[0];
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    try {
      handshake();
    } catch (...) {
      stop();
      throw;
    }
  }

  void handshake() {
    auto deadline = Clock::now() + options_.call_timeout;
    send(config_, deadline);
    auto hello = receive(deadline);
    if (hello == "error")
      throw std::runtime_error("plugin \"" + path_ + "\": " + receive(deadline));
    if (hello != "ok") throw ChildLost("said something other than hello");
    PluginInfo info;
    info.kind = receive(deadline);
    info.version = receive(deadline);
    auto types = receive(deadline);
    for (std::size_t at = 0; at < types.size();) {
      auto end = std::min(types.find('\n', at), types.size());
      info.event_types.push_back(types.substr(at, end - at));
      at = end + 1;
    }
    info_ = std::move(info);
  }

  // Closes the wire, gives the child a moment to end, then kills it. Says how it ended.
  std::string stop() {
    if (pid_ < 0) return {};
    ::close(fd_);
    fd_ = -1;
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 100 && (done = ::waitpid(pid_, &status, WNOHANG)) == 0; ++i) {
      ::usleep(10'000);
    }
    if (done == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      return "exit " + std::to_string(WEXITSTATUS(status));
    }
    return {};
  }

  void wait_for(short events, Clock::time_point deadline) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        ::kill(pid_, SIGKILL);  // hung: a per-call time limit, not a wait forever
        throw ChildLost("no answer within " + std::to_string(options_.call_timeout.count()) +
                        " ms; killed");
      }
      pollfd p{fd_, events, 0};
      int n = ::poll(&p, 1, int(std::min<long long>(left.count(), 1'000'000)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw ChildLost(std::string("poll: ") + std::strerror(errno));
      if (n > 0) return;
    }
  }

  void send(const std::string& text, Clock::time_point deadline) {
    std::string frame = plugin_wire::header_of(text.size()) + text;
    std::size_t sent = 0;
    while (sent < frame.size()) {
      auto n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += std::size_t(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        wait_for(POLLOUT, deadline);
      } else {
        throw ChildLost("its process is gone");
      }
    }
  }

  void read_exactly(char* data, std::size_t size, Clock::time_point deadline) {
    while (size > 0) {
      auto n = ::recv(fd_, data, size, 0);
      if (n > 0) {
        data += n;
        size -= std::size_t(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        wait_for(POLLIN, deadline);
      } else {
        throw ChildLost("its process is gone");
      }
    }
  }

  std::string receive(Clock::time_point deadline) {
    char header[4];
    read_exactly(header, 4, deadline);
    auto size = plugin_wire::size_of(std::string_view(header, 4));
    if (size > plugin_wire::kMaxFrame) throw ChildLost("sent a frame too large");
    std::string text(size, '\0');
    read_exactly(text.data(), size, deadline);
    return text;
  }

  std::string path_, config_;
  IsolationOptions options_;
  PluginInfo info_;
  pid_t pid_ = -1;
  int fd_ = -1;
  int crashes_ = 0;
  Clock::time_point restart_at_{};
};

}  // namespace

std::unique_ptr<PluginCalls> load_isolated(const std::string& path, const std::string& config_json,
                                           IsolationOptions options) {
  return std::make_unique<Isolated>(path, config_json, std::move(options));
}

}  // namespace rapport::hooks
