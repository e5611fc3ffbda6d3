"""``report.html``: the latency table, the plots and each episode's map and camera strip on one page,
images linked by relative paths (the PNGs lie beside it), no server needed."""

from __future__ import annotations

import html
from pathlib import Path


def write_html(out_dir: Path, table: str, plots: list[Path], episodes: dict[str, list[dict]],
               timeline: tuple[str, Path] | None = None) -> Path:
    """``episodes``: bag label -> [{"title", "outcome", "map", "camera"}] (PNG paths inside ``out_dir``);
    ``timeline``: the first command timeline's table and plot."""

    def img(path: Path | None, alt: str) -> str:
        if path is None:
            return f"<p><em>{html.escape(alt)}: not in the bag</em></p>"
        rel = Path(path).relative_to(out_dir).as_posix()
        return f'<a href="{html.escape(rel)}"><img src="{html.escape(rel)}" alt="{html.escape(alt)}"></a>'

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>spec_decode_ros report</title>',
             "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}img{max-width:100%;margin:4px 0}"
             "pre{background:#f4f4f4;padding:.8em;overflow-x:auto}.ep{border-top:1px solid #ccc;padding-top:.5em}"
             ".row{display:flex;gap:1em;align-items:flex-start;flex-wrap:wrap}</style></head><body>",
             "<h1>spec_decode_ros run report</h1>", "<h2>Latency and decoding</h2>",
             f"<pre>{html.escape(table)}</pre>"]
    parts += [img(p, Path(p).stem.replace("_", " ")) for p in plots]
    if timeline is not None:
        text, plot = timeline
        parts += ["<h2>First command timeline</h2>", f"<pre>{html.escape(text)}</pre>",
                  img(plot, "first command timeline")]
    for label, views in episodes.items():
        parts.append(f"<h2>Episodes: {html.escape(label)}</h2>")
        for ep in views:
            parts.append(f'<div class="ep"><h3>{html.escape(ep["title"])}</h3><p>{html.escape(ep["outcome"])}</p>'
                         f'<div class="row">{img(ep["map"], "map")}{img(ep["camera"], "camera frames")}</div></div>')
    parts.append("</body></html>")
    path = out_dir / "report.html"
    path.write_text("\n".join(parts))
    return path
