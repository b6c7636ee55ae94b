"""Settings of the running service, as immutable values.

Every timing lives here so tests can shrink them (a 0.2 s heartbeat) instead of sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_WS_URL = "wss://wss-goofish.dingtalk.com/"
DEFAULT_API_URL = "https://h5api.m.goofish.com/h5/"
DEFAULT_WEB = "127.0.0.1:8780"
DEFAULT_PASSPORT_URL = "https://passport.goofish.com/"


@dataclass(frozen=True)
class Backoff:
    """Capped exponential back-off with jitter: ``min(cap, base * 2**n) * (1 + jitter*rand)``."""

    base_s: float
    cap_s: float
    jitter: float = 0.3

    def delay(self, attempt: int, rand: float) -> float:
        """Delay before retry number ``attempt`` (0-based); ``rand`` is uniform in [0, 1)."""
        raw = min(self.cap_s, self.base_s * (2 ** min(attempt, 30)))
        return raw * (1.0 + self.jitter * rand)


@dataclass(frozen=True)
class Timings:
    """How fast things happen. Defaults follow the fact sheet and the design document."""

    heartbeat_s: float = 15.0
    # a connection is dead when heartbeat replies are missing for this many intervals ...
    heartbeat_misses: int = 2
    # ... or when no frame at all arrived for this many intervals
    silence_intervals: int = 3
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 10.0
    token_timeout_s: float = 30.0
    # the new session must reach `registered` within this after an update
    probation_s: float = 20.0
    # a graceful stop that takes longer than this is cut off (timeout-kill)
    stop_timeout_s: float = 10.0
    # re-register when a cached token is older than this
    token_refresh_s: float = 20 * 3600.0
    # retention of processed message ids
    processed_retention_s: float = 7 * 24 * 3600.0
    network_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=1.0, cap_s=60.0))
    auth_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=5.0, cap_s=300.0))
    # captcha / punish: never hammer the token API
    risk_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=300.0, cap_s=3600.0))
    # children crashing: restart back-off and intensity (max restarts within a window)
    restart_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=0.5, cap_s=30.0))
    restart_intensity: int = 5
    restart_window_s: float = 60.0
    # boot: accounts started per second, so 1,000 accounts do not stampede the token API
    start_rate_per_s: float = 500.0
    # QR login: how often the service asks the passport about a shown code (docs/login.md)
    qr_poll_s: float = 2.0
    # token calls + renewals the service makes on its own per account per hour; past it the
    # account waits ("login budget"); an operator's commands are never held back
    login_budget_per_h: int = 6
    # the budget's "hour" (shrink it with an accelerated simulator clock, e.g. the benchmark)
    login_budget_window_s: float = 3600.0
    # notifications (notify/): how often the watcher looks at states and events, and the
    # retry back-off of a notice whose endpoint failed, given up after `notify_attempts`
    notify_poll_s: float = 1.0
    notify_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=5.0, cap_s=600.0))
    notify_attempts: int = 10
    # login-session renewal (docs/login.md): every account about this often, +-renew_jitter
    renew_interval_s: float = 4 * 3600.0
    renew_jitter: float = 0.3
    # after the token API said "session expired": at most one renewal per account this often
    renew_min_gap_s: float = 60.0
    # the whole fleet starts at most one renewal this often, so it never renews in a burst
    renew_spacing_s: float = 1.0
    # cluster mode (PostgreSQL, docs/cluster.md): an account's lease is renewed this often and
    # valid this long on the database's clock; a node stops sending for an account this much
    # before its lease can have expired (self-fence)
    lease_renew_s: float = 5.0
    lease_ttl_s: float = 15.0
    lease_margin_s: float = 3.0
    # a command routed to the node that serves the account gives up after this
    operation_timeout_s: float = 60.0


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str | None = None  # None: SQLite at <data_dir>/xianyu.db
    ws_url: str = DEFAULT_WS_URL
    api_url: str = DEFAULT_API_URL
    # the login host: session renewal and QR-code login (docs/login.md)
    passport_url: str = DEFAULT_PASSPORT_URL
    log_format: str = "auto"  # auto | console | json
    cookie_history: int = 10
    # the web page: "HOST:PORT" or "off" (web/address.py reads it). A Settings built in code
    # (tests, the demo) serves none; ``python run.py serve`` defaults to DEFAULT_WEB.
    web: str = "off"
    # HOST:PORT serving /metrics, /healthz and /readyz (metrics/); None: off
    metrics: str | None = None
    timings: Timings = field(default_factory=Timings)
    # apprise URLs notified when a person is needed (notify/); secrets, so kept out of repr
    notify_urls: tuple[str, ...] = field(default=(), repr=False)
    # one notice per (account, kind) per cooldown; what arrives within the group window
    # goes out as one notice listing every account
    notify_cooldown_s: float = 1800.0
    notify_group_s: float = 10.0
    # this node's name in a cluster (PostgreSQL); None: derived from the host name and data dir
    node_id: str | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "control.sock"

    @property
    def web_token_path(self) -> Path:
        return self.data_dir / "web-token"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'xianyu.db').resolve()}"
