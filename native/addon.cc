// The addon's entry point: a NetlinkSocket class, the namespace primitives and
// sending one Unix datagram.
#include <napi.h>

namespace netfwd {
Napi::Function InitNetlinkSocket(Napi::Env env);
void InitNetns(Napi::Env env, Napi::Object exports);
void InitUnixDatagram(Napi::Env env, Napi::Object exports);
}  // namespace netfwd

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NetlinkSocket", netfwd::InitNetlinkSocket(env));
  netfwd::InitNetns(env, exports);
  netfwd::InitUnixDatagram(env, exports);
  return exports;
}

NODE_API_MODULE(netfwd, Init)
