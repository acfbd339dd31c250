"""Event dates stated in claim text: calendar expressions, weekdays relative to publication, and
the numbers that must not be read as years."""

from __future__ import annotations

import pytest

from pipeline.event_dates import event_dates


def values(text: str, published: str | None = None) -> list[str]:
    return [d.value for d in event_dates(text, published)]


@pytest.mark.parametrize(("text", "expected", "precision"), [
    ("In February 2019, the company announced it would stop sales.", ["2019-02"], "month"),
    ("The sequencers were bought in Feb. 2019 by the bureau.", ["2019-02"], "month"),
    ("Sales resumed in Sept. 2020, the records show.", ["2020-09"], "month"),
    ("The bureau announced the plan In 2015 and again later.", ["2015"], "year"),
    ("The contract was signed on March 3, 2021 in Urumqi.", ["2021-03-03"], "day"),
    ("The contract was signed on 3 March 2021 in Urumqi.", ["2021-03-03"], "day"),
    ("The contract was signed on 3rd March 2021 in Urumqi.", ["2021-03-03"], "day"),
    ("The decision was published on Feb. 21, 2019 by the company.", ["2019-02-21"], "day"),
    ("The tender closed on 2021-06-17 according to the notice.", ["2021-06-17"], "day"),
])
def test_calendar_expressions(text: str, expected: list[str], precision: str) -> None:
    found = event_dates(text)
    assert [d.value for d in found] == expected
    assert [d.precision for d in found] == [precision]


def test_a_range_gives_both_ends_in_order() -> None:
    found = event_dates("Companies sold equipment to the police from May 2019 to June 2021, the paper found.")
    assert [(d.value, d.precision) for d in found] == [("2019-05", "month"), ("2021-06", "month")]


def test_the_most_precise_reading_wins_and_the_year_is_not_repeated() -> None:
    # "March 3, 2021" must not also yield "2021" (year) or "March 2021"-style month readings.
    assert values("On March 3, 2021 and in 2018 the bureau bought kits.") == ["2021-03-03", "2018"]


def test_offsets_point_at_the_surface_text() -> None:
    text = "Between May 2019 and June 2021, and again on Wednesday, police bought kits in 2015."
    found = event_dates(text, "2021-06-17")
    assert [d.value for d in found] == ["2019-05", "2021-06", "2021-06-16", "2015"]
    for d in found:
        assert text[d.start:d.end] == d.surface
    assert [d.start for d in found] == sorted(d.start for d in found)


@pytest.mark.parametrize(("text", "published", "expected"), [
    ("Thermo Fisher said Wednesday that it would stop selling sequencers.", "2019-02-20", "2019-02-20"),  # a Wednesday
    ("As recently as Sunday, a company sold products to the police.", "2021-06-17", "2021-06-13"),  # a Thursday
    ("The company said on Monday that it had opened an inquiry.", "2021-06-17", "2021-06-14"),
    ("The company said Thursday that it had opened an inquiry.", "2021-06-17T09:30:00+00:00", "2021-06-17"),
])
def test_weekday_is_the_latest_such_day_on_or_before_publication(text: str, published: str, expected: str) -> None:
    found = event_dates(text, published)
    assert [(d.value, d.precision) for d in found] == [(expected, "day")]


@pytest.mark.parametrize("published", [None, "", "not a date"])
def test_weekday_without_a_usable_publication_date_is_undated(published: str | None) -> None:
    assert values("The company said Wednesday that it would stop selling sequencers.", published) == []


@pytest.mark.parametrize("text", [
    "Chinese companies sold equipment worth at least $ 521,165 to eight agencies.",
    "Companies sold equipment worth at least $521,165 to eight agencies.",
    "The programme collected samples from 2,019 people in one county.",
    "Hospitals treated patients with COVID-2019 symptoms in the region.",
    "The 2019-nCoV outbreak delayed the tender.",
    "The device logged 2019.5 hours of use and cost $2019 in total.",
    "A budget of 2019% more than planned was reported.",
])
def test_amounts_and_identifiers_are_not_years(text: str) -> None:
    assert event_dates(text) == []


def test_amount_with_space_after_currency_sign_is_not_a_year() -> None:
    assert event_dates("The reseller sold the kit for $ 2000 to the police in Korla.") == []


def test_invalid_calendar_day_is_skipped() -> None:
    found = event_dates("The order was placed on February 30, 2019, a date that does not exist.")
    # No impossible day and no invented month reading; at most the bare year it states.
    assert all(d.precision == "year" for d in found)
    assert [d.value for d in found] in ([], ["2019"])


def test_common_words_are_not_dates() -> None:
    text = "Officials may march on; the sun rose a second time, and the company said it will review sales."
    assert event_dates(text, "2021-06-17") == []


def test_years_out_of_range_are_ignored() -> None:
    assert event_dates("The archive lists 1890 and 2099 as catalogue numbers.") == []
