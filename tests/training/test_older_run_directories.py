"""`train --resume` on a run directory an older elmo-keras wrote: its `run.json` has no
`last_checkpoint`. With its checkpoints, it resumes (they are found on disk); without
them but with a history, it is refused with the reason, never restarted from step 0
in silence (issue 22)."""

import json
import os

import pytest

from elmo_keras.training.errors import TrainingError
from elmo_keras.training.run_directory import RunRecord, check_resumable, run_paths


def _run_dir(tmp_path, last_checkpoint, steps):
    run = tmp_path / "run"
    run.mkdir()
    p = run_paths(str(run))
    record = {"train_files": ["/c.txt"], "valid_files": None, "steps_per_epoch": 9,
              "init_weights": None, "changes": [], "trainer": "tensorflow"}
    if last_checkpoint != "absent":
        record["last_checkpoint"] = last_checkpoint
    with open(p["run"], "w") as f:
        json.dump(record, f)
    with open(p["history"], "w") as f:
        f.writelines(json.dumps({"step": s, "train_perplexity": 9.0}) + "\n" for s in steps)
    return str(run), RunRecord.load(p["run"])


def test_an_older_run_without_checkpoints_but_with_history_is_refused(tmp_path):
    run, record = _run_dir(tmp_path, "absent", [5, 10, 15])
    with pytest.raises(TrainingError, match=r"--resume refused: .*history.jsonl goes to step "
                                            r"15 but no checkpoint is left in .*checkpoints"):
        check_resumable(run, record)


@pytest.mark.parametrize("last_checkpoint, steps", [
    ("absent", []),  # an older run stopped before it logged anything
    (None, [5]),  # a run that recorded it had no checkpoint yet: starts again
])
def test_runs_with_nothing_to_lose_start_again(tmp_path, last_checkpoint, steps):
    run, record = _run_dir(tmp_path, last_checkpoint, steps)
    check_resumable(run, record)


def test_an_older_run_with_its_checkpoints_resumes(tmp_path):
    run, record = _run_dir(tmp_path, "absent", [5, 10])
    folder = run_paths(run)["checkpoints"]
    os.makedirs(folder)
    open(os.path.join(folder, "ckpt-10.index"), "wb").close()  # found by its name
    check_resumable(run, record)
