#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A small Kubernetes API server for tests: the real wire protocol for list and watch.

Serves Services, EndpointSlices, Pods, Namespaces, Nodes and NetworkPolicies from YAML fixtures:
discovery (/api, /apis, /version, group versions), cluster-wide and namespaced collection and
object paths, lists with metadata.resourceVersion and limit/continue pages, and watches
(?watch=1&resourceVersion=RV&allowWatchBookmarks=true) as chunked newline-delimited events
{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}, with 410 Gone (a Status in an
ERROR event) when RV is older than the retained history. HTTPS with --cert/--key, bearer token
check with --token.

Control channel (same server, POST /_control/<verb>, not part of the Kubernetes API):
  apply     body: YAML or JSON objects; ADDED or MODIFIED events (?silent=1: no event, the
            change is only seen by a new list); the answer's "at" is when the last was stored
  delete    body: {"kind": K, "namespace": NS, "name": N}
  expire    forget the history: every watch resuming from an older resourceVersion gets 410
  drop      cut every open watch stream (no final chunk)
  garbage   write a line of garbage into every open watch stream; ?lists=N: the next N list
            responses are truncated JSON
  stats     (GET) requests served per resource: {"list": {...}, "watch": {...}}
"""
import argparse
import json
import os
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import yaml

# resource: (group-version path prefix, kind, apiVersion, namespaced)
RESOURCES = {
    "services": ("/api/v1", "Service", "v1", True),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "EndpointSlice", "discovery.k8s.io/v1", True),
    "pods": ("/api/v1", "Pod", "v1", True),
    "namespaces": ("/api/v1", "Namespace", "v1", False),
    "nodes": ("/api/v1", "Node", "v1", False),
    "networkpolicies": ("/apis/networking.k8s.io/v1", "NetworkPolicy", "networking.k8s.io/v1", True),
}
KIND_TO_RESOURCE = {v[1]: k for k, v in RESOURCES.items()}


class Store:
    def __init__(self, bookmark_interval):
        self.lock = threading.Condition()
        self.rv = 1
        self.min_rv = 1  # watches from an older resourceVersion get 410
        self.objects = {r: {} for r in RESOURCES}  # resource -> (ns, name) -> object
        self.history = []  # (rv, resource, type, object)
        self.drop_generation = 0
        self.garbage_generation = 0
        self.garbage_lists = 0
        self.stats = {"list": {r: 0 for r in RESOURCES}, "watch": {r: 0 for r in RESOURCES}}
        self.bookmark_interval = bookmark_interval

    def apply(self, obj, silent=False):
        kind = obj.get("kind")
        if kind not in KIND_TO_RESOURCE:
            raise ValueError(f"kind {kind!r} is not served")
        resource = KIND_TO_RESOURCE[kind]
        meta = obj.setdefault("metadata", {})
        if RESOURCES[resource][3]:
            meta.setdefault("namespace", "default")
        key = (meta.get("namespace", ""), meta["name"])
        with self.lock:
            self.rv += 1
            old = self.objects[resource].get(key)
            meta["resourceVersion"] = str(self.rv)
            meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
            meta.setdefault("creationTimestamp",
                            old["metadata"]["creationTimestamp"] if old else
                            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            self.objects[resource][key] = obj
            if not silent:
                self.history.append((self.rv, resource, "MODIFIED" if old else "ADDED", obj))
            self.lock.notify_all()

    def delete(self, kind, namespace, name):
        resource = KIND_TO_RESOURCE[kind]
        with self.lock:
            obj = self.objects[resource].pop((namespace or "", name), None)
            if obj is None:
                return False
            self.rv += 1
            obj = json.loads(json.dumps(obj))
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.history.append((self.rv, resource, "DELETED", obj))
            self.lock.notify_all()
            return True

    def expire(self):
        with self.lock:
            self.rv += 1
            self.min_rv = self.rv
            self.history = []
            self.drop_generation += 1
            self.lock.notify_all()


def load_documents(text):
    text = text.strip()
    if text.startswith("{") or text.startswith("["):
        value = json.loads(text)
        docs = value if isinstance(value, list) else [value]
    else:
        docs = [d for d in yaml.safe_load_all(text) if d]
    out = []
    for d in docs:
        if d.get("kind") == "List":
            out.extend(d.get("items") or [])
        else:
            out.append(d)
    return out


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def discovery(path):
    if path == "/version":
        return {"major": "1", "minor": "30", "gitVersion": "v1.30.0-sluice-fake",
                "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "fake:443"}]}
    groups = {"discovery.k8s.io": "v1", "networking.k8s.io": "v1"}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups.items()]}
    for prefix in {v[0] for v in RESOURCES.values()}:
        if path == prefix:
            gv = "v1" if prefix == "/api/v1" else prefix[len("/apis/"):]
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
                {"name": r, "singularName": v[1].lower(), "namespaced": v[3], "kind": v[1],
                 "verbs": ["get", "list", "watch"]} for r, v in RESOURCES.items() if v[0] == prefix]}
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sluice-fake-apiserver"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake-apiserver: " + (fmt % args) + "\n")

    def send_json(self, code, value, raw=None):
        body = raw if raw is not None else (json.dumps(value) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        token = self.server.token
        if not token:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {token}":
            return True
        self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        return False

    def route(self, path):
        """(resource, namespace, name) for an API path, or None."""
        for resource, (prefix, _, _, namespaced) in RESOURCES.items():
            if not path.startswith(prefix + "/"):
                continue
            parts = path[len(prefix) + 1:].split("/")
            if parts[0] == resource and len(parts) <= 2:
                return resource, None, parts[1] if len(parts) == 2 else None
            if namespaced and parts[0] == "namespaces" and len(parts) >= 3 and parts[2] == resource \
                    and len(parts) <= 4:
                return resource, parts[1], parts[3] if len(parts) == 4 else None
        return None

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        store = self.server.store
        if url.path == "/_control/stats":
            with store.lock:
                return self.send_json(200, store.stats)
        if not self.authorized():
            return
        value = discovery(url.path.rstrip("/") or "/")
        if value is not None:
            return self.send_json(200, value)
        route = self.route(url.path)
        if not route:
            return self.send_json(404, status(404, "NotFound", f"the server could not find {url.path}"))
        resource, namespace, name = route
        if name:
            with store.lock:
                obj = store.objects[resource].get((namespace or "", name))
            if not obj:
                return self.send_json(404, status(404, "NotFound", f"{resource} \"{name}\" not found"))
            return self.send_json(200, obj)
        if query.get("watch") in ("1", "true"):
            return self.watch(resource, namespace, query)
        return self.list(resource, namespace, query)

    def list(self, resource, namespace, query):
        store = self.server.store
        prefix, kind, api_version, _ = RESOURCES[resource]
        with store.lock:
            store.stats["list"][resource] += 1
            items = [o for (ns, _), o in sorted(store.objects[resource].items())
                     if namespace is None or ns == namespace]
            rv = store.rv
            garbage = store.garbage_lists > 0
            if garbage:
                store.garbage_lists -= 1
        start = 0
        cont = query.get("continue")
        if cont:
            try:
                start, rv = (int(x) for x in cont.split(":"))
            except ValueError:
                return self.send_json(400, status(400, "BadRequest", "bad continue token"))
        limit = int(query.get("limit", "0") or 0)
        end = len(items) if limit <= 0 else min(len(items), start + limit)
        metadata = {"resourceVersion": str(rv)}
        if end < len(items):
            metadata["continue"] = f"{end}:{rv}"
        # Items of a list carry no kind or apiVersion, as the real server sends them.
        page = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items[start:end]]
        body = {"kind": kind + "List", "apiVersion": api_version, "metadata": metadata, "items": page}
        if garbage:
            raw = json.dumps(body).encode()
            return self.send_json(200, None, raw=raw[: max(1, len(raw) // 2)])
        self.send_json(200, body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, resource, namespace, query):
        store = self.server.store
        try:
            since = int(query.get("resourceVersion", "0") or 0)
        except ValueError:
            return self.send_json(400, status(400, "BadRequest", "resourceVersion is not a number"))
        timeout = min(float(query.get("timeoutSeconds", "1800") or 1800), 1800)
        bookmarks = query.get("allowWatchBookmarks") == "true"
        with store.lock:
            store.stats["watch"][resource] += 1
            drop_generation = store.drop_generation
            garbage_generation = store.garbage_generation
            too_old = since != 0 and since < store.min_rv
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if too_old:
            event = {"type": "ERROR", "object": status(
                410, "Expired", f"too old resource version: {since} ({store.min_rv})")}
            self.chunk((json.dumps(event) + "\n").encode())
            self.wfile.write(b"0\r\n\r\n")
            return
        sent = since
        deadline = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        try:
            while True:
                with store.lock:
                    if store.drop_generation != drop_generation:
                        break
                    events = [(rv, t, o) for rv, r, t, o in store.history
                              if r == resource and rv > sent and
                              (namespace is None or o["metadata"].get("namespace") == namespace)]
                    current = store.rv
                    garbage = store.garbage_generation != garbage_generation
                    garbage_generation = store.garbage_generation
                    if not events and not garbage:
                        store.lock.wait(timeout=0.2)
                        if store.drop_generation != drop_generation:
                            break
                for rv, t, o in events:
                    self.chunk((json.dumps({"type": t, "object": o}) + "\n").encode())
                    sent = rv
                if garbage:
                    self.chunk(b"{\"type\": \"ADDED\", \"object\": {garbage\n")
                now = time.monotonic()
                if bookmarks and now - last_bookmark >= store.bookmark_interval:
                    sent = max(sent, current)
                    kind = RESOURCES[resource][1]
                    self.chunk((json.dumps({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": RESOURCES[resource][2],
                        "metadata": {"resourceVersion": str(sent)}}}) + "\n").encode())
                    last_bookmark = now
                if now >= deadline:
                    self.wfile.write(b"0\r\n\r\n")
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return
        # Dropped: cut the connection without the final chunk.
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    def do_POST(self):
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        store = self.server.store
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length).decode() if length else ""
        verb = url.path[len("/_control/"):] if url.path.startswith("/_control/") else None
        at = time.time()
        try:
            if verb == "apply":
                for obj in load_documents(body):
                    store.apply(obj, silent=query.get("silent") == "1")
                    at = time.time()
            elif verb == "delete":
                d = json.loads(body)
                if not store.delete(d["kind"], d.get("namespace", "default"), d["name"]):
                    return self.send_json(404, {"error": "not found"})
            elif verb == "expire":
                store.expire()
            elif verb == "drop":
                with store.lock:
                    store.drop_generation += 1
                    store.lock.notify_all()
            elif verb == "garbage":
                with store.lock:
                    if "lists" in query:
                        store.garbage_lists = int(query["lists"])
                    else:
                        store.garbage_generation += 1
                    store.lock.notify_all()
            else:
                return self.send_json(404, {"error": f"unknown control {url.path}"})
        except (ValueError, KeyError, yaml.YAMLError) as e:
            return self.send_json(400, {"error": str(e)})
        with store.lock:
            rv = store.rv
        # "at": when the change was stored and its watchers woken (the bench's time zero for a
        # change through the API), in the caller's CLOCK_REALTIME seconds.
        self.send_json(200, {"ok": True, "resourceVersion": str(rv), "at": at})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default="127.0.0.1:6443")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--token")
    parser.add_argument("--fixtures", action="append", default=[], help="YAML file or directory")
    parser.add_argument("--bookmark-interval", type=float, default=1.0)
    parser.add_argument("--ready-file", help="written once listening")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()

    store = Store(args.bookmark_interval)
    for path in args.fixtures:
        files = sorted(os.path.join(path, f) for f in os.listdir(path)) if os.path.isdir(path) else [path]
        for f in files:
            if f.endswith((".yaml", ".yml", ".json")):
                with open(f) as fh:
                    for obj in load_documents(fh.read()):
                        store.apply(obj)
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    server.store = store
    server.token = args.token
    server.verbose = args.verbose
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    if args.ready_file:
        with open(args.ready_file, "w") as fh:
            fh.write(f"{server.server_address[1]}\n")
    print(f"fake-apiserver: listening on {args.listen} ({'https' if args.cert else 'http'})",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
