#include "support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "support/temp_dir.hpp"

namespace rapport::test {
namespace {
std::atomic<int> counter{0};
}

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env,
                 const std::string& log_dir) {
  int n = ++counter;
  out_path_ = log_dir + "/stdout." + std::to_string(n) + ".txt";
  err_path_ = log_dir + "/stderr." + std::to_string(n) + ".txt";
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = ::open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
}

bool Process::running() {
  if (reaped_) return false;
  pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

void Process::kill(int signal) {
  if (!reaped_) ::kill(pid_, signal);
}

Finished Process::wait() {
  if (!reaped_) {
    waitpid(pid_, &status_, 0);
    reaped_ = true;
  }
  Finished f;
  f.exit_code = WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  f.out = read_text(out_path_);
  f.err = read_text(err_path_);
  return f;
}

Finished run_command(std::vector<std::string> argv, std::map<std::string, std::string> env) {
  TempDir logs;
  Process p(std::move(argv), std::move(env), logs.path());
  return p.wait();
}

std::string rapport_binary() { return RAPPORT_BINARY; }
std::string source_dir() { return RAPPORT_SOURCE_DIR; }

}  // namespace rapport::test
