"""The control socket server: a UNIX stream socket speaking JSON lines, on its own asyncio loop.

Connections are cheap coroutines on a private loop thread (thousands of idle or
dropped connections cost nothing); each request runs on a bounded worker pool,
because supervisor calls block (an ``update`` may wait out a probation period)
and must not hold up other clients. A connection handles its requests in order.

Only the service's own user (or root) may talk to it: the socket file is 0600 and
every connection's peer uid is checked with ``SO_PEERCRED``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from common.errors import ConflictError, XianyuSupervisorError
from control.errors import TOO_LARGE
from control.protocol import MAX_LINE_BYTES, LineSplitter, error_response
from control.workers import DaemonWorkers

log = structlog.get_logger(__name__)

LineHandler = Callable[[bytes], bytes]

READ_CHUNK = 64 * 1024
# Linux limit on sun_path (108 bytes including the terminating NUL)
MAX_SOCKET_PATH = 107
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class ControlServer:
    """Serve ``handler`` (one request line in, one response line out) on a UNIX socket."""

    def __init__(
        self,
        path: Path,
        handler: LineHandler,
        *,
        workers: int = 32,
        max_connections: int = 2048,
        allowed_uids: frozenset[int] | None = None,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        self._path = Path(path)
        self._handler = handler
        self._max_connections = max_connections
        self._allowed_uids = (
            allowed_uids if allowed_uids is not None else frozenset({os.getuid(), 0})
        )
        self._max_line = max_line
        self._executor = DaemonWorkers(workers, name="control-worker")
        # created in start(), so a server that never started holds no loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._inode: int | None = None
        self._sock: socket.socket | None = None  # bound, not yet serving

    @property
    def path(self) -> Path:
        return self._path

    def bind(self) -> ControlServer:
        """Claim the socket path (0600) without serving yet; ``ConflictError`` if one is live.

        The service binds first, before it opens accounts, so a second service on the
        same data dir gives up before it connects anyone.
        """
        if self._sock is None:
            self._sock = self._bind()
        return self

    def start(self, *, timeout: float = 5.0) -> ControlServer:
        """Bind (unless done) and start serving."""
        self.bind()
        sock, self._sock = self._sock, None
        assert sock is not None
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="control-socket", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(sock), loop)
        self._server = future.result(timeout=timeout)
        log.info("control_listening", path=str(self._path))
        return self

    def stop(self, *, timeout: float = 5.0, join_workers: bool = True) -> None:
        """Stop accepting, drop open connections, and remove the socket file.

        ``join_workers=False`` leaves requests still inside a supervisor call running (the
        service stops the supervisor, which ends them, then calls ``join_workers``).
        """
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            if thread.is_alive():
                with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                    asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=timeout)
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=timeout)
            if not thread.is_alive() and not loop.is_closed():
                loop.close()
        if join_workers:
            self._shutdown_workers(timeout)
        else:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._unlink_if_ours()
        log.info("control_stopped", path=str(self._path))

    def join_workers(self, timeout: float = 5.0) -> None:
        """After ``stop(join_workers=False)``: wait for the requests still running."""
        self._shutdown_workers(timeout)

    # --- socket file ------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        if len(os.fsencode(self._path)) > MAX_SOCKET_PATH:
            raise XianyuSupervisorError(
                f"control socket path {self._path} is longer than {MAX_SOCKET_PATH} bytes",
                hint="use a shorter --data-dir",
            )
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self._path))
            # before listen() nobody can connect, so there is no window with a wider mode
            os.chmod(self._path, 0o600)
            self._inode = os.stat(self._path).st_ino
            sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            why = (exc.strerror or type(exc).__name__).lower()
            raise XianyuSupervisorError(
                f"cannot create the control socket {self._path} ({why}); give a writable "
                "directory with --data-dir (or XIANYU_DATA_DIR)"
            ) from exc
        return sock

    def _remove_stale(self) -> None:
        try:
            mode = os.lstat(self._path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ConflictError(
                f"{self._path} exists and is not a socket", hint="move it away and retry"
            )
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(str(self._path))
        except OSError:
            # nobody listening: a socket left behind by a service that died
            self._path.unlink(missing_ok=True)
            return
        finally:
            probe.close()
        raise ConflictError(
            f"another service is already listening on {self._path}",
            hint="stop it first or give this one another --data-dir",
        )

    def _unlink_if_ours(self) -> None:
        # a newer service may have replaced the file: only remove the one we bound
        with contextlib.suppress(OSError):
            if self._inode is not None and os.stat(self._path).st_ino == self._inode:
                self._path.unlink()

    # --- loop thread ------------------------------------------------------------------

    def _run_loop(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def _listen(self, sock: socket.socket) -> asyncio.AbstractServer:
        return await asyncio.start_unix_server(self._on_connection, sock=sock)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _shutdown_workers(self, timeout: float) -> None:
        # a worker may still be inside a long supervisor call: wait, but not forever
        self._executor.shutdown(wait=True, cancel_futures=True, timeout=timeout)
        if self._executor.alive():
            log.warning("control_workers_still_busy", workers=self._executor.alive())

    # --- connections ------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > self._max_connections:
                log.warning("control_connection_refused", reason="too many connections")
                return
            if not self._peer_allowed(writer):
                return
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        except asyncio.CancelledError:
            # stop() cancels open connections: a clean end, not an error (re-raising would
            # make asyncio's stream callback log the cancellation as a traceback)
            pass
        except Exception:  # survival boundary: one connection's bug must not stop the server
            log.exception("control_connection_crashed")
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(OSError):  # the peer reset the connection first
                await writer.wait_closed()

    def _peer_allowed(self, writer: asyncio.StreamWriter) -> bool:
        sock = writer.get_extra_info("socket")
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        pid, uid, _gid = _PEERCRED.unpack(raw)
        if uid in self._allowed_uids:
            return True
        log.warning("control_peer_refused", peer_uid=uid, peer_pid=pid)
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        splitter = LineSplitter(self._max_line)
        loop = asyncio.get_running_loop()
        while data := await reader.read(READ_CHUNK):
            for line in splitter.feed(data):
                if not isinstance(line, bytes):  # the splitter's too-large marker
                    response = error_response(
                        None,
                        TOO_LARGE,
                        f"request line longer than {self._max_line} bytes; it was discarded",
                    )
                elif not line.strip():
                    continue  # blank lines are keep-alives, not requests
                else:
                    response = await loop.run_in_executor(self._executor, self._handler, line)
                writer.write(response)
                await writer.drain()
