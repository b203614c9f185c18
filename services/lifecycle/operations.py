"""What administrators can do to domains, units and accounts: validation, address choice, events and audit."""

from __future__ import annotations

import asyncio
import contextlib
import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from datetime import date

from schemas.events import AccountEvent, AdminAudit, new_event_id, utcnow
from schemas.registry import ACCOUNTS, AUDIT
from services.common import logging as log
from services.common.directory import SERVICE_CLASSES, Account, Domain, Unit
from services.ingress import restrictions
from services.lifecycle import naming
from services.lifecycle.contract import DEFAULT_SCHEME, SCHEMES, UNIT_KINDS
from services.lifecycle.errors import Conflict, InvalidInput, LifecycleError, NotFound, UnknownReference
from services.lifecycle.outbox import entry
from services.lifecycle.passwords import generate_password, hash_password
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


def _now() -> str:
    return utcnow().isoformat()


class Lifecycle:
    """Administrator operations; every change goes to Redis with its account event, every action with its audit event."""

    def __init__(
        self, store: AccountStore, notify: Callable[[], None] = lambda: None, password_length: int = 12
    ):
        self.store = store
        self.notify = notify  # tells the outbox drainer there is something to publish
        self.password_length = password_length

    def _audit(
        self, trace_id: str, admin: str, action: str, target: str, outcome: str = "ok", **details: object
    ) -> str:
        event = AdminAudit(
            producer=PRODUCER,
            trace_id=trace_id,
            admin=admin,
            action=action,
            target=target,
            outcome=outcome,
            details=details,
        )
        return entry(AUDIT, event)

    def _change(self, trace_id: str, admin: str, kind: str, domain: str, **fields: object) -> str:
        event = AccountEvent(
            producer=PRODUCER, trace_id=trace_id, kind=kind, domain=domain, actor=admin, **fields
        )
        # Keyed by address, or by domain for domain and unit changes, so each one's changes stay in order.
        return entry(ACCOUNTS, event, key=event.address or domain)

    @contextlib.asynccontextmanager
    async def _action(self, admin: str, action: str, target: str) -> AsyncIterator[str]:
        """Runs one administrator action; a refused one is audited here (a successful one with its change)."""
        trace_id = new_event_id()
        try:
            yield trace_id
        except LifecycleError as exc:
            logger.info("admin_action_refused", admin=admin, action=action, target=target, status=exc.status)
            await self.store.queue(
                [self._audit(trace_id, admin, action, target, "error", status=exc.status, error=exc.detail)]
            )
            self.notify()
            raise
        self.notify()

    async def add_domain(
        self, admin: str, name: str, scheme: str = DEFAULT_SCHEME, collisions: list[str] | None = None
    ) -> Domain:
        async with self._action(admin, "domain.add", name) as trace_id:
            name = normalize_domain(name)
            if scheme not in SCHEMES:
                raise InvalidInput(f"unknown naming scheme {scheme!r}; known: {', '.join(SCHEMES)}")
            # Kept only when configured, so a domain without it follows its scheme's default.
            steps = ",".join(naming.collision_steps(scheme, collisions)) if collisions else ""
            domain = Domain(name=name, scheme=scheme, collisions=steps, created_at=_now())
            events = [
                self._change(
                    trace_id, admin, "domain_added", name, details={"scheme": scheme, "collisions": steps}
                ),
                self._audit(trace_id, admin, "domain.add", name, scheme=scheme, collisions=steps),
            ]
            if not await self.store.add_domain(domain, events):
                raise Conflict(f"domain {name} already exists")
            logger.info("domain_added", domain=name, scheme=scheme, admin=admin)
            return domain

    async def domains(self) -> list[Domain]:
        return await self.store.domains()

    async def _domain(self, name: str) -> Domain:
        domain = await self.store.domain(normalize_domain(name))
        if domain is None:
            raise NotFound(f"domain {name} does not exist")
        return domain

    async def add_unit(
        self, admin: str, domain: str, code: str, name: str, parent: str = "", kind: str = "unit"
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
            unit = Unit(domain=domain, code=code, name=name, parent=parent, kind=kind, created_at=_now())
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
            logger.info("unit_added", domain=domain, unit=code, admin=admin)
            return unit

    async def units(self, domain: str) -> list[Unit]:
        found = await self._domain(domain)
        return await self.store.units(found.name)

    async def create_account(
        self,
        admin: str,
        domain: str,
        name: str = "",
        unit: str = "",
        birth_year: int | None = None,
        unit_mailbox: bool = False,
        service_class: str | None = None,
    ) -> tuple[Account, str]:
        """Issue a mailbox; returns the account and its one-time initial password (not kept anywhere in clear)."""
        async with self._action(admin, "account.create", f"{name or unit}@{domain}") as trace_id:
            found = await self.store.domain(normalize_domain(domain))
            if found is None:
                raise UnknownReference(f"domain {domain} does not exist")
            unit = naming.unit_code(unit) if unit else ""
            service_class = service_class or "standard"
            if service_class not in SERVICE_CLASSES:
                raise InvalidInput(
                    f"unknown service class {service_class!r}; known: {', '.join(SERVICE_CLASSES)}"
                )
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
            password = generate_password(self.password_length)
            password_hash = await asyncio.to_thread(hash_password, password)
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
                    created_at=_now(),
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
                        "account.create",
                        address,
                        kind=kind,
                        unit=unit,
                        service_class=service_class,
                    ),
                ]
                # Atomic in Redis: of two administrators creating the same name at once, one gets
                # this address and the other moves on to the next candidate.
                if await self.store.add_account(account, events):
                    logger.info("account_created", address=address, kind=kind, admin=admin)
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

    async def show_account(self, admin: str, address: str) -> Account:
        async with self._action(admin, "account.show", address) as trace_id:
            account = await self.store.account(address)
            if account is None:
                raise NotFound(f"account {address} does not exist")
            # Reading someone's directory record is an administrator action too (R27).
            await self.store.queue([self._audit(trace_id, admin, "account.show", account.address)])
            return account

    async def restrict_account(
        self,
        admin: str,
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

    async def unlock_sending(self, admin: str, address: str) -> Account:
        """Let an account send again after the daily outbound cap locked it (R22)."""
        async with self._action(admin, "account.unlock_sending", address) as trace_id:
            return await self._update(trace_id, admin, address, "account.unlock_sending", {"sending_locked": False})

    async def _update(
        self, trace_id: str, admin: str, address: str, action: str, changes: dict[str, object]
    ) -> Account:
        account = await self.store.account(address)
        if account is None:
            raise NotFound(f"account {address} does not exist")
        updated = account.model_copy(update=changes)
        fields = {name: value for name, value in updated.to_redis().items() if name in changes}
        events = [
            self._change(
                trace_id, admin, "account_updated", account.domain, address=account.address, details=changes
            ),
            self._audit(trace_id, admin, action, account.address, **changes),
        ]
        if not await self.store.update_account(account.address, fields, events):
            raise NotFound(f"account {address} does not exist")
        logger.info("account_updated", address=account.address, action=action, admin=admin)
        return updated
