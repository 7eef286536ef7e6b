"""One figure style for the whole book, and the page header every notebook shows."""
from __future__ import annotations

from typing import Any

__all__ = ["setup", "page_header", "PALETTE", "save"]

#: colours used consistently: standard model, weak adversary, strong adversary, attacks, class colours
PALETTE = {
    "standard": "#4C72B0", "weak": "#DD8452", "strong": "#C44E52", "attack": "#222222",
    "class0": "#3A7BD5", "class1": "#D5483A", "region0": "#C9DAF8", "region1": "#F8CBC6",
}


def setup() -> None:
    """Matplotlib/seaborn defaults for the book (inline PNG at a resolution readable on screen)."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    mpl.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "figure.autolayout": False,
                         "axes.titlesize": "medium", "image.cmap": "viridis"})


def page_header(profile: str, section: str, *, substitute: str | None = None, extra: dict[str, Any] | None = None):
    """Display the profile table section that produced the page (and the substitute sentence, if any)."""
    from IPython.display import Markdown, display

    from .profiles import table_markdown

    text = f"**Profile: `{profile}`** — the sizes below (active profile in bold) produced every number on this page.\n\n"
    text += table_markdown(section, highlight=profile)
    if substitute:
        text += f"\n\n**Substitute.** {substitute}"
    if extra:
        text += "\n\n" + "\n".join(f"- {k}: {v}" for k, v in extra.items())
    display(Markdown(text))


def save(fig, name: str) -> None:
    """Save a figure next to the records (``book/generated/figures/<name>.png``) as well as showing it inline."""
    from .results import records_dir

    out = records_dir().parent / "figures"
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", bbox_inches="tight")
