"""Rendering on a Ray cluster: each Ray worker (an actor) holds one engine, loaded once; the driver alone writes.

    python -m storyboard render PROJECT --cluster ray            # a local cluster, started for this run
    python -m storyboard render PROJECT --cluster ray:ADDRESS    # an existing one (`ray start --head`, KubeRay)

The driver (this process) tells stale panels and builds each panel's request from the story as it is at that
panel's turn, as storyboard.render does. Workers get requests, and the cast photos they name through Ray's
object store (so they need not see the project folder), and send back PNG bytes; the driver records each take
with storyboard.render.record_take under the project's lock. A worker that dies loses nothing: its panel goes
to another worker (and Ray restarts the dead one). A cancel stops every worker at its next step, and nothing
finished after it is recorded. StoryMaker's cast encodings are made once per character by one worker and
handed to the others through the object store; the driver keeps them in `<project>/.cache/encodings/`.

Ray is imported only in this package, and only when a cluster render starts. connect.py joins Ray, workers.py is
the Ray side (an engine per actor, and the pool), driver.py the run, command.py the CLI.
"""

from storyboard.cluster.command import run_render_command
from storyboard.cluster.connect import INSTALL_HINT, import_ray, parse_cluster
from storyboard.cluster.driver import iter_render_on_cluster, render_on_cluster

__all__ = ["INSTALL_HINT", "import_ray", "iter_render_on_cluster", "parse_cluster", "render_on_cluster",
           "run_render_command"]
