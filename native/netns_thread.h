// Runs a piece of work on a short-lived thread that first joins another network
// namespace, so that the thread running JavaScript never changes namespace.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <thread>

namespace netfwd {

struct ThreadResult {
  int err = 0;               // errno of the first failing call, 0 on success
  std::string syscall;       // the call that failed
};

// Enters the namespace at `ns_path` (empty: stay in the current one) on a new
// thread and runs `work` there. `work` reports failure through the result.
inline ThreadResult RunInNetns(const std::string& ns_path,
                               const std::function<void(ThreadResult&)>& work) {
  ThreadResult result;
  std::thread worker([&]() {
    if (!ns_path.empty()) {
      int fd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        result.err = errno;
        result.syscall = "open " + ns_path;
        return;
      }
      if (setns(fd, CLONE_NEWNET) < 0) {
        result.err = errno;
        result.syscall = "setns " + ns_path;
        close(fd);
        return;
      }
      close(fd);
    }
    work(result);
  });
  worker.join();
  return result;
}

}  // namespace netfwd
