"""The periodic report as a PDF with charts (fpdf2), in a font that has Vietnamese and Chinese: Noto Sans CJK from PyPI."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fpdf import FPDF

from services.analytics.periodic import PeriodicReport

# Noto Sans CJK (package cvttf-notosanscjk-regular) also covers Latin with every Vietnamese letter.
FONT_PACKAGE = "cvttf_NotoSansCJK_Regular"
FONT_FILE = "NotoSansCJKtc-Regular.otf"
FONT = "noto"
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def font_path() -> str:
    return str(resources.files(FONT_PACKAGE) / FONT_FILE)


def short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0%}" if value <= 1 else f"{value:.0f}"
    return str(value)


class ReportPDF(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.title_text = title
        self.add_font(FONT, "", font_path())
        self.set_auto_page_break(auto=True, margin=15)

    def header(self) -> None:
        self.set_font(FONT, size=8)
        self.set_text_color(110)
        self.cell(0, 5, self.title_text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 5, f"{self.page_no()}", align="C")

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(FONT, size=13)
        self.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=9)

    def bars(self, title: str, labels: list[str], series: dict[str, list[float]], percent: bool = False) -> None:
        """A grouped bar chart: one group per label, one bar per series, with a legend and a value axis."""
        width, height = self.w - self.l_margin - self.r_margin - 12, 55
        if self.get_y() + height + 32 > self.h - 15:
            self.add_page()
        self.heading(title)
        if not labels:
            self.cell(0, 6, "(không có số liệu / no data)", new_x="LMARGIN", new_y="NEXT")
            return
        x0, y0 = self.l_margin + 12, self.get_y() + 4
        top = max([v for values in series.values() for v in values] + [1e-9])
        top = 1.0 if percent else top
        self.set_draw_color(150)
        self.line(x0, y0 + height, x0 + width, y0 + height)
        self.line(x0, y0, x0, y0 + height)
        self.set_font(FONT, size=6)
        for step in range(5):
            value = top * step / 4
            y = y0 + height - height * step / 4
            self.set_xy(self.l_margin, y - 2)
            self.cell(11, 4, f"{value:.0%}" if percent else f"{value:.{0 if top >= 8 else 1}f}", align="R")
        group = width / len(labels)
        bar = group * 0.8 / max(1, len(series))
        for i, label in enumerate(labels):
            for j, values in enumerate(series.values()):
                h = height * (values[i] / top) if top else 0
                self.set_fill_color(*COLOURS[j % len(COLOURS)])
                self.rect(x0 + i * group + group * 0.1 + j * bar, y0 + height - h, bar, h, style="F")
            self.set_xy(x0 + i * group, y0 + height + 1)
            self.cell(group, 4, label[:14], align="C")
        self.set_xy(x0, y0 + height + 6)
        for j, name in enumerate(series):
            self.set_fill_color(*COLOURS[j % len(COLOURS)])
            self.rect(self.get_x(), self.get_y() + 1, 3, 3, style="F")
            self.set_x(self.get_x() + 4)
            self.cell(self.get_string_width(name) + 6, 5, name)
        self.set_font(FONT, size=9)
        self.set_xy(self.l_margin, y0 + height + 13)

    def table(self, columns: list[tuple[str, str, float]], rows: list[dict[str, Any]]) -> None:
        """columns: (key, header, width in mm)."""
        self.set_font(FONT, size=7)
        self.set_fill_color(230)
        for _, header, w in columns:
            self.cell(w, 6, header, border=1, fill=True, align="C")
        self.ln()
        for row in rows:
            for key, _, w in columns:
                text = short(row.get(key))
                if key == "name":
                    text = "  " * int(row.get("level", 0)) + text
                self.cell(w, 5, text[: int(w * 0.9)], border=1, align="L" if key == "name" else "R")
            self.ln()
        self.set_font(FONT, size=9)


def render(report: PeriodicReport) -> bytes:
    """The report as PDF bytes: the unit tree's table, then charts of volumes, efficiency, compliance and threats."""
    pdf = ReportPDF(report.title)
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.multi_cell(0, 9, report.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    pdf.cell(0, 6, f"Kỳ / period: {report.period.start} – {report.period.end} ({report.period.tz}); "
                   f"số liệu gồm các đơn vị trực thuộc / figures include every unit below", new_x="LMARGIN", new_y="NEXT")
    pdf.heading("Tổng hợp theo đơn vị / Per unit, rolled up the tree")
    pdf.table([("name", "Đơn vị / unit", 52), ("received", "Nhận", 14), ("sent", "Gửi", 13),
               ("delivered", "Đã phát", 14), ("bounced", "Trả lại", 13), ("spam", "Rác", 11), ("virus", "Virus", 11),
               ("phishing", "Lừa đảo", 13), ("same_working_day_share", "Đọc trong ngày", 18),
               ("compliance_rate", "Tuân thủ", 15)], report.rows)
    months = [m["month"] for m in report.monthly]
    pdf.bars("Lưu lượng theo tháng / Volume per month", months,
             {"nhận / received": [m["received"] for m in report.monthly],
              "gửi / sent": [m["sent"] for m in report.monthly]})
    children = [r for r in report.rows if r["level"] <= 1][:12]
    pdf.bars("Hiệu quả xử lý / Opened the same working day", [r["name"] for r in children],
             {"tỉ lệ / share": [r["same_working_day_share"] or 0.0 for r in children]}, percent=True)
    pdf.bars("Tuân thủ kiểm tra hộp thư / Compliance (checked morning and afternoon)", [r["name"] for r in children],
             {"tỉ lệ / rate": [r["compliance_rate"] or 0.0 for r in children]}, percent=True)
    pdf.bars("Bất thường / Spam, virus, phishing per month", months,
             {"rác / spam": [m["spam"] for m in report.monthly], "virus": [m["virus"] for m in report.monthly],
              "lừa đảo / phishing": [m["phishing"] for m in report.monthly]})
    return bytes(pdf.output())


def render_html(report: PeriodicReport) -> str:
    """The HTML body of the report mail: the same table as the PDF."""
    import html

    columns = ["name", "received", "sent", "delivered", "bounced", "spam", "virus", "phishing",
               "same_working_day_share", "compliance_rate"]
    header = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{'&nbsp;&nbsp;' * int(r['level']) if c == 'name' else ''}{html.escape(short(r[c]))}</td>"
                         for c in columns) + "</tr>"
        for r in report.rows)
    return (f"<html><head><meta charset='utf-8'></head><body><h1>{html.escape(report.title)}</h1>"
            f"<p>{report.period.start} – {report.period.end}; PDF đính kèm / PDF attached.</p>"
            f"<table border='1' cellpadding='4' cellspacing='0'><tr>{header}</tr>{body}</table></body></html>")
