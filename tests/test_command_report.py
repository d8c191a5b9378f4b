"""The whole command in a comparison: the analysis itemises each group's median run (items add
up to every bar), and the report shows it — a section stating which figure the speed tables
compare, a table, and the breakdown chart, which loads in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
from builders import clean_parallel, reference_run

from perfkit.analysis.comparison import analyse
from perfkit.model.command import (EXIT, IMPORTS, RUN_FOLDER, RUN_WINDOW, SOLVER, SPANS, START_UP, STOPPING, STORE,
                                   TASKS, WORKER_START)
from perfkit.reports import json_report, write_report
from perfkit.reports.document import Heading, build

CHROMIUM = "/usr/bin/chromium"


def command(window_wall_s: float, window_cpu_s: float, workers_cpu_s: float, scale: float = 1.0) -> dict:
    """Summary fields of a run measured from its call: start-up, worker start, window, teardown."""
    spans = [(TASKS, 0.10 * scale, 0.10 * scale), (SOLVER, 0.10 * scale, 0.08 * scale),
             (RUN_FOLDER, 0.20 * scale, 0.20 * scale), (WORKER_START, 0.20 * scale, 0.25 * scale),
             (RUN_WINDOW, window_wall_s, window_cpu_s), (STOPPING, 0.04 * scale, 0.03 * scale),
             (STORE, 0.06 * scale, 0.06 * scale)]
    records = [{"name": n, "wall_s": w, "cpu_s": c} for n, w, c in spans]
    return {"command_origin": "call", "command_spans": records, "command_wall_s": sum(w for _, w, _ in spans),
            "command_cpu_s": sum(c for _, _, c in spans), "cpu_workers_s": workers_cpu_s, "generate_cpu_s": 0.01}


def runs():
    out = []
    for r, scale in enumerate((1.0, 1.3, 0.9)):
        ref = reference_run(repeat=r)
        out.append(reference_run(repeat=r, summary=command(ref.summary.wall_s, ref.summary.cpu_s * 1.05,
                                                           ref.summary.cpu_s * 1.01, scale)))
        par = clean_parallel(repeat=r)
        out.append(clean_parallel(repeat=r, summary=command(par.summary.wall_s, par.summary.cpu_s,
                                                            par.summary.cpu_s * 0.9, scale)))
    return out


@pytest.mark.slow
def test_each_group_is_itemised_by_its_median_run_and_the_items_add_up():
    c = analyse(runs())
    assert set(c.breakdowns) == {"sequential/inline×1", "candidate-parallel/process×2"}
    for b in c.breakdowns.values():
        assert [i.name for i in b.wall.items] == [s for s in SPANS if s not in (IMPORTS, EXIT)]
        assert b.phases[START_UP][0] == pytest.approx(sum(i.seconds for i in b.wall.items if i.within == START_UP))
        for bar in (b.wall, b.cpu, b.window):
            assert sum(i.seconds for i in bar.items) == pytest.approx(bar.total_s)
        # the median of three repeats (scales 0.9, 1.0, 1.3) is the one of scale 1.0
        assert b.phases[START_UP][0] == pytest.approx(0.40)
    medians = c.groups.set_index("group")["command_wall_s_median"]
    assert medians["sequential/inline×1"] == pytest.approx(c.breakdowns["sequential/inline×1"].wall.total_s)


def test_a_run_recorded_before_the_whole_command_was_measured_has_no_breakdown():
    c = analyse([reference_run(), clean_parallel()])
    assert c.breakdowns == {}
    headings = [b.text for b in build(c, {}).blocks if isinstance(b, Heading)]
    assert not any(h.startswith("Whole command") for h in headings)


PROBE = """<script>
window.addEventListener('load', function () {
  var img = Array.prototype.slice.call(document.images).filter(function (i) {
    return i.alt.indexOf('Whole command') === 0; })[0];
  var heads = Array.prototype.slice.call(document.querySelectorAll('h2')).map(function (h) { return h.textContent; });
  var p = document.createElement('p'); p.id = 'probe';
  p.textContent = 'BREAKDOWN ' + (img ? img.naturalWidth + 'x' + img.naturalHeight : 'missing') +
    ' SECTION ' + (heads.indexOf('Whole command: start-up and teardown included') >= 0) +
    ' WINDOW ' + (heads.indexOf('Strategies: the run window (median over repeats [min–max])') >= 0);
  document.body.appendChild(p);
});
</script></body>"""


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="/usr/bin/chromium absent (CI installs Debian's chromium)")
def test_the_html_report_shows_the_breakdown_in_headless_chromium(tmp_path: Path):
    out = write_report(analyse(runs()), tmp_path / "rep")
    record = json.loads((out / "report.json").read_text())
    jsonschema.validate(record, json_report.schema())
    bars = record["whole_command"]["candidate-parallel/process×2"]
    assert sum(i["seconds"] for i in bars["cpu"]["items"]) == pytest.approx(bars["cpu"]["total_s"])
    md = (out / "report.md").read_text()
    assert "compare the run window" in md and "](command_breakdown.png)" in md
    row = next(line for line in md.splitlines() if line.startswith("| candidate-parallel/process×2 |")
               and "idle" in line)
    assert re.search(r"units \d+ %.*idle \d+ %", row)
    page = tmp_path / "probe.html"
    page.write_text((out / "report.html").read_text().replace("</body>", PROBE))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
           "--dump-dom", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    m = re.search(r"BREAKDOWN (\d+)x(\d+) SECTION (\w+) WINDOW (\w+)", done.stdout)
    assert m, f"probe missing; stderr: {done.stderr[-2000:]}"
    assert int(m.group(1)) > 300 and int(m.group(2)) > 200  # the chart decoded, at its size
    assert m.group(3) == "true" and m.group(4) == "true"


def test_the_gate_says_it_compares_the_run_window_and_shows_the_whole_command():
    from perfkit.analysis.gate import gate
    from perfkit.analysis.text import duration
    from perfkit.reports import gate as gate_report
    from perfkit.reports.markdown import render
    from perfkit.store.baseline import side_of_runs

    par = [r for r in runs() if r.config.strategy != "sequential"]
    result = gate(side_of_runs("base", par), side_of_runs("now", par[:2]))
    assert result.figure == "run window"
    assert result.whole_command["baseline"]["wall_s"] == pytest.approx(sorted(
        r.summary.command_wall_s for r in par)[1])
    text = render(gate_report.build(result))
    assert "compare the run window" in text and "whole command" in text
    assert f"CPU {duration(result.whole_command['current']['cpu_s'])}" in text
