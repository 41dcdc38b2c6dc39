// Running a built tool or a client the way a user's shell does, for the end-to-end tests:
// the command's exit status, stdout and stderr.
//
//   const tests::CommandResult result =
//       tests::RunCommand("tools/predict " + tests::ShellQuote("--text=a b"));
//   EXPECT_EQ(result.exit_code, 0) << result.err;
#ifndef TESTS_RUN_COMMAND_H_
#define TESTS_RUN_COMMAND_H_

#include <string>

namespace tests {

struct CommandResult {
  int exit_code = -1;  // -1 when the command did not exit normally (a signal).
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs `command` with /bin/sh, stderr captured through a file in $TEST_TMPDIR.
CommandResult RunCommand(const std::string& command);

// `text` as one single-quoted shell word.
std::string ShellQuote(const std::string& text);

// $TEST_TMPDIR (/tmp outside Bazel).
std::string TestTempDir();

}  // namespace tests

#endif  // TESTS_RUN_COMMAND_H_
