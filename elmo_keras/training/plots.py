"""Pictures of a training run."""


def plot_learning_curve(history, path):
    """Saves training (and validation, when present) perplexity against step as a PNG.

    Args:
        history: entries of `history.jsonl` (dicts with `step` and
            `train_perplexity`, or `valid_perplexity` and `valid_stateless_perplexity`).
        path: the PNG file.
    """
    from elmo_keras.extras import require
    from elmo_keras.io.paths import save_figure

    require("matplotlib", "train", "the learning curve of elmo-keras train").use("Agg")
    import matplotlib.pyplot as plt

    train = [(e["step"], e["train_perplexity"]) for e in history if "train_perplexity" in e]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train (forward/backward mean)", color="tab:blue")
    for key, label, color in (
            ("valid_perplexity", "validation, stateful (bilm-tf's protocol)", "tab:orange"),
            ("valid_stateless_perplexity", "validation, stateless (as ELMo embeds)",
             "tab:green")):
        valid = [(e["step"], e[key]) for e in history if key in e]
        if valid:
            ax.plot(*zip(*valid), "o-", label=label, color=color)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("perplexity")
    ax.set_title("biLM learning curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        save_figure(fig, path, what="learning curve")  # written whole, through the output policy
    finally:
        plt.close(fig)
