"""Training and fine-tuning LFSC: losses, discriminators, data, trainer, and the `lfsc-train` CLI (imported lazily)."""
