"""Request bodies of the admin API; their JSON Schemas go into the served OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.directory import DEFAULT_CLASS
from services.lifecycle.contract import DEFAULT_SCHEME


class DomainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Domain name, e.g. 'tiengiang.gov.vn'.")
    scheme: str = Field(DEFAULT_SCHEME, description="Address scheme: tiengiang, backan or pinyin.")
    collisions: list[str] | None = Field(
        None,
        description="Collision steps for personal addresses, in order, from full, family_initial, initials, "
        "given_initials, year, number; omitted = the scheme's default.",
    )


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str
    code: str = Field(
        description="Short code, e.g. 'stttt'; the unit's address part, except where the scheme uses the folded "
        "name (districts and communes in tiengiang/pinyin, communes in backan)."
    )
    name: str = Field(description="Full name of the unit.")
    parent: str = Field("", description="Code of the parent unit, if any.")
    kind: str = Field("unit", description="unit, agency, department, division, district or commune.")
    phone: str = Field("", description="Telephone, for the directory.")
    fax: str = Field("", description="Fax, for the directory.")
    postal_address: str = Field("", description="Address, for the directory.")


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str
    name: str = Field("", description="Full name of the person (or of the unit, for a unit mailbox).")
    unit: str = Field("", description="Code of the unit the mailbox belongs to.")
    birth_year: int | None = Field(None, description="Used by the address rules on a name collision.")
    unit_mailbox: bool = Field(
        False, description="The unit's own mailbox (address made from the unit tree) instead of a person's."
    )
    service_class: str = Field(DEFAULT_CLASS, description="A service class name (GET /classes).")
    title: str = Field("", description="Job title, for the directory.")
    phone: str = Field("", description="Office telephone, for the directory.")
    fax: str = Field("", description="Office fax, for the directory.")
    postal_address: str = Field("", description="Office address, for the directory.")
    language: str = Field("vi", description="Language of notices: vi, zh or en.")


class RestrictionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_networks: list[str] | None = Field(
        None, description="CIDRs (IPv4/IPv6) the account may log in from; [] = anywhere."
    )
    allowed_hours: str | None = Field(
        None, description="'HH:MM-HH:MM' in the province's time zone, may cross midnight; '' = any time."
    )
    allowed_clients: list[str] | None = Field(
        None, description="Client types allowed: smtp, imap, pop3, webmail; [] = all."
    )


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountChangeIn(Body):
    name: str | None = Field(None, description="New display name; the address stays (see /rename).")
    title: str | None = None
    phone: str | None = None
    fax: str | None = None
    postal_address: str | None = None
    language: str | None = Field(None, description="vi, zh or en.")
    service_class: str | None = Field(None, description="Move the account to another service class.")


class TransferIn(Body):
    unit: str = Field(description="Code of the new unit, in the same domain.")


class RenameIn(Body):
    name: str = Field(description="The new full name; the new address follows the domain's rules.")


class HandoverIn(Body):
    holder: str = Field(description="Address of the new head, who holds the unit mailbox from now on.")


class ReasonIn(Body):
    reason: str = Field("", description="Why; required for a revocation and a refusal.")


class PasswordChangeIn(Body):
    current: str = Field(description="The current (or one-time) password.")
    new: str = Field(description="The new password; must satisfy the policy and differ from recent ones.")


class GrantIn(Body):
    grantee: str = Field(description="Address of the account that gets the rights.")
    rights: list[Literal["view", "send_on_behalf", "send_as"]]
    expires_at: datetime | None = Field(None, description="ISO-8601 with time zone; omitted = no expiry.")


class ApplicationIn(Body):
    domain: str
    unit: str = Field(description="Code of the unit the mailbox is for.")
    name: str = Field("", description="The person's full name (empty for the unit's own mailbox).")
    unit_mailbox: bool = False
    birth_year: int | None = None
    title: str = ""
    phone: str = ""
    service_class: str = DEFAULT_CLASS
    note: str = Field("", description="Why the mailbox is needed.")


class ClassIn(Body):
    quota_bytes: int = Field(description="Mailbox quota in bytes.")
    max_message_bytes: int = Field(description="Largest message (attachments included) in bytes.")
    # Omitted keeps what the class allows (every feature for a new one): since smtp and webmail are enforced,
    # a quota change that forgot the list must not lock the class's users out.
    features: list[str] | None = Field(None, description="Allowed features, e.g. external, recall; [] = none; "
                                                         "omitted = unchanged (every feature for a new class).")


class AdminIn(Body):
    name: str
    role: Literal["province", "unit", "auditor"]
    domain: str = Field("", description="Unit administrators: their unit's domain.")
    unit: str = Field("", description="Unit administrators: their unit's code.")
