/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * abi_anchor.c - pins every public type of <nestbox/plugin.h> into DWARF.
 *
 * abidw only records types reachable from exported functions and
 * variables, and the plugin ABI is a set of headers, not a library. So this
 * test-only library exports one function per public type: structs (opaque
 * ones too) by pointer, enums and typedefs by value. The anonymous union
 * `ops` of the descriptor is recorded as a member of the descriptor. Its DWARF
 * is what tests/abi/check-abi.sh compares with the stored baseline
 * (nestbox-plugin-abi-1.xml).
 *
 * When a public type is added to the headers, add its anchor here and
 * regenerate the baseline (tests/abi/update-baseline.sh); the self-test
 * (check-abi-selftest.sh) fails while a public type has no anchor.
 *
 * Build it with -g -O0. The function bodies are irrelevant; only the
 * signatures matter.
 */
#include <nestbox/plugin.h>

#define ANCHOR __attribute__((visibility("default"), used, noinline))

/* error.h */
ANCHOR void nbx_abi_anchor_error_code(enum nbx_error_code v);
ANCHOR void nbx_abi_anchor_error(struct nbx_error *p);

/* host.h */
ANCHOR void nbx_abi_anchor_machine_loader(struct nbx_machine_loader *p);
ANCHOR void nbx_abi_anchor_check(struct nbx_check *p);
ANCHOR void nbx_abi_anchor_report(struct nbx_report *p);
ANCHOR void nbx_abi_anchor_config_node(struct nbx_config_node *p);
ANCHOR void nbx_abi_anchor_log_level(enum nbx_log_level v);
ANCHOR void nbx_abi_anchor_path_kind(enum nbx_path_kind v);
ANCHOR void nbx_abi_anchor_fd_events(enum nbx_fd_events v);
ANCHOR void nbx_abi_anchor_fd_fn(nbx_fd_fn v);
ANCHOR void nbx_abi_anchor_timeout_fn(nbx_timeout_fn v);
ANCHOR void nbx_abi_anchor_child_exit_fn(nbx_child_exit_fn v);
ANCHOR void nbx_abi_anchor_fd_map(struct nbx_fd_map *p);
ANCHOR void nbx_abi_anchor_spawn(struct nbx_spawn *p);
ANCHOR void nbx_abi_anchor_host(struct nbx_host *p);
ANCHOR void nbx_abi_anchor_output(struct nbx_output *p);
ANCHOR void nbx_abi_anchor_main_fn(nbx_main_fn v);

/* machinery.h */
ANCHOR void nbx_abi_anchor_machine_state(enum nbx_machine_state v);
ANCHOR void nbx_abi_anchor_machine(struct nbx_machine *p);
ANCHOR void nbx_abi_anchor_call(struct nbx_call *p);
ANCHOR void nbx_abi_anchor_machinery_capabilities(enum nbx_machinery_capabilities v);
ANCHOR void nbx_abi_anchor_machinery_ops(struct nbx_machinery_ops *p);
ANCHOR void nbx_abi_anchor_snapshot_flags(enum nbx_snapshot_flags v);
ANCHOR void nbx_abi_anchor_snapshot_session(struct nbx_snapshot_session *p);
ANCHOR void nbx_abi_anchor_snapshot_file_role(enum nbx_snapshot_file_role v);
ANCHOR void nbx_abi_anchor_snapshot_file_fn(nbx_snapshot_file_fn v);
ANCHOR void nbx_abi_anchor_snapshot_fingerprint_fn(nbx_snapshot_fingerprint_fn v);

/* auxiliary.h */
ANCHOR void nbx_abi_anchor_task(struct nbx_task *p);
ANCHOR void nbx_abi_anchor_aux_context(struct nbx_aux_context *p);
ANCHOR void nbx_abi_anchor_auxiliary_ops(struct nbx_auxiliary_ops *p);

/* guest.h */
ANCHOR void nbx_abi_anchor_guest_context(struct nbx_guest_context *p);
ANCHOR void nbx_abi_anchor_guest_abilities(enum nbx_guest_abilities v);
ANCHOR void nbx_abi_anchor_guest_info(struct nbx_guest_info *p);
ANCHOR void nbx_abi_anchor_guest_command_flags(enum nbx_guest_command_flags v);
ANCHOR void nbx_abi_anchor_guest_command(struct nbx_guest_command *p);
ANCHOR void nbx_abi_anchor_guest_process_state(enum nbx_guest_process_state v);
ANCHOR void nbx_abi_anchor_guest_process(struct nbx_guest_process *p);
ANCHOR void nbx_abi_anchor_guest_file_fn(nbx_guest_file_fn v);
ANCHOR void nbx_abi_anchor_guest_ops(struct nbx_guest_ops *p);

/* schema.h */
ANCHOR void nbx_abi_anchor_guest_context(struct nbx_guest_context *p) { (void)p; }
void nbx_abi_anchor_guest_abilities(enum nbx_guest_abilities v) { (void)v; }
void nbx_abi_anchor_guest_info(struct nbx_guest_info *p) { (void)p; }
void nbx_abi_anchor_guest_command_flags(enum nbx_guest_command_flags v) { (void)v; }
void nbx_abi_anchor_guest_command(struct nbx_guest_command *p) { (void)p; }
void nbx_abi_anchor_guest_process_state(enum nbx_guest_process_state v) { (void)v; }
void nbx_abi_anchor_guest_process(struct nbx_guest_process *p) { (void)p; }
void nbx_abi_anchor_guest_file_fn(nbx_guest_file_fn v) { (void)v; }
void nbx_abi_anchor_guest_ops(struct nbx_guest_ops *p) { (void)p; }

void nbx_abi_anchor_field_type(enum nbx_field_type v);
ANCHOR void nbx_abi_anchor_field_flags(enum nbx_field_flags v);
ANCHOR void nbx_abi_anchor_config_schema(struct nbx_config_schema *p);
ANCHOR void nbx_abi_anchor_config_field(struct nbx_config_field *p);

/* plugin.h */
ANCHOR void nbx_abi_anchor_plugin_kind(enum nbx_plugin_kind v);
ANCHOR void nbx_abi_anchor_plugin_descriptor(struct nbx_plugin_descriptor *p);

void nbx_abi_anchor_error_code(enum nbx_error_code v) { (void)v; }
void nbx_abi_anchor_error(struct nbx_error *p) { (void)p; }

void nbx_abi_anchor_machine_loader(struct nbx_machine_loader *p) { (void)p; }
void nbx_abi_anchor_check(struct nbx_check *p) { (void)p; }
void nbx_abi_anchor_report(struct nbx_report *p) { (void)p; }
void nbx_abi_anchor_config_node(struct nbx_config_node *p) { (void)p; }
void nbx_abi_anchor_log_level(enum nbx_log_level v) { (void)v; }
void nbx_abi_anchor_path_kind(enum nbx_path_kind v) { (void)v; }
void nbx_abi_anchor_fd_events(enum nbx_fd_events v) { (void)v; }
void nbx_abi_anchor_fd_fn(nbx_fd_fn v) { (void)v; }
void nbx_abi_anchor_timeout_fn(nbx_timeout_fn v) { (void)v; }
void nbx_abi_anchor_child_exit_fn(nbx_child_exit_fn v) { (void)v; }
void nbx_abi_anchor_fd_map(struct nbx_fd_map *p) { (void)p; }
void nbx_abi_anchor_spawn(struct nbx_spawn *p) { (void)p; }
void nbx_abi_anchor_host(struct nbx_host *p) { (void)p; }
void nbx_abi_anchor_output(struct nbx_output *p) { (void)p; }
void nbx_abi_anchor_main_fn(nbx_main_fn v) { (void)v; }

void nbx_abi_anchor_machine_state(enum nbx_machine_state v) { (void)v; }
void nbx_abi_anchor_machine(struct nbx_machine *p) { (void)p; }
void nbx_abi_anchor_call(struct nbx_call *p) { (void)p; }
void nbx_abi_anchor_machinery_capabilities(enum nbx_machinery_capabilities v) { (void)v; }
void nbx_abi_anchor_machinery_ops(struct nbx_machinery_ops *p) { (void)p; }
void nbx_abi_anchor_snapshot_flags(enum nbx_snapshot_flags v) { (void)v; }
void nbx_abi_anchor_snapshot_session(struct nbx_snapshot_session *p) { (void)p; }
void nbx_abi_anchor_snapshot_file_role(enum nbx_snapshot_file_role v) { (void)v; }
void nbx_abi_anchor_snapshot_file_fn(nbx_snapshot_file_fn v) { (void)v; }
void nbx_abi_anchor_snapshot_fingerprint_fn(nbx_snapshot_fingerprint_fn v) { (void)v; }

void nbx_abi_anchor_task(struct nbx_task *p) { (void)p; }
void nbx_abi_anchor_aux_context(struct nbx_aux_context *p) { (void)p; }
void nbx_abi_anchor_auxiliary_ops(struct nbx_auxiliary_ops *p) { (void)p; }

void nbx_abi_anchor_field_type(enum nbx_field_type v) { (void)v; }
void nbx_abi_anchor_field_flags(enum nbx_field_flags v) { (void)v; }
void nbx_abi_anchor_config_schema(struct nbx_config_schema *p) { (void)p; }
void nbx_abi_anchor_config_field(struct nbx_config_field *p) { (void)p; }

void nbx_abi_anchor_plugin_kind(enum nbx_plugin_kind v) { (void)v; }
void nbx_abi_anchor_plugin_descriptor(struct nbx_plugin_descriptor *p) { (void)p; }
