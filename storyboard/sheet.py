"""The storyboard sheet (a frame per panel with shot, dialogue, caption, action, notes and duration beside it)
and the consistency appendix (each panel's scores and drift flags), laid out as geometry and drawn by painters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from storyboard.art import TakeArt, contain_rect
from storyboard.layout import PageSpec, Rect
from storyboard.lettering import INK, Font, LetteringIssue, TextBlock, pick_font, wrap
from storyboard.model import Panel, Project
from storyboard.painters import RGB, Painter

SHEET_HEADER_PT = 26.0

@dataclass(frozen=True)
class SheetRow:
    """One panel on a storyboard sheet: its frame box and the text beside it."""

    panel_id: str
    number: int
    frame: Rect
    text_box: Rect
    lines: tuple[tuple[str, Font, float, bool], ...]  # (line, font, size, gap before)


def sheet_entries(panel: Panel, number: int, project: Project) -> list[tuple[str, str, bool]]:
    """(label, text, bold) paragraphs beside a panel on the sheet."""
    from storyboard.render import fill_prompt

    names = {c.id: c.name for c in project.cast}
    duration = f"{panel.duration:g} s" if panel.duration is not None else "duration not set"
    entries = [(f"Panel {number}", f"{panel.id} · {panel.shot.replace('-', ' ')} · {duration}", True)]
    if panel.caption:
        entries.append(("Caption", panel.caption, False))
    for balloon in panel.balloons:
        who = names.get(balloon.speaker, "off-panel") if balloon.speaker else "off-panel"
        kind = "" if balloon.kind == "speech" else f" ({balloon.kind})"
        entries.append((f"{who.upper()}{kind}", balloon.text, False))
    if panel.prompt:
        entries.append(("Action", fill_prompt(panel.prompt, project), False))
    if panel.notes:
        entries.append(("Notes", panel.notes, False))
    return entries


def layout_sheet_rows(project: Project, spec: PageSpec, per_page: int) -> tuple[list[list[SheetRow]], list[LetteringIssue]]:
    """Storyboard sheet rows: frame on the left, its text on the right, `per_page` rows a page."""
    live = spec.live
    body = Rect(live.x, live.y + SHEET_HEADER_PT, live.w, live.h - SHEET_HEADER_PT)
    row_h = body.h / per_page
    gap = spec.gutter_pt
    frame_w = body.w * 0.5
    pages: list[list[SheetRow]] = []
    issues: list[LetteringIssue] = []
    for index, panel in enumerate(project.panels):
        slot = index % per_page
        if slot == 0:
            pages.append([])
        top = body.y + slot * row_h
        frame = Rect(body.x, top + gap / 2, frame_w, row_h - gap)
        text_box = Rect(body.x + frame_w + gap * 1.5, top + gap / 2, body.w - frame_w - gap * 1.5, row_h - gap)
        lines, fits = _sheet_text(sheet_entries(panel, index + 1, project), text_box, panel.id)
        if not fits:
            issues.append(LetteringIssue(panel.id, "sheet text", panel.notes or panel.prompt,
                                         f"does not fit beside the frame at 6.5 pt; it runs past the row. Use fewer "
                                         f"panels per page (--sheet-panels, now {per_page}) or shorter notes."))
        pages[-1].append(SheetRow(panel.id, index + 1, frame, text_box, lines))
    return pages, issues


def _sheet_text(entries: list[tuple[str, str, bool]], box: Rect, panel_id: str) -> tuple[tuple[tuple[str, Font, float, bool], ...], bool]:
    for size in (9.0, 8.5, 8.0, 7.5, 7.0, 6.5):
        lines: list[tuple[str, Font, float, bool]] = []
        ok = True
        for i, (label, text, bold) in enumerate(entries):
            paragraph = f"{label}: {text}" if not bold else f"{label} · {text}"
            font = pick_font(paragraph, bold=bold, what=f"Panel {panel_id!r} sheet text")
            block = wrap(paragraph, font, size, box.w)
            if block is None:
                ok = False
                block = TextBlock((paragraph,), font, size, (0.0,))
            for j, line in enumerate(block.lines):
                lines.append((line, font, size, j == 0 and i > 0))
        height = sum(size * 1.2 + (size * 0.45 if gap else 0) for _, _, size, gap in lines)
        if ok and height <= box.h:
            return tuple(lines), True
    return tuple(lines), False


def draw_sheet_page(painter: Painter, rows: Sequence[SheetRow], art: Mapping[str, TakeArt], project: Project,
                    spec: PageSpec, page_number: int, page_count: int) -> None:
    live = spec.live
    title = project.title
    total = sum(p.duration or 0 for p in project.panels)
    header_font = pick_font(title, bold=True, what="The title")
    painter.text(title, header_font, 12, live.x, live.y + 12, "left")
    right = f"Storyboard · page {page_number} of {page_count} · {len(project.panels)} panels · {total:g} s"
    painter.text(right, pick_font(right), 8.5, live.right, live.y + 12, "right", (0.3, 0.3, 0.3))
    painter.line((live.x, live.y + 18), (live.right, live.y + 18), INK, 0.6)
    for row in rows:
        painter.rect(row.frame, (0.93, 0.93, 0.93), None, 0)
        take = art[row.panel_id]
        inner = contain_rect(row.frame, take.size)
        painter.image(inner, take, f"sheet:{row.panel_id}")
        painter.rect(row.frame, None, INK, 0.8)
        y = row.text_box.y
        for line, font, size, gap in row.lines:
            y += size * 1.2 + (size * 0.45 if gap else 0)
            painter.text(line, font, size, row.text_box.x, y - size * 0.25, "left")


# ---------------------------------------------------------------- consistency appendix

APPENDIX_SIZE_PT = 8.5
APPENDIX_FLAG: RGB = (0.75, 0.1, 0.1)
APPENDIX_MUTED: RGB = (0.35, 0.35, 0.35)


def appendix_entries(project: Project, thresholds: dict[str, float] | None = None) -> list[list[tuple[str, bool, RGB]]]:
    """Per panel, the appendix paragraphs: (text, bold, colour). Scores are read from story.yaml, never computed."""
    from storyboard.scores import METRICS, drift_flags, format_scores, metric_scores, unscorable_reason

    names = {c.id: c.name for c in project.cast}
    entries = []
    for number, panel in enumerate(project.panels, start=1):
        cast = ", ".join(names.get(c, c) for c in panel.characters) or "no characters"
        paragraphs: list[tuple[str, bool, RGB]] = [(f"Panel {number} · {panel.id} · {cast}", True, INK)]
        take = panel.selected_take
        if take is None:
            paragraphs.append(("No take.", False, APPENDIX_MUTED))
            entries.append(paragraphs)
            continue
        seed = f", seed {take.seed}" if take.seed is not None else ""
        paragraphs.append((f"Take {take.file} ({take.engine or 'added by hand'}{seed}, {len(panel.takes)} take(s) in all)",
                           False, APPENDIX_MUTED))
        if unscorable_reason(take) or not metric_scores(take):
            status = format_scores(take)
            paragraphs.append((status[0].upper() + status[1:] + ".", False, APPENDIX_MUTED))
            entries.append(paragraphs)
            continue
        paragraphs.append((format_scores(take, flags=False), False, INK))
        scores = dict(take.scores)
        if len(panel.characters) > 1:
            per = []
            for cid in panel.characters:
                values = [f"{METRICS[m].label} {scores[f'{m}.{cid}']:.2f}" for m in ("face_sim", "clip_i") if f"{m}.{cid}" in scores]
                if values:
                    per.append(f"{names.get(cid, cid)}: {', '.join(values)}")
            if per:
                paragraphs.append(("; ".join(per), False, INK))
        flags = drift_flags(take, thresholds, panel.characters)
        for flag in flags:
            who = names.get(flag.character, flag.character) if flag.character else None
            text = flag.message if who is None else flag.message.replace(f"{flag.character}:", f"{who}:", 1)
            paragraphs.append((f"Flag: {text}", False, APPENDIX_FLAG))
        if not flags:
            paragraphs.append(("No drift.", False, APPENDIX_MUTED))
        entries.append(paragraphs)
    return entries


def layout_appendix(project: Project, width_pt: float, height_pt: float, margin_pt: float,
                    thresholds: dict[str, float]) -> list[list[tuple[str, Font, float, RGB, float]]]:
    """The appendix as pages of lines (text, font, size, colour, baseline y), panels never split across pages."""
    from storyboard.scores import METRICS

    size = APPENDIX_SIZE_PT
    leading = size * 1.3
    text_w = width_pt - 2 * margin_pt
    top, bottom = margin_pt + 44.0, height_pt - margin_pt
    limits = ", ".join(f"{METRICS[k].label} < {v:g}" for k, v in thresholds.items())
    header = [
        ("Consistency appendix", True, 14.0, INK),
        (f"{project.title}: scores of each panel's selected take. Face Sim and CLIP-I are cosines (1 is identical), "
         f"CLIP-T is 100 x the CLIP cosine with the prompt. Flagged below: {limits}.", False, 7.5, APPENDIX_MUTED),
    ]
    pages: list[list[tuple[str, Font, float, RGB, float]]] = []

    def new_page() -> float:
        pages.append([])
        y = margin_pt
        for text, bold, text_size, colour in header:
            block = wrap(text, pick_font(text, bold=bold, what="The appendix"), text_size, text_w)
            for line in (block.lines if block else (text,)):
                y += text_size * 1.3
                pages[-1].append((line, pick_font(line, bold=bold, what="The appendix"), text_size, colour, y))
        return max(y + 10.0, top)

    y = new_page()
    for paragraphs in appendix_entries(project, thresholds):
        lines: list[tuple[str, Font, float, RGB]] = []
        for text, bold, colour in paragraphs:
            font = pick_font(text, bold=bold, what="The appendix")
            block = wrap(text, font, size, text_w)
            for line in (block.lines if block else (text,)):
                lines.append((line, font, size, colour))
        height = leading * len(lines) + size
        if y + height > bottom and pages[-1] and y > top:
            y = new_page()
        for line, font, line_size, colour in lines:
            y += leading
            pages[-1].append((line, font, line_size, colour, y))
        y += size
    return pages


def draw_appendix_page(painter: Painter, lines: Sequence[tuple[str, Font, float, RGB, float]], margin_pt: float) -> None:
    for text, font, size, colour, y in lines:
        painter.text(text, font, size, margin_pt, y, "left", colour)

