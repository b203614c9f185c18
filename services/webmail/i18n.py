"""The webmail's words in Vietnamese (default), Chinese and English."""

from __future__ import annotations

LANGUAGES = ("vi", "zh", "en")
DEFAULT = "vi"

# One row per text: vi, zh, en.
_TEXTS: dict[str, tuple[str, str, str]] = {
    "app": ("Thư công vụ", "政务邮箱", "Government mail"),
    "login": ("Đăng nhập", "登录", "Log in"),
    "logout": ("Đăng xuất", "退出", "Log out"),
    "username": ("Địa chỉ thư", "邮箱地址", "E-mail address"),
    "password": ("Mật khẩu", "密码", "Password"),
    "login_failed": ("Sai địa chỉ hoặc mật khẩu, hoặc tạm thời không được đăng nhập.",
                     "地址或密码错误，或暂时不允许登录。",
                     "Wrong address or password, or logging in is not allowed at the moment."),
    "webmail_not_allowed": ("Loại dịch vụ của tài khoản này không bao gồm thư trên web. Hãy dùng ứng dụng thư "
                            "hoặc liên hệ quản trị viên.",
                            "您的账户服务类别不包括网页邮箱。请使用邮件客户端，或联系管理员。",
                            "Your account's service class does not include webmail. Use a mail client, "
                            "or ask your administrator."),
    "change_password": ("Đổi mật khẩu", "修改密码", "Change password"),
    "must_change": ("Lần đăng nhập đầu tiên: hãy đặt mật khẩu mới.", "首次登录：请设置新密码。",
                    "First login: please choose a new password."),
    "current_password": ("Mật khẩu hiện tại", "当前密码", "Current password"),
    "new_password": ("Mật khẩu mới", "新密码", "New password"),
    "password_changed": ("Đã đổi mật khẩu.", "密码已修改。", "Password changed."),
    "inbox": ("Hộp thư đến", "收件箱", "Inbox"),
    "folders": ("Thư mục", "文件夹", "Folders"),
    "mailboxes": ("Hộp thư", "邮箱", "Mailboxes"),
    "compose": ("Soạn thư", "写信", "Compose"),
    "search": ("Tìm", "搜索", "Search"),
    "sender": ("Người gửi", "发件人", "Sender"),
    "subject": ("Tiêu đề", "主题", "Subject"),
    "date": ("Ngày", "日期", "Date"),
    "date_from": ("Từ ngày", "起始日期", "From date"),
    "date_to": ("Đến ngày", "截止日期", "To date"),
    "to": ("Người nhận", "收件人", "To"),
    "cc": ("Đồng gửi", "抄送", "Cc"),
    "body": ("Nội dung", "正文", "Message"),
    "attachments": ("Tệp đính kèm", "附件", "Attachments"),
    "send": ("Gửi", "发送", "Send"),
    "sent_ok": ("Đã gửi.", "已发送。", "Sent."),
    "reply": ("Trả lời", "回复", "Reply"),
    "forward": ("Chuyển tiếp", "转发", "Forward"),
    "delete": ("Xoá", "删除", "Delete"),
    "report_spam": ("Báo thư rác", "举报垃圾邮件", "Report spam"),
    "report_ham": ("Không phải thư rác", "不是垃圾邮件", "Not spam"),
    "reported": ("Đã ghi nhận, cảm ơn. Bộ lọc sẽ học từ thư này.", "已记录，谢谢。过滤器将从此邮件中学习。",
                 "Thank you: the filter will learn from this message."),
    "todo": ("Việc cần làm", "待办", "To-do"),
    "mark_todo": ("Đánh dấu cần xử lý", "标记为待办", "Mark as to-do"),
    "due": ("Hạn xử lý", "截止", "Due"),
    "done": ("Xong", "完成", "Done"),
    "no_messages": ("Không có thư.", "没有邮件。", "No messages."),
    "separate": ("Gửi riêng từng người", "分别发送", "Separate delivery"),
    "burn": ("Tự huỷ sau khi đọc", "阅后即焚", "Burn after reading"),
    "receipt": ("Yêu cầu xác nhận đã đọc", "请求已读回执", "Request read receipt"),
    "receipt_asked": ("Người gửi đề nghị xác nhận đã đọc.", "发件人请求已读回执。", "The sender asks for a read receipt."),
    "send_receipt": ("Gửi xác nhận", "发送回执", "Send receipt"),
    "send_as": ("Gửi với danh nghĩa", "发件身份", "Send as"),
    "myself": ("Chính tôi", "本人", "Myself"),
    "remote_images": ("Ảnh từ bên ngoài đã bị chặn.", "已阻止外部图片。", "Remote images were blocked."),
    "show_images": ("Hiện ảnh", "显示图片", "Show images"),
    "warning_title": ("Cảnh báo liên kết", "链接警告", "Link warning"),
    "warning_text": ("Liên kết này có thể lừa đảo. Địa chỉ thật là:", "此链接可能是钓鱼链接。真实地址是：",
                     "This link may be a phishing attempt. Its real destination is:"),
    "shown_as": ("Văn bản hiển thị:", "显示的文字：", "Shown as:"),
    "flagged": ("Bộ lọc đã đánh dấu liên kết này là đáng ngờ.", "过滤器已将此链接标记为可疑。",
                "The filter marked this link as suspicious."),
    "go_anyway": ("Vẫn mở liên kết", "仍然打开", "Open it anyway"),
    "go_back": ("Quay lại", "返回", "Go back"),
    "logins": ("Lịch sử đăng nhập (14 ngày)", "登录记录（14天）", "Login records (14 days)"),
    "oplog": ("Nhật ký thao tác (14 ngày)", "操作日志（14天）", "Operation log (14 days)"),
    "activity": ("Hoạt động", "活动", "Activity"),
    "place": ("Nơi", "地点", "Place"),
    "outcome": ("Kết quả", "结果", "Outcome"),
    "sent": ("Đã gửi", "已发送", "Sent"),
    "status": ("Trạng thái", "状态", "Status"),
    "recall": ("Thu hồi", "撤回", "Recall"),
    "not_available": ("Chưa có thông tin (dịch vụ phát thư không trả lời).", "暂无信息（投递服务未响应）。",
                      "Not available (the delivery service does not answer)."),
    "new_mail": ("Có thư mới", "新邮件", "New mail"),
    "notify_allow": ("Bật thông báo", "开启通知", "Enable notifications"),
    "burn_notice": ("Thư này tự huỷ: nó đã bị xoá khỏi hộp thư sau khi mở.", "此邮件阅后即焚：打开后已从邮箱删除。",
                    "This message burns after reading: it was removed from the mailbox when opened."),
    "language": ("Ngôn ngữ", "语言", "Language"),
    "skip": ("Bỏ qua đến nội dung", "跳到内容", "Skip to content"),
    "alert_subject": ("Cảnh báo: đăng nhập từ nơi mới", "提醒：从新地点登录", "Alert: login from a new place"),
    "alert_body": ("Tài khoản {address} vừa đăng nhập hộp thư từ {place} (IP {ip}) lúc {time}.\n"
                   "Nếu không phải bạn, hãy đổi mật khẩu ngay và báo cho quản trị viên.",
                   "账户 {address} 于 {time} 从 {place}（IP {ip}）登录了邮箱。\n如果不是您本人，请立即修改密码并通知管理员。",
                   "Account {address} logged in to webmail from {place} (IP {ip}) at {time}.\n"
                   "If this was not you, change your password now and tell your administrator."),
    "kind_unit": ("hộp thư đơn vị", "单位邮箱", "unit mailbox"),
    "kind_delegated": ("được uỷ quyền", "委托", "delegated"),
    "status_delivered": ("đã phát", "已投递", "delivered"),
    "status_deferred": ("đang chờ gửi lại", "延迟投递", "deferred"),
    "status_bounced": ("bị trả lại", "被退回", "bounced"),
    "status_quarantined": ("bị cách ly", "已隔离", "quarantined"),
    "status_rejected": ("bị từ chối", "被拒绝", "rejected"),
    "status_recalled": ("đã thu hồi", "已撤回", "recalled"),
    "status_refused": ("không thu hồi được", "无法撤回", "not recalled"),
    "status_opened": ("đã mở", "已打开", "opened"),
    "status_read": ("đã đọc", "已读", "read"),
    "status_queued": ("đang gửi", "排队中", "queued"),
    "status_remote": ("ngoài hệ thống, không thu hồi được", "外部邮箱，无法撤回", "outside the province, cannot be recalled"),
    "status_gone": ("không còn thư để thu hồi", "没有可撤回的邮件", "nothing left to recall"),
    "unknown_place": ("nơi chưa xác định", "未知地点", "an unknown place"),
}


def text(key: str, language: str) -> str:
    row = _TEXTS[key]
    return row[LANGUAGES.index(language)] if language in LANGUAGES else row[0]


def table(language: str) -> dict[str, str]:
    """Every text in one language, for the templates."""
    return {key: text(key, language) for key in _TEXTS}
