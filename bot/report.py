"""The accountability report for the privacy officer (functionaris gegevensbescherming):
an HTML page with charts and CSV files of the same figures, per school.

Charts are drawn by matplotlib (Agg, no display) as SVG and put inline in the page: the
page opens offline and loads nothing from a network."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import matplotlib
from aiogram.utils.i18n import I18n
from markupsafe import Markup

# A Figure made directly (not through pyplot) needs no display and no global state.
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.labels import channel_label, kind_label, small_count
from bot.render import current_locale, render
from bot.spreadsheet import csv_text
from flows.board import Report, percent, shown_count
from flows.clock import SCHOOL_TZ

# matplotlib explains its own choices at INFO; the administrator needs none of it.
logging.getLogger("matplotlib").setLevel(logging.WARNING)
# Same bytes for the same figures: ids in the SVG do not change from run to run.
matplotlib.rcParams["svg.hashsalt"] = "ouderloket"
# Text stays text: smaller, and readable by a screen reader.
matplotlib.rcParams["svg.fonttype"] = "none"
_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)


def _(message: str) -> str:
    return I18n.get_current(no_error=False).gettext(message)


@dataclass(frozen=True)
class SchoolReport:
    key: str
    name: str
    report: Report


def _svg(figure: Figure) -> Markup:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    # Our own drawing: safe to put inline; the XML prologue is not allowed inside HTML.
    return Markup(_XML_PROLOGUE.sub("", buffer.getvalue(), count=1))


def requests_chart(report: Report) -> Markup:
    labels = [m.label for m in report.months]
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    bottom = [0] * len(labels)
    for kind in report.kinds:
        # A count from 1 to 4 is not drawn: it could point at one family.
        counts = [shown_count(report.requests[label][kind]) or 0 for label in labels]
        axes.bar(labels, counts, bottom=bottom, label=kind_label(kind))
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_ylabel(_("verzoeken"))
    axes.set_title(_("Verzoeken per maand, naar soort (aantallen onder 5 niet getekend)"))
    axes.legend(fontsize="small")
    axes.tick_params(axis="x", labelrotation=45)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Counts start at 0, also when nothing could be drawn (no negative axis).
    axes.set_ylim(bottom=0, top=max([*bottom, 5]))
    return _svg(figure)


def on_time_chart(report: Report) -> Markup:
    labels = [m.label for m in report.months]
    rates = [percent(report.on_time[label], report.decided[label]) for label in labels]
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    # A month with fewer than 10 decisions has no bar, not a bar of 0 %.
    axes.bar(labels, [r if r is not None else float("nan") for r in rates], color="#2a7a3b")
    axes.set_ylim(0, 100)
    axes.set_ylabel("%")
    axes.set_title(_("Op tijd beantwoord (%), per maand van het besluit"))
    axes.tick_params(axis="x", labelrotation=45)
    return _svg(figure)


def consent_chart(report: Report) -> Markup:
    labels = [m.label for m in report.months]
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    for channel in report.channels:
        values = [report.consent[label][channel] for label in labels]
        axes.plot(
            labels,
            [v if v is not None else float("nan") for v in values],
            marker="o",
            label=channel_label(channel),
        )
    axes.set_ylim(0, 100)
    axes.set_ylabel("%")
    axes.set_title(_("Toestemming per kanaal (%), aan het eind van de maand"))
    axes.legend(fontsize="small")
    axes.tick_params(axis="x", labelrotation=45)
    return _svg(figure)


def write_report(
    schools: Sequence[SchoolReport], start: date, end: date, now: datetime, out: Path
) -> list[Path]:
    """Writes report.html and the CSV files into `out`; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    sections = [
        {
            "name": s.name,
            "report": s.report,
            "requests_chart": requests_chart(s.report),
            "on_time_chart": on_time_chart(s.report),
            "consent_chart": consent_chart(s.report),
            "received": small_count(sum(sum(k.values()) for k in s.report.requests.values())),
            "decided": small_count(sum(s.report.decided.values())),
            "still_open": small_count(s.report.still_open),
            "on_time": percent(sum(s.report.on_time.values()), sum(s.report.decided.values())),
        }
        for s in schools
    ]
    page = render(
        "report.html.j2",
        sections=sections,
        start=start,
        end=end,
        today=now,
        # Open at the end of the period, or today when it has not ended yet.
        open_on=min(end, now.astimezone(SCHOOL_TZ).date()),
        lang=current_locale(),
        kind_label=kind_label,
        channel_label=channel_label,
    )
    files = {
        "report.html": page,
        "verzoeken_per_maand.csv": csv_text(
            (_("school"), _("maand"), _("soort"), _("aantal")),
            (
                (s.name, m.label, kind_label(kind), small_count(s.report.requests[m.label][kind]))
                for s in schools
                for m in s.report.months
                for kind in s.report.kinds
            ),
        ),
        "op_tijd.csv": csv_text(
            (_("school"), _("maand"), _("besloten"), _("op tijd"), _("op tijd (%)")),
            (
                (
                    s.name,
                    m.label,
                    small_count(s.report.decided[m.label]),
                    small_count(s.report.on_time[m.label]),
                    percent(s.report.on_time[m.label], s.report.decided[m.label]),
                )
                for s in schools
                for m in s.report.months
            ),
        ),
        "toestemming.csv": csv_text(
            (_("school"), _("maand"), _("kanaal"), _("toestemming (%)")),
            (
                (s.name, m.label, channel_label(c), s.report.consent[m.label][c])
                for s in schools
                for m in s.report.months
                for c in s.report.channels
            ),
        ),
        "bijsluiters_niet_herzien.csv": csv_text(
            (_("school"), _("leverancier"), _("laatst herzien")),
            (
                (s.name, vendor, reviewed.isoformat() if reviewed else "")
                for s in schools
                for vendor, reviewed in s.report.stale_vendors
            ),
        ),
    }
    written = []
    for name, text in files.items():
        path = out / name
        # utf-8-sig: Excel opens the CSV files with the right characters.
        path.write_text(text, encoding="utf-8" if name.endswith(".html") else "utf-8-sig")
        written.append(path)
    return written
