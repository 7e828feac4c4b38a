#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The network-policy lab on two nodes, the second half of tests/lab/ (upstream-ports, -selectors,
# -stacked): test_lab_nodes.sh with LAB_NODES_PART=2, in a script of its own for the time limit.
LAB_NODES_PART=2 exec bash "$(dirname "$0")/test_lab_nodes.sh"
