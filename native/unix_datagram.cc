// One datagram to an AF_UNIX SOCK_DGRAM socket (a path, or an abstract name
// when the address starts with a NUL byte). Node's dgram module has no Unix
// datagram sockets; this is the whole primitive, with no knowledge of what is
// sent (the systemd notification protocol lives in TypeScript).
#include <napi.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "errors.h"

namespace netfwd {

// sendUnixDatagram(address: Buffer, data: Buffer): number (bytes sent)
static Napi::Value SendUnixDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsBuffer()) {
    Napi::TypeError::New(env, "sendUnixDatagram(address: Buffer, data: Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto address = info[0].As<Napi::Buffer<char>>();
  auto data = info[1].As<Napi::Buffer<char>>();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (address.Length() == 0 || address.Length() > sizeof(sa.sun_path)) {
    ErrnoError(env, ENAMETOOLONG, "sendUnixDatagram", "the address is empty or longer than sun_path").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::memcpy(sa.sun_path, address.Data(), address.Length());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.Length());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ErrnoError(env, errno, "socket").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ssize_t n;
  do {
    n = sendto(fd, data.Data(), data.Length(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), len);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) {
    ErrnoError(env, err, "sendto").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

void InitUnixDatagram(Napi::Env env, Napi::Object exports) {
  exports.Set("sendUnixDatagram", Napi::Function::New<SendUnixDatagram>(env, "sendUnixDatagram"));
}

}  // namespace netfwd
