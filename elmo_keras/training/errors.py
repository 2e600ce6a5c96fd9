"""The errors of a training run."""


class TrainingError(ValueError):
    """The output directory or the run's arguments do not allow training."""


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint (`step`, `checkpoint`)."""

    def __init__(self, step, checkpoint):
        super().__init__(f"interrupted at step {step}; checkpoint {checkpoint} written; "
                         "continue with --resume")
        self.step, self.checkpoint = step, checkpoint
