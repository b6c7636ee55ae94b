"""Fixed values of the Goofish web IM protocol (fact sheet sections 1, 2, 3 and 7.4)."""

from __future__ import annotations

# The mtop app key: part of every mtop signature (section 2.2).
MTOP_APP_KEY = "34839810"
# The IM app key: sent in the token request body and as ``app-key`` in ``/reg`` (sections 2.1, 3.1).
IM_APP_KEY = "444e9908a51d1cb236a27862abc769c9"

TOKEN_API = "mtop.taobao.idlemessage.pc.login.token"  # noqa: S105 (an API name)
TOKEN_API_VERSION = "1.0"  # noqa: S105 (an API version)
DEFAULT_API_URL = "https://h5api.m.goofish.com/h5/"
DEFAULT_WS_URL = "wss://wss-goofish.dingtalk.com/"

# Chrome/139 on Windows, matching the ``sec-ch-ua`` header of the token request (section 2.1).
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/139.0.0.0 Safari/537.36"
)
# The ``ua`` header of ``/reg``; the server echoes it in push headers (section 3.1).
REG_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/133.0.0.0 Safari/537.36 DingTalk(2.1.5) OS(Windows/10) Browser(Chrome/133.0.0.0) "
    "DingWeb/2.1.5 IMPaaS DingWeb/2.1.5"
)
ORIGIN = "https://www.goofish.com"

# Domain suffix of user and conversation ids on the wire.
ID_SUFFIX = "@goofish"

# First cursor of listNewestPagination / listUserMessages: "newer than anything" (section 7.4).
FIRST_PAGE_CURSOR = 9007199254740991

# Request paths (section 0, 3, 4, 7).
LWP_REG = "/reg"
LWP_ACK_DIFF = "/r/SyncStatus/ackDiff"
LWP_HEARTBEAT = "/!"
LWP_SEND = "/r/MessageSend/sendByReceiverScope"
LWP_CREATE_CHAT = "/r/SingleChatConversation/create"
LWP_LIST_NEWEST = "/r/Conversation/listNewestPagination"
LWP_LIST_MESSAGES = "/r/MessageManager/listUserMessages"
# Push paths (section 6.1).
LWP_PUSH_SYNC = "/s/sync"
LWP_PUSH_PARA = "/s/para"
LWP_PUSH_VULCAN = "/s/vulcan"

# Object types of push items (section 6.1).
OBJECT_CHAT = 40000
OBJECT_TYPING = 40006
OBJECT_READ = 40103
OBJECT_VULCAN = 370000

# Content types (sections 6.3, 7.1).
CONTENT_CUSTOM = 101
CONTENT_TEXT = 1
CONTENT_IMAGE = 2
CONTENT_AUDIO = 3
CONTENT_TRADE_CARD = 26

# Passport (login) host and paths, relative to a passport URL ending in "/" (docs/login.md).
DEFAULT_PASSPORT_URL = "https://passport.goofish.com/"
PASSPORT_SITE = "77"  # fromSite of the Goofish ("xianyu") passport
HAS_LOGIN_PATH = "newlogin/hasLogin.do"
SILENT_HAS_LOGIN_PATH = "newlogin/silentHasLogin.do"
SET_LOGIN_SETTINGS_PATH = "ac/account/setLoginSettings.do"
QUERY_LOGIN_SETTINGS_PATH = "ac/account/queryLoginSettings.do"
MINI_LOGIN_PATH = "mini_login.htm"
QR_GENERATE_PATH = "newlogin/qrcode/generate.do"
QR_QUERY_PATH = "newlogin/qrcode/query.do"
TOKEN_LOGIN_PATH = "login_token/login.do"  # noqa: S105 (a path)
# The cheap liveness probe on the mtop API (same signing as the token call).
LOGINUSER_API = "mtop.taobao.idlemessage.pc.loginuser.get"
LOGINUSER_API_VERSION = "1.0"
# Long-login ("keep me logged in") cookies and the silent-login fatigue stamp.
LONG_LOGIN_COOKIE = "havana_lgc2_77"
LONG_LOGIN_EXP_COOKIE = "havana_lgc_exp"
LONG_LOGIN_BAK_EXP_COOKIE = "cookie3_bak_exp"
SDK_SILENT_COOKIE = "sdkSilent"
