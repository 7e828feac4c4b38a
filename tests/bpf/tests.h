/* SPDX-License-Identifier: Apache-2.0 */
/* The table of BPF packet tests, in run order: one X(name) per test_name() in a test_*.c file. */
#ifndef SLUICE_TESTS_TESTS_H
#define SLUICE_TESTS_TESTS_H

#define BPF_TESTS(X)                                                                               \
	/* test_pkt_selftest.c */                                                                  \
	X(pkt_csum_ipv4_reference)                                                                 \
	X(pkt_csum_tcp_reference)                                                                  \
	X(pkt_build_verify_detects_flips)                                                          \
	X(pkt_diff_names_fields)                                                                   \
	/* test_lb_clusterip_dnat.c */                                                             \
	X(lb_tcp_new_dnat)                                                                         \
	X(lb_udp_new_dnat)                                                                         \
	X(lb_tcp_new_dnat_eth_padding)                                                             \
	X(lb_udp_new_dnat_ip_options)                                                              \
	/* test_lb_udp_zero_csum.c */                                                              \
	X(lb_udp_zero_csum_kept)                                                                   \
	/* test_lb_local_redirect.c */                                                             \
	X(lb_local_backend_redirect)                                                               \
	/* test_lb_backend_selection.c */                                                          \
	X(lb_backend_selection)                                                                    \
	/* test_lb_maglev.c */                                                                     \
	X(lb_maglev_spread_and_stable)                                                             \
	X(lb_maglev_backend_removed)                                                               \
	X(lb_maglev_missing_table_uses_slots)                                                      \
	/* test_lb_affinity.c */                                                                   \
	X(lb_affinity_sticks)                                                                      \
	X(lb_affinity_expires)                                                                     \
	/* test_lb_source_ranges.c */                                                              \
	X(lb_source_range_admits)                                                                  \
	X(lb_source_range_drops)                                                                   \
	/* test_lb_sctp.c */                                                                       \
	X(lb_sctp_address_only)                                                                    \
	X(lb_sctp_port_change_dropped)                                                             \
	/* test_lb_backend_missing.c */                                                            \
	X(lb_backend_missing_dropped)                                                              \
	/* test_ct_established.c */                                                                \
	X(ct_established_tcp)                                                                      \
	X(ct_established_udp)                                                                      \
	/* test_ct_lifetime.c */                                                                   \
	X(ct_tcp_lifetimes)                                                                        \
	X(ct_expired_entry_is_new_flow)                                                            \
	X(ct_clock_start)                                                                          \
	/* test_ct_tcp_close.c */                                                                  \
	X(ct_tcp_fin_then_new_syn)                                                                 \
	/* test_ct_reply.c */                                                                      \
	X(ct_reply_tcp)                                                                            \
	X(ct_reply_udp)                                                                            \
	/* test_ct_reply_after_service_delete.c */                                                 \
	X(ct_reply_after_service_delete)                                                           \
	/* test_lb_hairpin.c */                                                                    \
	X(lb_hairpin)                                                                              \
	/* test_lb_reject_no_endpoints.c */                                                        \
	X(lb_reject_tcp)                                                                           \
	X(lb_reject_udp)                                                                           \
	X(lb_reject_udp_large)                                                                     \
	/* test_icmp_error_xlate.c */                                                              \
	X(icmp_error_xlate_tcp)                                                                    \
	X(icmp_error_xlate_udp)                                                                    \
	X(icmp_error_from_client_xlate)                                                            \
	X(icmp_error_hairpin_xlate)                                                                \
	X(icmp_error_untracked_pass)                                                               \
	/* test_pass_non_vip.c */                                                                  \
	X(pass_other_dst)                                                                          \
	X(pass_other_port)                                                                         \
	X(pass_other_proto)                                                                        \
	X(pass_icmp_echo_to_vip)                                                                   \
	X(pass_direct_to_pod)                                                                      \
	X(pass_reply_without_ct)                                                                   \
	X(pass_arp)                                                                                \
	X(pass_ipv6)                                                                               \
	/* test_malformed.c */                                                                     \
	X(malformed_too_short_for_dst)                                                             \
	X(malformed_ip_options_truncated)                                                          \
	X(malformed_ihl_below_5)                                                                   \
	X(malformed_tcp_truncated)                                                                 \
	X(malformed_udp_truncated)                                                                 \
	X(malformed_tot_len_beyond_packet)                                                         \
	X(malformed_tcp_doff_below_5)                                                              \
	X(malformed_ip_version)                                                                    \
	/* test_fragment.c */                                                                      \
	X(fragment_first_to_vip)                                                                   \
	X(fragment_later_to_vip)                                                                   \
	X(fragment_non_vip_pass)                                                                   \
	/* test_node_external.c */                                                                 \
	X(node_nodeport_local)                                                                     \
	X(node_lb_and_external_ip)                                                                 \
	X(node_snat_distinct_ports)                                                                \
	X(node_snat_reply_in_pod_program)                                                          \
	X(node_source_range_drop)                                                                  \
	X(node_no_endpoints)                                                                       \
	X(node_policy_ingress_nodeport)                                                            \
	X(node_policy_direct_to_pod)                                                               \
	X(node_policy_off_passes)                                                                  \
	X(policy_host_always_allowed)                                                              \
	X(node_maglev_choice)                                                                      \
	/* test_policy_lookup.c */                                                                 \
	X(policy_egress_denied)                                                                    \
	X(policy_egress_port_range_and_reply)                                                      \
	X(policy_ingress_any_peer)                                                                 \
	X(policy_ip_block_except)                                                                  \
	X(policy_ip_block_exact)                                                                   \
	X(policy_service_backend)                                                                  \
	X(policy_disabled_passes)

#define BPF_TEST_DECLARE(name) void test_##name(void);
BPF_TESTS(BPF_TEST_DECLARE)

#endif
