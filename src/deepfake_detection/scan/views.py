"""CSV and self-contained HTML views of a scan, rebuilt from its JSON Lines records (complete after any resume).

The HTML page needs nothing from the network: inline CSS, a few lines of inline JS to sort the table by a header
click, thumbnails as data: URIs, and one anchored section per file with its reason, warnings and faces.
"""

from __future__ import annotations

import csv
import html
import os
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ..report import VERDICTS

CSV_COLUMNS = ("path", "verdict", "probability", "faces", "duration", "size", "sha256", "error", "provenance")
# Short labels for the HTML table's credentials column (the detail section has the full summary).
_CREDENTIALS = {"none": "none", "valid": "trusted", "untrusted": "signed", "invalid": "INVALID", "unchecked": "–"}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _sorted(records: Iterable[dict]) -> list[dict]:
    return sorted(records, key=lambda r: r["path"])


def write_csv(records: Iterable[dict], out: str | os.PathLike) -> Path:
    """One row per file: path, verdict, probability, faces (count), duration, size, sha256, error, provenance (the
    content credentials in one line, e.g. "no content credentials")."""
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in _sorted(records):
        w.writerow(
            [
                r["path"],
                r["verdict"],
                _blank(r.get("probability")),
                len(r.get("faces") or []),
                _blank(r.get("duration")),
                _blank(r.get("size")),
                r.get("sha256") or "",
                r.get("error") or "",
                _provenance(r).get("summary") or "",
            ]
        )
    _atomic_write(Path(out), buf.getvalue())
    return Path(out)


def _blank(v) -> str:
    return "" if v is None else str(v)


def _provenance(r: dict) -> dict:
    """A record's content-credentials summary (records written before issue 17 have none)."""
    p = r.get("provenance")
    return p if isinstance(p, dict) else {}


def _credentials_label(r: dict) -> str:
    p = _provenance(r)
    label = _CREDENTIALS.get(p.get("state") or "unchecked", "–")
    return label + (", AI" if p.get("declares_ai") and p.get("state") != "none" else "")


_CSS = """
tr.not-judged td{color:#999}
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:2em} h3{font-size:1em;word-break:break-all}
table{border-collapse:collapse} td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}
#files th{cursor:pointer;user-select:none;background:#f4f4f4;position:sticky;top:0}
#files th.asc::after{content:" \\25B2"} #files th.desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img.thumb{width:64px;height:64px;object-fit:cover;border-radius:4px;display:block}
.v{font-weight:600;padding:1px 6px;border-radius:3px}
.v-FAKE{background:#fdd;color:#900} .v-REAL{background:#dfd;color:#060} .v-NO_FACE{background:#eee;color:#555}
.v-ERROR{background:#fe9;color:#740}
section{border-top:1px solid #ccc;margin-top:1em;padding-top:.5em}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px} dt{color:#666}
.summary span{margin-right:1.2em}
"""

_JS = """
(function(){
  var table=document.getElementById('files'), body=table.tBodies[0];
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th, col){
    th.addEventListener('click', function(){
      var asc=!th.classList.contains('asc');
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function(h){h.classList.remove('asc','desc');});
      th.classList.add(asc?'asc':'desc');
      var rows=Array.prototype.slice.call(body.rows), numeric=th.dataset.type==='num';
      rows.sort(function(a,b){
        var x=a.cells[col].dataset.v, y=b.cells[col].dataset.v;
        if(numeric){x=x===''?-Infinity:parseFloat(x); y=y===''?-Infinity:parseFloat(y);}
        return (x<y?-1:x>y?1:0)*(asc?1:-1);
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
})();
"""


def write_html(records: Iterable[dict], out: str | os.PathLike, title: str = "Deepfake scan") -> Path:
    records = _sorted(records)
    e = html.escape
    counts = Counter(r["verdict"] for r in records)
    summary = "".join(f'<span><b class="v v-{v}">{v}</b> {counts.get(v, 0)}</span>' for v in VERDICTS)
    head = [
        ("", "str"),
        ("File", "str"),
        ("Verdict", "str"),
        ("P(fake)", "num"),
        ("Faces", "num"),
        ("Credentials", "str"),
        ("Duration (s)", "num"),
        ("Size (MB)", "num"),
        ("Scan (s)", "num"),
    ]
    rows, details = [], []
    for i, r in enumerate(records):
        p, v = r.get("probability"), r["verdict"]
        thumb = (
            f'<img class="thumb" alt="face" src="data:image/jpeg;base64,{r["thumbnail"]}">'
            if r.get("thumbnail")
            else ""
        )
        size = r.get("size")
        cells = [
            (thumb, "1" if thumb else "0", ""),
            (f'<a href="#f{i}" title="{e(r["path"])}">{e(Path(r["path"]).name)}</a>', e(r["path"]), ""),
            (f'<span class="v v-{e(v)}" title="{e(r.get("reason") or "")}">{e(v)}</span>', e(v), ""),
            ("" if p is None else f"{p:.3f}", "" if p is None else str(p), "num"),
            (str(len(r.get("faces") or [])), str(len(r.get("faces") or [])), "num"),
            (
                f'<span title="{e(_provenance(r).get("summary") or "")}">{e(_credentials_label(r))}</span>',
                e(_credentials_label(r)),
                "",
            ),
            (_num(r.get("duration"), 1), _blank(r.get("duration")), "num"),
            ("" if size is None else f"{size / 1e6:.2f}", _blank(size), "num"),
            (_num(r.get("elapsed_s"), 2), _blank(r.get("elapsed_s")), "num"),
        ]
        rows.append("<tr>" + "".join(f'<td class="{c}" data-v="{dv}">{txt}</td>' for txt, dv, c in cells) + "</tr>")
        details.append(_detail(i, r))
    th = "".join(f'<th data-type="{t}">{e(name)}</th>' for name, t in head)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{e(title)}</h1>
<p class="summary"><span><b>{len(records)}</b> files</span>{summary}</p>
<p>Written {e(time.strftime("%Y-%m-%d %H:%M:%S"))}. Click a column header to sort; click a file for its details.
Thumbnails show the face crop the model judged most suspicious.</p>
<table id="files"><thead><tr>{th}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Details</h2>
{chr(10).join(details)}
<script>{_JS}</script>
</body></html>
"""
    _atomic_write(Path(out), page)
    return Path(out)


def _num(v, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _credentials_detail(r: dict) -> str:
    """The summary, then what it rests on: source types (IPTC terms, not URIs: the page links nowhere), failures."""
    e, p = html.escape, _provenance(r)
    out = e(p.get("summary") or "content credentials not checked")
    terms = [str(t).rstrip("/").rsplit("/", 1)[-1] for t in p.get("digital_source_types") or []]
    if terms:
        out += "<br>digital source type: " + e(", ".join(terms))
    if p.get("failures"):
        out += "<br>codes: " + e(", ".join(str(c) for c in p["failures"]))
    if p.get("decided"):
        out += "<br><b>decided the verdict</b>"
    return out


def _span(span) -> str:
    return "–" if not span else f"{span[0]:.1f}–{span[1]:.1f} s"


def _detail(i: int, r: dict) -> str:
    e = html.escape
    items = [
        ("Verdict", f'<span class="v v-{e(r["verdict"])}">{e(r["verdict"])}</span>'),
        ("Reason", e(r.get("reason") or "")),
        ("P(fake)", _num(r.get("probability"), 3) or "–"),
        ("Threshold", _num(r.get("threshold"), 3)),
        ("Model", e(r.get("model") or "")),
        ("Duration", (_num(r.get("duration"), 2) + " s") if r.get("duration") is not None else "–"),
        ("Size", f"{r['size']:,} bytes" if r.get("size") is not None else "–"),
        ("SHA-256", f"<code>{e(r.get('sha256') or '–')}</code>"),
        ("Content credentials", _credentials_detail(r)),
    ]
    if r.get("error"):
        items.append(("Error", e(r["error"])))
    media = r.get("media") or {}
    if media.get("width"):
        items.append(
            (
                "Media",
                e(
                    f"{media['width']}x{media['height']}, {media.get('fps', 0):g} fps, "
                    f"{media.get('sampled_frames', 0)} sampled frame(s)"
                ),
            )
        )
    warnings = r.get("warnings") or []
    if warnings:
        items.append(("Warnings", "<br>".join(e(w) for w in warnings)))
    timings = r.get("timings") or {}
    if timings:
        items.append(("Timings", e(", ".join(f"{k} {v:.2f} s" for k, v in timings.items() if v is not None))))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    faces = r.get("faces") or []
    face_rows = "".join(
        f'<tr class="{"" if f.get("judged", True) else "not-judged"}">'
        f"<td>{f['track_id']}{' (decided)' if f['track_id'] == r.get('deciding_face') else ''}</td>"
        f'<td class="num">{_num(f.get("probability"), 3)}</td>'
        f'<td class="num">{len(f.get("frames") or [])}</td>'
        f'<td class="num">{_num((f.get("quality") or {}).get("size"), 0)}</td>'
        f"<td>{_span(f.get('span'))}</td>"
        f"<td>{'yes' if f.get('judged', True) else 'no: ' + e(f.get('not_judged_reason') or '')}</td></tr>"
        for f in faces
    )
    face_table = (
        (
            f"<table><tr><th>Face</th><th>P(fake)</th><th>Frames</th><th>Size px</th><th>Over threshold</th>"
            f"<th>Judged</th></tr>{face_rows}</table>"
        )
        if faces
        else ""
    )
    return f'<section id="f{i}"><h3>{e(r["path"])}</h3><dl>{dl}</dl>{face_table}</section>'
