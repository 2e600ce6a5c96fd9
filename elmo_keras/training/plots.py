"""Pictures of a training run."""

import os


def plot_learning_curve(history, path):
    """Saves training (and validation, when present) perplexity against step as a PNG.

    Args:
        history: entries of `history.jsonl` (dicts with `step` and
            `train_perplexity` or `valid_perplexity`).
        path: the PNG file.
    """
    from elmo_keras.extras import require

    require("matplotlib", "train", "the learning curve of elmo-keras train").use("Agg")
    import matplotlib.pyplot as plt

    train = [(e["step"], e["train_perplexity"]) for e in history if "train_perplexity" in e]
    valid = [(e["step"], e["valid_perplexity"]) for e in history if "valid_perplexity" in e]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train (forward/backward mean)", color="tab:blue")
    if valid:
        ax.plot(*zip(*valid), "o-", label="validation", color="tab:orange")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("perplexity")
    ax.set_title("biLM learning curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = f"{path}.tmp.png"  # written whole, then renamed: an interruption leaves the old one
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
