/* Plug-ins for the loader tests, one source built in several variants:
 *   PLUGIN_GOOD        registers "plugin-a" and "plugin-b".
 *   PLUGIN_NO_INIT     lacks ctsim_plugin_init.
 *   PLUGIN_BAD_ABI     reports ABI version 999.
 *   PLUGIN_ABI_V1      reports ABI version 1, as one built against the header before
 *                      ctsim_conn_key_rev() returned the key by value.
 *   PLUGIN_INIT_FAILS  registers "partial" and then fails with EIO: nothing may stay. */
#include <ctsim/ct_offload.h>

#include <errno.h>

static int a_conn_add(const struct ct_offload_ctx* ctx) {
  (void)ctx;
  return 0;
}
static void a_conn_del(const struct ct_offload_ctx* ctx) { (void)ctx; }
static bool a_can_offload(const struct ct_offload_ctx* ctx) {
  (void)ctx;
  return true;
}

#if defined(PLUGIN_GOOD)
static const struct ct_offload_class class_a = {
    .name = "plugin-a", .conn_add = a_conn_add, .conn_del = a_conn_del};
static const struct ct_offload_class class_b = {.name = "plugin-b",
                                                .conn_add = a_conn_add,
                                                .conn_del = a_conn_del,
                                                .can_offload = a_can_offload};
#else
static const struct ct_offload_class class_partial = {.name = "partial",
                                                      .conn_add = a_conn_add,
                                                      .conn_del = a_conn_del,
                                                      .can_offload = a_can_offload};
#endif

uint32_t ctsim_plugin_abi_version(void) {
#if defined(PLUGIN_BAD_ABI)
  return 999;
#elif defined(PLUGIN_ABI_V1)
  return 1;
#else
  return CTSIM_PLUGIN_ABI_VERSION;
#endif
}

#if !defined(PLUGIN_NO_INIT)
int ctsim_plugin_init(void) {
#if defined(PLUGIN_GOOD)
  int err = ct_offload_register(&class_a);
  return err ? err : ct_offload_register(&class_b);
#elif defined(PLUGIN_INIT_FAILS)
  (void)ct_offload_register(&class_partial);
  return EIO;
#else
  return ct_offload_register(&class_partial);
#endif
}
#endif
