"""The result object's JSON is every field of the data classes, nothing more or less."""

from dataclasses import asdict, fields, replace

from retrieval.records import Passage, Result


def test_result_json_equals_asdict(engine):
    answered = [engine.ask(q) for q in ("is ketamine addictive?", "What side effects can happen during a ketamine infusion?")]
    assert all(r.passages for r in answered)
    first = answered[0].passages[0]
    credited = replace(answered[0], passages=[replace(first, also_in=[dict(first.source)])])  # a credit to another source
    results = answered + [credited, engine.ask(""), engine.ask("what's the weather on mars", id={"n": [1, 2]}),
                          engine.ask("is ketamin adictive?")]
    assert {r.status for r in results} >= {"answered", "invalid"} and results[-1].searched_for
    assert any(r.followups for r in results)
    for r in results:
        expected = asdict(r)
        for optional in ("id", "searched_for"):  # written only when there is one
            if expected[optional] is None:
                del expected[optional]
        for offered in ("suggestions", "followups"):  # the contract's {"question": ...} objects
            expected[offered] = [{"question": q} for q in expected[offered]]
        assert r.to_json() == expected
        assert list(r.to_json()) == list(expected)  # same key order as the contract's examples
    assert [f.name for f in fields(Passage)] == list(answered[0].passages[0].to_json())
    assert [f.name for f in fields(Result)][:4] + ["suggestions", "followups"] == list(Result("q", "invalid").to_json())
