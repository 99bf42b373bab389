"""The model card rendered for the pages: raw HTML shown as text, NHS.UK tables without inline styles, headings, contents, figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.card_page import card_images, figure_file, render_card


def test_raw_html_in_the_card_is_escaped_in_blocks_inline_and_in_code() -> None:
    page = render_card('<script>alert(1)</script>\n\nValue <img src=x onerror=alert(2)> and `<b>x</b>` and "quotes" & ampersands\n')
    assert page.body == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
        "<p>Value &lt;img src=x onerror=alert(2)&gt; and <code>&lt;b&gt;x&lt;/b&gt;</code> and &quot;quotes&quot; &amp; ampersands</p>\n"
    )


def test_a_link_to_a_script_is_not_made_a_link() -> None:
    assert render_card("[click](javascript:alert(1))").body == "<p>[click](javascript:alert(1))</p>\n"


def test_the_first_top_level_heading_is_the_title_and_sections_get_ids_and_contents() -> None:
    page = render_card("# Model card — m version 3\n\nIntro.\n\n## Data *sources*\n\n## Data *sources*\n\n# Stray title\n\n### Detail\n")
    assert page.title == "Model card — m version 3"
    assert page.contents == [("card-data-sources", "Data sources"), ("card-data-sources-2", "Data sources"),
                             ("card-stray-title", "Stray title")]
    assert page.body == (
        "<p>Intro.</p>\n"
        '<h2 id="card-data-sources">Data <em>sources</em></h2>\n'
        '<h2 id="card-data-sources-2">Data <em>sources</em></h2>\n'
        '<h2 id="card-stray-title">Stray title</h2>\n'
        "<h3>Detail</h3>\n"
    )
    assert render_card("No heading.").title is None


def test_tables_get_nhs_classes_a_labelled_scroll_region_and_numeric_columns_right_aligned_by_class() -> None:
    markdown = "## Calibration\n\n| group | rows | AUROC | note |\n|---|---|---|:-:|\n| F | 1,200 | 0.81 (0.79–0.83) | ok |\n| M | – | -0.5% | ok |\n"
    assert render_card(markdown).body == (
        '<h2 id="card-calibration">Calibration</h2>\n'
        '<div class="nhsuk-table-container rr-card-table" tabindex="0" role="region" aria-label="Table 1: Calibration">\n'
        '<table class="nhsuk-table">\n<thead class="nhsuk-table__head">\n<tr class="nhsuk-table__row">\n'
        '<th class="nhsuk-table__header" scope="col">group</th>\n'
        '<th class="nhsuk-table__header nhsuk-table__header--numeric" scope="col">rows</th>\n'
        '<th class="nhsuk-table__header nhsuk-table__header--numeric" scope="col">AUROC</th>\n'
        '<th class="nhsuk-table__header rr-centre" scope="col">note</th>\n'
        '</tr>\n</thead>\n<tbody class="nhsuk-table__body">\n<tr class="nhsuk-table__row">\n'
        '<td class="nhsuk-table__cell">F</td>\n'
        '<td class="nhsuk-table__cell nhsuk-table__cell--numeric">1,200</td>\n'
        '<td class="nhsuk-table__cell nhsuk-table__cell--numeric">0.81 (0.79–0.83)</td>\n'
        '<td class="nhsuk-table__cell rr-centre">ok</td>\n'
        '</tr>\n<tr class="nhsuk-table__row">\n'
        '<td class="nhsuk-table__cell">M</td>\n'
        '<td class="nhsuk-table__cell nhsuk-table__cell--numeric">–</td>\n'
        '<td class="nhsuk-table__cell nhsuk-table__cell--numeric">-0.5%</td>\n'
        '<td class="nhsuk-table__cell rr-centre">ok</td>\n'
        "</tr>\n</tbody>\n</table>\n</div>\n"
    )


def test_tables_are_numbered_through_the_card_and_named_by_their_section() -> None:
    table = "| a |\n|---|\n| 1 |\n"
    body = render_card(f"{table}\n## Equity\n\n{table}\n{table}").body
    assert [part.split('"')[0] for part in body.split('aria-label="')[1:]] == [
        "Table 1: the model card", "Table 2: Equity", "Table 3: Equity"]


def test_a_figure_shows_from_its_page_url_and_one_without_a_url_is_named_in_words() -> None:
    markdown = '![ROC <curves>](../figures/roc.png)\n\n![Calibration "plot"](../figures/cal.png)\n'
    assert card_images(markdown) == ["../figures/roc.png", "../figures/cal.png"]
    body = render_card(markdown, figures={"../figures/roc.png": "/pages/model-card/figures/1"}).body
    assert body == (
        '<p><img class="rr-card-figure" src="/pages/model-card/figures/1" alt="ROC &lt;curves&gt;"></p>\n'
        '<p><span class="rr-card-missing">Figure not available here: Calibration &quot;plot&quot;</span></p>\n'
    )


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A training run's artifacts: model_card/model_card.md beside figures/ (and files elsewhere that must not be served)."""
    for name in ("run/figures/roc.png", "run/figures/chart.svg", "run/model_card/local.png", "secret.png", "run/figures/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "run/model_card/model_card.md").write_text("# Card\n")
    return tmp_path / "run"


def test_only_raster_images_inside_the_runs_artifacts_named_relatively_are_figures(run: Path) -> None:
    card = run / "model_card" / "model_card.md"
    assert figure_file(card, "../figures/roc.png") == (run / "figures" / "roc.png").resolve()
    assert figure_file(card, "local.png") == (run / "model_card" / "local.png").resolve()
    assert figure_file(card, "../figures/r%6Fc.png") == (run / "figures" / "roc.png").resolve()
    refused = ["../../secret.png", str(run / "figures" / "roc.png"), "https://example.org/roc.png", "//example.org/roc.png",
               "file:///etc/roc.png", "../figures/chart.svg", "../figures/notes.txt", "../figures/absent.png", "../figures/roc.png?x=1", ""]
    assert [figure_file(card, source) for source in refused] == [None] * len(refused)
