"""Every table that may scroll sideways scrolls in a region a keyboard reaches and a screen reader names
(axe ``scrollable-region-focusable``): checked in every template, so a new page cannot forget it."""
import re
from pathlib import Path

import portal

TEMPLATES = Path(portal.__file__).parent / "templates"


def test_every_scrolling_wrapper_is_focusable_and_named():
    unnamed = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        for wrapper in re.findall(r'<div class="table-scroll"[^>]*>', template.read_text(encoding="utf-8")):
            if 'tabindex="0"' not in wrapper or 'role="region"' not in wrapper or "aria-label" not in wrapper:
                unnamed.append(f"{template.relative_to(TEMPLATES)}: {wrapper}")
    assert not unnamed, unnamed
