"""One figure style for the whole book, and the page header every notebook shows."""
from __future__ import annotations

from typing import Any, Sequence

__all__ = ["setup", "page_header", "PALETTE", "save", "show_image", "verdict_overview", "VERDICT_COLOURS",
           "plane_regions", "arrow"]

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


def page_header(profile: str, section: str | Sequence[str], *, substitute: str | None = None,
                extra: dict[str, Any] | None = None):
    """Display the profile table section(s) that produced the page, folded (it is reference, not story), and the
    substitute sentence, if any."""
    from IPython.display import Markdown, display

    from .profiles import table_markdown

    sections = [section] if isinstance(section, str) else list(section)
    rows = [table_markdown(s, highlight=profile).splitlines() for s in sections]
    table = "\n".join([*rows[0], *(ln for r in rows[1:] for ln in r[2:])])  # one table, one header
    text = (f":::{{dropdown}} Profile `{profile}` — the sizes that produced every number on this page "
            f"({', '.join(f'`{s}`' for s in sections)}; active profile in bold)\n\n{table}\n:::\n")
    if substitute:
        text += f"\n**Substitute.** {substitute}"
    if extra:
        text += "\n\n" + "\n".join(f"- {k}: {v}" for k, v in extra.items())
    display(Markdown(text))


def save(fig, name: str) -> None:
    """Save a figure next to the records (``book/generated/figures/<name>.png``) as well as showing it inline."""
    from .results import records_dir

    out = records_dir().parent / "figures"
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", bbox_inches="tight")


def show_image(ax, img, title: str | None = None, *, signed: bool = False) -> None:
    """Show a (C, H, W) or (H, W) image or saliency map (tensor or array) on ``ax`` (channels averaged), each scaled
    to its own range ("individually scaled to fit the colour range", Etmann et al. Fig 10); ``signed`` maps use a
    diverging colour map centred at 0."""
    import torch

    img = (img if torch.is_tensor(img) else torch.as_tensor(img)).detach().cpu().float()
    if img.ndim == 3:
        img = img.mean(0) if img.shape[0] > 1 else img[0]
    if signed:
        m = float(img.abs().max()) or 1.0
        ax.imshow(img, cmap="RdBu_r", vmin=-m, vmax=m)
    else:
        ax.imshow(img, cmap="gray", vmin=float(img.min()), vmax=float(img.max()) or 1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


#: colours of the verdicts (as the badges of the pages)
VERDICT_COLOURS = {"reproduced": "#198754", "reproduced on substitute": "#75b798", "identity holds": "#6c757d",
                   "inconclusive": "#fd7e14", "diverges": "#dc3545", "not run": "#e9ecef"}


def verdict_overview(rows, path) -> None:
    """Stacked horizontal bars: the verdicts of each paper's claims (the ledger's overview figure), saved to ``path``."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    papers = list(dict.fromkeys(r["paper"] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(papers)))
    left = [0] * len(papers)
    for verdict, colour in VERDICT_COLOURS.items():
        n = [sum(1 for r in rows if r["paper"] == p and r["verdict"] == verdict) for p in papers]
        ax.barh(papers, n, left=left, color=colour, label=verdict, edgecolor="white")
        left = [a + b for a, b in zip(left, n)]
    ax.invert_yaxis()
    ax.set_xlabel("claims")
    ax.legend(ncol=3, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(papers) > 2 else -0.6),
              frameon=False)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plane_regions(ax, regions, margin, lim: float) -> None:
    """A 2-D classifier on the square [−lim, lim]²: its linear regions (``regions``, an (n, n) integer image, rows
    = y) in pastel colours and its decision boundary (the zero level of ``margin``, (n, n)) in black."""
    import numpy as np

    n = np.asarray(margin).shape[0]
    t = np.linspace(-lim, lim, n)
    ax.imshow(np.asarray(regions) % 8, extent=(-lim, lim, -lim, lim), origin="lower", cmap="Pastel2", alpha=0.6,
              interpolation="nearest")
    ax.contour(t, t, margin, levels=[0.0], colors="k", linewidths=1.5)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.grid(False)


def arrow(ax, at, v, colour: str, label: str, *, length: float = 0.6) -> None:
    """An arrow of the direction ``v`` from the point ``at``, drawn ``length`` long, with a legend entry."""
    import numpy as np

    v = np.asarray(v, dtype=float)
    v = v / (np.linalg.norm(v) + 1e-12) * length
    ax.annotate("", xy=(at[0] + v[0], at[1] + v[1]), xytext=(at[0], at[1]),
                arrowprops=dict(arrowstyle="->", color=colour, lw=2))
    ax.plot([], [], color=colour, lw=2, label=label)
