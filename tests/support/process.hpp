#pragma once
// Starts the real `rapport` binary (or any program) as a child process.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace rapport::test {

struct Finished {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out, err;
};

class Process {
 public:
  // Output goes to files in `log_dir` (stdout.txt, stderr.txt, numbered per start).
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env,
          const std::string& log_dir);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool running();
  void kill(int signal);
  Finished wait();

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  int status_ = 0;
  bool reaped_ = false;
};

// Runs to completion (bounded by the child's own work) and returns its output.
Finished run_command(std::vector<std::string> argv, std::map<std::string, std::string> env = {});

std::string rapport_binary();
std::string source_dir();

}  // namespace rapport::test
