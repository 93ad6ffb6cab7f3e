/*
 * A TCG plugin that counts the guest's executed instructions, at user and at kernel addresses, between
 * markers the measured code executes itself. A marker is an x86 long NOP with a tag in its displacement
 * (`nopl TAG(%rax)`: 0f 1f 80 + 4 bytes), which does nothing on any CPU; the addon's
 * instructionMarker(start) executes one. At an end marker the plugin appends the window's two counts
 * to the output file as a line "user kernel". Every instruction is counted by an inline add (no call
 * into the plugin), so that with one vCPU on single-threaded TCG the counts are exact.
 *
 * Loaded as: -plugin counter.so,out=/path/of/windows.txt
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "qemu-plugin-api.h"

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* Kernel text on x86_64 is in the upper half of the address space. */
#define KERNEL_BASE 0xffff800000000000ULL

static const unsigned char start_marker[7] = {0x0f, 0x1f, 0x80, 0x31,
                                              0x4d, 0x43, 0x52}; /* nopl 0x52434d31(%rax) */
static const unsigned char end_marker[7] = {0x0f, 0x1f, 0x80, 0x30,
                                            0x4d, 0x43, 0x52}; /* nopl 0x52434d30(%rax) */

static uint64_t user_count, kernel_count;
static uint64_t user_at_start, kernel_at_start;
static int window_open;
static FILE* out;

static void on_marker(unsigned int vcpu, void* udata) {
  if (udata == start_marker) {
    user_at_start = user_count;
    kernel_at_start = kernel_count;
    window_open = 1;
  } else if (window_open) {
    window_open = 0;
    fprintf(out, "%" PRIu64 " %" PRIu64 "\n", user_count - user_at_start, kernel_count - kernel_at_start);
    fflush(out);
  }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  size_t n = qemu_plugin_tb_n_insns(tb);
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    uint64_t* counter = qemu_plugin_insn_vaddr(insn) >= KERNEL_BASE ? &kernel_count : &user_count;
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, counter, 1);
    if (qemu_plugin_insn_size(insn) != sizeof start_marker) continue;
    const void* bytes = qemu_plugin_insn_data(insn);
    if (memcmp(bytes, start_marker, sizeof start_marker) == 0)
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS, (void*)start_marker);
    else if (memcmp(bytes, end_marker, sizeof end_marker) == 0)
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS, (void*)end_marker);
  }
}

static void on_exit(qemu_plugin_id_t id, void* udata) {
  if (out != NULL) fclose(out);
  out = NULL;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info,
                                                               int argc, char** argv) {
  const char* path = NULL;
  for (int i = 0; i < argc; i++)
    if (strncmp(argv[i], "out=", 4) == 0) path = argv[i] + 4;
  if (path == NULL) {
    qemu_plugin_outs("counter: needs out=PATH\n");
    return -1;
  }
  out = fopen(path, "w");
  if (out == NULL) {
    qemu_plugin_outs("counter: cannot open the output file\n");
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_exit, NULL);
  return 0;
}
