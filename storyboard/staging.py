"""Where the people in a panel's art are, on the page: each character's head (tails aim at it, lettering keeps
off it) and the name tags draft art draws above heads.

A head comes from the take's faces when it has them (found by the StoryMaker scorer), else from the panel's
pose, else from the shot's staging as the draft engine draws it (storyboard.engines.draft: FRAMING). Draft
takes without a pose stand each figure up to STAGING_JITTER of the width from that place, so those heads and
tags carry that much slack. All geometry is in page points (top-left origin, y down).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import PoseError
from storyboard.layout import Rect
from storyboard.model import Panel
from storyboard.paths import resolve_inside
from storyboard.poses import Person, Pose, read_pose

log = logging.getLogger(__name__)

Head = tuple[float, float, float]  # centre x, y and radius of a head, in page points
FACE_HEAD_SCALE = 0.62  # a head's radius from its detected face box's larger side (the box stops at brow and chin)


@dataclass(frozen=True)
class Staging:
    """The heads (per cast id) and name tags of a panel's art on the page; `slack` is how far they may be off."""

    heads: dict[str, Head]
    tags: tuple[Rect, ...] = ()
    slack: float = 0.0  # points, sideways: figures drawn without a pose stand a little off their place

    def keep_out(self) -> tuple[Rect, ...]:
        """Rectangles automatic lettering keeps off besides heads: the name tags, widened by the slack."""
        return tuple(Rect(t.x - self.slack, t.y, t.w + 2 * self.slack, t.h) for t in self.tags)


def image_to_page(rect: Rect, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """(scale, offset x, offset y) mapping image pixels to page points when the image cover-fills `rect`."""
    iw, ih = image_size
    scale = max(rect.w / iw, rect.h / ih)
    return scale, rect.x - (iw * scale - rect.w) / 2, rect.y - (ih * scale - rect.h) / 2


def panel_pose(root: Path, panel: Panel) -> Pose | None:
    """The panel's pose, or None (no pose, or one that cannot be read: logged, tails then use the staging)."""
    if not panel.pose:
        return None
    try:
        return read_pose(resolve_inside(root, panel.pose))
    except PoseError as exc:
        log.warning("Panel %s: %s Balloon tails point to the default staging instead.", panel.id, exc)
        return None


def panel_staging(panel: Panel, rect: Rect, image_size: tuple[int, int], pose: Pose | None,
                  names: Mapping[str, str] | None = None) -> Staging:
    """Where each character's head is on the page, and the draft art's name tags (given the cast's names)."""
    from storyboard.engines.draft import STAGING_JITTER, Unjittered, head_circle, line_px, name_tag, stage_people

    iw, ih = image_size
    scale, ox, oy = image_to_page(rect, image_size)
    take = panel.selected_take
    people = list(pose.scaled_to(iw, ih).clamped().people) if pose is not None else []
    staged = len(people) < len(panel.characters)
    if staged:  # as the draft engine stages them: the pose's people first, then default places
        people += list(stage_people(iw, ih, len(panel.characters), panel.shot, Unjittered()).people[len(people):])
    heads: dict[str, Head] = {}
    tags: list[Rect] = []
    for i, cid in enumerate(panel.characters):
        person: Person = people[i]
        face = take.face(cid) if take is not None else None
        if face is not None:
            fx, fy, fw, fh = face[0] * iw, face[1] * ih, face[2] * iw, face[3] * ih
            circle = (fx + fw / 2, fy + fh * 0.4, FACE_HEAD_SCALE * max(fw, fh))
        else:
            line = line_px(person, iw, ih)
            drawn = head_circle(person, line)
            if drawn is None:
                continue
            circle = (drawn[0], drawn[1], drawn[2] + line / 2)  # the outline's stroke is part of the head
        heads[cid] = (ox + circle[0] * scale, oy + circle[1] * scale, circle[2] * scale)
        if names is not None and take is not None and take.engine == "draft":
            tag = name_tag(person, names.get(cid, cid), iw, ih)
            if tag is not None:
                x0, y0, x1, y1 = tag[0]
                tags.append(Rect(ox + x0 * scale, oy + y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale))
    slack = STAGING_JITTER * iw * scale if staged and (take is None or take.engine == "draft") else 0.0
    return Staging(heads, tuple(tags), slack)


def speaker_heads(panel: Panel, rect: Rect, image_size: tuple[int, int], pose: Pose | None) -> dict[str, Head]:
    """Where each character's head is on the page (see panel_staging)."""
    return panel_staging(panel, rect, image_size, pose).heads
