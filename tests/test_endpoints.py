"""Operational remission / relapse definitions (docs/endpoints.md) and time-to-event rows, at their edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sle_nb_utils import endpoints, scores
from sle_nb_utils.errors import BadInputError

T0 = pd.Timestamp("2010-01-01")


def make_visits(pid, path, prednisone=None, w8_at=()):
    """Visits whose SLEDAI-2K equals ``path[i]`` (built from weight-2 and weight-1 descriptors)."""
    rows = []
    months = [0, 1, 3, 6, 9, 12, 18, 24][: len(path)]
    twos = [d for d, w in scores.SLEDAI_2K_WEIGHTS.items() if w == 2]
    fours = [d for d, w in scores.SLEDAI_2K_WEIGHTS.items() if w == 4]
    for i, (m, total) in enumerate(zip(months, path)):
        row = {d: 0 for d in scores.SLEDAI_2K_DESCRIPTORS}
        rest = total
        if m in w8_at:
            row["sledai_vasculitis"] = 1
            rest -= 8
        for d in fours:
            if rest > 14:
                row[d], rest = 1, rest - 4
        if rest % 2:
            row["sledai_fever"], rest = 1, rest - 1
        for d in twos[: rest // 2]:
            row[d] = 1
        row.update(patient_id=pid, visit_month=m, visit_date=T0 + pd.Timedelta(days=int(30.4375 * m)),
                   prednisone_mg_day=(prednisone[i] if prednisone else 5.0))
        rows.append(row)
    v = pd.DataFrame(rows)
    assert scores.sledai_2k(v).tolist() == list(path)
    return v


def status(v):
    return endpoints.classify_visits(v)


def test_complete_remission_thresholds_are_inclusive():
    c = status(make_visits("A", [12, 3, 3, 4], prednisone=[30, 10, 10.5, 5]))
    assert c["remission"].tolist() == ["baseline", "complete", "partial", "partial"]


def test_partial_remission_is_a_50_percent_fall():
    c = status(make_visits("B", [12, 6, 7], prednisone=[30, 20, 20]))
    assert c["remission"].tolist() == ["baseline", "partial", "none"]


def test_relapse_is_a_rise_of_4_above_the_nadir_after_remission():
    c = status(make_visits("C", [12, 5, 4, 7, 8, 9]))
    # remission at month 1 (5 <= 6); nadir 4 at month 3; 7 is +3 (no); 8 is +4 -> relapse at month 9
    assert c["relapse"].tolist() == [False, False, False, False, True, False]
    assert c["relapsed"].tolist() == [False, False, False, False, True, True]
    assert endpoints.first_relapse(c)["relapse_month"].tolist() == [9]


def test_no_relapse_without_prior_remission():
    c = status(make_visits("D", [12, 10, 14, 16]))
    assert not c["relapse"].any()


def test_new_weight8_descriptor_is_a_relapse():
    # partial remission at month 1 (10 <= 12); vasculitis (8) new at month 3, a rise of only 2
    c = status(make_visits("E", [24, 10, 12], w8_at=(3,)))
    assert c["relapse"].tolist() == [False, False, True]
    d = endpoints.RemissionDefinition(relapse_on_new_weight8=False)
    assert not endpoints.classify_visits(make_visits("E", [24, 10, 12], w8_at=(3,)), d)["relapse"].any()


def test_thresholds_are_named_parameters():
    t = endpoints.DEFINITION.table().set_index("parameter")["value"]
    assert t["cr_sledai_max"] == 3 and t["cr_prednisone_max_mg_day"] == 10
    assert t["pr_min_fall_fraction"] == 0.5 and t["relapse_min_rise"] == 4
    stricter = endpoints.RemissionDefinition(cr_sledai_max=2)
    c = endpoints.classify_visits(make_visits("F", [12, 3]), stricter)
    assert c["remission"].iloc[1] == "partial"


def test_yearly_table_counts_evaluable_cr_and_relapse():
    v = pd.concat([
        make_visits("P1", [12, 5, 4, 3, 3, 3]),       # CR at 12
        make_visits("P2", [12, 5, 4, 9, 9, 9]),       # relapse at 6, not CR at 12
        make_visits("P3", [12, 10, 10, 10]),          # not evaluable at 12
    ])
    t = endpoints.yearly_remission_relapse(v, years=(1,)).iloc[0]
    assert (t["evaluable"], t["complete_remission"], t["relapses"]) == (2, 1, 1)


def test_time_to_event_rows():
    patients = pd.DataFrame({
        "patient_id": ["A", "B", "C"], "cohort": ["x", "x", "hsct_burt2006"], "arm": "HSCT",
        "enrol_date": pd.to_datetime(["2009-12-01"] * 3),
        "transplant_date": pd.to_datetime(["2010-01-01", "2010-01-01", None]),
        "last_contact_date": pd.to_datetime(["2012-01-01", "2011-01-01", "2010-01-01"]),
        "death_date": pd.to_datetime([None, "2011-01-01", "2010-01-01"]),
        "death_treatment_related": pd.array([pd.NA, False, True], dtype="boolean"),
    })
    events = pd.DataFrame({"patient_id": ["B"], "event_date": pd.to_datetime(["2010-07-01"]),
                           "event": ["relapse"], "detail": [""]})
    visits = pd.concat([make_visits("A", [12, 2]), make_visits("B", [12, 8]), make_visits("C", [12])])
    itt = endpoints.SENSITIVITY["origin_itt_mobilisation"]
    t = endpoints.time_to_event_table(patients, visits, events, endpoint_definition=itt
                                      ).set_index(["endpoint", "patient_id"])
    # primary origin = transplant: C (never transplanted) is outside that analysis set
    prim = endpoints.time_to_event_table(patients, visits, events)
    assert sorted(prim["patient_id"].unique()) == ["A", "B"]
    assert t.loc[("OS", "A"), "status"] == 0 and t.loc[("OS", "B"), "status"] == 1
    assert t.loc[("OS", "A"), "time_months"] == pytest.approx(730 / endpoints.DAYS_PER_MONTH)
    assert t.loc[("REL", "B"), "status"] == 1 and t.loc[("NRM", "B"), "status"] == 2
    assert t.loc[("DFS", "B"), "time_months"] == pytest.approx(181 / endpoints.DAYS_PER_MONTH)
    # not transplanted: the clock starts at enrolment; a treatment-related death
    assert t.loc[("OS", "C"), "origin"] == "enrol_date"
    assert t.loc[("TRM", "C"), "status"] == 1 and t.loc[("TRM", "B"), "status"] == 2
    assert t.loc[("CR", "A"), "status"] == 1 and t.loc[("CR", "B"), "status"] == 2
    assert set(t.index.get_level_values(0)) == set(endpoints.ENDPOINTS)


def test_baseline_zero_is_never_a_partial_remission():
    c = status(make_visits("G", [0, 0], prednisone=[30, 20]))
    assert c["remission"].tolist() == ["baseline", "none"]


def test_two_baseline_visits_are_a_clear_error():
    v = pd.concat([make_visits("H", [12, 4]), make_visits("H", [10])])
    with pytest.raises(ValueError, match="more than one baseline .* H"):
        endpoints.classify_visits(v)


def _patients(**over):
    p = pd.DataFrame({
        "patient_id": ["A", "B", "C", "D"], "cohort": ["itt", "itt", "tx", "tx"],
        "enrol_date": pd.to_datetime(["2010-01-01"] * 4),
        "transplant_date": pd.to_datetime(["2010-02-01", None, "2010-02-01", "2010-03-01"]),
    })
    return p.assign(**over)


def test_analysis_origin_is_intention_to_treat_when_someone_was_never_transplanted():
    col, date = endpoints.analysis_origin(_patients())
    assert col.tolist() == ["enrol_date", "enrol_date", "transplant_date", "transplant_date"]
    assert date.tolist() == [pd.Timestamp("2010-01-01")] * 2 + [pd.Timestamp("2010-02-01"),
                                                               pd.Timestamp("2010-03-01")]


def test_relapse_dates_by_source():
    visits = make_visits("A", [12, 4, 4, 9])  # visit-derived relapse at month 6
    events = pd.DataFrame({"patient_id": ["A", "B"], "event": ["relapse", "relapse"], "detail": "",
                           "event_date": pd.to_datetime(["2010-05-01", "2010-04-01"])})
    visits = pd.concat([visits, make_visits("B", [12])])
    both = endpoints.relapse_dates(visits, events).set_index("patient_id")
    assert both.loc["A", "visit_date"] == T0 + pd.Timedelta(days=int(30.4375 * 6))
    assert both.loc["A", "relapse_date"] == pd.Timestamp("2010-05-01")  # the earlier: the site's
    assert both.loc["A", "lag_days"] == (both.loc["A", "visit_date"] - pd.Timestamp("2010-05-01")).days
    assert both.loc["B", "relapse_date"] == pd.Timestamp("2010-04-01") and pd.isna(both.loc["B", "visit_date"])
    only_visits = endpoints.relapse_dates(visits, events, "visits")
    assert only_visits["patient_id"].tolist() == ["A"]
    assert only_visits["relapse_date"].iloc[0] == both.loc["A", "visit_date"]
    no_events = events.iloc[:0]
    assert endpoints.relapse_dates(visits, no_events)["patient_id"].tolist() == ["A"]  # not lost
    with pytest.raises(ValueError, match="relapse source"):
        endpoints.relapse_dates(visits, events, "site")


def test_competing_status():
    t, s = endpoints.competing_status([10, 10, 10, 10], [True, True, False, False],
                                      [5, 10, 3, np.nan], [True, True, True, False])
    assert t.tolist()[:3] == [5, 10, 3] and s.tolist() == [1, 1, 1, 0]
    t, s = endpoints.competing_status([4], [True], [5], [True])
    assert (t.tolist(), s.tolist()) == ([4], [2])


def _one(pid, path, tx="2010-01-01", last="2012-01-01", death=None, months=None):
    v = make_visits(pid, path)
    if months is not None:
        v["visit_month"] = months
        v["visit_date"] = [T0 + pd.Timedelta(days=int(30.4375 * m)) for m in months]
    p = pd.DataFrame({"patient_id": [pid], "cohort": ["x"], "arm": ["MSCT"],
                      "enrol_date": pd.to_datetime(["2009-12-25"]), "transplant_date": pd.to_datetime([tx]),
                      "last_contact_date": pd.to_datetime([last]), "death_date": pd.to_datetime([death]),
                      "death_treatment_related": pd.array([pd.NA], dtype="boolean")})
    return p, v


NO_EVENTS = pd.DataFrame({"patient_id": pd.Series([], dtype=str), "event_date": pd.to_datetime([]),
                          "event": pd.Series([], dtype=str), "detail": pd.Series([], dtype=str)})


def test_primary_nonresponse_is_a_dfs_failure_at_the_landmark():
    # never below 50 % of baseline through month 24: a primary non-responder
    p, v = _one("N", [12, 10, 10, 9, 9, 9, 8, 8], months=[0, 1, 3, 6, 9, 12, 18, 24])
    t = endpoints.time_to_event_table(p, v, NO_EVENTS).set_index("endpoint")
    landmark = pd.Timestamp("2010-01-01") + pd.Timedelta(days=round(12 * endpoints.DAYS_PER_MONTH))
    assert t.loc["DFS", "status"] == 1 and t.loc["DFS", "event_desc"] == "primary non-response"
    assert t.loc["DFS", "end_date"] == landmark
    assert t.loc["REL", "status"] == 1 and t.loc["NRM", "status"] == 2
    old = endpoints.time_to_event_table(p, v, NO_EVENTS,
                                        endpoint_definition=endpoints.SENSITIVITY["dfs_without_nonresponse"])
    assert old.set_index("endpoint").loc["DFS", "status"] == 0  # the former DFS: cannot fail
    # a later landmark moves the failure; a response before it removes it
    late = endpoints.EndpointDefinition(nonresponse_landmark_months=24)
    assert endpoints.time_to_event_table(p, v, NO_EVENTS, endpoint_definition=late).set_index(
        "endpoint").loc["DFS", "time_months"] > 23
    p2, v2 = _one("R", [12, 10, 10, 9, 9, 6, 6, 6], months=[0, 1, 3, 6, 9, 12, 18, 24])
    assert endpoints.time_to_event_table(p2, v2, NO_EVENTS).set_index("endpoint").loc["DFS", "status"] == 0


def test_nonresponse_needs_follow_up_to_the_landmark_and_an_assessment():
    # alive, last seen at 9 months: censored, not a failure
    p, v = _one("C", [12, 10, 10, 9], last="2010-10-01", months=[0, 1, 3, 6])
    t = endpoints.time_to_event_table(p, v, NO_EVENTS).set_index("endpoint")
    assert t.loc["DFS", "status"] == 0
    # died at 8 months without response: a death, not a non-response
    p, v = _one("D", [12, 10, 10, 9], last="2010-09-01", death="2010-09-01", months=[0, 1, 3, 6])
    t = endpoints.time_to_event_table(p, v, NO_EVENTS).set_index("endpoint")
    assert t.loc["DFS", "event_desc"] == "death" and t.loc["NRM", "status"] == 1


def test_responder_rfs_starts_at_the_response():
    p, v = _one("R", [12, 10, 5, 4, 9], months=[0, 1, 3, 6, 9])  # PR at 3, relapse (+5 over 4) at 9
    r = endpoints.responder_rfs_table(p, v, NO_EVENTS).iloc[0]
    assert r["response"] == "partial" and r["start_date"] == T0 + pd.Timedelta(days=int(30.4375 * 3))
    assert r["status"] == 1 and r["time_months"] == pytest.approx(
        (int(30.4375 * 9) - int(30.4375 * 3)) / endpoints.DAYS_PER_MONTH)
    p, v = _one("N", [12, 10, 10])
    assert endpoints.responder_rfs_table(p, v, NO_EVENTS).empty  # non-responders are not in it


def test_endpoint_definitions_are_named_and_validated():
    assert endpoints.definition_named("primary") == endpoints.PRIMARY
    assert endpoints.PRIMARY.relapse_source == "both" and endpoints.PRIMARY.origin == "transplant"
    assert endpoints.PRIMARY.count_primary_nonresponse and endpoints.PRIMARY.nonresponse_landmark_months == 12
    assert set(endpoints.SENSITIVITY) == {"relapse_visits_only", "relapse_site_only",
                                          "dfs_without_nonresponse", "origin_itt_mobilisation"}
    assert set(endpoints.SENSITIVITY_LABELS) == {"primary", *endpoints.SENSITIVITY}
    with pytest.raises(BadInputError, match="unknown endpoint definition"):
        endpoints.definition_named("dfs_old")
    with pytest.raises(BadInputError, match="time origin"):
        endpoints.EndpointDefinition(origin="mobilisation")
    with pytest.raises(BadInputError, match="relapse source"):
        endpoints.EndpointDefinition(relapse_source="site")


def test_inclusion_check_counts_patients_below_the_threshold():
    p1, v1 = _one("A", [12, 4])
    p2, v2 = _one("B", [6, 4])
    t = endpoints.inclusion_check(pd.concat([p1, p2]), pd.concat([v1, v2])).iloc[0]
    assert (t["patients"], t["meeting_threshold"], t["below_threshold"]) == (2, 1, 1)
    loose = endpoints.RemissionDefinition(refractory_sledai_min=6)
    assert endpoints.inclusion_check(pd.concat([p1, p2]), pd.concat([v1, v2]), loose)["below_threshold"].iloc[0] == 0


def test_trm_counts_both_ways_one_rule():
    """Deaths attributed to the treatment vs deaths before transplant, both of all enrolled."""
    out = endpoints.trm_counts(dead=[True, True, True, False, False],
                               transplanted=[False, True, True, True, False],
                               treatment_related=[None, True, False, None, True])
    # patient 5 is alive: an attribution without a death does not count
    assert out == {"enrolled": 5, "treatment_related": 1, "before_transplant": 1}
