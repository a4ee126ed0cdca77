"""The digest's chart: items per category over the last 7 days against the trailing weekly average, as a PNG.

Pillow draws it (7 MB installed, imported in about 20 ms) with a Latin subset of DejaVu Sans shipped in
digests/fonts (Pillow's built-in font has no accented letters). matplotlib would do the same for five times
the install size and about half a second of import, plus a font cache on first use. The chart is drawn at twice
its display size so that it stays sharp on high-density screens; its text equivalent is printed beside it.
"""

from __future__ import annotations

import io
from pathlib import Path

FONT = Path(__file__).with_name("fonts") / "DejaVuSans-Latin.ttf"
SCALE = 2
WIDTH = 600               # display width in CSS pixels
ROW, GAP, TOP, BOTTOM = 26, 10, 44, 16
LABEL_WIDTH = 210
BACKGROUND, TEXT, MUTED = (255, 255, 255), (27, 36, 48), (74, 85, 101)
BAR, AVERAGE, TRACK = (26, 79, 181), (181, 71, 8), (230, 236, 247)


def draw_chart(rows: list[tuple[str, int, float]], recent_label: str, average_label: str) -> bytes:
    """A horizontal bar per (name, count over the last 7 days, weekly average before), with the average marked."""
    from PIL import Image, ImageDraw, ImageFont

    def px(value: float) -> int:
        return round(value * SCALE)

    font = ImageFont.truetype(str(FONT), px(13))
    small = ImageFont.truetype(str(FONT), px(11))
    height = TOP + len(rows) * (ROW + GAP) + BOTTOM
    image = Image.new("RGB", (px(WIDTH), px(height)), BACKGROUND)
    draw = ImageDraw.Draw(image)
    # Legend: a bar for the last 7 days, a tick for the trailing average.
    draw.rectangle([px(16), px(14), px(30), px(26)], fill=BAR)
    draw.text((px(36), px(13)), recent_label, font=small, fill=TEXT)
    legend_x = 52 + draw.textlength(recent_label, font=small) / SCALE
    draw.rectangle([px(legend_x), px(12), px(legend_x + 3), px(28)], fill=AVERAGE)
    draw.text((px(legend_x + 10), px(13)), average_label, font=small, fill=TEXT)
    top_value = max([max(count, average) for _, count, average in rows] + [1])
    span = WIDTH - LABEL_WIDTH - 56
    for index, (name, count, average) in enumerate(rows):
        y = TOP + index * (ROW + GAP)
        label = name if draw.textlength(name, font=font) <= px(LABEL_WIDTH - 20) else _fit(draw, name, font, px(LABEL_WIDTH - 20))
        draw.text((px(16), px(y + 5)), label, font=font, fill=TEXT)
        x0 = LABEL_WIDTH
        draw.rectangle([px(x0), px(y), px(x0 + span), px(y + ROW)], fill=TRACK)
        if count:
            draw.rectangle([px(x0), px(y), px(x0 + span * count / top_value), px(y + ROW)], fill=BAR)
        tick = x0 + span * average / top_value
        draw.rectangle([px(tick - 1.5), px(y - 4), px(tick + 1.5), px(y + ROW + 4)], fill=AVERAGE)
        draw.text((px(x0 + span + 8), px(y + 5)), str(count), font=font, fill=MUTED)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=3)  # 6 or optimize=True: 2 to 5 times slower for 25 % less
    return out.getvalue()


def _fit(draw, text: str, font, width: int) -> str:
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"
