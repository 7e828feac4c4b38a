/* SPDX-License-Identifier: Apache-2.0 */
/* `sluice-cni install`: the plugin and its conflist put onto a host, for an image without a shell.
 */
#ifndef SLUICE_CNI_INSTALL_H
#define SLUICE_CNI_INSTALL_H

#define CNI_INSTALL_BIN_DIR  "/host/opt/cni/bin"
#define CNI_INSTALL_CONF_DIR "/host/etc/cni/net.d"
#define CNI_INSTALL_CONFLIST "/etc/cni/net.d/10-sluice.conflist"

/*
 * sluice-cni install [--bin-dir DIR] [--conf-dir DIR] [--conflist FILE]: copy this very binary
 * (/proc/self/exe) to DIR/sluice-cni and FILE to CONF_DIR/<its name>, each by a temporary file
 * and one rename, the plugin first: a runtime that sees the conflist finds the plugin in place,
 * and one that runs the plugin meanwhile runs the old one or the new one, never half of one.
 * FILE is checked first (JSON, a sluice-cni entry the plugin's own parser accepts): a broken
 * conflist on a node stops every pod on it. ARGV[0] is "install". Returns the exit status.
 */
int cni_install_main(int argc, char **argv);

#endif
