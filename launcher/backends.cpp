#include "backends.hpp"

#include <unistd.h>

#include "options.hpp"

namespace parrun::launcher {

std::vector<std::string> split_command(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < text.size()) word += text[++i];
      else word += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) throw usage_failure("'" + text + "': a quote is not closed");
  if (in_word) words.push_back(word);
  return words;
}

std::string shell_quote(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@%+,") == std::string::npos)
    return text;
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::vector<std::string> agent_command(const launch_method& how, const std::string& host,
                                       const std::vector<std::string>& agent) {
  if (how.kind == launch_kind::command) {
    std::vector<std::string> argv = split_command(how.command);
    if (argv.empty()) throw usage_failure("--launch-agent: the command is empty");
    argv.push_back(host);
    argv.insert(argv.end(), agent.begin(), agent.end());
    return argv;
  }
  std::vector<std::string> argv = split_command(how.command.empty() ? "ssh" : how.command);
  if (argv.empty()) throw usage_failure("PARRUN_SSH is empty");
  // No password or passphrase prompt can ever wait for a user who is not there; an unreachable
  // host fails in bounded time; the connection itself notices a dead peer; no X11, no pty
  // (the agent's stdin carries its bootstrap).
  for (const char* option : {"BatchMode=yes", "ConnectTimeout=10", "ServerAliveInterval=5", "ServerAliveCountMax=3"}) {
    argv.emplace_back("-o");
    argv.emplace_back(option);
  }
  argv.emplace_back("-x");
  argv.emplace_back("-T");
  argv.push_back(host);
  // The server hands the remote command to the user's shell as one string.
  std::string remote = "exec";
  for (const std::string& word : agent) remote += " " + shell_quote(word);
  argv.push_back(remote);
  return argv;
}

std::vector<std::string> srun_agents_command(const std::vector<std::string>& hosts,
                                             const std::vector<std::string>& agent) {
  std::string list;
  for (const std::string& h : hosts) list += (list.empty() ? "" : ",") + h;
  const std::string n = std::to_string(hosts.size());
  std::vector<std::string> argv{"srun",
                                "--nodes=" + n,
                                "--ntasks=" + n,
                                "--ntasks-per-node=1",
                                "--nodelist=" + list,
                                "--kill-on-bad-exit=1",
                                "--input=none",
                                "--export=ALL",
                                "--overlap",   // the step shares the allocation with the ranks' own needs
                                "--mpi=none",
                                "--quiet"};
  argv.insert(argv.end(), agent.begin(), agent.end());
  return argv;
}

std::string this_host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

bool is_this_host(const std::string& host, const std::string& this_host) {
  if (host == "localhost" || host == "127.0.0.1" || host == this_host) return true;
  const std::size_t dot = this_host.find('.');
  return dot != std::string::npos && host == this_host.substr(0, dot);
}

}  // namespace parrun::launcher
