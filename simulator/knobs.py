"""The simulator's behaviour switches, as one immutable value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Knobs:
    """How the simulated servers behave. Defaults model the real service; tests shrink them."""

    # an issued _m_h5_tk older than this is stale: token calls answer FAIL_SYS_TOKEN_EXOIRED
    mh5tk_lifetime_s: float = 3600.0
    # an IM access token older than this is refused by /reg (code 401)
    token_lifetime_s: float = 86400.0
    # delay between a sendByReceiverScope and its answer (the echo push follows the answer)
    send_response_delay_s: float = 0.0
    # the probability (0..1) that a buyer message is preceded, in the same /s/sync frame, by a
    # 40103 read receipt for the seller's last message the buyer had not read yet (two items in
    # one frame); 0.5 by default, so that both frame shapes occur in one run
    read_receipts: float = 0.5
    # a buyer message is preceded by a 40006 typing signal on /s/para
    typing_before_message: bool = False
    # how many registered connections of one seller receive pushes at once: 1 = a new /reg
    # closes the previous one (code 1000); 2+ = a multi-device login, every one of them gets
    # every push and a /reg beyond the number closes the oldest
    sessions_per_seller: int = 1
    # send the /s/vulcan batch right after a successful /reg
    vulcan_after_reg: bool = True
    # the first N history requests (listNewestPagination / listUserMessages) of every connection
    # answer body {"code": "400600001"}: IM flow control, the client should retry later (7.4)
    flow_control_first_n: int = 0
    # a send whose text contains one of these is refused with moreInfo CSI_FORBID||安全拦截
    forbidden_words: tuple[str, ...] = ()
    # login sessions (simulator.sessions; lifetimes in seconds, shrink them to accelerate)
    # a login session (cookie2) minted by a login or a renewal lives this long
    session_lifetime_s: float = 24 * 3600.0
    # the long-login ("keep me logged in") cookies of a login are valid this long
    long_login_lifetime_s: float = 30 * 24 * 3600.0
    # after a renewal the old session keeps working this long, then dies
    renew_grace_s: float = 60.0
    # more renewal calls than this per seller within an hour → risk control (RGV587) ...
    renew_risk_per_h: int = 12
    # ... for this long; "an hour" is this window, so an accelerated clock can shrink it too
    renew_risk_s: float = 1800.0
    renew_risk_window_s: float = 3600.0
    # silentHasLogin sets sdkSilent this far ahead: the fatigue window clients respect
    sdk_silent_s: float = 3600.0
    # a QR code turns EXPIRED this long after generate.do, whatever the polling does
    qr_lifetime_s: float = 300.0
