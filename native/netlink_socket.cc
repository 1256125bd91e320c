// NetlinkSocket: a raw AF_NETLINK socket with non-blocking I/O driven by libuv.
// It moves bytes and reports errors; it knows nothing about message formats.

#include <linux/netlink.h>
#include <napi.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <string>
#include <vector>

#include "errors.h"
#include "netns_thread.h"

namespace netfwd {

namespace {
// Large enough for any datagram the kernel builds for a dump (at most 32 KiB)
// and for big unicast replies; a longer datagram is reported as truncated.
constexpr size_t kReceiveBufferSize = 128 * 1024;
}  // namespace

class NetlinkSocket : public Napi::ObjectWrap<NetlinkSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "NetlinkSocket",
        {
            InstanceMethod<&NetlinkSocket::Send>("send"),
            InstanceMethod<&NetlinkSocket::SendAsync>("sendAsync"),
            InstanceMethod<&NetlinkSocket::Receive>("receive"),
            InstanceMethod<&NetlinkSocket::SetOption>("setOption"),
            InstanceMethod<&NetlinkSocket::GetOption>("getOption"),
            InstanceMethod<&NetlinkSocket::StartPolling>("startPolling"),
            InstanceMethod<&NetlinkSocket::StopPolling>("stopPolling"),
            InstanceMethod<&NetlinkSocket::Close>("close"),
            InstanceAccessor<&NetlinkSocket::PortId>("portId"),
            InstanceAccessor<&NetlinkSocket::Fd>("fd"),
            InstanceAccessor<&NetlinkSocket::Closed>("closed"),
        });
  }

  // new NetlinkSocket(protocol: number, netnsPath?: string)
  explicit NetlinkSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetlinkSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      throw Napi::TypeError::New(env, "NetlinkSocket(protocol: number, netnsPath?: string)");
    }
    int protocol = info[0].As<Napi::Number>().Int32Value();
    std::string ns_path;
    if (info.Length() > 1 && info[1].IsString()) ns_path = info[1].As<Napi::String>().Utf8Value();

    // Allocated before the socket exists: a bad_alloc here leaks no descriptor
    // (a constructor that throws runs no destructor).
    buffer_.resize(kReceiveBufferSize);
    int fd = -1;
    ThreadResult result = RunInNetns(ns_path, [&](ThreadResult& r) {
      fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
      if (fd < 0) {
        r.err = errno;
        r.syscall = "socket";
      }
    });
    if (result.err != 0) throw ErrnoError(env, result.err, result.syscall, result.detail);

    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0) {
      int err = errno;
      close(fd);
      throw ErrnoError(env, err, "bind");
    }
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) < 0) {
      int err = errno;
      close(fd);
      throw ErrnoError(env, err, "getsockname");
    }
    fd_ = fd;
    port_id_ = local.nl_pid;
    cleanup_registered_ = napi_add_env_cleanup_hook(env, &NetlinkSocket::CleanupHook, this) == napi_ok;
  }

  // A send running on the libuv thread pool. The socket stays alive (a
  // reference to its object) and its descriptor stays open until it is done.
  class SendWork : public Napi::AsyncWorker {
   public:
    SendWork(NetlinkSocket* socket, Napi::Object self, Napi::Buffer<uint8_t> data, Napi::Function callback)
        : Napi::AsyncWorker(callback, "netfwd.netlink.send"),
          socket_(socket),
          fd_(socket->fd_),
          data_(data.Data()),
          length_(data.Length()) {
      self_ = Napi::Persistent(self);
      buffer_ = Napi::Persistent(data.As<Napi::Object>());
    }

    void Execute() override {
      sockaddr_nl kernel{};
      kernel.nl_family = AF_NETLINK;
      ssize_t sent;
      do {
        sent = sendto(fd_, data_, length_, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
      } while (sent < 0 && errno == EINTR);
      if (sent < 0)
        err_ = errno;
      else
        sent_ = sent;
    }

    void OnOK() override {
      Napi::Env env = Env();
      socket_->SendDone();
      if (err_ != 0)
        Callback().Call({ErrnoError(env, err_, "sendto").Value()});
      else
        Callback().Call({env.Null(), Napi::Number::New(env, static_cast<double>(sent_))});
    }

   private:
    NetlinkSocket* socket_;
    int fd_;
    const uint8_t* data_;
    size_t length_;
    int err_ = 0;
    ssize_t sent_ = 0;
    Napi::ObjectReference self_;
    Napi::ObjectReference buffer_;
  };

  ~NetlinkSocket() override {
    if (cleanup_registered_) napi_remove_env_cleanup_hook(Env(), &NetlinkSocket::CleanupHook, this);
    Shutdown();
  }

 private:
  static void CleanupHook(void* data) {
    auto* self = static_cast<NetlinkSocket*>(data);
    self->cleanup_registered_ = false;
    self->Shutdown();
  }

  void Shutdown() {
    if (pending_sends_ > 0 && fd_ >= 0) {
      // A thread is in sendto on this descriptor: it is closed when that returns.
      deferred_fd_ = fd_;
      fd_ = -1;
    }
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      // The handle memory must outlive libuv's close; it is freed in the callback.
      uv_close(reinterpret_cast<uv_handle_t*>(poll_),
               [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    on_readable_.Reset();
  }

  void EnsureOpen(Napi::Env env) {
    if (fd_ < 0) throw ErrnoError(env, EBADF, "netlink socket", "the socket is closed");
  }

  // send(data: Buffer): number — one datagram to the kernel.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "send(data: Buffer)");
    auto data = info[0].As<Napi::Buffer<uint8_t>>();
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t sent;
    do {
      sent = sendto(fd_, data.Data(), data.Length(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) throw ErrnoError(env, errno, "sendto");
    return Napi::Number::New(env, static_cast<double>(sent));
  }

  // sendAsync(data: Buffer, done: (error: Error | null, sent?: number) => void): void
  // The same datagram as send(), written from the libuv thread pool: the
  // kernel handles a netlink request inside sendto, so a large batch keeps a
  // thread busy for as long as the kernel works on it, and this one is free.
  // `data` must not change until `done` is called.
  Napi::Value SendAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "sendAsync(data: Buffer, done: function)");
    }
    auto* work = new SendWork(this, info.This().As<Napi::Object>(), info[0].As<Napi::Buffer<uint8_t>>(),
                              info[1].As<Napi::Function>());
    try {
      work->Queue();
    } catch (...) {
      delete work;  // never queued: nothing else would free it
      throw;
    }
    pending_sends_++;
    return env.Undefined();
  }

  void SendDone() {
    if (--pending_sends_ == 0 && deferred_fd_ >= 0) {
      close(deferred_fd_);
      deferred_fd_ = -1;
    }
  }

  // receive(maxDatagrams?: number): Array<Buffer | Error>
  // Reads what is queued without waiting. ENOBUFS (messages were lost) and
  // truncated datagrams appear in the array as Error objects, in order.
  Napi::Value Receive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    uint32_t max = 256;
    if (info.Length() > 0 && info[0].IsNumber()) max = info[0].As<Napi::Number>().Uint32Value();
    Napi::Array out = Napi::Array::New(env);
    uint32_t count = 0;
    while (count < max) {
      sockaddr_nl from{};
      iovec iov{buffer_.data(), buffer_.size()};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof(from);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        Napi::Error e = ErrnoError(env, err, "recvmsg",
                                   err == ENOBUFS ? "receive buffer overrun: messages were lost" : "");
        out.Set(count++, e.Value());
        if (err == ENOBUFS) continue;  // the socket stays usable after an overrun
        break;
      }
      if (from.nl_pid != 0) continue;  // only the kernel may talk to us
      if ((msg.msg_flags & MSG_TRUNC) != 0 || static_cast<size_t>(n) > buffer_.size()) {
        Napi::Error e = ErrnoError(env, EMSGSIZE, "recvmsg",
                                   "datagram of " + std::to_string(n) + " bytes truncated to " +
                                       std::to_string(buffer_.size()));
        e.Set("truncated", Napi::Boolean::New(env, true));
        e.Set("length", Napi::Number::New(env, static_cast<double>(n)));
        out.Set(count++, e.Value());
        continue;
      }
      out.Set(count++, Napi::Buffer<uint8_t>::Copy(env, buffer_.data(), static_cast<size_t>(n)));
    }
    return out;
  }

  // setOption(level: number, name: number, value: number): void
  Napi::Value SetOption(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
      throw Napi::TypeError::New(env, "setOption(level: number, name: number, value: number)");
    }
    int level = info[0].As<Napi::Number>().Int32Value();
    int name = info[1].As<Napi::Number>().Int32Value();
    int value = static_cast<int>(info[2].As<Napi::Number>().Int64Value());
    if (setsockopt(fd_, level, name, &value, sizeof(value)) < 0) {
      throw ErrnoError(env, errno, "setsockopt", std::to_string(level) + "/" + std::to_string(name));
    }
    return env.Undefined();
  }

  // getOption(level: number, name: number): number
  Napi::Value GetOption(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      throw Napi::TypeError::New(env, "getOption(level: number, name: number)");
    }
    int level = info[0].As<Napi::Number>().Int32Value();
    int name = info[1].As<Napi::Number>().Int32Value();
    int value = 0;
    socklen_t len = sizeof(value);
    if (getsockopt(fd_, level, name, &value, &len) < 0) {
      throw ErrnoError(env, errno, "getsockopt", std::to_string(level) + "/" + std::to_string(name));
    }
    return Napi::Number::New(env, value);
  }

  // startPolling(onReadable: (error?: Error) => void): void
  // While polling, the socket keeps the event loop alive.
  Napi::Value StartPolling(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    if (info.Length() < 1 || !info[0].IsFunction()) {
      throw Napi::TypeError::New(env, "startPolling(onReadable: function)");
    }
    on_readable_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (poll_ == nullptr) {
      uv_loop_t* loop = nullptr;
      if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
        throw Napi::Error::New(env, "startPolling: no event loop (napi_get_uv_event_loop failed)");
      }
      poll_ = new uv_poll_t;
      int rc = uv_poll_init_socket(loop, poll_, fd_);
      if (rc != 0) {
        delete poll_;
        poll_ = nullptr;
        throw ErrnoError(env, -rc, "uv_poll_init_socket");
      }
      poll_->data = this;
    }
    int rc = uv_poll_start(poll_, UV_READABLE, &NetlinkSocket::OnPoll);
    if (rc != 0) throw ErrnoError(env, -rc, "uv_poll_start");
    return env.Undefined();
  }

  Napi::Value StopPolling(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_poll_stop(poll_);
    return info.Env().Undefined();
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<NetlinkSocket*>(handle->data);
    if (self == nullptr || self->on_readable_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      std::vector<napi_value> args;
      if (status < 0) args.push_back(ErrnoError(env, -status, "uv_poll").Value());
      self->on_readable_.MakeCallback(env.Global(), args);
    } catch (const Napi::Error& e) {
      // An exception from the JavaScript callback becomes an uncaught exception
      // instead of unwinding through libuv.
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (cleanup_registered_) {
      napi_remove_env_cleanup_hook(info.Env(), &NetlinkSocket::CleanupHook, this);
      cleanup_registered_ = false;
    }
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Value PortId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_id_); }
  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }

  int fd_ = -1;
  int deferred_fd_ = -1;
  int pending_sends_ = 0;
  uint32_t port_id_ = 0;
  uv_poll_t* poll_ = nullptr;
  bool cleanup_registered_ = false;
  Napi::FunctionReference on_readable_;
  std::vector<uint8_t> buffer_;
};

Napi::Function InitNetlinkSocket(Napi::Env env) { return NetlinkSocket::Init(env); }

}  // namespace netfwd
