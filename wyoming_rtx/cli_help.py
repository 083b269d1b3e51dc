"""The one `--help` style of the server and the satellite: every option shows its default.

Standard library only, so the satellite (which may import nothing heavy of the server) shares
it instead of keeping a copy.
"""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Append "(default: X)" to each option's help, except where X says nothing.

    argparse.ArgumentDefaultsHelpFormatter prints "(default: None)" and "(default: False)";
    an option whose default is empty either says what empty means in its own help ("default:
    the bundled voice") or is a switch that is off unless given."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if "default:" in help_text.lower() or not _shows_default(action):
            return help_text
        return f"{help_text} (default: %(default)s)"


def _shows_default(action: argparse.Action) -> bool:
    """True when the option has a default worth printing."""
    default = action.default
    if default is argparse.SUPPRESS or not action.option_strings:
        return False
    if default is None or default is False:
        return False
    return not (isinstance(default, (str, list, tuple)) and not default)
