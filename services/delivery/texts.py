"""What the platform's own notices say, in the reader's language (Account.language: vi, zh or en)."""

from __future__ import annotations

LANGUAGES = ("vi", "zh", "en")

TEXTS: dict[str, dict[str, str]] = {
    "dsn_subject": {
        "vi": "Thư không gửi được: {subject}",
        "zh": "退信：{subject}",
        "en": "Undelivered mail: {subject}",
    },
    "dsn_intro": {
        "vi": "Thư của bạn gửi lúc {date} với tiêu đề «{subject}» không đến được những người nhận sau:",
        "zh": "您于 {date} 发送的邮件《{subject}》未能投递给以下收件人：",
        "en": "Your message sent at {date} with the subject \"{subject}\" could not be delivered to:",
    },
    "dsn_outro": {
        "vi": "Thư này do hệ thống tạo tự động; xin đừng trả lời.",
        "zh": "本邮件由系统自动生成，请勿回复。",
        "en": "This message was generated automatically; please do not reply.",
    },
    "classified": {
        "vi": "Thư mang dấu chỉ độ mật ({markings}) nên đã không được gửi đi: "
              "tài liệu mật không được gửi qua thư điện tử công vụ.",
        "zh": "该邮件带有密级标识（{markings}），未予发送：涉密文件不得通过公务电子邮件发送。",
        "en": "The message carried a secrecy marking ({markings}) and was not sent: "
              "classified documents must not be sent by official e-mail.",
    },
    "rejected": {
        "vi": "Thư bị bộ lọc từ chối vì: {reasons}",
        "zh": "邮件被过滤系统拒绝，原因：{reasons}",
        "en": "The message was refused by the content filter because: {reasons}",
    },
    "no_mailbox": {
        "vi": "Hộp thư của người nhận không tồn tại.",
        "zh": "收件人邮箱不存在。",
        "en": "The recipient's mailbox does not exist.",
    },
    "remote_refused": {
        "vi": "Máy chủ thư của người nhận đã từ chối thư.",
        "zh": "收件人的邮件服务器拒绝了该邮件。",
        "en": "The recipient's mail server refused the message.",
    },
    "mailbox_full": {
        "vi": "Hộp thư của người nhận đã đầy và không có chỗ trống trong thời gian chờ.",
        "zh": "收件人邮箱已满，在等待期内未能腾出空间。",
        "en": "The recipient's mailbox was full and no space was freed in time.",
    },
    "expired": {
        "vi": "Không gửi được trước hạn chót; lỗi gần nhất: {reply}",
        "zh": "在截止时间前未能投递；最后一次错误：{reply}",
        "en": "Could not be delivered before the deadline; last error: {reply}",
    },
    "quota_subject": {
        "vi": "Hộp thư {address} đã dùng {percent}% dung lượng",
        "zh": "邮箱 {address} 已使用 {percent}% 容量",
        "en": "Mailbox {address} is {percent}% full",
    },
    "quota_body": {
        "vi": "Kính gửi {name},\n\nhộp thư {address} đã dùng {used} trên {quota} ({percent}%). "
              "Khi đầy, thư mới sẽ bị giữ lại rồi trả về người gửi. Xin xóa bớt thư cũ hoặc tải về máy.",
        "zh": "{name}，您好：\n\n邮箱 {address} 已使用 {used}，共 {quota}（{percent}%）。"
              "邮箱满后，新邮件将被暂缓并退回发件人。请删除或下载旧邮件。",
        "en": "Dear {name},\n\nmailbox {address} uses {used} of {quota} ({percent}%). "
              "When it is full, new mail is held and then returned to its senders. Please delete or download old mail.",
    },
    "recall_subject": {
        "vi": "Kết quả thu hồi thư: {subject}",
        "zh": "邮件撤回结果：{subject}",
        "en": "Recall report: {subject}",
    },
    "recall_intro": {
        "vi": "Kết quả thu hồi thư «{subject}» theo từng người nhận:",
        "zh": "邮件《{subject}》的撤回结果（按收件人）：",
        "en": "Recall of \"{subject}\", per recipient:",
    },
    "recall_recalled": {"vi": "đã thu hồi", "zh": "已撤回", "en": "recalled"},
    "recall_read": {"vi": "đã đọc, không thu hồi được", "zh": "已阅读，无法撤回", "en": "already read, not recalled"},
    "recall_remote": {"vi": "ngoài hệ thống, không thu hồi được", "zh": "外部收件人，无法撤回",
                      "en": "remote recipient, cannot be recalled"},
    "recall_gone": {"vi": "không còn trong hộp thư", "zh": "邮件已不在邮箱中", "en": "no longer in the mailbox"},
    "read_subject": {
        "vi": "Thư đã được đọc: {subject}",
        "zh": "邮件已被阅读：{subject}",
        "en": "Read: {subject}",
    },
    "read_body": {
        "vi": "Thư «{subject}» đã được {reader} mở lúc {when} (UTC) và đã tự hủy sau khi đọc.",
        "zh": "邮件《{subject}》已于 {when}（UTC）被 {reader} 阅读，并已阅后即焚。",
        "en": "The message \"{subject}\" was opened by {reader} at {when} (UTC) and burnt after reading.",
    },
}


def text(key: str, language: str, **values: object) -> str:
    table = TEXTS[key]
    return table.get(language, table["en"]).format(**values)
