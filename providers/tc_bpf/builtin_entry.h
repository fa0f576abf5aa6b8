#pragma once
// The tc-bpf provider's row of the built-in table (providers/builtin.cpp).  Compiled whether or
// not clang and libbpf were found: without them the row names the reason in
// BuiltinProvider::unavailable and its factory fails with ENOTSUP and that reason.

#include "providers/builtin.h"

namespace ctsim::tc_bpf {

// The built-in table row for "tc-bpf".
BuiltinProvider builtinEntry();

}  // namespace ctsim::tc_bpf
