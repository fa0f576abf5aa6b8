#pragma once
// Status and Result<T>: ctsim's error type. Codes are errno values (0 = success) so that they map
// one to one onto the provider C ABI's return codes; the message says what happened, for people.
// No exceptions are thrown on the packet path or across the C ABI; these types are used instead.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ctsim {

class Status {
 public:
  // A success.
  Status() = default;
  // An error with an errno-like code (must not be 0) and a human-readable message.
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {
    assert(code_ != 0);
  }

  static Status okStatus() { return Status(); }

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  const std::string& message() const { return message_; }
  // "message (code N)" or "ok".
  std::string toString() const;

 private:
  int code_ = 0;         // errno value, 0 = success.
  std::string message_;  // empty on success.
};

// Either a value or an error Status.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design.
  Result(Status error) : v_(std::move(error)) {  // NOLINT: implicit by design.
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return v_.index() == 0; }
  // The value; only valid when ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  // The error; an ok Status when the result holds a value.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ctsim
