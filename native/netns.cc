// Network namespace primitives. Every namespace switch happens on a short-lived
// thread (see netns_thread.h), except execInNetns, which replaces the process.

#include <fcntl.h>
#include <napi.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "errors.h"
#include "netns_thread.h"

namespace netfwd {

namespace {

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* usage) {
  if (info.Length() <= index || !info[index].IsString()) throw Napi::TypeError::New(info.Env(), usage);
  return info[index].As<Napi::String>().Utf8Value();
}

// Makes `dir` a shared mount point so that namespace bind mounts propagate to
// other mount namespaces, the way `ip netns add` prepares /run/netns.
int MakeSharedMountPoint(const std::string& dir) {
  bool bound = false;
  while (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || bound) return errno;
    if (mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) return errno;
    bound = true;
  }
  return 0;
}

// createNetns(dir: string, name: string): void
Napi::Value CreateNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "createNetns(dir: string, name: string)";
  std::string dir = StringArg(info, 0, usage);
  std::string name = StringArg(info, 1, usage);
  std::string path = dir + "/" + name;

  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw ErrnoError(env, errno, "mkdir " + dir);
  int err = MakeSharedMountPoint(dir);
  if (err != 0) throw ErrnoError(env, err, "mount --make-rshared " + dir);

  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "create " + path);
  close(fd);

  ThreadResult result = RunInNetns("", [&](ThreadResult& r) {
    if (unshare(CLONE_NEWNET) != 0) {
      r.err = errno;
      r.syscall = "unshare(CLONE_NEWNET)";
      return;
    }
    // /proc/thread-self, not /proc/self: only this thread is in the new namespace.
    if (mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      r.err = errno;
      r.syscall = "mount --bind " + path;
    }
  });
  if (result.err != 0) {
    // Also when no thread could be started: the placeholder must not stay.
    unlink(path.c_str());
    throw ErrnoError(env, result.err, result.syscall, result.detail);
  }
  return env.Undefined();
}

// removeNetns(path: string): void
Napi::Value RemoveNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "removeNetns(path: string)");
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL) throw ErrnoError(env, errno, "umount " + path);
  if (unlink(path.c_str()) != 0) throw ErrnoError(env, errno, "unlink " + path);
  return env.Undefined();
}

// readFileInNetns(netnsPath: string, file: string): string
// Files under /proc/sys/net resolve to the namespace of the thread that opens them.
Napi::Value ReadFileInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "readFileInNetns(netnsPath: string, file: string)";
  std::string ns = StringArg(info, 0, usage);
  std::string file = StringArg(info, 1, usage);
  std::string content;
  ThreadResult result = RunInNetns(ns, [&](ThreadResult& r) {
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      r.err = errno;
      r.syscall = "open " + file;
      return;
    }
    char chunk[4096];
    for (;;) {
      ssize_t n = read(fd, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        r.err = errno;
        r.syscall = "read " + file;
        break;
      }
      if (n == 0) break;
      content.append(chunk, static_cast<size_t>(n));
    }
    close(fd);
  });
  if (result.err != 0) throw ErrnoError(env, result.err, result.syscall, result.detail);
  return Napi::String::New(env, content);
}

// writeFileInNetns(netnsPath: string, file: string, data: string): void
Napi::Value WriteFileInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "writeFileInNetns(netnsPath: string, file: string, data: string)";
  std::string ns = StringArg(info, 0, usage);
  std::string file = StringArg(info, 1, usage);
  std::string data = StringArg(info, 2, usage);
  ThreadResult result = RunInNetns(ns, [&](ThreadResult& r) {
    int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      r.err = errno;
      r.syscall = "open " + file;
      return;
    }
    // write() may take less than it is given (a signal, a file size limit, a
    // full disk): go on from where it stopped until everything is written.
    const char* next = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = write(fd, next, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        r.err = n < 0 ? errno : EIO;
        r.syscall = "write " + file;
        r.detail = std::to_string(data.size() - left) + " of " + std::to_string(data.size()) + " bytes written";
        break;
      }
      next += n;
      left -= static_cast<size_t>(n);
    }
    // A file system may report a failed write only at close (NFS, quotas).
    if (close(fd) != 0 && r.err == 0 && errno != EINTR) {
      r.err = errno;
      r.syscall = "close " + file;
    }
  });
  if (result.err != 0) throw ErrnoError(env, result.err, result.syscall, result.detail);
  return env.Undefined();
}

// A uid or gid argument: undefined or null when not given, otherwise an
// integer from 0 to 4294967294 ((uid_t)-1 means "no change" to the kernel).
// Read as a double: Int32Value would wrap 2^31 and above to negative numbers.
bool IdArg(const Napi::CallbackInfo& info, size_t index, const char* name, uint32_t* out) {
  if (info.Length() <= index || info[index].IsUndefined() || info[index].IsNull()) return false;
  Napi::Env env = info.Env();
  if (!info[index].IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= 0 && value <= 4294967294.0) || value != static_cast<double>(static_cast<uint32_t>(value))) {
    throw Napi::RangeError::New(env, std::string(name) + " must be an integer from 0 to 4294967294");
  }
  *out = static_cast<uint32_t>(value);
  return true;
}

// userPrimaryGroup(uid: number): number | null — the gid of the user's passwd
// entry (through NSS, as getpwuid_r finds it), null when there is none.
Napi::Value UserPrimaryGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t uid = 0;
  if (!IdArg(info, 0, "uid", &uid)) throw Napi::TypeError::New(env, "userPrimaryGroup(uid: number)");
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<size_t>(hint) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  for (;;) {
    int err = getpwuid_r(static_cast<uid_t>(uid), &entry, buffer.data(), buffer.size(), &found);
    if (err == 0) break;
    if (err == EINTR) continue;
    if (err == ERANGE && buffer.size() < (1u << 24)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    // getpwuid_r(3): these mean "not found" on some systems.
    if (err == ENOENT || err == ESRCH) {
      found = nullptr;
      break;
    }
    throw ErrnoError(env, err, "getpwuid_r", "uid " + std::to_string(uid));
  }
  if (found == nullptr) return env.Null();
  return Napi::Number::New(env, static_cast<double>(found->pw_gid));
}

// execInNetns(netnsPath: string, file: string, argv: string[], uid?: number | null, gid?: number | null): never
// Replaces the calling process with `file`, run inside the namespace. Only for
// a helper process started for that purpose, never for the host program.
// A uid needs its gid: the caller decides the group (netns.exec looks up the
// user's primary group), so that a process never keeps gid 0 by omission.
Napi::Value ExecInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "execInNetns(netnsPath: string, file: string, argv: string[], uid?: number, gid?: number)";
  std::string ns = StringArg(info, 0, usage);
  std::string file = StringArg(info, 1, usage);
  if (info.Length() < 3 || !info[2].IsArray()) throw Napi::TypeError::New(env, usage);
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool has_uid = IdArg(info, 3, "uid", &uid);
  bool has_gid = IdArg(info, 4, "gid", &gid);
  if (has_uid && !has_gid) throw Napi::TypeError::New(env, "execInNetns: a uid needs a gid (the user's primary group)");
  Napi::Array list = info[2].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < list.Length(); i++) args.push_back(list.Get(i).ToString().Utf8Value());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ErrnoError(env, errno, "open " + ns);
  if (setns(fd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(fd);
    throw ErrnoError(env, err, "setns " + ns);
  }
  close(fd);
  // Drop privileges only now: entering the namespace needed them. The group
  // list becomes exactly the gid: root's supplementary groups must not stay.
  if (has_gid) {
    gid_t group = static_cast<gid_t>(gid);
    if (setgroups(1, &group) != 0) throw ErrnoError(env, errno, "setgroups", "gid " + std::to_string(gid));
    if (setgid(group) != 0) throw ErrnoError(env, errno, "setgid", "gid " + std::to_string(gid));
  }
  if (has_uid && setuid(static_cast<uid_t>(uid)) != 0) throw ErrnoError(env, errno, "setuid", "uid " + std::to_string(uid));
  // Give the command a clean start, as libuv does for the children it spawns:
  // Node marks its stdio close-on-exec and non-blocking, ignores SIGPIPE, and
  // may block signals; none of that should leak into the command. (A closed
  // stdio descriptor fails F_GETFD and is left alone; signal() fails only for
  // the numbers glibc reserves, which keep their state.)
  for (int stdio = 0; stdio <= 2; stdio++) {
    int fdflags = fcntl(stdio, F_GETFD);
    if (fdflags >= 0 && fcntl(stdio, F_SETFD, fdflags & ~FD_CLOEXEC) != 0) throw ErrnoError(env, errno, "fcntl F_SETFD");
    int flflags = fcntl(stdio, F_GETFL);
    if (flflags >= 0 && fcntl(stdio, F_SETFL, flflags & ~O_NONBLOCK) != 0) throw ErrnoError(env, errno, "fcntl F_SETFL");
  }
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) throw ErrnoError(env, errno, "sigprocmask");
  execvp(file.c_str(), argv.data());
  throw ErrnoError(env, errno, "execvp " + file);
}

// enterNetnsOnThisThread(netnsPath: string): void — for worker threads that
// exist only to run code inside a namespace.
Napi::Value EnterNetnsOnThisThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ns = StringArg(info, 0, "enterNetnsOnThisThread(netnsPath: string)");
  int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ErrnoError(env, errno, "open " + ns);
  if (setns(fd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(fd);
    throw ErrnoError(env, err, "setns " + ns);
  }
  close(fd);
  return env.Undefined();
}

}  // namespace

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("createNetns", Napi::Function::New<CreateNetns>(env, "createNetns"));
  exports.Set("removeNetns", Napi::Function::New<RemoveNetns>(env, "removeNetns"));
  exports.Set("readFileInNetns", Napi::Function::New<ReadFileInNetns>(env, "readFileInNetns"));
  exports.Set("writeFileInNetns", Napi::Function::New<WriteFileInNetns>(env, "writeFileInNetns"));
  exports.Set("userPrimaryGroup", Napi::Function::New<UserPrimaryGroup>(env, "userPrimaryGroup"));
  exports.Set("execInNetns", Napi::Function::New<ExecInNetns>(env, "execInNetns"));
  exports.Set("enterNetnsOnThisThread", Napi::Function::New<EnterNetnsOnThisThread>(env, "enterNetnsOnThisThread"));
}

}  // namespace netfwd
