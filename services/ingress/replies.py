"""SMTP replies with enhanced status codes (RFC 3463), named once so every path answers the same way."""

OK_QUEUED = "250 2.0.0 Ok: queued as {message_id}"
RCPT_OK = "250 2.1.5 Ok"
MAIL_OK = "250 2.1.0 Ok"
RELAY_DENIED = "550 5.7.1 Relaying denied: {domain} is not a local domain"
EXTERNAL_NOT_ALLOWED = ("550 5.7.1 Your service class {service_class} does not allow mail outside the province "
                        "({domain})")
# A control header asking for a feature (R15) the sender's service class does not include (R12).
FEATURE_NOT_ALLOWED = ("550 5.7.1 Your service class {service_class} does not allow {feature}; "
                       "send the message without the {header} header")
USER_UNKNOWN = "550 5.1.1 <{address}>: Recipient address rejected: user unknown"
MAILBOX_DISABLED = "550 5.2.1 <{address}>: Mailbox disabled"
BAD_ADDRESS = "553 5.1.3 <{address}>: Bad recipient address syntax"
TOO_BIG = "552 5.3.4 Message size exceeds fixed limit of {limit} bytes"
DECLARED_TOO_BIG = "552 5.3.4 Declared message size {size} exceeds the limit of {limit} bytes for <{address}>"
OVER_QUOTA_TEMPORARY = "452 4.2.2 <{address}>: Mailbox full, try again later"
OVER_QUOTA_PERMANENT = "552 5.2.2 <{address}>: Mailbox full"
TOO_BIG_FOR = "552 5.3.4 Message size {size} exceeds the limit of {limit} bytes for <{address}>"
LINE_TOO_LONG = "500 5.5.2 Line too long (limit {limit} octets)"
NOT_DURABLE = "451 4.3.0 Temporary failure: message not stored, try again later"
DIRECTORY_DOWN = "451 4.3.0 Temporary failure: directory unavailable, try again later"
INTERNAL_ERROR = "451 4.3.0 Internal error, try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your address, try again later"
TOO_MANY_MESSAGES = "451 4.7.1 Too many messages from your address, try again later"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
STARTTLS_FIRST = "530 5.7.0 Must issue a STARTTLS command first"
ALREADY_AUTHENTICATED = "503 5.5.1 Already authenticated"
PASSWORD_CHANGE_FIRST = "535 5.7.8 Password must be changed in webmail before mail clients may log in"
# RFC 4954 gives AUTH one permanent failure that is about the account rather than the mechanism or
# the channel (534 5.7.9 too weak, 538 5.7.11 encryption needed): 535 5.7.8, authentication failed
# "due to invalid or insufficient authentication credentials" - these credentials are insufficient for
# SMTP. 550 5.7.1 is RFC 3463's "delivery not authorized" for a message, not an answer to AUTH. The
# text tells the user why, as for PASSWORD_CHANGE_FIRST: the password was right, so it reveals nothing.
SMTP_NOT_ALLOWED = ("535 5.7.8 Your service class {service_class} does not allow mail clients (SMTP); "
                    "use the webmail")
AUTH_TEMPFAIL = "454 4.7.0 Temporary authentication failure, try again later"
SENDER_NOT_OWNED = (
    "550 5.7.1 <{address}>: Sender address not owned by authenticated user <{account}> and no grant to send for it"
)
FROM_NOT_OWNED = (
    "550 5.7.1 From: header <{address}> is neither the authenticated user <{account}> nor a mailbox it may send for"
)
SENDER_HEADER_NOT_OWNED = "550 5.7.1 Sender: header <{address}> is not the authenticated user <{account}>"
SENDING_DISABLED = "550 5.7.1 Sending disabled for this account; contact your administrator"
