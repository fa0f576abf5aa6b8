#pragma once
// The kernel-ct provider's row of the built-in table (providers/builtin.cpp).  Compiled whether
// or not libnetfilter_conntrack was found: without it the row names the reason in
// BuiltinProvider::unavailable and its factory fails with ENOTSUP and that reason.

#include "providers/builtin.h"

namespace ctsim::kernel_ct {

// The built-in table row for "kernel-ct".
BuiltinProvider builtinEntry();

}  // namespace ctsim::kernel_ct
