"""Exchange with other tools: Fountain screenplays in, comic archives (CBZ) out, Storyboarder in and out.

The plain functions the CLI and the studio call (each takes a project folder; writes go through the
project's one writer, storyboard.store):

- `storyboard.exchange.script_import.import_script(script, root)`: a Fountain script into a new or
  existing project (appends, never overwrites); `read_script(path)` / `parse_script(text)` read one.
- `storyboard.exchange.cbz.export_cbz(root, project, output, ...)`: page PNGs + ComicInfo.xml in a .cbz.
- `storyboard.exchange.storyboarder.export_storyboarder(root, project, output, ...)` and
  `import_storyboarder(file, root)`: a `.storyboarder` file with its board images, and back.
"""

from __future__ import annotations

from storyboard.errors import StoryboardError


class ExchangeError(StoryboardError):
    """A file from or for another tool cannot be read or written as asked."""
