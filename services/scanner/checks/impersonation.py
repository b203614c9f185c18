"""PHISHING_GOV_IMPERSONATION: a display name that names a government unit (or a province address) on outside mail."""

from __future__ import annotations

import re
import unicodedata

from services.scanner import context
from services.scanner.addresses import addresses, domain
from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail

SYMBOL = "PHISHING_GOV_IMPERSONATION"

# Vietnamese bodies, matched on the name with its accents removed (senders often drop them).
UNACCENTED = re.compile(
    r"\b(ubnd|hdnd|uy ban nhan dan|hoi dong nhan dan|tinh uy|thanh uy|huyen uy|chinh phu|bo cong an|cong an (tinh|thanh pho|huyen|quan)"
    r"|cuc thue|chi cuc thue|kho bac nha nuoc|cong thong tin dien tu|cong dich vu cong|van phong (ubnd|uy ban|chinh phu|tinh|thanh))\b"
)
# "Sở" (provincial department) and "Bộ" (ministry) need their accents: without them they are common words.
SECTORS = (r"(tài chính|thông tin|nội vụ|y tế|giáo dục|tư pháp|kế hoạch|công thương|xây dựng|giao thông|tài nguyên"
           r"|lao động|văn hóa|văn hoá|khoa học|nông nghiệp|ngoại vụ|du lịch|quốc phòng|ngoại giao|công an)")
ACCENTED = re.compile(rf"(^|\s)(sở|bộ)\s+{SECTORS}")
CHINESE = re.compile(r"人民政府|政府办公|办公厅|国务院|公安局|公安厅|税务局|财政局|财政厅|人大常委|政协|纪委|监察委|[省市县区]委办公")
EMAIL = re.compile(r"[\w.+\-]+@([\w\-]+(?:\.[\w\-]+)+)")


def unaccented(text: str) -> str:
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in text if unicodedata.category(c) != "Mn").casefold()


def names_government(name: str) -> str | None:
    """The words of `name` that name a government body, or None."""
    folded = unicodedata.normalize("NFC", name).casefold()
    for pattern, text in ((UNACCENTED, unaccented(name)), (ACCENTED, folded), (CHINESE, folded)):
        match = pattern.search(text)
        if match:
            return match.group(0).strip()
    return None


async def run(mail: ParsedMail, found: Findings) -> None:
    senders = addresses(mail, "From")
    if not senders:
        return
    ctx = context.current()
    local = await ctx.local_domains()
    for name, address in senders:
        if not name or context.is_local(domain(address), local) or ctx.governmental(domain(address)):
            continue
        body = names_government(name)
        if body is not None:
            found.add(SYMBOL, f"{address} shows as {name!r} (names {body!r})")
        for shown in EMAIL.findall(name):
            # "vanthu@tiengiang.gov.vn" <someone@elsewhere>: the name shows another, official address.
            if context.is_local(shown, local) or ctx.governmental(shown):
                found.add(SYMBOL, f"{address} shows as {name!r} (an official address)")


CHECK = Check("impersonation", (SYMBOL,), run)
