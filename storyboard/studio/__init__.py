"""What the studio app does, as plain functions: project folder in, project (and what changed) out.

One module per area of the app, mirroring ui/: project, cast, panels, lettering, style, pages, render.
Each change takes the project's lock (storyboard.store), reads the story as it is now, checks the request,
writes any new file first, then saves story.yaml atomically; on a bad request it raises a StoryboardError
subclass that says what to do, and the project on disk stays as it was. The UI (ui/) only turns these
errors into messages.
"""

from storyboard.history import NothingToUndo
from storyboard.history import labels as history_labels
from storyboard.store import redo, undo
from storyboard.studio.cast import (
    FaceCheck,
    add_character,
    clear_mask,
    face_check,
    face_preview,
    import_image,
    mask_from_layers,
    mask_layer,
    remove_character,
    set_painted_mask,
    update_character,
)
from storyboard.studio.common import (
    EXPORTS_DIR,
    IMAGE_FORMATS,
    SAMPLE,
    SAMPLES_DIR,
    ImageUploadError,
    StudioError,
    TextTooLong,
    check_text,
    check_texts,
    export_dir,
    panel_name,
    slug,
)
from storyboard.studio.exchange import (
    import_script_upload,
    import_storyboarder_upload,
)
from storyboard.studio.lettering import (
    LETTERING_TARGETS,
    add_balloon,
    apply_lettering_edit,
    remove_balloon,
    set_lettering,
    update_balloon,
)
from storyboard.studio.pages import (
    EXPORT_KINDS,
    ExportFiles,
    export,
    set_page_settings,
)
from storyboard.studio.pageview import (
    PAGE_VIEW_DPI,
    PageView,
    page_count,
    page_previews,
    page_view,
)
from storyboard.studio.panels import (
    PANEL_FIELDS,
    add_panel,
    delete_panel,
    duplicate_panel,
    move_panel,
    panel_pose,
    select_take,
    set_pose,
    update_panel,
)
from storyboard.studio.project import (
    check_inside,
    create_project,
    export_project_zip,
    import_project,
    list_projects,
    open_project,
    open_sample,
    project_summary,
    set_title,
)
from storyboard.studio.render import (
    CancelRegistry,
    ClusterRender,
    RenderUpdate,
    iter_render,
    panel_states,
    render_options,
)
from storyboard.studio.retouch import retouch_panel
from storyboard.studio.style import (
    STYLE_OVERRIDE_KEYS,
    reset_style_overrides,
    set_style,
    set_style_overrides,
    style_overrides,
)

__all__ = [
    "NothingToUndo",
    "history_labels",
    "redo",
    "undo",
    "SAMPLES_DIR",
    "SAMPLE",
    "IMAGE_FORMATS",
    "StudioError",
    "ImageUploadError",
    "TextTooLong",
    "check_text",
    "check_texts",
    "EXPORTS_DIR",
    "export_dir",
    "panel_name",
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
    "LETTERING_TARGETS",
    "set_lettering",
    "apply_lettering_edit",
    "PAGE_VIEW_DPI",
    "PageView",
    "page_count",
    "page_view",
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
    "import_script_upload",
    "import_storyboarder_upload",
    "ClusterRender",
    "RenderUpdate",
    "render_options",
    "panel_states",
    "iter_render",
    "CancelRegistry",
    "retouch_panel",
]
