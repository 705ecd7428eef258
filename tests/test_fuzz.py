"""The JSON API fuzzed from its own OpenAPI spec (Schemathesis): valid and invalid bodies alike, never a 5xx."""

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

REQUESTS = 1200


def test_fuzzed_requests_to_the_api_never_get_a_server_error(server):
    schema = schemathesis.openapi.from_url(server + "/api/openapi.json")
    ask = schema["/api/ask"]["POST"]
    cases = st.one_of(ask.as_strategy(GenerationMode.POSITIVE), ask.as_strategy(GenerationMode.NEGATIVE))
    statuses: Counter[int] = Counter()

    @settings(max_examples=REQUESTS, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(cases)
    def call(case):
        response = case.call(base_url=server, timeout=60)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (case.body, response.status_code, response.text[:200])

    call()
    assert sum(statuses.values()) >= 1000, statuses
    assert statuses[200] and sum(n for code, n in statuses.items() if 400 <= code < 500), statuses  # both kinds were sent
    print(f"fuzzed /api/ask: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
