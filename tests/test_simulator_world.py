"""The simulator's pure state: ids, chats and paging without skipped ties."""

from __future__ import annotations

from simulator.world import World


def test_message_ids_increase_and_look_like_server_ids() -> None:
    world = World()
    world.ensure_user("200")
    chat = world.chat_for("1001", "200", "5")
    ids = [world.add_message(chat, "1001", str(i)).message_id for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert all(len(i) == 17 and i.endswith(".PNM") and i[:13].isdigit() for i in ids)


def test_create_times_are_unique_per_user_so_paging_skips_nothing() -> None:
    world = World()
    world.ensure_user("200")
    chats = [world.chat_for(f"10{i}", "200", "5") for i in range(4)]
    for n in range(40):  # a burst: many messages within the same millisecond
        world.add_message(chats[n % 4], "10" + str(n % 4), f"m{n}")
    seen, cursor, more = [], 2**53, True
    while more:
        page, more, cursor = world.conversation_page("200", cursor, 1)
        seen += [c.chat_id for c in page]
    assert sorted(seen) == sorted(c.chat_id for c in chats)
    texts, cursor, more = [], 2**53, True
    while more:
        page, more, cursor = world.message_page(chats[0], cursor, 3)
        texts += [m.text for m in page]
    assert texts == [f"m{n}" for n in range(36, -1, -4)]


def test_chat_is_stable_per_pair_and_item() -> None:
    world = World()
    first = world.chat_for("1001", "200", "5")
    assert world.chat_for("1001", "200", "5") is first
    assert world.chat_for("200", "1001", "5") is first  # the pair, whichever side asks
    assert world.chat_for("1001", "200", "6") is not first


def test_revoking_a_session_kills_its_tokens() -> None:
    world = World()
    world.ensure_user("200")
    cookie = world.new_session("200")
    cookie2 = dict(p.split("=", 1) for p in cookie.split("; "))["cookie2"]
    grant = world.grant_token("200", cookie2, "did-200")
    assert world.check_token(grant.token, "did-200", 60) == grant
    assert world.check_token(grant.token, "other-did", 60) is None
    assert world.revoke([cookie2]) == [cookie2]
    assert world.check_token(grant.token, "did-200", 60) is None
