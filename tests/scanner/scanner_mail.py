"""Mail the scanner tests build at run time: EICAR carriers and MailReceived events for stored blobs."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from schemas.events import BlobRef, MailInfo, MailReceived
from services.common.blobstore import FileBlobStore

SAMPLES = Path(__file__).with_name("samples")

# SHA-256 of the 68-byte EICAR test file, as anti-virus vendors publish it.
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


def eicar() -> bytes:
    """The EICAR test string, put together here independently of the scanner's own copy."""
    pieces = ["X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-", "ANTIVIRUS-TEST-FILE!$H+H*"]
    data = "".join(pieces).encode("ascii")
    assert hashlib.sha256(data).hexdigest() == EICAR_SHA256
    return data


def official_mail(subject: str = "Báo cáo tháng 11 — 关于年度报告的通知") -> EmailMessage:
    m = EmailMessage(policy=policy.SMTP)
    m["From"] = Address("Nguyễn Văn Anh", "anhnv.tt", "backan.gov.vn")
    m["To"] = Address("Lê Minh Hiếu", "leminhhieu", "tiengiang.gov.vn")
    m["Subject"] = subject
    m["Message-ID"] = f"<{uuid.uuid4()}@backan.gov.vn>"
    m["Date"] = format_datetime(datetime.now(UTC))
    m.set_content("Kính gửi anh Lê Minh Hiếu,\nGửi anh báo cáo tháng 11 đính kèm.\n张伟 转发：关于年度报告的通知。\n")
    return m


def eicar_attachment(filename: str = "Báo cáo tháng 11.com") -> bytes:
    """A Vietnamese official mail with EICAR as a base64 attachment (RFC 2231 file name)."""
    m = official_mail()
    m.add_attachment(eicar(), maintype="application", subtype="octet-stream", filename=filename)
    return m.as_bytes()


def eicar_forwarded() -> bytes:
    """EICAR attached to a message that is itself attached (message/rfc822) to a forward."""
    inner = EmailMessage(policy=policy.SMTP)
    inner["From"] = Address("张伟", "zhangwei", "example.cn")
    inner["Subject"] = "年度报告"
    inner.set_content("附件是年度报告。\n")
    inner.add_attachment(eicar(), maintype="application", subtype="zip", filename="nianbao.zip")
    outer = official_mail("Fwd: 年度报告")
    outer.add_attachment(inner)
    return outer.as_bytes()


def envelope(ref: BlobRef, size: int, subject: str = "Báo cáo tháng 11", listener: str = "mx",
             received_at: datetime | None = None, mail_from: str = "anhnv.tt@backan.gov.vn") -> MailInfo:
    """What ingress learnt about a message that came in on `listener` (submission: a local user sent it)."""
    return MailInfo(
        mail_from=mail_from,
        rcpt_to=["leminhhieu@tiengiang.gov.vn"],
        blob=ref,
        size=size,
        listener=listener,
        client_ip="127.0.0.1",
        client_helo="mail.backan.gov.vn",
        authenticated_as=mail_from if listener == "submission" else None,
        header_from="Nguyễn Văn Anh <anhnv.tt@backan.gov.vn>",
        subject=subject,
        sender_domain="backan.gov.vn",
        direction="inbound" if listener == "mx" else "outbound",
        received_at=received_at or datetime.now(UTC),
    )


def received_event(store: FileBlobStore, raw: bytes, subject: str = "Báo cáo tháng 11",
                   listener: str = "mx") -> MailReceived:
    """The event ingress would publish after storing `raw`."""
    ref = store.put(raw)
    return MailReceived(producer="ingress", message_id=uuid.uuid4().hex,
                        mail=envelope(ref, len(raw), subject, listener))


def zipped(*members: tuple[str, bytes]) -> bytes:
    """A zip archive (deflated) of (name, bytes) members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def with_attachment(data: bytes, filename: str, subject: str = "Hồ sơ đính kèm — 附件") -> bytes:
    m = official_mail(subject)
    m.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return m.as_bytes()


def pdf_with_text(lines: list[str]) -> bytes:
    """A one-page PDF showing `lines` (any BMP text) through a Type0 font with a ToUnicode map, as
    word processors write them; the font program is left out, a text extractor does not need it."""
    codes = {c: i + 1 for i, c in enumerate(sorted({c for line in lines for c in line}))}
    shown = " ".join(f"<{''.join(f'{codes[c]:04x}' for c in line)}> Tj 0 -20 Td" for line in lines)
    content = f"BT /F1 12 Tf 50 800 Td 14 TL {shown} ET".encode()
    pairs = sorted(codes.items(), key=lambda item: item[1])
    blocks = []
    for start in range(0, len(pairs), 100):  # at most 100 entries per bfchar block
        chunk = pairs[start:start + 100]
        blocks.append(f"{len(chunk)} beginbfchar\n" + "\n".join(f"<{code:04x}> <{ord(c):04x}>" for c, code in chunk)
                      + "\nendbfchar")
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            "1 begincodespacerange <0000> <ffff> endcodespacerange\n" + "\n".join(blocks) +
            "\nendcmap CMapName currentdict /CMap defineresource pop end end").encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /GovSans /Encoding /Identity-H /DescendantFonts [6 0 R] "
        b"/ToUnicode 7 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /GovSans /CIDSystemInfo << /Registry (Adobe) "
        b"/Ordering (Identity) /Supplement 0 >> /FontDescriptor 8 0 R /DW 1000 >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(cmap), cmap),
        b"<< /Type /FontDescriptor /FontName /GovSans /Flags 4 /FontBBox [0 0 1000 1000] /ItalicAngle 0 "
        b"/Ascent 1000 /Descent 0 /CapHeight 1000 /StemV 80 >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
