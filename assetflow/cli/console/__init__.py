"""Everything a person sees: the only package that imports rich.

- base.py: the consoles (`out` for results, `err` for errors and progress), shared cells;
- runs.py: plans, the progress bar, a run's summary, runs, ticks, backfills;
- state.py: status, why, lineage, observations, checks;
- ops.py: wipe, prune, column lineage;
- envs.py: environments, their diffs and promotions.
"""

from assetflow.cli.console.base import err, error, note, out
from assetflow.cli.console.envs import render_diff, render_envs, render_promotion
from assetflow.cli.console.ops import pruned, render_columns, vacuumed, wipe_preview, wiped
from assetflow.cli.console.runs import (
    RunProgress,
    backfill_id,
    nothing_to_do,
    plan_size,
    render_backfill,
    render_live,
    render_plan,
    render_run,
    render_run_detail,
    render_runs,
    render_tick,
)
from assetflow.cli.console.state import (
    key_sets,
    keys_changed,
    render_assets,
    render_checks,
    render_lineage,
    render_observations,
    render_rows,
    render_status,
    render_stored_checks,
    render_tests,
    render_why,
)

__all__ = [
    "render_diff",
    "render_envs",
    "render_promotion",
    "render_tests",
    "note",
    "render_columns",
    "pruned",
    "vacuumed",
    "wipe_preview",
    "wiped",
    "key_sets",
    "keys_changed",
    "render_rows",
    "render_assets",
    "RunProgress",
    "backfill_id",
    "err",
    "error",
    "nothing_to_do",
    "out",
    "plan_size",
    "render_backfill",
    "render_checks",
    "render_lineage",
    "render_live",
    "render_observations",
    "render_plan",
    "render_run",
    "render_run_detail",
    "render_runs",
    "render_status",
    "render_stored_checks",
    "render_tick",
    "render_why",
]
