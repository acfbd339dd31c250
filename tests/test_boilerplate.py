"""Boilerplate filter for text without DOM: furniture lines and trailing furniture blocks."""

from __future__ import annotations

import pytest

from pipeline.boilerplate import clean_lines
from tests.helpers import ARTICLE_SENTENCES

BODY = list(ARTICLE_SENTENCES)


def kept(lines: list[str]) -> list[str]:
    return clean_lines("\n".join(lines)).split("\n\n")


def test_body_paragraphs_kept_and_joined_by_blank_lines() -> None:
    assert kept(BODY) == BODY


@pytest.mark.parametrize("tail", [
    ["Leave a Reply", "You are commenting using your WordPress.com account.",
     "Notify me of new comments via email.", "Some reader wrote that this was a long comment indeed."],
    ["About Example Watch",
     "Example Watch investigates the sale of surveillance technology to police forces worldwide."],
    ["Example Watch is an independent, international non-governmental organization that documents abuses "
     "of surveillance technology."],
    ["Example Watch",
     "Example Watch is a nonprofit, independent organization that investigates surveillance vendors."],
], ids=["comment-form", "about-tail", "publisher-blurb", "heading-then-blurb"])
def test_trailing_furniture_block_removed(tail: list[str]) -> None:
    assert kept(BODY + tail) == BODY


def test_comment_form_lines_removed_anywhere() -> None:
    lines = [BODY[0], "You are commenting using your Facebook account.", *BODY[1:]]
    assert kept(lines) == BODY


def test_cookie_banner_removed() -> None:
    lines = ["This website uses cookies to improve your experience.",
             "By continuing to use this site you consent to our cookies.", *BODY]
    assert kept(lines) == BODY


def test_republication_line_removed() -> None:
    lines = [*BODY[:2], "This article was originally published by Example Outlet and is republished here.",
             *BODY[2:], "Originally published in Example Outlet"]
    assert kept(lines) == BODY


def test_repeated_long_line_kept_once() -> None:
    caption = "Photo: a DNA sequencer on display at a trade fair in Shanghai, 2018 (Example Agency)."
    lines = [BODY[0], caption, *BODY[1:4], caption, *BODY[4:]]
    assert kept(lines) == [BODY[0], caption, *BODY[1:]]


def test_repeated_line_kept_when_dedupe_off() -> None:
    caption = "Photo: a DNA sequencer on display at a trade fair in Shanghai, 2018 (Example Agency)."
    out = clean_lines("\n".join([caption, *BODY, caption]), dedupe=False)
    assert out.count(caption) == 2


def test_article_discussing_cookies_keeps_its_sentence() -> None:
    sentence = "The study examined how news websites track their readers with cookies and other identifiers."
    assert kept([sentence, *BODY]) == [sentence, *BODY]


def test_about_heading_early_in_text_is_not_a_tail() -> None:
    # "About ..." opens a trailing block only in the last part of the text.
    lines = ["About Example Watch", *BODY]
    assert kept(lines) == lines


def test_article_paragraph_about_cookie_consent_is_kept() -> None:
    paragraph = ("Regulators said that many news sites pressured visitors to accept cookies before they "
                 "could read a single article, a practice the agency later fined.")
    lines = [BODY[0], paragraph, *BODY[1:]]
    assert kept(lines) == lines
