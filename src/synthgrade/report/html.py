"""The HTML pages of the reports (sweep and build): jinja2 templates shipped as package data in ``templates/``.

``base.html`` is the page every report extends (a self-contained document: inline style, no script, no
external resources); ``macros.html`` holds the table every report draws. Values are autoescaped.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2


@cache
def environment(package: str = "synthgrade.report") -> jinja2.Environment:
    """The jinja2 environment of a package's ``templates/`` folder (the reports', by default; the coding page has
    its own): autoescaped, and a missing value is an error, not an empty string."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_page(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``; a missing value is an error, not an empty string."""
    return environment().get_template(template).render(**context)
