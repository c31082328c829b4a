"""A local stand-in for the Hugging Face hub, for the `pull` tests (there is no internet).

It speaks the part of the hub's protocol `huggingface_hub` and shimmy-host use:

* GET  /api/models/ORG/NAME/revision/REV   -> {"id", "sha", "siblings": [{"rfilename"}]}
* HEAD/GET /ORG/NAME/resolve/REV/PATH      -> GGUF ("LFS") files: 302 to a blob URL on a
  second port (the "CDN"), with X-Repo-Commit, X-Linked-Etag (sha256), X-Linked-Size;
  other files: 200 with ETag (git blob sha1) and Content-Length.
* GET  http://127.0.0.1:CDN/blobs/SHA256     -> the bytes, with Range: bytes=N- (206).
* Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound) as the hub's do.

Repositories are folders ROOT/ORG/NAME/...; the commit is a hash of the file list.

Faults for tests: --corrupt FILE (serve that file with a byte flipped, announce the true
sha256), --cut-after N (the first download of each blob stops after N bytes and closes the
connection), --token T (the API port wants `Authorization: Bearer T`).

Writes "API_PORT CDN_PORT" to --port-file once listening, and one JSON line per request to
--log: {"server", "method", "path", "range", "auth"}.
"""

import argparse
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

ARGS = None
LOG_LOCK = threading.Lock()
CUT_DONE = set()
CUT_LOCK = threading.Lock()
REPOS = {}  # "org/name" -> {"commit", "files": {path: {"abs", "sha256", "sha1", "size", "lfs"}}}
BLOBS = {}  # sha256 -> (abs path, repo path)
PORTS = {}


def scan(root):
    for org in sorted(os.listdir(root)):
        org_dir = os.path.join(root, org)
        if not os.path.isdir(org_dir):
            continue
        for name in sorted(os.listdir(org_dir)):
            repo_dir = os.path.join(org_dir, name)
            files = {}
            for dirpath, _, names in os.walk(repo_dir):
                for n in sorted(names):
                    abs_path = os.path.join(dirpath, n)
                    rel = os.path.relpath(abs_path, repo_dir).replace(os.sep, "/")
                    data = open(abs_path, "rb").read()
                    sha256 = hashlib.sha256(data).hexdigest()
                    sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                    lfs = rel.lower().endswith(".gguf")
                    files[rel] = {"abs": abs_path, "sha256": sha256, "sha1": sha1,
                                  "size": len(data), "lfs": lfs}
                    if lfs:
                        BLOBS[sha256] = (abs_path, rel)
            listing = "".join(f"{p}:{f['sha256']}\n" for p, f in sorted(files.items()))
            commit = hashlib.sha1(listing.encode()).hexdigest()
            REPOS[f"{org}/{name}"] = {"commit": commit, "files": files}


def log(entry):
    if not ARGS.log:
        return
    with LOG_LOCK:
        with open(ARGS.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_name = "api"

    def log_message(self, *args):  # quiet
        pass

    def record(self):
        log({"server": self.server_name, "method": self.command, "path": self.path,
             "range": self.headers.get("Range"), "auth": self.headers.get("Authorization") is not None})

    def send(self, status, body=b"", headers=None, content_type="application/json"):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message):
        body = json.dumps({"error": message}).encode()
        self.send(status, body, {"X-Error-Code": code, "X-Error-Message": message})

    def do_HEAD(self):
        self.do_GET()


class Api(Handler):
    server_name = "api"

    def do_GET(self):
        self.record()
        if ARGS.token and self.headers.get("Authorization") != f"Bearer {ARGS.token}":
            return self.error(401, "", "Invalid credentials in Authorization header")
        path = unquote(urlsplit(self.path).path)
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            repo = REPOS.get(f"{parts[2]}/{parts[3]}")
            if repo is None:
                return self.error(404, "RepoNotFound", "Repository not found")
            rev = "/".join(parts[5:])
            if rev not in ("main", repo["commit"]):
                return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            body = {"id": f"{parts[2]}/{parts[3]}", "sha": repo["commit"],
                    "siblings": [{"rfilename": p} for p in sorted(repo["files"])]}
            return self.send(200, json.dumps(body).encode())
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = REPOS.get(f"{parts[0]}/{parts[1]}")
            if repo is None:
                return self.error(404, "RepoNotFound", "Repository not found")
            rev, file = parts[3], "/".join(parts[4:])
            if rev not in ("main", repo["commit"]):
                return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            f = repo["files"].get(file)
            if f is None:
                return self.error(404, "EntryNotFound", f"{file} does not exist")
            common = {"X-Repo-Commit": repo["commit"]}
            if f["lfs"]:
                location = f"http://127.0.0.1:{PORTS['cdn']}/blobs/{f['sha256']}"
                headers = dict(common, **{"Location": location, "X-Linked-Etag": f'"{f["sha256"]}"',
                                          "X-Linked-Size": str(f["size"]), "ETag": f'"{f["sha1"]}"'})
                return self.send(302, b"", headers, "text/plain")
            data = open(f["abs"], "rb").read()
            return self.send(200, data, dict(common, ETag=f'"{f["sha1"]}"'), "application/octet-stream")
        self.error(404, "", "not found")


class Cdn(Handler):
    server_name = "cdn"

    def do_GET(self):
        self.record()
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "blobs" or parts[1] not in BLOBS:
            return self.send(404, b"no such blob", content_type="text/plain")
        abs_path, rel = BLOBS[parts[1]]
        data = bytearray(open(abs_path, "rb").read())
        if ARGS.corrupt and rel.endswith(ARGS.corrupt):
            data[len(data) // 2] ^= 0xFF
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes="):-1])
        if start >= len(data) and len(data) > 0:
            return self.send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, "text/plain")
        body = bytes(data[start:])
        status = 206 if rng else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.command == "HEAD":
            return
        cut = None
        if ARGS.cut_after is not None:
            with CUT_LOCK:
                if parts[1] not in CUT_DONE:
                    CUT_DONE.add(parts[1])
                    cut = ARGS.cut_after
        if cut is not None and cut < len(body):
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        self.wfile.write(body)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    p.add_argument("--corrupt")
    p.add_argument("--cut-after", type=int)
    p.add_argument("--token")
    ARGS = p.parse_args()
    scan(ARGS.root)
    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    cdn = ThreadingHTTPServer(("127.0.0.1", 0), Cdn)
    api.daemon_threads = cdn.daemon_threads = True
    PORTS["api"], PORTS["cdn"] = api.server_address[1], cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{PORTS['api']} {PORTS['cdn']}\n")
    os.replace(tmp, ARGS.port_file)
    api.serve_forever()


if __name__ == "__main__":
    main()
