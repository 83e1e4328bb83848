"""What the studio app does, as plain functions: project folder in, project (and what changed) out.

One module per area of the app, mirroring ui/: project, cast, panels, lettering, style, pages, render.
Each change takes the project's lock (storyboard.store), reads the story as it is now, checks the request,
writes any new file first, then saves story.yaml atomically; on a bad request it raises a StoryboardError
subclass that says what to do, and the project on disk stays as it was. The UI (ui/) only turns these
errors into messages.
"""

from storyboard.studio.common import (
    SAMPLES_DIR,
    SAMPLE,
    IMAGE_FORMATS,
    StudioError,
    ImageUploadError,
    slug,
)
from storyboard.studio.project import (
    project_summary,
    create_project,
    open_sample,
    import_project,
    export_project_zip,
    list_projects,
    check_inside,
    open_project,
    set_title,
)
from storyboard.studio.cast import (
    import_image,
    add_character,
    update_character,
    mask_from_layers,
    set_painted_mask,
    clear_mask,
    mask_layer,
    remove_character,
    FaceCheck,
    face_check,
    face_preview,
)
from storyboard.studio.panels import (
    PANEL_FIELDS,
    add_panel,
    update_panel,
    duplicate_panel,
    delete_panel,
    move_panel,
    panel_pose,
    set_pose,
    select_take,
)
from storyboard.studio.lettering import (
    add_balloon,
    update_balloon,
    remove_balloon,
)
from storyboard.studio.style import (
    set_style,
    STYLE_OVERRIDE_KEYS,
    style_overrides,
    set_style_overrides,
    reset_style_overrides,
)
from storyboard.studio.pages import (
    set_page_settings,
    page_previews,
    EXPORT_KINDS,
    ExportFiles,
    export,
)
from storyboard.studio.render import (
    RenderUpdate,
    render_options,
    panel_states,
    iter_render,
    CancelRegistry,
)

__all__ = [
    "SAMPLES_DIR",
    "SAMPLE",
    "IMAGE_FORMATS",
    "StudioError",
    "ImageUploadError",
    "slug",
    "project_summary",
    "create_project",
    "open_sample",
    "import_project",
    "export_project_zip",
    "list_projects",
    "check_inside",
    "open_project",
    "set_title",
    "import_image",
    "add_character",
    "update_character",
    "mask_from_layers",
    "set_painted_mask",
    "clear_mask",
    "mask_layer",
    "remove_character",
    "FaceCheck",
    "face_check",
    "face_preview",
    "PANEL_FIELDS",
    "add_panel",
    "update_panel",
    "duplicate_panel",
    "delete_panel",
    "move_panel",
    "panel_pose",
    "set_pose",
    "select_take",
    "add_balloon",
    "update_balloon",
    "remove_balloon",
    "set_style",
    "STYLE_OVERRIDE_KEYS",
    "style_overrides",
    "set_style_overrides",
    "reset_style_overrides",
    "set_page_settings",
    "page_previews",
    "EXPORT_KINDS",
    "ExportFiles",
    "export",
    "RenderUpdate",
    "render_options",
    "panel_states",
    "iter_render",
    "CancelRegistry",
]
