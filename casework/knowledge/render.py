"""Markdown → safe HTML for articles (pure): CommonMark by markdown-it-py with raw HTML off, then nh3 keeps
only the tags and attributes below (so a pasted <script> or javascript: link never reaches a page)."""

from __future__ import annotations

import html as html_lib

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}}


def render_markdown(text: str) -> str:
    html = _md.render(text or "")
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def plain_text(html: str) -> str:
    """The words of rendered HTML (for the index and excerpts)."""
    return " ".join(html_lib.unescape(nh3.clean(html, tags=set())).split())
