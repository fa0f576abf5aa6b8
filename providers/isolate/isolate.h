#pragma once
// Isolated plug-ins (`--isolate`, issue 10): a provider plug-in runs in a child process, so that
// a crash, an abort or a hang in it cannot take the replay down.
//
// For each plug-in file, ctsim forks a child connected by a socketpair.  The child loads the
// file exactly as loadProviderLibrary() would (dlopen, ABI check, ctsim_plugin_init with a
// registry of its own) and reports the classes it registered; the parent registers one proxy
// Provider per class, with the file path as origin.  Each callback then becomes one request
// (callback, class, simulated now, the context: the connection's keys, TCP peers, state, offload
// mark and the input netdev; a batch carries all its ops) and one reply (the result, per-op
// errors, or the text of a C++ exception the child caught).  The child keeps one struct conn per
// connection a class accepted, so a plug-in may key its state by the conn pointer as in-process.
//
// Faults (reported through Provider::reportFault, see Registry "Faults"):
//   - the child dies (signal or exit; seen as EOF, then waitpid): kCrash, "crashed (signal 11,
//     SIGSEGV) in conn_add" / "exited with status N in conn_add";
//   - no reply within the watchdog's limit: the child is killed (SIGKILL) and reaped, kTimeout,
//     "timeout after N ms in conn_add";
//   - an exception in the child: kException, its text; the child goes on (the registry will not
//     call that class again);
//   - a malformed reply: kProtocol.
// Once the child is gone, every other class of the same file fails at its next call with the
// same reason.  Children are reaped when the registry (its providers) is destroyed: the socket
// is closed, the child sees EOF and exits; one that does not within a second is killed.  If
// ctsim dies abruptly the child gets EOF or SIGKILL (PR_SET_PDEATHSIG) and ends too.
//
// Limits: with watchdog_ms 0 a hung plug-in is waited for forever (a first SIGINT only sets the
// replay's stop flag; a second one ends ctsim as usual).  Load plug-ins before starting other
// threads (fork copies only the calling thread).  The context is copied, so a plug-in sees the
// connection as it was at the call (what it could read in-process anyway); ct_offload_* calls a
// plug-in makes from a callback act on the child's own registry; one round trip costs a few
// microseconds (two context switches).

#include <string>

#include "providers/registry.h"
#include "sim/status.h"

namespace ctsim::isolate {

// Forks a child running the plug-in 'file' and registers a proxy for each class it registered
// (see above).  'watchdog_ms' > 0 bounds each call's reply; 0 waits forever.  An error (load,
// ABI, init, a refused registration) names the file; then nothing stays registered and the
// child is gone.
Status loadIsolated(Registry& registry, const std::string& file, int watchdog_ms);

}  // namespace ctsim::isolate
