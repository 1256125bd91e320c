// Runs a piece of work on a short-lived thread that first joins another network
// namespace, so that the thread running JavaScript never changes namespace.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <new>
#include <string>
#include <system_error>
#include <thread>

namespace netfwd {

struct ThreadResult {
  int err = 0;               // errno of the first failing call, 0 on success
  std::string syscall;       // the call that failed
  std::string detail;        // more about the failure, for the error message
};

// The errno value a std::system_error stands for. std::thread reports
// pthread_create's error (EAGAIN when the thread or process limit is reached)
// in the generic category.
inline int ErrnoOf(const std::system_error& e) {
  const std::error_category& category = e.code().category();
  if ((category == std::generic_category() || category == std::system_category()) && e.code().value() > 0) {
    return e.code().value();
  }
  return EAGAIN;
}

// Enters the namespace at `ns_path` (empty: stay in the current one) on a new
// thread and runs `work` there. `work` reports failure through the result.
// Never throws: a thread that cannot be started (std::system_error, e.g. under
// RLIMIT_NPROC or a pids cgroup limit) is a result with its errno, so that the
// caller can clean up and throw to JavaScript; an uncaught C++ exception
// would abort the process.
inline ThreadResult RunInNetns(const std::string& ns_path,
                               const std::function<void(ThreadResult&)>& work) {
  ThreadResult result;
  try {
    std::thread worker([&]() {
      // An exception escaping a thread's function terminates the process.
      try {
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
      } catch (const std::bad_alloc&) {
        result.err = ENOMEM;
        result.syscall = "netns thread";
        result.detail = "out of memory";
      } catch (const std::system_error& e) {
        result.err = ErrnoOf(e);
        result.syscall = "netns thread";
        result.detail = e.what();
      } catch (...) {
        result.err = EIO;
        result.syscall = "netns thread";
        result.detail = "unexpected C++ exception";
      }
    });
    worker.join();
  } catch (const std::system_error& e) {
    // Thrown by the constructor: the thread never ran. (join throws only for a
    // thread that is not joinable or is this one, which cannot happen here.)
    ThreadResult failed;
    failed.err = ErrnoOf(e);
    failed.syscall = "pthread_create";
    failed.detail = "cannot start a thread to enter the network namespace; the limit of processes and threads "
                    "(RLIMIT_NPROC, a pids cgroup) may be reached";
    return failed;
  }
  return result;
}

}  // namespace netfwd
