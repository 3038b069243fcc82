"""Remake the committed .xls forms: the layouts of test_forms.py, written as .xlsx by openpyxl, then saved as
Excel 97-2003 (BIFF8) by Gnumeric's ssconvert (apt-get install gnumeric). Run from the repository root:

    .venv/bin/python tests/data/make_xls.py
"""

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from test_forms import ANNEX1, ANNEX2, ANNEX3, PHOTO  # noqa: E402

from inbox_daemon.demo import media  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    for name, layout in {"annex1": ANNEX1, "annex2": ANNEX2, "annex3": ANNEX3, "photo": PHOTO}.items():
        source = Path(tmp) / f"{name}.xlsx"
        source.write_bytes(media.make_sheet(*layout))
        subprocess.run(["ssconvert", "--export-type=Gnumeric_Excel:excel_biff8", str(source), str(HERE / f"{name}.xls")],
                       check=True)
