#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_nodeport.sh on an uplink without XDP: tc_node alone translates traffic from outside.
NODEPORT_XDP=0 exec "$(dirname "$0")/test_nodeport.sh" "$@"
