#pragma once
// The dpdk provider's row of the built-in table (providers/builtin.cpp).  Compiled whether or
// not DPDK was found: without it the row names the reason in BuiltinProvider::unavailable and
// its factory fails with ENOTSUP and that reason, so `ctsim providers` can say why it is absent.

#include "providers/builtin.h"

namespace ctsim::dpdk {

// The built-in table row for "dpdk".
BuiltinProvider builtinEntry();

}  // namespace ctsim::dpdk
