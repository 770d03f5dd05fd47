"""The kubelet's read-only log endpoint, so `pods/log` (kubectl logs) works for harness pods.

The API server dials the node's InternalIP (inside the pod network namespace) on port 10250 over
TLS, verified against the harness CA.  Only ``GET /containerLogs/NS/POD/CONTAINER`` is served:
the output of the containers the kubelet really ran; stand-in pods have empty logs.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("harness.logserver")
KUBELET_PORT = 10250


def log_path(log_dir: Path, namespace: str, pod: str, container: str) -> Path:
    return log_dir / f"{namespace}_{pod}_{container}.log"


def exit_marker(log_file: Path) -> Path:
    return log_file.with_suffix(".exit")


def _tail(data: bytes, lines: int | None) -> bytes:
    if lines is None:
        return data
    if lines <= 0:
        return b""
    return b"".join(data.splitlines(keepends=True)[-lines:])


def _read(path: Path, offset: int, n: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


async def _handle(log_dir: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.decode("latin-1").split("\r\n", 1)[0].split(" ", 2)
        url = urlsplit(target)
        parts = url.path.strip("/").split("/")
        if method != "GET" or len(parts) != 4 or parts[0] != "containerLogs":
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        q = parse_qs(url.query)
        follow = q.get("follow", ["false"])[0] == "true"
        tail = int(q["tailLines"][0]) if "tailLines" in q else None
        limit = int(q["limitBytes"][0]) if "limitBytes" in q else None
        path = log_path(log_dir, parts[1], parts[2], parts[3])
        data = _tail(path.read_bytes(), tail) if path.is_file() else b""
        if limit is not None:
            data = data[:limit]
        if not follow:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                + f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + data)
        await writer.drain()
        offset = path.stat().st_size if path.is_file() else 0
        # Follow until the process has exited and everything it wrote was sent.
        while path.is_file():
            size = path.stat().st_size
            if size > offset:
                writer.write(await asyncio.to_thread(_read, path, offset, size - offset))
                offset = size
                await writer.drain()
            elif exit_marker(path).exists():
                break
            else:
                await asyncio.sleep(0.3)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        try:
            await writer.drain()
            writer.close()
        except ConnectionError:
            pass
