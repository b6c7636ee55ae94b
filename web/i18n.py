"""Every word the page shows, in English and Chinese (zh-CN), and how the language is chosen.

The browser's ``Accept-Language`` picks the language unless the visitor chose one with the
toggle (a ``lang`` cookie). Templates call ``t("key")``; a key missing from ``TEXTS`` is a
bug the tests catch (``tests/test_web_pages.py`` renders every page in both languages).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

LANGUAGES = ("en", "zh")
LANG_COOKIE = "lang"

# key: (English, 中文)
TEXTS: Mapping[str, tuple[str, str]] = {
    "title": ("Xianyu supervisor", "闲鱼托管"),
    "nav.fleet": ("Fleet", "账号总览"),
    "nav.events": ("Events", "事件"),
    "lang.other": ("中文", "English"),
    "fleet.title": ("Fleet", "账号总览"),
    "fleet.all": ("all", "全部"),
    "fleet.search": ("search by id", "按账号搜索"),
    "fleet.none": ("No accounts yet.", "还没有账号。"),
    "fleet.add_hint": (
        "Add one with: python run.py ctl add <account-id> --cookie-file <file>",
        "添加账号：python run.py ctl add <账号> --cookie-file <文件>",
    ),
    "fleet.shown": ("shown", "显示"),
    "col.account": ("account", "账号"),
    "col.user": ("seller id", "卖家 ID"),
    "col.state": ("state", "状态"),
    "col.version": ("cookie version", "Cookie 版本"),
    "col.online_since": ("online since", "在线起始"),
    "col.restarts": ("restarts", "重启"),
    "col.reconnects": ("reconnects", "重连"),
    "col.crashes": ("crashes", "崩溃"),
    "col.logins_left": ("logins left", "剩余登录次数"),
    "col.received": ("received", "收到"),
    "col.replied": ("replied", "已回复"),
    "col.last_error": ("last error", "最近错误"),
    "col.node": ("node", "节点"),
    "col.at": ("at (UTC)", "时间 (UTC)"),
    "col.kind": ("kind", "类型"),
    "col.data": ("data", "内容"),
    "col.fingerprint": ("fingerprint", "指纹"),
    "col.source": ("source", "来源"),
    "col.status": ("status", "状态"),
    "col.reason": ("reason", "原因"),
    "col.created": ("created (UTC)", "创建 (UTC)"),
    "col.keyword": ("keyword", "关键词"),
    "col.item": ("item id (optional)", "商品 ID（可选）"),
    "col.reply": ("reply", "回复"),
    "unsaved": ("unsaved", "未保存"),
    "state.starting": ("starting", "启动中"),
    "state.online": ("online", "在线"),
    "state.reconnecting": ("reconnecting", "重连中"),
    "state.backoff": ("backing off", "退避等待"),
    "state.updating": ("updating", "更新中"),
    "state.needs_cookie": ("needs a new cookie", "需要新 Cookie"),
    "state.failed": ("failed", "已失败"),
    "state.stopped": ("stopped", "已停止"),
    "state.disabled": ("disabled", "已停用"),
    "state.unowned": ("no node serves it", "无节点服务"),
    "account.title": ("Account", "账号"),
    "account.status": ("Status", "状态"),
    "account.enabled": ("enabled", "已启用"),
    "account.history": ("Cookie history", "Cookie 历史"),
    "account.events": ("Events", "事件"),
    "account.actions": ("Actions", "操作"),
    "account.gone": ("This account was removed.", "此账号已删除。"),
    "action.update": ("Update cookie", "更新 Cookie"),
    "action.update_hint": (
        "Paste the Cookie header of https://www.goofish.com/im. It is sent once and not kept "
        "in this page.",
        "粘贴 https://www.goofish.com/im 的 Cookie 请求头。它只发送一次，页面不会保留。",
    ),
    "action.send_cookie": ("Send cookie", "提交 Cookie"),
    "action.restart": ("Restart", "重启"),
    "action.kill": ("Kill", "强制终止"),
    "action.rollback": ("Roll back", "回滚"),
    "action.rollback_to": ("to version", "到版本"),
    "action.previous": ("the previous good one", "上一个可用版本"),
    "action.enable": ("Enable", "启用"),
    "action.disable": ("Disable", "停用"),
    "action.remove": ("Remove", "删除"),
    "action.remove_confirm": (
        "Remove this account and all its data (cookies, rules)? The events stay.",
        "删除此账号及其全部数据（Cookie、规则）？事件记录会保留。",
    ),
    "action.working": ("working…", "处理中…"),
    "settings.title": ("Settings", "设置"),
    "settings.remark": ("remark", "备注"),
    "settings.pause": ("pause minutes (after you reply by hand)", "暂停分钟数（人工回复后）"),
    "settings.save": ("Save settings", "保存设置"),
    "rules.title": ("Reply rules", "回复规则"),
    "rules.hint": (
        "First match wins: rules for the message's item first, then general ones, in order; "
        "a keyword matches anywhere in the text, case-insensitive. Templates: {buyer_name} "
        "{buyer_id} {text} {item_id}.",
        "先匹配者优先：先试该商品的规则，再试通用规则，按顺序；关键词在文本中出现即匹配，"
        "不区分大小写。模板：{buyer_name} {buyer_id} {text} {item_id}。",
    ),
    "rules.add": ("Add rule", "添加规则"),
    "rules.delete": ("delete", "删除"),
    "rules.default": ("default reply (when no rule matches)", "默认回复（无规则匹配时）"),
    "rules.once": ("once per chat", "每个会话一次"),
    "rules.save": ("Save rules", "保存规则"),
    "rules.saved": ("saved", "已保存"),
    "rules.preview": ("Which rule answers this text?", "哪条规则会回复这段文字？"),
    "rules.preview_text": ("a buyer's message", "买家消息"),
    "rules.preview_item": ("item id (optional)", "商品 ID（可选）"),
    "rules.preview_go": ("Try", "试一下"),
    "rules.preview_rule": (
        "rule {n} (keyword “{keyword}”) answers:",
        "规则 {n}（关键词“{keyword}”）回复：",
    ),
    "rules.preview_default": (
        "no rule matches; the default reply answers:",
        "无规则匹配；默认回复：",
    ),
    "rules.preview_none": (
        "no rule matches and there is no default reply: no answer",
        "无规则匹配且无默认回复：不回复",
    ),
    "rules.preview_silent": ("(matched, stays silent)", "（已匹配，不回复）"),
    "rules.keyword_missing": ("rule {n}: the keyword is empty", "规则 {n}：关键词为空"),
    "qr.title": ("QR login", "扫码登录"),
    "qr.title_new": ("Add an account by QR login", "扫码登录添加账号"),
    "qr.hint_new": (
        "Name the new account, show the code, scan it with the seller's Xianyu app and confirm.",
        "填写新账号名称，显示二维码，用卖家的闲鱼 App 扫码并确认。",
    ),
    "qr.start": ("Show a QR code", "显示二维码"),
    "qr.cancel": ("Cancel", "取消"),
    "qr.hint": (
        "Scan it with the Xianyu app of this account's seller and confirm on the phone.",
        "用此账号卖家的闲鱼 App 扫码，并在手机上确认。",
    ),
    "qr.unavailable": (
        "QR login is unavailable in this service version: update the cookie by paste instead.",
        "此服务版本不支持扫码登录：请改用粘贴 Cookie 更新。",
    ),
    "qr.waiting": ("waiting for a scan", "等待扫码"),
    "qr.scanned": ("scanned: confirm on the phone", "已扫码：请在手机上确认"),
    "qr.confirmed": ("confirmed", "已确认"),
    "qr.expired": ("the QR code expired: show a new one", "二维码已过期：请重新显示"),
    "qr.cancelled": ("cancelled", "已取消"),
    "qr.verification_required": (
        "the app asks for a verification: finish it on the phone, then try again",
        "App 要求验证：请在手机上完成后重试",
    ),
    "qr.error": ("QR login failed", "扫码登录失败"),
    "events.title": ("Events", "事件"),
    "events.account": ("account", "账号"),
    "events.kind": ("kind", "类型"),
    "events.none": ("No events.", "暂无事件。"),
    "events.filter": ("Filter", "筛选"),
    "outcome.applied": ("the new cookie is serving", "新 Cookie 已生效"),
    "outcome.rolled_back": (
        "the new cookie did not register; the previous one kept serving. Check the cookie "
        "(right seller? still logged in?) and update again.",
        "新 Cookie 未能注册，原 Cookie 继续服务。"
        "请检查 Cookie（卖家是否正确？是否仍在登录？）后再更新。",
    ),
    "outcome.unchanged": ("this is the cookie already serving", "与正在使用的 Cookie 相同"),
    "outcome.stored": (
        "stored; the account is disabled and starts with it when enabled",
        "已保存；账号已停用，启用时使用它",
    ),
    "outcome.swap": ("swap", "切换耗时"),
    "outcome.stop": ("stop", "停止耗时"),
    "outcome.version": ("version", "版本"),
    "outcome.previous": ("previous", "原版本"),
    "outcome.reason": ("reason", "原因"),
    "error.bad_request": ("The request was refused", "请求被拒绝"),
    "error.not_found": ("Not found", "未找到"),
    "error.exists": ("Already exists", "已存在"),
    "error.conflict": ("Not possible now", "当前无法执行"),
    "error.internal": ("The service failed", "服务出错"),
    "error.unknown_command": ("Unknown command", "未知命令"),
    "error.login_failed": ("The login failed", "登录失败"),
    "error.unavailable": ("The service is shutting down", "服务正在关闭"),
    "error.forbidden": ("Refused", "拒绝访问"),
    "refused.title": ("Not logged in", "未登录"),
    "refused.wrong_token": (
        "This login token is wrong or was replaced. Open the URL the service logged at start, "
        "or print it with: python run.py web-token",
        "登录令牌错误或已更换。请打开服务启动时日志中的网址，或运行：python run.py web-token",
    ),
    "refused.no_session": (
        "Open the page through the URL with the login token that the service logged at start "
        "(python run.py web-token prints it).",
        "请通过服务启动时日志中带登录令牌的网址打开此页面（python run.py web-token 可打印）。",
    ),
    "refused.csrf": (
        "This request lacks the page's CSRF token; nothing was changed. Reload the page and "
        "try again.",
        "此请求缺少页面的 CSRF 令牌，未做任何更改。请刷新页面后重试。",
    ),
    "live.lost": ("live updates lost; reconnecting…", "实时更新中断，正在重连…"),
    "live.reload": ("many changes: reload the page", "变化过多：请刷新页面"),
}


def choose_language(accept_language: str | None, chosen: str | None) -> str:
    """``chosen`` (the toggle's cookie) if valid, else the first of ours the browser accepts."""
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else "en"


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)`` for ``lang``; values fill ``{name}`` in the text."""
    column = LANGUAGES.index(lang)

    def t(key: str, **values: object) -> str:
        text = TEXTS[key][column]
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    return t
