// Errors thrown to JavaScript carry the errno number and its symbolic code.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace netfwd {

inline Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall,
                              const std::string& detail = "") {
  std::string message = syscall + ": " + std::strerror(err);
  if (!detail.empty()) message += " (" + detail + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  // libuv's error numbers on Linux are the negated errno values.
  error.Set("code", Napi::String::New(env, uv_err_name(-err)));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

}  // namespace netfwd
