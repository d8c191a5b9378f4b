"""Report files are valid: Markdown tables well formed and the answer check first, HTML
self-contained with every image a data URI, PNGs that open, and the HTML loads every image in
headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image as mpimg
import pytest
from builders import CHROMIUM, chromium, clean_parallel, make_run, parallel, unit_rows
from builders import reference_run as reference

from perfkit.analysis.comparison import analyse
from perfkit.reports import write_report



def comparison(differ: bool = False, several_workers: bool = True):
    runs = [reference(repeat=r) for r in range(2)]
    for r in range(2):
        runs.append(clean_parallel(repeat=r))
        if several_workers:
            runs.append(clean_parallel(workers=4, cores=4, repeat=r))

    def edit(df):
        m = df["split"].eq("demo") & df["index"].eq(4) & df["candidate"].isin(["c001", "c002"])
        df.loc[m, ["status", "output_hash", "match", "cpu_s"]] = ["timeout", None, None, 0.02]
        return df.drop(df.index[0])

    if differ:
        runs.append(clean_parallel("sample-parallel", "thread", 2, edit=edit))
    return analyse(runs)


def md_tables(text: str) -> list[list[str]]:
    tables, cur = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            tables.append(cur)
            cur = []
    return tables + ([cur] if cur else [])


def cells(line: str) -> int:
    return len(re.split(r"(?<!\\)\|", line.strip())) - 2


@pytest.mark.parametrize("differ", [pytest.param(False, marks=pytest.mark.slow), True])
@pytest.mark.slow
def test_report_files_valid(tmp_path: Path, differ: bool):
    out = write_report(comparison(differ), tmp_path / "rep", "unit-test")
    md = (out / "report.md").read_text()
    first = md.splitlines()[0]
    assert ("ANSWERS DIFFER" in first) == differ and (("Answers identical" in first) != differ)
    tables = md_tables(md)
    assert len(tables) >= 4
    for t in tables:
        assert re.fullmatch(r"\|(---\|)+", t[1]), t[1]
        assert all(cells(line) == cells(t[0]) for line in t), t[0]
    pngs = sorted(out.glob("*.png"))
    names = {p.stem for p in pngs}
    assert {"wall_vs_cpu", "timeline", "speedup_vs_workers", "unit_times", "cost_pareto"} <= names
    # the differing samples are drawn only when answers differ; otherwise a per-task table
    assert ("candidate_counts" in names) == differ
    assert ("## Tasks (" in md) != differ
    for p in pngs:
        img = mpimg.imread(p)
        assert img.shape[0] > 100 and img.shape[1] > 100
        assert f"]({p.name})" in md
    html = (out / "report.html").read_text()
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(srcs) == len(pngs) and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing external
    if differ:
        assert "status changed" in md and "sample-parallel/thread×2" in md


@pytest.mark.slow
def test_speedup_chart_only_with_several_worker_counts(tmp_path: Path):
    out = write_report(comparison(several_workers=False), tmp_path / "rep")
    assert not (out / "speedup_vs_workers.png").exists()
    assert (out / "wall_vs_cpu.png").exists()


PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var sizes = imgs.map(function (i) { return i.naturalWidth + 'x' + i.naturalHeight; }).join(',');
  var d = document.documentElement;
  var p = document.createElement('p'); p.id = 'probe';
  var alts = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).map(function (i) { return i.alt; });
  p.textContent = 'IMAGES-LOADED ' + ok + '/' + imgs.length + ' SIZES ' + sizes + ' PAGE ' + d.scrollWidth + 'x' + d.scrollHeight + ' ALTS ' + alts.join('|');
  document.body.appendChild(p);
});
</script></body>"""


#: The largest chart a report may hold, in pixels (charts.py bounds each figure to
#: MAX_WIDTH_IN × MAX_HEIGHT_IN inches; a legend outside the axes adds a margin).
MAX_PNG_W, MAX_PNG_H = 2000, 1500


def big_comparison(n_tasks: int = 160, differ: bool = False):
    """640 samples (160 tasks × 4), 3 candidates each: the size that once made a 76 980 px chart."""
    samples = (("demo", 0), ("demo", 1), ("demo", 2), ("test", 0))
    rows = [r for t in range(n_tasks) for r in unit_rows(samples, ("c000", "c001", "c002"), task_id=f"t{t:03d}",
                                                          cpu=0.002)]
    t = 0.0
    for r in rows:  # one after another across tasks
        r.update(started=t, ended=t + 0.002, queued=t)
        t += 0.002
    runs = []
    for rep in range(2):
        runs.append(make_run(rows, repeat=rep))
        par = parallel(rows, 2, lambda r: (r["task_id"], r["split"], r["index"]))

        def edit(df):
            if differ:
                m = df["task_id"].isin([f"t{i:03d}" for i in range(0, n_tasks, 3)]) & df["candidate"].eq("c001")
                df.loc[m, ["status", "output_hash"]] = ["timeout", None]
            return df

        runs.append(make_run(par, "sample-parallel", "process", 2, repeat=rep, edit=edit))
    return analyse(runs)


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="/usr/bin/chromium absent (CI installs Debian's chromium)")
@pytest.mark.parametrize("case", ["differ", pytest.param("640-samples", marks=pytest.mark.slow),
                                  pytest.param("640-samples-differ", marks=pytest.mark.slow)])
def test_html_opens_in_headless_chromium_with_bounded_images(tmp_path: Path, case: str):
    c = comparison(True) if case == "differ" else big_comparison(differ=case.endswith("differ"))
    out = write_report(c, tmp_path / "rep")
    page = tmp_path / "probe.html"  # the report as written, plus a probe script at the end
    html = (out / "report.html").read_text()
    n = html.count("<img ")
    page.write_text(html.replace("</body>", PROBE))
    done = chromium(page, tmp_path, "--dump-dom")
    m = re.search(r"IMAGES-LOADED (\d+)/(\d+) SIZES ([\dx,]*) PAGE (\d+)x(\d+)", done.stdout)
    assert m, f"probe missing; stderr: {done.stderr[-2000:]}"
    assert int(m.group(2)) == n >= 3
    assert m.group(1) == m.group(2), "some images did not load"
    assert "Where the time goes: unit time by candidate" in done.stdout.split(" ALTS ", 1)[1]
    sizes = [tuple(map(int, s.split("x"))) for s in m.group(3).split(",") if s]
    assert all(w <= MAX_PNG_W and h <= MAX_PNG_H for w, h in sizes), sizes
    page_w, page_h = int(m.group(4)), int(m.group(5))
    assert page_w <= 1300, "the page scrolls sideways"  # tables scroll inside their box, not the page
    assert page_h < 20_000, "the report is too long to read"
    if case.startswith("640"):
        assert "… and 130 more tasks" in html or "more samples" in html
    shot = tmp_path / "shot.png"
    chromium(out / "report.html", tmp_path, f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.exists() and mpimg.imread(shot).shape[1] == 1280


@pytest.mark.slow
def test_a_report_without_a_sequential_run_shows_no_nan(tmp_path: Path):
    out = write_report(analyse([clean_parallel(repeat=r) for r in range(2)]), tmp_path / "rep")
    md = (out / "report.md").read_text()
    assert "nan" not in md.lower() and "–× (" not in md
    assert md.startswith("**ANSWERS NOT CHECKED") and "No recommendation: no sequential run" in md
