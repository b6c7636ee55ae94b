"""The whole process from ``Settings``: store, IO loop, token client, supervisor, notifications,
control socket.

``Service(settings).start()`` / ``.stop()`` runs it in-process (tests, the demo);
``run(settings)`` is the service's main loop: serve until SIGTERM/SIGINT, then shut
down gracefully and return 0. Parts start in dependency order and stop in reverse,
each in a ``finally`` so one failing stop does not leak the others.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

import pykka
import structlog

from actors.budget import LoginBudget
from cluster.identity import default_node_id
from cluster.node import ClusterNode
from cluster.nodes import SingleNode
from common.errors import NotRunningError
from common.io_loop import IoLoop
from common.settings import Settings
from control.dispatch import ClusterApi, Dispatcher, SupervisorApi
from control.server import ControlServer
from goofish.passport_client import PassportClient
from goofish.token import TokenClient
from metrics import parse_address
from metrics.server import MetricsServer
from notify import Notifier
from service.database_lock import DatabaseLock
from service.housekeeping import Housekeeping
from service.logging import active_format
from storage import Store
from storage.engine import describe
from storage.files import make_private_dir, too_open
from supervisor import (
    ChildFactory,
    ClusterHooks,
    LoginManager,
    SupervisorClient,
    account_actor_factory,
    start_supervisor,
)
from web import WebServer, parse_web

if TYPE_CHECKING:
    from actors.account import AccountActor

log = structlog.get_logger(__name__)

DEFAULT_DATA_DIR = Path("data")


def ctl_command(data_dir: Path | None = None) -> str:
    """How to run the control CLI from here: this interpreter's ``xianyu-ctl`` or ``run.py ctl``.

    Never a bare ``python``: the system interpreter may lack the service's packages.
    """
    beside = Path(sys.executable).with_name("xianyu-ctl")
    command = str(beside) if beside.exists() else f"{sys.executable} run.py ctl"
    if data_dir is not None and data_dir != DEFAULT_DATA_DIR:
        command += f" --data-dir {data_dir}"
    return command


def no_accounts_hint(data_dir: Path) -> str:
    return (
        f"no accounts yet: add one with '{ctl_command(data_dir)} add <account-id> "
        "--cookie-file <file with the Cookie header>' (or try "
        f"'{sys.executable} run.py demo' for a 30-second tour against a local simulator)"
    )


class Service:
    """One running service; ``start`` and ``stop`` each run once.

    ``actor_class``: the ``AccountActor`` subclass every account runs (the benchmark's naive
    strategy, the demo's freezable child); ``child_factory`` replaces the whole start-up of a
    child (tests' scripted fakes).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        child_factory: ChildFactory | None = None,
        actor_class: type[AccountActor] | None = None,
    ) -> None:
        self.settings = settings
        self._child_factory = child_factory
        self._actor_class = actor_class
        self._store: Store | None = None
        self._io: IoLoop | None = None
        self._token_client: TokenClient | None = None
        self._passport_client: PassportClient | None = None
        self._logins: LoginManager | None = None
        self._client: SupervisorClient | None = None
        self._control: ControlServer | None = None
        self._dispatcher: Dispatcher | None = None
        self._housekeeping: Housekeeping | None = None
        self._metrics: MetricsServer | None = None
        self._notifier: Notifier | None = None
        self._database_lock: DatabaseLock | None = None
        self._web: WebServer | None = None
        self._node: ClusterNode | None = None

    @property
    def web(self) -> WebServer | None:
        """The web page's server, None when ``settings.web`` is ``off``."""
        return self._web

    @property
    def client(self) -> SupervisorClient:
        if self._client is None:
            raise NotRunningError("the service is not started", hint="call Service.start() first")
        return self._client

    @property
    def store(self) -> Store:
        if self._store is None:
            raise NotRunningError("the service is not started", hint="call Service.start() first")
        return self._store

    @property
    def notifier(self) -> Notifier:
        if self._notifier is None:
            raise RuntimeError("the service is not started")
        return self._notifier

    @property
    def socket_path(self) -> Path:
        return self.settings.socket_path

    @property
    def metrics_url(self) -> str | None:
        """``http://host:port`` of /metrics, /healthz and /readyz; None when metrics are off."""
        return None if self._metrics is None else self._metrics.url

    def start(self) -> Service:
        """Start every part; on failure stop what started and re-raise."""
        settings = self.settings
        started_at = time.monotonic()
        # the database holds cookies: keep the directory private (0700, and its new parents)
        make_private_dir(settings.data_dir)
        # claim the data dir first: a second service must give up before it connects anyone
        self._control = ControlServer(settings.socket_path, self._handle_line).bind()
        try:
            # and the SQLite file: another data dir may name the same database (one service each)
            self._database_lock = DatabaseLock.acquire(
                settings.effective_database_url, data_dir=settings.data_dir
            )
            self._store = Store.open(
                settings.effective_database_url, cookie_history=settings.cookie_history
            )
            _warn_when_too_open(settings)
            if self._store.is_postgres:  # every service on PostgreSQL is a node of its cluster
                self._node = ClusterNode(
                    self._store, settings, database_url=settings.effective_database_url
                ).join()
            self._io = IoLoop().start()
            self._token_client = TokenClient(
                settings.api_url, timeout_s=settings.timings.token_timeout_s
            )
            timings = settings.timings
            budget = LoginBudget(timings.login_budget_per_h, window_s=timings.login_budget_window_s)
            # session renewal and QR login (docs/login.md); on the IO loop, like the token client
            self._passport_client = PassportClient(
                settings.passport_url, settings.api_url, timeout_s=settings.timings.token_timeout_s
            )
            factory = self._child_factory or account_actor_factory(
                store=self._store,
                io=self._io,
                token_client=self._token_client,
                settings=settings,
                actor_class=self._actor_class,
                login_budget=budget,
            )
            self._client = start_supervisor(
                self._store,
                self._io,
                self._token_client,
                settings,
                child_factory=factory,
                login_budget=budget,
                passport=self._passport_client,
                cluster=None if self._node is None else _hooks(self._node),
            )
            control_api: SupervisorApi
            nodes: ClusterApi
            if self._node is not None:  # every account of the cluster, wherever it is served
                control_api = nodes = self._node.attach(self._client)
                self._node.start()
            else:
                control_api = self._client
                nodes = SingleNode(
                    default_node_id(settings.data_dir),
                    time.time(),
                    lambda: len(self.store.list_accounts()),
                )
            self._logins = LoginManager(
                self._passport_client,
                self._io,
                control_api,  # a QR login's cookie goes to whichever node serves the account
                self._store,
                poll_s=settings.timings.qr_poll_s,
            )
            # watches from outside and delivers on its own threads: never on a reply's path
            self._notifier = Notifier(self._store, self._client, settings).start()
            self._dispatcher = Dispatcher(
                control_api,
                started_at=started_at,
                logins=self._logins,
                notifier=self._notifier,
                cluster=nodes,
            )
            self._housekeeping = Housekeeping(
                self._store, self._io, retention_s=settings.timings.processed_retention_s
            ).start()
            if settings.metrics:
                address = parse_address(settings.metrics)
                self._metrics = MetricsServer(address, self._client).start()
            self._control.start()
            web_address = parse_web(settings.web)
            if web_address is not None:
                self._web = WebServer(
                    web_address, self._dispatcher, settings.web_token_path
                ).start()
        except BaseException:
            self.stop()
            raise
        log.info(
            "service_started",
            data_dir=str(settings.data_dir),
            database=describe(settings.effective_database_url),
            socket=str(settings.socket_path),
            ws_url=settings.ws_url,
            api_url=settings.api_url,
            metrics=self.metrics_url,
        )
        return self

    def _handle_line(self, line: bytes) -> bytes:
        # the control server only serves once the dispatcher exists (start() order)
        assert self._dispatcher is not None
        return self._dispatcher.handle_line(line)

    def stop(self, *, timeout: float | None = None) -> None:
        """Stop in reverse order: control socket, accounts (within the deadline), IO, store."""
        deadline = self.settings.timings.stop_timeout_s if timeout is None else timeout
        web, self._web = self._web, None
        if web is not None:
            web.stop()
        control, self._control = self._control, None
        housekeeping, self._housekeeping = self._housekeeping, None
        if housekeeping is not None:
            housekeeping.stop()
        metrics, self._metrics = self._metrics, None
        if metrics is not None:
            metrics.stop()
        notifier, self._notifier = self._notifier, None
        if notifier is not None:
            notifier.stop()  # before the shutdown: stopping accounts is no news
        client, self._client = self._client, None
        if self._node is not None:
            self._node.pause()  # no claims nor remote operations while the accounts stop
        if self._dispatcher is not None:
            self._dispatcher.stopping()
        logins, self._logins = self._logins, None
        try:
            if logins is not None:
                logins.close()
            if control is not None:
                # requests inside a supervisor call end when the supervisor stops (below)
                control.stop(join_workers=False)
        finally:
            try:
                if client is not None:
                    client.shutdown(timeout=deadline)  # logs its own outcome
                if control is not None:
                    control.join_workers()
            finally:
                self._leave_cluster()
                self._stop_leftover_actors()
                self._stop_io()
                self._close_store()
        log.info("service_stopped")

    def _leave_cluster(self) -> None:
        node, self._node = self._node, None
        if node is not None:
            node.leave()  # releases the leases: the others claim our accounts at once

    def _close_store(self) -> None:
        store, self._store = self._store, None
        database_lock, self._database_lock = self._database_lock, None
        try:
            if store is not None:
                store.close()
        finally:
            if database_lock is not None:  # after the store: nobody writes once it is free
                database_lock.release()

    def _stop_leftover_actors(self) -> None:
        leftover = pykka.ActorRegistry.get_all()
        if leftover:
            # the supervisor should have stopped every child; say so, then clean up anyway
            log.warning("actors_left_running", count=len(leftover))
            # a timed-out (fenced) generation may be stuck in a handler for good:
            # ask everyone to stop, but never wait on one (they are daemon threads)
            pykka.ActorRegistry.stop_all(block=False)

    def _stop_io(self) -> None:
        io, self._io = self._io, None
        token_client, self._token_client = self._token_client, None
        passport_client, self._passport_client = self._passport_client, None
        if io is None:
            return
        try:
            if token_client is not None:
                io.submit(token_client.close()).result(timeout=5)
            if passport_client is not None:
                io.submit(passport_client.close()).result(timeout=5)
        finally:
            io.stop()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run(
    settings: Settings,
    *,
    ready: Callable[[Service], None] | None = None,
    actor_class: type[AccountActor] | None = None,
) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit code (0 after a graceful shutdown)."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        stop.set()

    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, request_stop),
        signal.SIGINT: signal.signal(signal.SIGINT, request_stop),
        signal.SIGUSR1: signal.signal(signal.SIGUSR1, log_thread_tracebacks),
    }
    try:
        service = Service(settings, actor_class=actor_class).start()
        try:
            _hint_when_empty(service)
            if ready is not None:
                ready(service)
            # a timed wait keeps the main thread responsive to signals
            while not stop.wait(timeout=1.0):
                pass
        finally:
            service.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _hooks(node: ClusterNode) -> ClusterHooks:
    return ClusterHooks(lease_valid=node.lease_valid, on_added=node.account_added)


def _hint_when_empty(service: Service) -> None:
    if service.store.list_accounts():
        return
    hint = no_accounts_hint(service.settings.data_dir)
    log.warning("no_accounts", hint=hint)
    if active_format() == "console":  # the log line is for machines; a person gets a sentence
        print(f"xianyu-supervisor: {hint}", file=sys.stderr)  # noqa: T201


def _warn_when_too_open(settings: Settings) -> None:
    """Existing files that other local users can read: say so (they hold cookies)."""
    for path, mode in too_open(settings.data_dir, settings.effective_database_url):
        wanted = "700" if path.is_dir() else "600"
        log.warning(
            "data_file_too_open",
            path=str(path),
            mode=f"{mode:04o}",
            hint=f"it holds cookie values; run: chmod {wanted} {path}",
        )


def log_thread_tracebacks(_signum: int = 0, _frame: FrameType | None = None) -> None:
    """SIGUSR1: every thread's stack, one WARNING each (a diagnosis asked for, not a crash)."""
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        log.warning(
            "thread_traceback",
            thread=names.get(ident, "unknown"),
            ident=ident,
            stack="".join(traceback.format_stack(frame)),
        )
