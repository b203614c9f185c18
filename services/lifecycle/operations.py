"""What administrators can do to domains, units and accounts: validation, address choice, events and audit."""

from __future__ import annotations

import asyncio
import contextlib
import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime

from schemas.events import AccountEvent, AdminAudit, new_event_id, utcnow
from schemas.registry import ACCOUNTS, AUDIT
from services.common import logging as log
from services.common.directory import (
    SERVICE_CLASS_NAMES,
    SERVICE_CLASSES,
    Account,
    Domain,
    Unit,
    accounts_key,
    alias_key,
)
from services.ingress import restrictions
from services.lifecycle import naming
from services.lifecycle.admins import Admin
from services.lifecycle.contract import DEFAULT_SCHEME, SCHEMES, UNIT_KINDS
from services.lifecycle.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LifecycleError,
    NotFound,
    UnknownReference,
)
from services.lifecycle.outbox import entry
from services.lifecycle.passwords import PasswordPolicy, generate_password, hash_password
from services.lifecycle.policy import Policy
from services.lifecycle.store import AccountStore

logger = log.get(__name__)

PRODUCER = "lifecycle"
MAX_ADDRESS_ATTEMPTS = 1000

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}")


def normalize_domain(raw: str) -> str:
    """Lower-case ASCII domain name; an internationalised one is stored in its xn-- form."""
    name = raw.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidInput(f"{raw!r} is not a valid domain name") from exc
    if len(name) > 253 or not _DOMAIN.fullmatch(name):
        raise InvalidInput(f"{raw!r} is not a valid domain name")
    return name


def clean_name(text: str) -> str:
    """A display name as stored: NFC (input may come decomposed) with single spaces."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


class Lifecycle:
    """Administrator operations; every change goes to Redis with its account event, every action with its audit event."""

    def __init__(
        self,
        store: AccountStore,
        notify: Callable[[], None] = lambda: None,
        password_length: int = 12,
        password_policy: PasswordPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.notify = notify  # tells the outbox drainer there is something to publish
        self.password_length = password_length
        self.password_policy = password_policy or PasswordPolicy()
        self.clock = clock  # injected by tests (inactivity, SLA)
        self.policy = Policy(store)

    def now(self) -> str:
        return self.clock().isoformat()

    async def new_password(self) -> tuple[str, str]:
        """A one-time password and its hash."""
        password = generate_password(self.password_length, self.password_policy.specials)
        return password, await asyncio.to_thread(hash_password, password)

    def _audit(
        self, trace_id: str, admin: Admin | str, action: str, target: str, outcome: str = "ok", **details: object
    ) -> str:
        if isinstance(admin, Admin):
            details = {"role": admin.role, **({"operator": admin.operator} if admin.operator else {}), **details}
        event = AdminAudit(
            producer=PRODUCER,
            trace_id=trace_id,
            admin=admin.name if isinstance(admin, Admin) else admin,
            action=action,
            target=target,
            outcome=outcome,
            details=details,
        )
        return entry(AUDIT, event)

    def _change(self, trace_id: str, admin: Admin, kind: str, domain: str, **fields: object) -> str:
        event = AccountEvent(
            producer=PRODUCER, trace_id=trace_id, kind=kind, domain=domain, actor=admin.name, **fields
        )
        # Keyed by address, or by domain for domain and unit changes, so each one's changes stay in order.
        return entry(ACCOUNTS, event, key=event.address or domain)

    @contextlib.asynccontextmanager
    async def _action(self, admin: Admin, action: str, target: str) -> AsyncIterator[str]:
        """Runs one administrator action; a refused one is audited here (a successful one with its change)."""
        trace_id = new_event_id()
        try:
            yield trace_id
        except LifecycleError as exc:
            outcome = "denied" if isinstance(exc, Forbidden) else "error"
            logger.info("admin_action_refused", admin=admin.name, action=action, target=target, status=exc.status)
            await self.store.queue(
                [self._audit(trace_id, admin, action, target, outcome, status=exc.status, error=exc.detail)]
            )
            exc.audited = True
            self.notify()
            raise
        self.notify()

    async def audit_only(self, admin: Admin | str, action: str, target: str, outcome: str = "ok",
                         **details: object) -> None:
        """Audit an action that changes nothing (a read, or a request refused before any operation ran)."""
        await self.store.queue([self._audit(new_event_id(), admin, action, target, outcome, **details)])
        self.notify()

    async def account(self, address: str) -> Account:
        found = await self.store.account(address)
        if found is None:
            raise NotFound(f"account {address} does not exist")
        return found

    async def check(self, admin: Admin, action: str, domain: str = "", unit: str = "") -> None:
        await self.policy.check(admin, action, domain, unit)

    async def class_names(self) -> list[str]:
        stored = await self.store.redis.smembers(SERVICE_CLASS_NAMES)
        return sorted(set(SERVICE_CLASSES) | set(stored))

    async def add_domain(
        self, admin: Admin, name: str, scheme: str = DEFAULT_SCHEME, collisions: list[str] | None = None
    ) -> Domain:
        async with self._action(admin, "domain.add", name) as trace_id:
            await self.check(admin, "domain.add")
            name = normalize_domain(name)
            if scheme not in SCHEMES:
                raise InvalidInput(f"unknown naming scheme {scheme!r}; known: {', '.join(SCHEMES)}")
            # Kept only when configured, so a domain without it follows its scheme's default.
            steps = ",".join(naming.collision_steps(scheme, collisions)) if collisions else ""
            domain = Domain(name=name, scheme=scheme, collisions=steps, created_at=self.now())
            events = [
                self._change(
                    trace_id, admin, "domain_added", name, details={"scheme": scheme, "collisions": steps}
                ),
                self._audit(trace_id, admin, "domain.add", name, scheme=scheme, collisions=steps),
            ]
            if not await self.store.add_domain(domain, events):
                raise Conflict(f"domain {name} already exists")
            logger.info("domain_added", domain=name, scheme=scheme, admin=admin.name)
            return domain

    async def domains(self) -> list[Domain]:
        return await self.store.domains()

    async def _domain(self, name: str) -> Domain:
        domain = await self.store.domain(normalize_domain(name))
        if domain is None:
            raise NotFound(f"domain {name} does not exist")
        return domain

    async def add_unit(
        self, admin: Admin, domain: str, code: str, name: str, parent: str = "", kind: str = "unit",
        phone: str = "", fax: str = "", postal_address: str = "",
    ) -> Unit:
        async with self._action(admin, "unit.add", f"{code}@{domain}") as trace_id:
            domain = normalize_domain(domain)
            code = naming.unit_code(code) if code else ""
            parent = naming.unit_code(parent) if parent else ""
            if not code:
                raise InvalidInput("a unit needs a code")
            name = clean_name(name)
            if not name:
                raise InvalidInput("a unit needs a name")
            if kind not in UNIT_KINDS:
                raise InvalidInput(f"unknown unit kind {kind!r}; known: {', '.join(UNIT_KINDS)}")
            if parent == code:
                raise InvalidInput(f"unit {code} cannot be its own parent")
            # A unit administrator may add units below their own only.
            await self.check(admin, "unit.add", domain, parent)
            unit = Unit(domain=domain, code=code, name=name, parent=parent, kind=kind, created_at=self.now(),
                        phone=phone.strip(), fax=fax.strip(), postal_address=clean_name(postal_address))
            events = [
                self._change(
                    trace_id,
                    admin,
                    "unit_added",
                    domain,
                    unit=code,
                    details={"name": unit.name, "parent": parent, "kind": kind},
                ),
                self._audit(
                    trace_id, admin, "unit.add", f"{code}@{domain}", name=unit.name, parent=parent, kind=kind
                ),
            ]
            if not await self.store.add_unit(unit, events):
                raise Conflict(f"unit {code} already exists in {domain}")
            logger.info("unit_added", domain=domain, unit=code, admin=admin.name)
            return unit

    async def units(self, admin: Admin, domain: str) -> list[Unit]:
        await self.check(admin, "unit.list")
        found = await self._domain(domain)
        units = await self.store.units(found.name)
        return [u for u in units if await self.policy.in_scope(admin, u.domain, u.code)] if admin.role == "unit" else units

    async def create_account(
        self,
        admin: Admin,
        domain: str,
        name: str = "",
        unit: str = "",
        birth_year: int | None = None,
        unit_mailbox: bool = False,
        service_class: str | None = None,
        details: dict[str, str] | None = None,
        action: str = "account.create",
    ) -> tuple[Account, str]:
        """Issue a mailbox; returns the account and its one-time initial password (not kept anywhere in clear).

        `details` are the directory fields (title, phone, fax, postal_address, language).
        """
        async with self._action(admin, action, f"{name or unit}@{domain}") as trace_id:
            await self.check(admin, action)
            found = await self.store.domain(normalize_domain(domain))
            if found is None:
                raise UnknownReference(f"domain {domain} does not exist")
            unit = naming.unit_code(unit) if unit else ""
            service_class = service_class or "standard"
            if service_class not in (known := await self.class_names()):
                raise InvalidInput(f"unknown service class {service_class!r}; known: {', '.join(known)}")
            if birth_year is not None and not 1900 <= birth_year <= date.today().year:
                raise InvalidInput(f"birth year {birth_year} is not plausible")
            name = clean_name(name)
            if unit_mailbox:
                candidates, kind, name = await self._unit_mailbox(found, unit, name)
            else:
                # 004 art. 4.1b allows anhnv and anhnv.tt; here a person filed under a unit gets the
                # unit's mailbox as suffix (anhnv.tt) and one without a unit the bare form (anhnv).
                unitbox = await self._unit_localpart(found, unit) if unit and found.scheme == "backan" else ""
                candidates = naming.person_candidates(
                    found.scheme, name, birth_year, unitbox=unitbox, steps=found.collisions
                )
                kind = "personal"
            password, password_hash = await self.new_password()
            for _, localpart in zip(range(MAX_ADDRESS_ATTEMPTS), candidates, strict=False):
                address = f"{localpart}@{found.name}"
                account = Account(
                    address=address,
                    domain=found.name,
                    localpart=localpart,
                    name=name,
                    kind=kind,
                    unit=unit,
                    service_class=service_class,
                    birth_year=None if unit_mailbox else birth_year,
                    password_hash=password_hash,
                    must_change_password=True,
                    created_at=self.now(),
                    **(details or {}),
                )
                events = [
                    self._change(
                        trace_id,
                        admin,
                        "account_created",
                        found.name,
                        address=address,
                        unit=unit or None,
                        details={"kind": kind, "service_class": service_class},
                    ),
                    self._audit(
                        trace_id,
                        admin,
                        action,
                        address,
                        kind=kind,
                        unit=unit,
                        service_class=service_class,
                    ),
                ]
                # Atomic in Redis: of two administrators creating the same name at once, one gets
                # this address and the other moves on to the next candidate.
                # An old address still kept as another account's alias is not given out again.
                if await self.store.redis.exists(alias_key(address)):
                    continue
                if await self.store.add_account(account, events):
                    logger.info("account_created", address=address, kind=kind, admin=admin.name)
                    return account, password
                if unit_mailbox:
                    raise Conflict(f"{address} already exists")
            raise Conflict(f"no free address for {name!r} in {found.name}")

    async def _unit_mailbox(self, domain: Domain, code: str, name: str) -> tuple[list[str], str, str]:
        if not code:
            raise InvalidInput("a unit mailbox needs the unit's code")
        found = await self.store.unit(domain.name, code)
        if found is None:
            raise UnknownReference(f"unit {code!r} does not exist in {domain.name}")
        return [await self._unit_localpart(domain, code)], "unit", name or found.name

    async def _unit_localpart(self, domain: Domain, code: str) -> str:
        """The local part of a unit's mailbox, made from the unit and its ancestors by the domain's scheme."""
        chain: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        while code:
            unit = await self.store.unit(domain.name, code)
            if unit is None:
                raise UnknownReference(f"unit {code!r} does not exist in {domain.name}")
            if code in seen:  # the store refuses cycles; this guards against hand-edited records
                raise InvalidInput(f"unit {code!r} is its own ancestor in {domain.name}")
            seen.add(code)
            chain.insert(0, (unit.kind, unit.code, unit.name))
            code = unit.parent
        return naming.unit_localpart(domain.scheme, chain)

    async def show_account(self, admin: Admin, address: str) -> Account:
        async with self._action(admin, "account.show", address) as trace_id:
            account = await self.account(address)
            await self.check(admin, "account.show", account.domain, account.unit)
            # Reading someone's directory record is an administrator action too (R27).
            await self.store.queue([self._audit(trace_id, admin, "account.show", account.address)])
            return account

    async def restrict_account(
        self,
        admin: Admin,
        address: str,
        networks: list[str] | None = None,
        hours: str | None = None,
        clients: list[str] | None = None,
    ) -> Account:
        """Set where, when and with which clients an account may log in (R24); None leaves one as it is, empty lifts it."""
        async with self._action(admin, "account.restrict", address) as trace_id:
            changes: dict[str, object] = {}
            try:
                if networks is not None:
                    changes["allowed_networks"] = restrictions.parse_networks(networks)
                if hours is not None:
                    changes["allowed_hours"] = restrictions.format_hours(restrictions.parse_hours(hours))
                if clients is not None:
                    changes["allowed_clients"] = restrictions.parse_clients(clients)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
            if not changes:
                raise InvalidInput("nothing to change: give allowed_networks, allowed_hours or allowed_clients")
            return await self._update(trace_id, admin, address, "account.restrict", changes)

    async def unlock_sending(self, admin: Admin, address: str) -> Account:
        """Let an account send again after the daily outbound cap locked it (R22)."""
        async with self._action(admin, "account.unlock_sending", address) as trace_id:
            return await self._update(trace_id, admin, address, "account.unlock_sending", {"sending_locked": False})

    async def _update(
        self, trace_id: str, admin: Admin, address: str, action: str, changes: dict[str, object],
        kind: str = "account_updated", audit: dict[str, object] | None = None, extra: list[str] | None = None,
    ) -> Account:
        """Change fields of an account the administrator may manage; `audit` replaces what is logged (no secrets)."""
        account = await self.account(address)
        await self.check(admin, action, account.domain, account.unit)
        if account.status == "deleted":  # closed: kept only so that its address is never given again
            raise Conflict(f"{account.address} is closed")
        updated = account.model_copy(update=changes)
        fields = {name: value for name, value in updated.to_redis().items() if name in changes}
        shown = changes if audit is None else audit
        events = [
            self._change(
                trace_id, admin, kind, account.domain, address=account.address, unit=account.unit or None,
                details=shown,
            ),
            self._audit(trace_id, admin, action, account.address, **shown),
            *(extra or []),
        ]
        if not await self.store.update_account(account.address, fields, events):
            raise NotFound(f"account {address} does not exist")
        logger.info("account_updated", address=account.address, action=action, admin=admin.name)
        return updated

    async def list_accounts(self, admin: Admin, domain: str, unit: str = "", status: str = "") -> list[Account]:
        """A domain's accounts, optionally of one unit or status; a unit administrator sees their subtree only."""
        found = await self._domain(domain)
        accounts = []
        for address in sorted(await self.store.redis.smembers(accounts_key(found.name))):
            account = await self.store.account(address)
            if account is None or (unit and account.unit != unit) or (status and account.status != status):
                continue
            if admin.role == "unit" and not await self.policy.in_scope(admin, account.domain, account.unit):
                continue
            accounts.append(account)
        return accounts
