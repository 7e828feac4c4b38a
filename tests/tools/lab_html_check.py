#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks on the page `sluice lab FILE -o html OUT` writes (tests/e2e/test_lab_html.sh).

lab_html_check.py CHECK PAGE [ARG...]; exits 0 when the check holds, else prints why and exits 1.
  wellformed PAGE            strict XML parse and html.parser both accept it
  selfcontained PAGE         no script, no element or attribute that loads anything
  cells PAGE JSON            one cell per probe of `sluice lab -o json`, with its verdicts
  reasons PAGE TEXT          denied cells carry the reasons `sluice lab --explain` printed
  nodes PAGE NODE...         the pods table places pods on exactly these nodes
  text PAGE STRING           STRING is in the page's text (as text, not markup)
  reason PAGE STRING         STRING is in the reason of some denied cell
"""
import json
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

# Elements and attributes through which a page loads or runs something.
LOADING_TAGS = {"script", "link", "img", "iframe", "frame", "object", "embed", "audio",
                "video", "source", "track", "base", "form", "input", "svg", "math"}
LOADING_ATTRS = {"src", "href", "srcset", "action", "formaction", "poster", "background",
                 "data", "codebase", "xlink:href", "ping", "style"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []  # (tag, attrs dict)
        self.text = []
        self.style = []
        self.in_style = False
        self.tables = []  # matrices: {"protocol", "port", "rows": [[cell attrs or None]]}
        self.pods = []  # rows of the pods table: [cells' text]
        self.table = None
        self.cell_text = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "style":
            self.in_style = True
        if tag == "table":
            self.table = a.get("class")
            if self.table == "matrix":
                self.tables.append({"protocol": a.get("data-protocol"),
                                    "port": int(a.get("data-port")), "rows": []})
        if tag == "tr" and self.table == "matrix":
            self.tables[-1]["rows"].append([])
        if tag == "tr" and self.table == "pods":
            self.pods.append([])
        if tag == "td" and self.table == "matrix":
            self.tables[-1]["rows"][-1].append(a if "data-observed" in a else None)
        if tag == "td" and self.table == "pods":
            self.cell_text = ""

    def handle_endtag(self, tag):
        if tag == "style":
            self.in_style = False
        if tag == "table":
            self.table = None
        if tag == "td" and self.cell_text is not None:
            self.pods[-1].append(self.cell_text)
            self.cell_text = None

    def handle_data(self, data):
        (self.style if self.in_style else self.text).append(data)
        if self.cell_text is not None:
            self.cell_text += data

    def cells(self):
        for t in self.tables:
            for row in t["rows"]:
                for c in row:
                    if c is not None:
                        yield t, c


def load(path):
    p = Page()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    p.close()
    return p


def wellformed(path):
    ET.parse(path)  # raises on any unclosed tag or bad entity
    load(path)
    return []


def selfcontained(path):
    p = load(path)
    errors = []
    for tag, attrs in p.tags:
        if tag in LOADING_TAGS:
            errors.append(f"<{tag}> element")
        if tag == "meta" and "http-equiv" in attrs:
            errors.append("<meta http-equiv>")
        for name, value in attrs.items():
            if name in LOADING_ATTRS or name.startswith("on"):
                errors.append(f"<{tag} {name}={value!r}>")
    style = "".join(p.style)
    for word in ("url(", "@import", "http:", "https:", "@font-face"):
        if word in style:
            errors.append(f"style holds {word}")
    return errors


def cells(path, json_path):
    p = load(path)
    with open(json_path, encoding="utf-8") as f:
        probes = json.load(f)["probes"]
    want = {(x["from"], x["to"], x["protocol"], x["port"]): x for x in probes}
    seen = set()
    errors = []
    for t, c in p.cells():
        key = (c["data-from"], c["data-to"], t["protocol"], t["port"])
        if key in seen:
            errors.append(f"two cells for {key}")
        seen.add(key)
        x = want.get(key)
        if not x:
            errors.append(f"cell {key} is no probe")
        elif (c["data-observed"], c["data-expected"]) != (x["observed"], x["expected"]):
            errors.append(f"cell {key}: {c['data-observed']}/{c['data-expected']}, "
                          f"the JSON says {x['observed']}/{x['expected']}")
        elif c["data-observed"] not in c["title"] or c["data-observed"] != c["class"].split()[1]:
            errors.append(f"cell {key}: its class or title does not say {c['data-observed']}")
    for key in want:
        if key not in seen:
            errors.append(f"probe {key} has no cell")
    return errors


def reasons(path, text_path):
    """The text's `N -> M denied: REASON` lines, per matrix, against the page's cells."""
    p = load(path)
    with open(text_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    expected = {}  # (protocol, port, from index, to index) -> reason
    matrix = None
    for line in lines:
        m = re.match(r"^(\w+)/(\d+)   rows: from", line)
        if m:
            matrix = (m.group(1), int(m.group(2)))
        m = re.match(r"^  (\d+) -> (\d+) denied: (.*)$", line)
        if m and matrix:
            expected[matrix + (int(m.group(1)), int(m.group(2)))] = m.group(3)
    errors = []
    got = {}
    for t in p.tables:
        for i, row in enumerate(t["rows"][1:], 1):  # row 0: the column headers
            for j, c in enumerate(row, 1):
                if c is not None and c["data-observed"] == "denied":
                    got[(t["protocol"], t["port"], i, j)] = c
    if not expected:
        errors.append("the text report has no denied cell with a reason (--explain?)")
    for key, reason in expected.items():
        c = got.get(key)
        if c is None:
            errors.append(f"{key}: denied in the text, no denied cell in the page")
        elif c["data-reason"] != reason or reason not in c["title"]:
            errors.append(f"{key}: page says {c['data-reason']!r}, --explain says {reason!r}")
        elif not re.search(r"default deny of |a rule of ", reason):
            errors.append(f"{key}: reason names no policy: {reason!r}")
    for key in got:
        if key not in expected:
            errors.append(f"{key}: denied in the page, not in the text")
    return errors


def nodes(path, *names):
    p = load(path)
    placed = {row[2] for row in p.pods if len(row) >= 3}
    return [] if placed == set(names) else [f"pods are on {sorted(placed)}, not {sorted(names)}"]


def text(path, string):
    p = load(path)
    return [] if string in "".join(p.text) else [f"{string!r} is not in the page's text"]


def reason(path, string):
    p = load(path)
    for _, c in p.cells():
        if c["data-observed"] == "denied" and string in c.get("data-reason", "") \
                and string in c["title"]:
            return []
    return [f"no denied cell's reason holds {string!r}"]


CHECKS = {"wellformed": wellformed, "selfcontained": selfcontained, "cells": cells,
          "reasons": reasons, "nodes": nodes, "text": text, "reason": reason}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in CHECKS:
        sys.exit(__doc__)
    try:
        problems = CHECKS[sys.argv[1]](*sys.argv[2:])
    except Exception as e:  # a parse error is a failed check, said in one line
        problems = [f"{type(e).__name__}: {e}"]
    for problem in problems[:20]:
        print(f"#   {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)
