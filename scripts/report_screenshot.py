"""Screenshot of an `edgekit report` page in headless Chromium (how docs/report.png was made):

    python scripts/report_screenshot.py OUT_DIR docs/report.png [--height 1700]

Uses the same DevTools-pipe client as tests/test_report.py (tests/_browser.py) and refuses to
write the picture if the page logged a console error or asked the network for anything."""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="an export folder (report.html is written there first)")
    ap.add_argument("png", help="where to write the screenshot")
    ap.add_argument("--height", type=int, default=1700, help="crop the full-page shot to this many pixels (default 1700)")
    args = ap.parse_args()
    from PIL import Image

    from _browser import Browser, pixel_std
    from edgekit.report import write_report

    page = write_report(args.folder)
    with Browser() as b:
        seen = b.open(page)
    if seen.console_errors or seen.external_requests:
        print(f"refusing: console errors {seen.console_errors}, external requests {seen.external_requests}", file=sys.stderr)
        return 1
    im = Image.open(io.BytesIO(seen.png))
    im = im.crop((0, 0, im.width, min(im.height, args.height)))
    im.save(args.png, optimize=True)
    print(f"{args.png}: {im.width}x{im.height}, grey-level std {pixel_std(seen.png):.1f}, {len(seen.data)} numbers on the page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
