"""A loopback HTTP server that speaks the Hub's file-download protocol, for tests only.

HEAD and GET ``/{repo_id}/resolve/{revision}/{path}`` answer with ``X-Repo-Commit``, ``ETag``
and ``Content-Length`` as huggingface.co does; unknown files answer 404 with
``X-Error-Code: EntryNotFound``.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    def __init__(self, repo_id: str, files: dict[str, bytes], revision: str = "main"):
        self.repo_id, self.files, self.revision, self.requests = repo_id, files, revision, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body: bool):
                server.requests.append((self.command, self.path))
                prefix = f"/{server.repo_id}/resolve/{server.revision}/"
                data = server.files.get(self.path[len(prefix):]) if self.path.startswith(prefix) else None
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @classmethod
    def from_folder(cls, repo_id: str, folder: Path, name: str) -> "HubServer":
        return cls(repo_id, {f"{name}/{p.name}": p.read_bytes() for p in folder.iterdir() if p.is_file()})

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
