"""report.html in a real headless Chromium (Debian's, installed by `make setup-browser`): the page
renders with the verdict first and every root on it, a failed run shows its changed leaf
highlighted, markup from the run folder never becomes an element, and the screenshot is a real PNG
of the window's size."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

from provenance.record import Record
from provenance.training.tracker import FINAL_MODEL_FILE

from tests.provenance.verification.reports import inject_markup, make_report
from tests.support.tamper import flip_tensor_byte

WIDTH, HEIGHT = 1280, 2000


def chromium() -> str:
    name = os.environ.get("PROVENANCE_CHROMIUM", "chromium")
    found = shutil.which(name)
    assert found, f"expected a headless Chromium ({name!r}) on PATH, found none: run `make setup-browser`"
    return found


def browse(page: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    """Chromium, headless, on a throwaway profile; --no-sandbox because CI runs as root."""
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               f"--user-data-dir={out / 'profile'}", *args, page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def rendered_dom(page: Path, out: Path) -> str:
    return browse(page, out, "--dump-dom").stdout


def screenshot(page: Path, out: Path) -> Path:
    png = out / "screenshot.png"
    browse(page, out, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}")
    return png


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "expected a PNG file"
    return struct.unpack(">II", data[16:24])


def text_of(dom: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_passed_run_renders_verdict_first_and_every_root(run_copy, tmp_path):
    make_report(run_copy)
    dom = rendered_dom(run_copy / "report.html", tmp_path)
    body = dom[dom.index("<body"):]
    first = re.search(r'<header id="verdict" class="verdict (\w[\w-]*)"><div class="word">([A-Z ]+)</div>', body)
    assert first and first.group(1) == "passed" and first.group(2) == "PASSED"
    assert body.index('id="verdict"') < body.index('id="summary"') < body.index('id="trees"')
    text = text_of(dom)
    for stage in Record.load(run_copy / "record.json").stages:
        assert "0x" + stage.root.hex() in text, stage.name
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', dom)) == 3

    png = screenshot(run_copy / "report.html", tmp_path)
    assert png_size(png) == (WIDTH, HEIGHT)
    assert png.stat().st_size > 20_000  # a rendered page, not a blank one


def test_failed_run_shows_the_changed_leaf_highlighted(run_copy, tmp_path):
    tensor = flip_tensor_byte(run_copy / FINAL_MODEL_FILE)
    make_report(run_copy, code=1)
    dom = rendered_dom(run_copy / "report.html", tmp_path)
    assert '<header id="verdict" class="verdict failed"><div class="word">FAILED</div>' in dom
    highlighted = re.findall(r'<tr class="changed">(.*?)</tr>', dom, re.S)
    assert any(f'<td class="changed-leaf">model.param:{tensor}</td><td>post</td><td>changed</td>' in row for row in highlighted)
    assert any(f'<td class="changed-leaf">model.file:{FINAL_MODEL_FILE}</td>' in row for row in highlighted)
    assert png_size(screenshot(run_copy / "report.html", tmp_path)) == (WIDTH, HEIGHT)


def test_markup_from_the_run_folder_stays_text_in_the_browser(run_copy, tmp_path):
    inject_markup(run_copy, "<script>document.title='pwned'</script>")
    make_report(run_copy, code=1)
    dom = rendered_dom(run_copy / "report.html", tmp_path)
    assert "<script" not in dom.lower()  # no script element was created
    assert not re.search(r"<img[^>]*onerror", dom)
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # shown as text
