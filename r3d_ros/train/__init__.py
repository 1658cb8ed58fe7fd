"""Training: the trainer, collapse remedies, rank monitoring, checkpoints, distributed set-up."""
