"""``shoptag feedback export``: creators' review decisions as annotations for ``shoptag eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from shoptag.cli.common import settings_from
from shoptag.errors import ConfigError

feedback_app = typer.Typer(no_args_is_help=True, help="Creators' review decisions, kept by the service.")


@feedback_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Annotation JSON to write (shoptag eval --annotations).")],
    index: Annotated[Optional[Path], typer.Option(
        "--index", help="The service's index: its state folder is <index>.state unless SHOPTAG_SERVICE__STATE_DIR "
        "says otherwise.")] = None,
    data: Annotated[Optional[Path], typer.Option(
        "--data", help="The service's data folder of catalogs: its state folder is <data>.state unless "
        "SHOPTAG_SERVICE__STATE_DIR says otherwise.")] = None,
    state_dir: Annotated[Optional[Path], typer.Option("--state-dir", help="The service's state folder.")] = None,
) -> None:
    """Write every complete review (a verdict on each suggestion) as annotations of the job's kept
    video: its accepted and added segments."""
    from shoptag.api.feedback import export_feedback

    config = settings_from(service={"index": index, "data_dir": data, "state_dir": state_dir}).service
    if config.state_dir is None and config.served is None:
        raise ConfigError("name the service's state folder: --state-dir DIR, --index DIR or --data DIR")
    folder = config.resolved_state_dir(config.served)
    done = export_feedback(folder, out)
    left_out = [f"{count} {why}" for count, why in ((done.skipped, "whose video is no longer kept"),
                                                    (done.undecided, "with suggestions left undecided")) if count]
    typer.echo(f"wrote {out}: {done.videos} reviewed video(s), {done.appearances} appearance(s)"
               + (f"; reviews left out: {', '.join(left_out)}" if left_out else ""))
