"""Report files are valid: Markdown tables well formed and the answer check first, HTML
self-contained with every image a data URI, PNGs that open, and the HTML loads every image in
headless Chromium."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import pytest
from builders import clean_parallel
from builders import reference_run as reference

from perfkit.analysis.comparison import analyse
from perfkit.reports import write_report

CHROMIUM = "/usr/bin/chromium"


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


@pytest.mark.parametrize("differ", [False, True])
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
    assert {"wall_vs_cpu", "timeline", "speedup_vs_workers", "candidate_counts", "unit_times"} <= names
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


def test_speedup_chart_only_with_several_worker_counts(tmp_path: Path):
    out = write_report(comparison(several_workers=False), tmp_path / "rep")
    assert not (out / "speedup_vs_workers.png").exists()
    assert (out / "wall_vs_cpu.png").exists()


PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var p = document.createElement('p'); p.id = 'probe';
  p.textContent = 'IMAGES-LOADED ' + ok + '/' + imgs.length;
  document.body.appendChild(p);
});
</script></body>"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="/usr/bin/chromium absent (CI installs Debian's chromium)")
def test_html_opens_in_headless_chromium_with_every_image(tmp_path: Path):
    out = write_report(comparison(True), tmp_path / "rep")
    page = tmp_path / "probe.html"  # the report as written, plus a probe script at the end
    html = (out / "report.html").read_text()
    n = html.count("<img ")
    page.write_text(html.replace("</body>", PROBE))
    profile = tmp_path / "profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
           "--dump-dom", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    m = re.search(r"IMAGES-LOADED (\d+)/(\d+)", done.stdout)
    assert m, f"probe missing; stderr: {done.stderr[-2000:]}"
    assert int(m.group(2)) == n >= 4
    assert m.group(1) == m.group(2), "some images did not load"
