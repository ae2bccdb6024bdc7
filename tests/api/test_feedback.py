"""Answer ids, ratings, and the admins' stats and gap report, through the API."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from rag.answer.prompts import NOT_FOUND
from rag.settings import FeedbackSettings, answer_fingerprint
from tests.api.conftest import sse_events
from tests.api.test_routes import MARRIAGE, MARRIAGE_ANSWER
from tests.fakes import ScriptedLLM

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def key_id(api: Any, headers: dict[str, str]) -> int:
    who = api.services.keys.authenticate(headers["Authorization"].removeprefix("Bearer "))
    return int(who.key_id)


def ask(api: Any, headers: dict[str, str], question: str = MARRIAGE) -> dict[str, Any]:
    r = api.post("/v1/ask", headers, json={"question": question})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def rate(api: Any, headers: dict[str, str], answer_id: str, **body: Any) -> Any:
    return api.post(f"/v1/answers/{answer_id}/feedback", headers, json=body)


def test_every_answer_has_an_id_in_json_the_stream_and_the_openai_route(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(MARRIAGE_ANSWER, MARRIAGE_ANSWER, MARRIAGE_ANSWER, MARRIAGE_ANSWER))
    body = ask(api, api.employee)
    assert HEX_ID.match(body["id"]), body
    assert api.services.questions.get(body["id"]).question == MARRIAGE

    r = api.post("/v1/ask", api.employee, json={"question": MARRIAGE, "stream": True})
    events = dict(sse_events(r.text))
    assert HEX_ID.match(events["done"]["id"]) and events["done"]["id"] != body["id"]
    assert api.services.questions.get(events["done"]["id"]) is not None

    chat = {"messages": [{"role": "user", "content": MARRIAGE}]}
    completion = api.post("/v1/chat/completions", api.employee, json=chat).json()
    assert re.match(r"^chatcmpl-[0-9a-f]{32}$", completion["id"]), completion
    plain = completion["id"].removeprefix("chatcmpl-")
    assert api.services.questions.get(plain).mode == completion["mode"]
    r = api.post("/v1/chat/completions", api.employee, json=chat | {"stream": True})
    chunks = [data for _, data in sse_events(r.text) if data != "[DONE]"]
    assert len({c["id"] for c in chunks}) == 1
    streamed = chunks[0]["id"].removeprefix("chatcmpl-")
    assert api.services.questions.get(streamed) is not None
    # The OpenAI id rates the answer as it is, prefix and all.
    r = rate(api, api.employee, completion["id"], rating="up")
    assert r.status_code == 200, r.text
    assert r.json()["answer_id"] == plain


def test_a_rating_is_stored_with_the_answer_it_rates(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(MARRIAGE_ANSWER))
    answer = ask(api, api.employee)
    r = rate(
        api,
        api.employee,
        answer["id"],
        rating="down",
        comment="  Il manque le PACS.  ",
        correct_answer="5 jours, et 4 pour un PACS.",
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["rating"] == "down" and got["comment"] == "Il manque le PACS."
    assert got["correct_answer"] == "5 jours, et 4 pour un PACS."
    assert got["question"] == MARRIAGE and got["answer"] == answer["answer"]
    assert got["mode"] == "generative" and got["model"] == "scripted"
    assert got["settings_fingerprint"] == answer_fingerprint(api.services.settings, {})
    assert got["key_id"] == got["asked_by"] == key_id(api, api.employee)
    cited = answer["citations"][0]
    assert got["citations"] == [{k: cited[k] for k in ("document_id", "title", "page", "quote")}]
    # Stored as such, never the key itself.
    with sqlite3.connect(api.services.settings.questions_path) as conn:
        row = conn.execute("SELECT * FROM feedback").fetchone()
        text = repr(row) + repr(conn.execute("SELECT * FROM questions").fetchall())
    assert "Il manque le PACS." in text and MARRIAGE in text
    assert api.employee["Authorization"].removeprefix("Bearer ") not in text

    # Rating again replaces the key's rating; an admin's rating stands beside it.
    again = rate(api, api.employee, answer["id"], rating="up")
    assert again.status_code == 200 and again.json()["comment"] is None
    assert rate(api, api.admin, answer["id"], rating="down").status_code == 200
    ratings = api.client.get("/v1/feedback", headers=api.admin).json()["feedback"]
    assert sorted((f["key_id"], f["rating"]) for f in ratings) == sorted(
        [(key_id(api, api.employee), "up"), (key_id(api, api.admin), "down")]
    )


def test_another_keys_answer_is_a_404_like_an_unknown_one(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(MARRIAGE_ANSWER))
    answer = ask(api, api.employee)
    theirs = rate(api, api.hr, answer["id"], rating="down")
    unknown = rate(api, api.hr, "0" * 32, rating="down")
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()
    assert unknown.json()["error"]["code"] == "not_found"
    assert api.services.questions.feedback() == []
    assert rate(api, api.employee, answer["id"], rating="up").status_code == 200


def test_ratings_are_seen_by_their_rater_and_the_admins_only(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(MARRIAGE_ANSWER, MARRIAGE_ANSWER))
    mine = ask(api, api.employee)
    theirs = ask(api, api.hr)
    assert rate(api, api.employee, mine["id"], rating="down").status_code == 200
    assert rate(api, api.hr, theirs["id"], rating="up").status_code == 200

    def listed(headers: dict[str, str], query: str = "") -> list[str]:
        r = api.client.get(f"/v1/feedback{query}", headers=headers)
        assert r.status_code == 200, r.text
        return [f["answer_id"] for f in r.json()["feedback"]]

    assert listed(api.employee) == [mine["id"]]
    assert listed(api.hr) == [theirs["id"]]
    assert listed(api.nobody) == []
    assert sorted(listed(api.admin)) == sorted([mine["id"], theirs["id"]])
    assert listed(api.admin, "?rating=down") == [mine["id"]]
    assert len(listed(api.admin, "?limit=1")) == 1
    assert listed(api.admin, "?since=2999-01-01") == []
    assert listed(api.employee, "?rating=up") == []  # a filter never widens


def test_bad_feedback_input_gets_a_4xx_that_says_what_is_wrong(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(MARRIAGE_ANSWER))
    answer_id = ask(api, api.employee)["id"]
    cases = [
        (answer_id, {"rating": "meh"}, "rating"),
        (answer_id, {"rating": "up", "comment": "x" * 2001}, "comment"),
        (answer_id, {"rating": "up", "correct_answer": "x" * 10_001}, "correct_answer"),
        (answer_id, {"rating": "up", "stars": 5}, "stars"),
        (answer_id, {}, "rating"),
        ("not-an-id", {"rating": "up"}, "answer_id"),
        ("../" + answer_id, {"rating": "up"}, ""),
    ]
    for path_id, body, field in cases:
        r = rate(api, api.employee, path_id, **body)
        assert 400 <= r.status_code < 500, (path_id, body, r.text)
        error = r.json()["error"]
        if field:
            assert any(field in p["field"] for p in error["fields"]), (body, error)
    r = api.client.get("/v1/feedback?since=yesterday", headers=api.admin)
    assert r.status_code == 422 and "ISO 8601" in r.json()["error"]["message"]
    r = api.client.get("/v1/feedback?limit=100000", headers=api.admin)
    assert r.status_code == 422
    assert api.services.questions.feedback() == []


def test_metrics_count_ratings_by_rating(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(MARRIAGE_ANSWER, MARRIAGE_ANSWER))
    first, second = ask(api, api.employee), ask(api, api.employee)
    text = api.client.get("/metrics").text
    assert 'rag_feedback_total{rating="down"} 0.0' in text
    rate(api, api.employee, first["id"], rating="down")
    rate(api, api.employee, second["id"], rating="down")
    rate(api, api.employee, first["id"], rating="up")
    rate(api, api.hr, first["id"], rating="up")  # refused: not counted
    text = api.client.get("/metrics").text
    assert 'rag_feedback_total{rating="down"} 2.0' in text
    assert 'rag_feedback_total{rating="up"} 1.0' in text


def test_stats_and_gaps_are_for_admins(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(MARRIAGE_ANSWER, NOT_FOUND["fr"], NOT_FOUND["fr"]))
    answered = ask(api, api.employee)
    ask(api, api.employee, "Quel est le tarif du parking visiteurs ?")
    ask(api, api.hr, "Quel est le tarif du parking des visiteurs le dimanche ?")
    rate(api, api.employee, answered["id"], rating="down")
    for path in ("/v1/admin/stats", "/v1/admin/gaps"):
        r = api.client.get(path, headers=api.employee)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", path
    stats = api.client.get("/v1/admin/stats", headers=api.admin).json()
    overall = stats["overall"]
    assert stats["question_log"] is True
    assert overall["questions"] == 3 and overall["per_day"][0]["questions"] == 3
    assert overall["rated"] == 1 and overall["down_vote_rate"] == 1.0
    groups = {g["group"]: g for g in stats["by_group"]}
    assert groups["public"]["questions"] == 2 and groups["hr"]["questions"] == 1
    assert overall["not_found"] == 2 and groups["hr"]["not_found_rate"] == 1.0
    assert groups["public"]["not_found_rate"] == 0.5

    report = api.client.get("/v1/admin/gaps", headers=api.admin).json()
    assert report["questions"] == 3
    parking = [t for t in report["topics"] if any("parking" in q for q in t["examples"])]
    assert len(parking) == 1 and parking[0]["count"] == parking[0]["not_found"] == 2
    marriage = [t for t in report["topics"] if MARRIAGE in t["examples"]]
    assert len(marriage) == 1 and marriage[0]["down"] == 1
    assert marriage[0]["documents"], "the documents the down-rated answer cited"
    r = api.client.get("/v1/admin/gaps?since=not-a-date", headers=api.admin)
    assert r.status_code == 422


def test_with_the_log_off_no_question_is_kept_but_answers_can_be_rated(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(MARRIAGE_ANSWER), feedback=FeedbackSettings(log_questions=False))
    answer = ask(api, api.employee)
    with sqlite3.connect(api.services.settings.questions_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM questions").fetchone() == (0,)
    assert rate(api, api.hr, answer["id"], rating="down").status_code == 404
    r = rate(api, api.employee, answer["id"], rating="down", comment="faux")
    assert r.status_code == 200 and r.json()["question"] == MARRIAGE
    stats = api.client.get("/v1/admin/stats", headers=api.admin).json()
    assert stats["question_log"] is False
    assert stats["overall"]["questions"] == 0 and stats["overall"]["down"] == 1
    with sqlite3.connect(api.services.settings.questions_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM questions").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM feedback").fetchone() == (1,)
