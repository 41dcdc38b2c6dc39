#include "tests/run_command.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>

#include "base/atomic_file.h"

namespace tests {

CommandResult RunCommand(const std::string& command) {
  const std::string err_file = TestTempDir() + "/command_stderr.txt";
  CommandResult result;
  FILE* pipe = popen((command + " 2>" + ShellQuote(err_file)).c_str(), "r");
  if (pipe == nullptr) {
    result.err = "popen failed: " + command;
    return result;
  }
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = base::ReadFileToString(err_file).value_or("");
  return result;
}

std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string TestTempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

}  // namespace tests
