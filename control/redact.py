"""Cookie values out of any text: the control layer's name for ``common.redact``.

The core moved to ``common/`` so that ``storage`` (which may import only ``common``) can
redact event data too; this module keeps ``control.redact`` imports working.
"""

from common.redact import REDACTED, SECRET_COOKIE_NAMES, is_cookie_key, redact_text, redact_value

__all__ = ["REDACTED", "SECRET_COOKIE_NAMES", "is_cookie_key", "redact_text", "redact_value"]
