#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The layout's rules (README.md, "Layout"), checked over the #include lines of the tree.

Each rule names a folder, the folders its files may include (directly), and what they must never
reach, even through another header. One PASS or FAIL line per rule, in the runner's format; a
FAIL names the file, the line and the include that breaks the rule. Also: no file under loader/,
cni/ or lib/ over FILE_LINES_MAX lines unless its opening comment says why ("Longer than ..."), and a folder's
*_internal.h headers are included only from that folder.
"""
import os
import re
import sys

FILE_LINES_MAX = 900
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')

# (rule name, folder or file prefix, may include directly, must never reach transitively)
# A prefix ending in "/" is a folder; "skel/" and "vmlinux.h" are generated under build/.
RULES = [
    ("maps_self_contained", "maps/", ["maps/"], []),
    ("bpf_uses_maps_only", "bpf/", ["bpf/", "maps/", "vmlinux.h"], []),
    ("lib_below_loader_and_cni", "lib/", ["lib/", "maps/"], ["loader/", "cni/"]),
    ("cni_never_includes_loader", "cni/", ["cni/", "lib/", "maps/"], ["loader/"]),
    ("loader_never_includes_cni", "loader/", ["loader/", "lib/", "maps/", "skel/"], ["cni/"]),
    ("k8s_decoders_reach_no_stage", "loader/k8s/", ["loader/k8s/", "lib/", "maps/"],
     ["loader/sources/", "loader/desired/", "loader/sync/", "loader/agent/", "loader/cli/",
      "loader/lab/"]),
    ("sources_feed_no_state", "loader/sources/", ["loader/sources/", "loader/k8s/", "lib/", "maps/"],
     ["loader/desired/", "loader/sync/", "loader/agent/", "loader/cli/", "loader/lab/"]),
    ("desired_holds_no_map_fd", "loader/desired/",
     ["loader/desired/", "loader/k8s/", "lib/", "maps/"],
     ["loader/sources/", "loader/sync/", "loader/agent/", "loader/cli/", "loader/lab/",
      "lib/bpffs.h", "lib/map_walk.h", "<bpf/bpf.h>", "<bpf/libbpf.h>", "skel/"]),
    ("sync_sees_no_k8s_object", "loader/sync/",
     ["loader/sync/", "loader/desired/", "lib/", "maps/", "skel/"],
     ["loader/k8s/", "loader/sources/", "loader/agent/", "loader/cli/", "loader/lab/"]),
    ("agent_below_cli_and_lab", "loader/agent/",
     ["loader/agent/", "loader/sync/", "loader/desired/", "loader/sources/", "loader/k8s/", "lib/",
      "maps/", "skel/"], ["loader/cli/", "loader/lab/"]),
    ("cli_reads_pins_not_sources", "loader/cli/",
     ["loader/cli/", "loader/agent/agent_status.h", "loader/desired/", "loader/k8s/", "lib/",
      "maps/"], ["loader/sources/", "loader/sync/", "loader/lab/"]),
    ("lab_is_its_own_part", "loader/lab/",
     ["loader/lab/", "loader/k8s/", "loader/desired/", "lib/", "maps/"],
     ["loader/sources/", "loader/sync/", "loader/agent/", "loader/cli/"]),
]

SOURCE_DIRS = ["maps", "bpf", "lib", "loader", "cni"]


def sources(root):
    for top in SOURCE_DIRS:
        for folder, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if name.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(folder, name), root)


def includes(root, path):
    """[(line number, spelled, key)]: key is the root-relative path, or "<x>" for a system one."""
    out = []
    with open(os.path.join(root, path), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                key = m.group(2) if m.group(1) == '"' else "<%s>" % m.group(2)
                out.append((number, line.strip(), key))
    return out


def matches(key, prefix):
    return key == prefix or (prefix.endswith("/") and key.startswith(prefix))


def main(root, quiet=False):
    files = list(sources(root))
    graph = {path: includes(root, path) for path in files}
    failed = []
    out = (lambda *a: None) if quiet else print

    def reach(path):
        """Every header path reaches, with the chain that leads there."""
        seen, stack = {}, [(path, [path])]
        while stack:
            node, chain = stack.pop()
            for _, _, key in graph.get(node, []):
                if key not in seen:
                    seen[key] = chain + [key]
                    stack.append((key, chain + [key]))
        return seen

    for name, prefix, allowed, forbidden in RULES:
        problems = []
        for path in files:
            if not path.startswith(prefix):
                continue
            for number, spelled, key in graph[path]:
                if key.startswith("<"):
                    if any(matches(key, f) for f in forbidden):
                        problems.append("%s:%d: %s" % (path, number, spelled))
                    continue
                if not any(matches(key, a) for a in allowed):
                    problems.append("%s:%d: %s (may include %s)"
                                    % (path, number, spelled, ", ".join(allowed)))
            for key, chain in reach(path).items():
                if any(matches(key, f) for f in forbidden):
                    problems.append("%s reaches %s through %s" % (path, key, " -> ".join(chain)))
        if problems:
            failed.append(name)
            out("FAIL layout/%s: %s" % (name, problems[0]))
            for extra in sorted(set(problems[1:]))[:20]:
                out("  also %s" % extra)
        else:
            out("PASS layout/%s" % name)

    # A folder's *_internal.h is private to it: included only by files of the same folder.
    leaks = []
    for path in files:
        for number, spelled, key in graph[path]:
            if key.endswith("_internal.h") and os.path.dirname(key) != os.path.dirname(path):
                leaks.append("%s:%d: %s (private to %s/)" % (path, number, spelled,
                                                            os.path.dirname(key)))
    if leaks:
        failed.append("internal_headers_stay_in_their_folder")
        out("FAIL layout/internal_headers_stay_in_their_folder: %s" % leaks[0])
        for extra in leaks[1:]:
            out("  also %s" % extra)
    else:
        out("PASS layout/internal_headers_stay_in_their_folder")

    long_files = []
    for path in files:
        if not path.startswith(("loader/", "cni/", "lib/")):
            continue
        with open(os.path.join(root, path), encoding="utf-8") as f:
            text = f.read()
        lines = text.count("\n")
        if lines > FILE_LINES_MAX and "Longer than %d lines" % FILE_LINES_MAX not in text[:2000]:
            long_files.append("%s has %d lines and no reason at its top" % (path, lines))
    if long_files:
        failed.append("files_under_%d_lines" % FILE_LINES_MAX)
        out("FAIL layout/files_under_%d_lines: %s" % (FILE_LINES_MAX, long_files[0]))
        for extra in long_files[1:]:
            out("  also %s" % extra)
    else:
        out("PASS layout/files_under_%d_lines" % FILE_LINES_MAX)
    return failed


def self_test():
    """The checker catches each kind of break, in a small tree made for it: it can fail."""
    import tempfile
    bad = {
        "loader/k8s/objects.h": "",
        "loader/k8s/decode.c": '#include "loader/k8s/objects.h"\n',
        "loader/sync/sync_x.c": '#include "loader/sync/ok.h"\n',
        "loader/sync/ok.h": '#include "loader/k8s/objects.h"\n',  # reached, not included
        "cni/plugin.c": '#include "loader/k8s/objects.h"\n',
        "loader/desired/d.c": "#include <bpf/bpf.h>\n",
        "loader/cli/c.c": '#include "loader/sources/s_internal.h"\n',
        "loader/sources/s_internal.h": "",
        "lib/long.c": "x;\n" * (FILE_LINES_MAX + 1),
    }
    expected = {"sync_sees_no_k8s_object", "cni_never_includes_loader", "desired_holds_no_map_fd",
                "cli_reads_pins_not_sources", "internal_headers_stay_in_their_folder",
                "files_under_%d_lines" % FILE_LINES_MAX}
    with tempfile.TemporaryDirectory() as root:
        for path, text in bad.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w", encoding="utf-8") as f:
                f.write(text)
        failed = set(main(root, quiet=True))
    missed = expected - failed
    if missed:
        print("FAIL layout/self_test: a planted break was not caught: %s" % ", ".join(sorted(missed)))
        return False
    print("PASS layout/self_test")
    return True


if __name__ == "__main__":
    ok = self_test()
    ok = not main(sys.argv[1] if len(sys.argv) > 1 else ".") and ok
    sys.exit(0 if ok else 1)
