/*
 * <ctsim/ct_offload.h>: the conntrack offload provider interface of ctsim.
 *
 * A provider written for Open vSwitch's lib/ct-offload.h (the "ct-offload: Introduce a conntrack
 * offload infrastructure" RFC) compiles against this header with only its include line changed:
 * the class, context, op and batch types and the ct_offload_* functions carry OVS's names.
 * What OVS providers read from struct conn directly, ctsim providers read through the ctsim_*
 * accessors below (struct conn and struct netdev are opaque here).
 *
 * Registries.  ctsim can run several registries in one process (one per simulated switch).  The
 * ct_offload_* functions act on the calling thread's *current registry*: the one the host made
 * current on this thread (ctsim::ScopedCurrentRegistry), or, while a registry is dispatching a
 * callback, that registry, or else the process-wide default.  With no registry at all,
 * registration fails with ENXIO and dispatch does nothing (returns 0 / false).
 *
 * Threading.  Dispatch functions take no global lock and may run on many threads at once;
 * ct_offload_register/unregister may run concurrently with dispatch.  Callbacks for one
 * connection must be serialised by the caller (OVS holds conn->lock): the registry updates the
 * connection's offload mark without a lock of its own.  Providers must be thread-safe when the
 * host dispatches from several threads.  A class struct must stay valid (and unchanged) while
 * registered, and after ct_offload_unregister until its registry is destroyed: dispatches that
 * started before the unregistration may still be running, so memory is never reclaimed early.
 *
 * Errors are positive errno values, 0 meaning success, as in OVS.
 */
#ifndef CTSIM_CT_OFFLOAD_H
#define CTSIM_CT_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version of this header.  A plug-in's ctsim_plugin_abi_version() must return it; the loader
 * rejects a plug-in built against another version.  Version 2: ctsim_conn_key_rev() returns the
 * key by value (version 1 returned a pointer to a key stored in the connection). */
#define CTSIM_PLUGIN_ABI_VERSION 2

/* Datapath port number, as OVS's odp_port_t (a plain integer here, not a sparse bitwise type). */
typedef uint32_t odp_port_t;
/* Port value meaning "no port" (contexts without an input netdev). */
#define CTSIM_PORT_NONE UINT32_MAX

struct conn;   /* A tracked connection; read it through the ctsim_conn_* accessors. */
struct netdev; /* A network device; read it through the ctsim_netdev_* accessors. */

/* ---- Connection key ------------------------------------------------------------------------ */

#define CTSIM_AF_INET 4  /* ctsim_conn_key.af for IPv4 (the IP version number, not AF_INET). */
#define CTSIM_AF_INET6 6 /* ctsim_conn_key.af for IPv6. */

/* Ports of a TCP, UDP or SCTP key, in host byte order. */
struct ctsim_l4_ports {
  uint16_t src; /* Source port. */
  uint16_t dst; /* Destination port. */
};

/* ICMP identity of an ICMP or ICMPv6 key. */
struct ctsim_icmp_key {
  uint16_t id;  /* Echo identifier, host byte order. */
  uint8_t type; /* ICMP type (of the request, in a forward key; of the reply, in a reverse key). */
  uint8_t code; /* ICMP code. */
};

/* One direction of a connection, as OVS's struct conn_key.  All bytes not used by the address
 * family or protocol are zero, so two keys may be compared with memcmp(). */
struct ctsim_conn_key {
  uint8_t src[16]; /* Source address, network byte order; IPv4 uses the first 4 bytes. */
  uint8_t dst[16]; /* Destination address, same layout. */
  union {
    struct ctsim_l4_ports ports; /* proto is TCP (6), UDP (17), SCTP (132) or UDP-Lite (136). */
    struct ctsim_icmp_key icmp;  /* proto is ICMP (1) or ICMPv6 (58). */
  };
  uint16_t zone; /* Conntrack zone, 0..65535. */
  uint8_t af;    /* CTSIM_AF_INET or CTSIM_AF_INET6. */
  uint8_t proto; /* IP protocol number. */
};

/* ---- Connection state ---------------------------------------------------------------------- */

/* TCP peer state, pf's TCPS_* values as OVS's CT_DPIF_TCPS_*. */
enum ctsim_tcp_state {
  CTSIM_TCPS_CLOSED = 0,
  CTSIM_TCPS_LISTEN,
  CTSIM_TCPS_SYN_SENT,
  CTSIM_TCPS_SYN_RECV,
  CTSIM_TCPS_ESTABLISHED,
  CTSIM_TCPS_CLOSE_WAIT,
  CTSIM_TCPS_FIN_WAIT_1,
  CTSIM_TCPS_CLOSING,
  CTSIM_TCPS_LAST_ACK,
  CTSIM_TCPS_FIN_WAIT_2,
  CTSIM_TCPS_TIME_WAIT,
};

/* One TCP peer (direction) of a connection, as pf's struct tcp_peer in OVS. */
struct ctsim_tcp_peer {
  uint32_t seqlo;   /* Highest sequence number sent (lowest acceptable from the other side). */
  uint32_t seqhi;   /* Highest acceptable sequence number (seqlo + window). */
  uint16_t max_win; /* Largest window advertised (unscaled). */
  uint8_t wscale;   /* Window scale shift, 0..14; bit 0x80 set when scaling is negotiated. */
  uint8_t state;    /* An enum ctsim_tcp_state. */
};

/* Direction index for ctsim_conn_tcp_peer(). */
enum ctsim_dir {
  CTSIM_DIR_ORIG = 0,  /* The initiator (sender of the first packet). */
  CTSIM_DIR_REPLY = 1, /* The responder. */
};

/* The connection's current state: the state that selects its timeout in OVS (see facts §4). */
enum ctsim_conn_state {
  CTSIM_CS_NONE = 0, /* Not set by the engine. */
  CTSIM_CS_TCP_SYN_SENT,
  CTSIM_CS_TCP_SYN_RECV,
  CTSIM_CS_TCP_ESTABLISHED,
  CTSIM_CS_TCP_FIN_WAIT,
  CTSIM_CS_TCP_TIME_WAIT,
  CTSIM_CS_TCP_CLOSE,
  CTSIM_CS_OTHER_FIRST,    /* UDP/SCTP/other: one packet seen. */
  CTSIM_CS_OTHER_MULTIPLE, /* More packets, one direction only. */
  CTSIM_CS_OTHER_BIDIR,    /* A reply was seen. */
  CTSIM_CS_ICMP_FIRST,     /* ICMP request seen. */
  CTSIM_CS_ICMP_REPLY,     /* ICMP reply seen. */
};

/* ---- Provider class and dispatch contexts -------------------------------------------------- */

/* The context every per-connection callback receives. */
struct ct_offload_ctx {
  const struct conn* conn;          /* The connection; never NULL in a dispatched context. */
  struct netdev* netdev_in;         /* Input netdev of the batch's first packet; NULL for
                                     * delete and update contexts. */
  odp_port_t input_port_id;         /* Input datapath port; CTSIM_PORT_NONE when no netdev. */
  const struct ctsim_conn_key* key; /* The connection's forward key (== ctsim_conn_key_fwd). */
};

enum ct_offload_op_type {
  CT_OFFLOAD_OP_ADD,    /* conn_add. */
  CT_OFFLOAD_OP_DEL,    /* conn_del. */
  CT_OFFLOAD_OP_UPD,    /* conn_update (last-used query). */
  CT_OFFLOAD_OP_POLICY, /* can_offload. */
  CT_OFFLOAD_OP_FLUSH,  /* flush. */
  CT_OFFLOAD_OP_EST,    /* conn_established. */
};

/* One operation of a batch: its type, context and result. */
struct ct_offload_op {
  enum ct_offload_op_type type;
  struct ct_offload_ctx ctx;
  int error; /* Set by ct_offload_op_batch_submit(); see there. */
};

/* A growable array of operations.  Initialised by ct_offload_op_batch_init(). */
struct ct_offload_op_batch {
  struct ct_offload_op* ops; /* ops[0 .. n_ops-1] are in use. */
  size_t n_ops;              /* Number of operations added. */
  size_t allocated;          /* Capacity of ops: 8 after init, then doubled as needed. */
};

/* A conntrack offload provider.  Every callback is optional for the rfc-v1/v2 profiles; the
 * strict profile requires conn_add, conn_del and can_offload (EINVAL at registration).  Calls
 * come from any dispatching thread; see "Threading" above. */
struct ct_offload_class {
  /* Unique name within a registry; required. */
  const char* name;
  /* Called once by ct_offload_register() before the class is added; a non-zero result is
   * returned by ct_offload_register() and the class is not added. */
  int (*init)(void);
  /* A new committed connection.  Called only when can_offload is absent or returned true for
   * this context.  Returns 0 when the provider took the connection, else a positive errno. */
  int (*conn_add)(const struct ct_offload_ctx* ctx);
  /* The connection is being removed.  rfc-v1: called for every removed connection, offloaded
   * or not; rfc-v2: only for connections marked offloaded; strict: only if this provider's
   * conn_add returned 0 for it.  netdev_in is NULL. */
  void (*conn_del)(const struct ct_offload_ctx* ctx);
  /* Last-used time of the connection in ms since the epoch (ctsim: on the simulated clock,
   * ctsim_now_ms()), or 0 when unknown.  netdev_in is NULL. */
  long long (*conn_update)(const struct ct_offload_ctx* ctx);
  /* The first reply-direction packet with 'est' was seen.  Called exactly once per offloaded
   * connection, and only after a successful ct_offload_conn_add() for it. */
  void (*conn_established)(const struct ct_offload_ctx* ctx);
  /* Whether this provider can offload the connection.  Gates conn_add (absent counts as yes)
   * and answers ct_offload_can_offload() (absent counts as no there). */
  bool (*can_offload)(const struct ct_offload_ctx* ctx);
  /* Drop every offloaded connection (switch shutdown). */
  void (*flush)(void);
  /* When present, receives every submitted batch whole, before the per-op fallback (which then
   * skips this provider).  May set ops[i].error (the strict profile reads it back for ADD ops:
   * 0 means accepted); the rfc profiles overwrite it with the per-op result. */
  void (*batch_submit)(struct ct_offload_op_batch* batch);
};

/* ---- Registration -------------------------------------------------------------------------- */

/* Adds 'cls' to the current registry, last in dispatch order.  Returns 0; EINVAL if 'cls' or its
 * name is NULL (or, in the strict profile, conn_add, conn_del or can_offload is NULL); EEXIST if
 * a class of that name is registered; ENOSPC (strict) past 64 classes; ENXIO with no current
 * registry; or the non-zero result of cls->init(), after which the class is not added. */
int ct_offload_register(const struct ct_offload_class* cls);
/* Removes 'cls' from the current registry.  An unknown class is logged and ignored.  Dispatches
 * already running may still call it; later ones do not. */
void ct_offload_unregister(const struct ct_offload_class* cls);

/* ---- Dispatch (called by the conntrack engine) ----------------------------------------------- */

/* Every provider whose can_offload is absent or true gets conn_add, in registration order.
 * Returns the first non-zero error; later providers are still called.  Marks the connection
 * offloaded: rfc-v1/v2 when the result is 0 (even with no provider); strict when at least one
 * provider returned 0. */
int ct_offload_conn_add(const struct ct_offload_ctx* ctx);
/* rfc-v1: every provider's conn_del; rfc-v2: the same, but only if the connection is marked;
 * strict: only the providers that accepted it.  The mark is cleared. */
void ct_offload_conn_del(const struct ct_offload_ctx* ctx);
/* Providers' conn_update in order (strict: only those that accepted); the first non-zero
 * result is returned and no further provider is asked.  0 when none knows the connection. */
long long ct_offload_conn_update(const struct ct_offload_ctx* ctx);
/* If the connection is marked added (not yet established): every provider's conn_established
 * (strict: those that accepted), then the mark becomes established.  Otherwise nothing is
 * called.  Hence exactly once per successful add. */
void ct_offload_conn_established(const struct ct_offload_ctx* ctx);
/* True if any provider's can_offload returns true (a provider without it counts as false). */
bool ct_offload_can_offload(const struct ct_offload_ctx* ctx);
/* Every provider's flush. */
void ct_offload_flush(void);
/* True while 'conn' is marked added or established. */
bool ct_offload_conn_is_offloaded(const struct conn* conn);
/* True once conn_established was dispatched for 'conn' (until conn_del). */
bool ct_offload_conn_is_established(const struct conn* conn);

/* ---- Batches ------------------------------------------------------------------------------- */

/* Makes 'batch' empty with room for 8 ops.  Aborts if memory runs out. */
void ct_offload_op_batch_init(struct ct_offload_op_batch* batch);
/* Appends a copy of 'ctx' as an op of 'type' (error 0), doubling the capacity when full.
 * Aborts if memory runs out. */
void ct_offload_op_batch_add(struct ct_offload_op_batch* batch, enum ct_offload_op_type type,
                             const struct ct_offload_ctx* ctx);
/* Gives the whole batch to every provider with batch_submit, then dispatches each op in order
 * to the providers without it, and sets each op's error: ADD the first conn_add error; DEL 0;
 * UPD 0 if some provider returned a timestamp, else ENODATA (rfc-v1) or EIO (rfc-v2, strict);
 * POLICY 0 if some provider can offload, else EPERM; FLUSH 0; EST 0; an unknown type EINVAL. */
void ct_offload_op_batch_submit(struct ct_offload_op_batch* batch);
/* Frees the ops; the batch may be initialised again. */
void ct_offload_op_batch_destroy(struct ct_offload_op_batch* batch);

/* Number of ops in 'batch'. */
static inline size_t ct_offload_op_batch_len(const struct ct_offload_op_batch* batch) {
  return batch->n_ops;
}
/* Capacity of 'batch'. */
static inline size_t ct_offload_op_batch_size(const struct ct_offload_op_batch* batch) {
  return batch->allocated;
}
/* for (each op) with IDX the index and OP a 'struct ct_offload_op *' declared by the caller. */
#define CT_OFFLOAD_BATCH_OP_FOR_EACH(IDX, OP, BATCH)                \
  for (size_t IDX = 0; IDX < ct_offload_op_batch_len(BATCH); IDX++) \
    if (((OP) = &(BATCH)->ops[IDX]), true)

/* ---- Accessors (valid during a callback, for the connection or netdev of its context) ------- */

/* The forward (initiator's) key; never NULL for a non-NULL conn. */
const struct ctsim_conn_key* ctsim_conn_key_fwd(const struct conn* conn);
/* The reverse key: what a reply packet carries (the forward key with addresses and ports
 * swapped and, for ICMP echo, timestamp and information requests, the reply's type; ctsim does
 * no NAT).  Returned by value: a connection does not store it.  All zero for a NULL conn. */
struct ctsim_conn_key ctsim_conn_key_rev(const struct conn* conn);
/* Copies the TCP peer state of direction 'dir' into '*peer'.  Returns 0, or EINVAL if the
 * connection is not TCP or 'dir' is not a enum ctsim_dir value ('*peer' is then untouched). */
int ctsim_conn_tcp_peer(const struct conn* conn, enum ctsim_dir dir, struct ctsim_tcp_peer* peer);
/* The connection's current state. */
enum ctsim_conn_state ctsim_conn_get_state(const struct conn* conn);
/* The netdev's name, or NULL for a NULL netdev. */
const char* ctsim_netdev_name(const struct netdev* netdev);
/* The netdev's datapath port, or CTSIM_PORT_NONE for a NULL netdev. */
odp_port_t ctsim_netdev_port(const struct netdev* netdev);
/* "Now" in ms on the dispatching (else current) registry's clock: simulated time, set by the
 * engine; 0 when no clock is set.  Providers must use it instead of the wall clock. */
long long ctsim_now_ms(void);

/* ---- Optional extension: why a provider declined ----------------------------------------
 *
 * A provider may say why it declined a connection: from inside its can_offload (returning false)
 * or conn_add (returning an error), it calls ctsim_offload_decline_reason() with a short
 * human-readable text, e.g. "ICMP is not offloaded by this NIC" or "flow table full (4096)".
 * The host copies the text (at most 127 bytes) during the call and attributes it to the calling
 * provider and the context's connection; ctsim shows it in its explanations (`ctsim replay
 * --explain`, `--explain-conn`, `--lifecycles`).  A call at any other time, or with NULL, does
 * nothing; the last call during one callback wins.  It changes no result: can_offload and
 * conn_add still decide.  Optional and backward compatible (it did not change the ABI version),
 * providers that never call it are unaffected, and a plug-in that must also load into a host
 * without the symbol can declare it weak and test it for NULL before calling.  A header that has it
 * defines CTSIM_HAVE_DECLINE_REASON. */
#define CTSIM_HAVE_DECLINE_REASON 1
void ctsim_offload_decline_reason(const char* reason);

/* ---- Plug-in entry points (exported by a plug-in .so, called by the loader) ----------------- */

/* Plug-in entry points keep default visibility even when built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define CTSIM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define CTSIM_PLUGIN_EXPORT
#endif

/* Must return CTSIM_PLUGIN_ABI_VERSION as compiled into the plug-in. */
CTSIM_PLUGIN_EXPORT uint32_t ctsim_plugin_abi_version(void);
/* Registers the plug-in's classes with ct_offload_register(), as an OVS module init would.
 * Returns 0, or a positive errno; on failure nothing the plug-in registered is kept. */
CTSIM_PLUGIN_EXPORT int ctsim_plugin_init(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CTSIM_CT_OFFLOAD_H */
