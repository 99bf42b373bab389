"""The model card as a page: its Markdown rendered to HTML on the server (raw HTML off, tables on), in the pages' NHS.UK styles."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

__all__ = ["FIGURE_TYPES", "CardPage", "card_images", "figure_file", "render_card"]

#: Image files a card's figures may be served as (suffix -> media type); no SVG, which can carry scripts.
FIGURE_TYPES: dict[str, str] = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}
#: A table cell that reads as a number: "0.812", "-3", "1,234", "12.5%", "0.81 (0.79–0.83)", or an en dash for none.
_NUMERIC = re.compile(r"[–-]|[-+−]?[\d,]*\.?\d+%?(?:\s*\([-+−]?[\d.,]+\s*[–-]\s*[-+−]?[\d.,]+\))?")
_ALIGN = re.compile(r"text-align:(left|right|center)")


@dataclass(frozen=True)
class CardPage:
    """A rendered card: its title (the first top-level heading, None without one), its sections ``(id, heading)`` and the HTML body."""

    title: str | None
    contents: list[tuple[str, str]]
    body: str


def _parser() -> MarkdownIt:
    # CommonMark with raw HTML switched off: a "<script>" in run data is text, escaped like any other.
    return MarkdownIt("commonmark", {"html": False}, renderer_cls=_CardRenderer).enable("table")


class _CardRenderer(RendererHTML):
    """CommonMark HTML with tables in a keyboard-scrollable labelled region and figures served by the pages (or named when absent)."""

    def table_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        label = escapeHtml(str(tokens[idx].meta.get("label", "Table")))
        region = f'<div class="nhsuk-table-container rr-card-table" tabindex="0" role="region" aria-label="{label}">\n'
        return region + self.renderToken(tokens, idx, options, env)

    def table_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self.renderToken(tokens, idx, options, env) + "</div>\n"

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        alt = self.renderInlineAsText(token.children or [], options, env)
        url = env.get("figures", {}).get(str(token.attrGet("src") or ""))
        if url is None:
            return f'<span class="rr-card-missing">Figure not available here: {escapeHtml(alt)}</span>'
        return f'<img class="rr-card-figure" src="{escapeHtml(url)}" alt="{escapeHtml(alt)}">'


def _images(tokens: Sequence[Token]) -> Iterator[Token]:
    for token in tokens:
        if token.type == "image":
            yield token
        if token.children:
            yield from _images(token.children)


def card_images(markdown: str) -> list[str]:
    """The image sources of a card, in the order they appear (the pages number its figures 1, 2, … in this order)."""
    return [str(token.attrGet("src") or "") for token in _images(_parser().parse(markdown))]


def figure_file(card: Path, source: str) -> Path | None:
    """The image file ``source`` names relative to ``card``, or None.

    Only a relative path to an existing raster image (:data:`FIGURE_TYPES`) inside the folder
    above the card's own (a training run's artifacts: ``model_card/`` beside ``figures/``) is a
    figure; URLs, absolute paths and anything outside that folder are not served.
    """
    parts = urlsplit(source)
    if parts.scheme or parts.netloc or parts.query or not parts.path:
        return None
    relative = PurePosixPath(unquote(parts.path))
    if relative.is_absolute() or relative.suffix.lower() not in FIGURE_TYPES:
        return None
    root = card.resolve().parent.parent
    path = (card.resolve().parent / relative).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def _slug(text: str, taken: set[str]) -> str:
    base = "card-" + ("-".join(re.findall(r"[a-z0-9]+", text.lower())) or "section")
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def _cells(tokens: Sequence[Token], start: int, end: int) -> list[list[int]]:
    """Indices of the cell-open tokens of each row of the table between ``start`` and ``end``."""
    rows: list[list[int]] = []
    for i in range(start, end):
        if tokens[i].type == "tr_open":
            rows.append([])
        elif tokens[i].type in ("th_open", "td_open"):
            rows[-1].append(i)
    return rows


def _style_table(tokens: list[Token], start: int, label: str) -> None:
    """NHS.UK table classes, header cells scoped to their column, numeric columns right-aligned (classes, never inline styles)."""
    end = next(i for i in range(start, len(tokens)) if tokens[i].type == "table_close")
    tokens[start].meta["label"] = label
    tokens[start].attrSet("class", "nhsuk-table")
    for i in range(start, end):
        kind = tokens[i].type
        if kind in ("thead_open", "tbody_open"):
            tokens[i].attrSet("class", "nhsuk-table__head" if kind == "thead_open" else "nhsuk-table__body")
        elif kind == "tr_open":
            tokens[i].attrSet("class", "nhsuk-table__row")
    rows = _cells(tokens, start, end)
    header, body = rows[0], rows[1:]
    width = len(header)
    numeric = [
        bool(body) and all(_NUMERIC.fullmatch(tokens[row[c] + 1].content.strip()) for row in body if c < len(row)) for c in range(width)
    ]
    for row in rows:
        for c, i in enumerate(row):
            cell = tokens[i]
            role = "header" if cell.type == "th_open" else "cell"
            align = _ALIGN.search(str(cell.attrGet("style") or ""))
            classes = [f"nhsuk-table__{role}"]
            if (c < width and numeric[c]) or (align and align.group(1) == "right"):
                classes.append(f"nhsuk-table__{role}--numeric")
            elif align and align.group(1) == "center":
                classes.append("rr-centre")
            cell.attrs.pop("style", None)  # the pages' CSP allows no inline style
            cell.attrSet("class", " ".join(classes))
            if role == "header":
                cell.attrSet("scope", "col")


def render_card(markdown: str, *, figures: Mapping[str, str] | None = None) -> CardPage:
    """The card's Markdown as page HTML (CommonMark and tables; raw HTML is shown as text, never interpreted).

    The first top-level heading becomes the page's title (and leaves the body); second-level
    headings get ids and make the contents; other top-level headings read as second-level.
    Tables get the NHS.UK table styles inside a labelled region that scrolls sideways when wide.
    ``figures`` maps an image source of the card to the URL the page shows it from; an image
    without one is named in words instead ("Figure not available here: …").
    """
    md = _parser()
    env: EnvType = {"figures": dict(figures or {})}
    tokens = md.parse(markdown, env)
    title: str | None = None
    contents: list[tuple[str, str]] = []
    taken: set[str] = set()
    section = "the model card"
    tables = 0
    keep: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open":
            text = md.renderer.renderInlineAsText(tokens[i + 1].children, md.options, env).strip()
            if token.tag == "h1" and title is None:
                title = text
                i += 3  # heading_open, inline, heading_close
                continue
            if token.tag == "h1":
                token.tag = tokens[i + 2].tag = "h2"
            if token.tag == "h2":
                slug = _slug(text, taken)
                token.attrSet("id", slug)
                contents.append((slug, text))
                section = text
        elif token.type == "table_open":
            tables += 1
            _style_table(tokens, i, f"Table {tables}: {section}")
        keep.append(token)
        i += 1
    return CardPage(title=title, contents=contents, body=md.renderer.render(keep, md.options, env))
