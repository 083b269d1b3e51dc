"""Draw the add-on's icon.png (128x128) and logo.png (250x100) with Pillow.

Home Assistant's add-on store shows them (developers.home-assistant docs/add-ons/presentation.md:
icon square, 128x128 recommended; logo about 250x100). Drawn here rather than hand-made so the
mark can be changed and redrawn: a microphone between two sound waves. Everything is drawn at
four times the size and scaled down, which is the antialiasing.

    .venv/bin/python script/make_addon_images.py   # writes icon.png and logo.png at the root
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
SCALE = 4
BLUE = (3, 169, 244, 255)
"""Home Assistant's own accent blue, so the add-on sits well in its store."""
NAVY = (16, 60, 98, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def draw_mark(size: int, background: bool) -> Image.Image:
    """The microphone-and-waves mark on a rounded square, ``size`` pixels wide."""
    s = size * SCALE
    image = Image.new("RGBA", (s, s), CLEAR)
    draw = ImageDraw.Draw(image)
    if background:
        draw.rounded_rectangle((0, 0, s - 1, s - 1), radius=s // 5, fill=BLUE)
    line = max(2, s // 22)
    cx = s // 2
    # Capsule: the microphone's head.
    head_w, head_top, head_bottom = s * 0.12, s * 0.16, s * 0.56
    draw.rounded_rectangle(
        (cx - head_w, head_top, cx + head_w, head_bottom), radius=int(head_w), fill=WHITE
    )
    # Cradle arc, stem and foot.
    cradle = s * 0.22
    draw.arc(
        (cx - cradle, s * 0.22, cx + cradle, s * 0.66), start=0, end=180, fill=WHITE, width=line
    )
    draw.line((cx, s * 0.66, cx, s * 0.80), fill=WHITE, width=line)
    draw.rounded_rectangle(
        (cx - s * 0.14, s * 0.78, cx + s * 0.14, s * 0.78 + line), radius=line // 2, fill=WHITE
    )
    # Sound waves either side, two on each.
    for radius in (s * 0.31, s * 0.42):
        box = (cx - radius, s * 0.37 - radius, cx + radius, s * 0.37 + radius)
        draw.arc(box, start=150, end=210, fill=WHITE, width=line)
        draw.arc(box, start=-30, end=30, fill=WHITE, width=line)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def draw_logo(width: int = 250, height: int = 100) -> Image.Image:
    """The mark beside the name, on a transparent background (light and dark themes)."""
    logo = Image.new("RGBA", (width * SCALE, height * SCALE), CLEAR)
    mark = draw_mark(84, background=True).resize((84 * SCALE, 84 * SCALE))
    logo.alpha_composite(mark, (8 * SCALE, 8 * SCALE))
    draw = ImageDraw.Draw(logo)
    title = ImageFont.load_default(size=30 * SCALE)
    subtitle = ImageFont.load_default(size=14 * SCALE)
    draw.text((102 * SCALE, 20 * SCALE), "wyoming", font=title, fill=NAVY)
    draw.text((102 * SCALE, 50 * SCALE), "rtx", font=title, fill=BLUE)
    draw.text((152 * SCALE, 62 * SCALE), "local voice", font=subtitle, fill=NAVY)
    return logo.resize((width, height), Image.Resampling.LANCZOS)


def main() -> None:
    draw_mark(128, background=True).save(ROOT / "icon.png", optimize=True)
    draw_logo().save(ROOT / "logo.png", optimize=True)


if __name__ == "__main__":
    main()
