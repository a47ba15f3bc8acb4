"""A self-contained HTML page (figures embedded as base64 PNGs, no external resources)."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from typing import Any

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #222; margin: 0;
       background: #f4f5f7; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #e3e6ea; }
p, li { line-height: 1.45; font-size: 14px; }
.sub { color: #666; font-size: 13px; margin: 0 0 16px; }
code { font-family: 'SFMono-Regular', Menlo, Consolas, monospace; font-size: 12.5px; background: #f1f2f4;
       padding: 1px 4px; border-radius: 3px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0 8px; }
.card { flex: 1 1 150px; border: 1px solid #e3e6ea; border-radius: 8px; padding: 10px 14px; }
.card .v { font-size: 22px; font-weight: 600; }
.card .k { font-size: 12px; color: #666; text-transform: uppercase; letter-spacing: .04em; }
.ok { color: #1a7f37; } .bad { color: #cf222e; } .muted { color: #888; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 4px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6ea; text-align: right; white-space: nowrap; }
th { background: #f6f8fa; font-weight: 600; }
table.kv th { background: none; font-weight: 500; color: #555; }
td.l, th.l { text-align: left; }
tr.chosen td { background: #e8f5e9; font-weight: 600; }
figure { margin: 12px 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 12.5px; color: #555; margin-top: 4px; }
.note { font-size: 12.5px; color: #555; }
"""


class Page:
    """An HTML report assembled section by section; `write` produces one self-contained file."""

    def __init__(self, title: str, subtitle: str = ''):
        self.title = title
        self.parts: list[str] = [f'<h1>{html.escape(title)}</h1>']
        if subtitle:
            self.parts.append(f'<p class="sub">{subtitle}</p>')

    def heading(self, text: str) -> None:
        self.parts.append(f'<h2>{html.escape(text)}</h2>')

    def paragraph(self, text_html: str, cls: str = '') -> None:
        """``text_html`` is inserted as is: escape user text with `esc`."""
        c = f' class="{cls}"' if cls else ''
        self.parts.append(f'<p{c}>{text_html}</p>')

    def cards(self, items: Sequence[tuple[str, str, str]]) -> None:
        """Big-number cards: ``(label, value, css class)``."""
        cells = ''.join(
            f'<div class="card"><div class="k">{html.escape(k)}</div><div class="v {c}">{html.escape(v)}</div></div>'
            for k, v, c in items
        )
        self.parts.append(f'<div class="cards">{cells}</div>')

    def image(self, png_path: str, caption: str = '', alt: str = '') -> None:
        with open(png_path, 'rb') as f:
            data = base64.b64encode(f.read()).decode('ascii')
        cap = f'<figcaption>{caption}</figcaption>' if caption else ''
        self.parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt or os.path.basename(png_path))}">'
            f'{cap}</figure>'
        )

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], left: Sequence[int] = (0,),
              row_classes: Sequence[str] | None = None, raw_cols: Sequence[int] = ()) -> None:
        """A table; columns in ``left`` are left-aligned, cells of ``raw_cols`` are inserted as HTML."""
        left, raw = set(left), set(raw_cols)

        def cell(i: int, v: Any, tag: str) -> str:
            cls = ' class="l"' if i in left else ''
            text = v if (i in raw and tag == 'td') else html.escape('' if v is None else str(v))
            return f'<{tag}{cls}>{text}</{tag}>'

        head = ''.join(cell(i, h, 'th') for i, h in enumerate(headers))
        body = []
        for r, row in enumerate(rows):
            rc = row_classes[r] if row_classes and row_classes[r] else ''
            attr = f' class="{rc}"' if rc else ''
            body.append(f'<tr{attr}>' + ''.join(cell(i, v, 'td') for i, v in enumerate(row)) + '</tr>')
        self.parts.append(f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')

    def key_values(self, items: Mapping[str, Any]) -> None:
        rows = ''.join(f'<tr><th class="l">{html.escape(str(k))}</th><td class="l">{html.escape(str(v))}</td></tr>'
                       for k, v in items.items())
        self.parts.append(f'<table class="kv"><tbody>{rows}</tbody></table>')

    def html(self) -> str:
        body = '\n'.join(self.parts)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(self.title)}'
            f'</title><style>{_CSS}</style></head><body><main>\n{body}\n</main></body></html>\n'
        )

    def write(self, path: str) -> str:
        with open(path, 'w', encoding='utf-8') as f:
            f.write(self.html())
        return path


def esc(text: Any) -> str:
    """HTML-escaped ``str(text)``."""
    return html.escape(str(text))


def exact_cell(equal: int | None, total: int | None) -> str:
    """An HTML cell for a bit-exact count: green 'exact', red 'DIFFERS', grey 'not converted'."""
    if equal is None or total is None:
        return '<span class="muted">not converted</span>'
    if equal == total:
        return f'<span class="ok">{equal:,}/{total:,} exact</span>'
    return f'<span class="bad">{equal:,}/{total:,} DIFFERS</span>'
