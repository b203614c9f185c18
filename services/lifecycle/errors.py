"""Failures of lifecycle operations, each with the HTTP status and problem type it is reported as."""

from __future__ import annotations


class LifecycleError(Exception):
    """An operation that cannot be done as asked; `detail` says why, for the administrator."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extensions: object):
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions  # extra members of the problem JSON, e.g. `errors`
        self.audited = False  # set once the refusal is in the audit log, so it is logged once


class MalformedBody(LifecycleError):
    status = 400
    slug = "malformed-body"
    title = "Malformed request body"


class NotFound(LifecycleError):
    status = 404
    slug = "not-found"
    title = "Not found"


class UnknownReference(LifecycleError):
    """The request names a domain or unit that does not exist."""

    status = 422
    slug = "unknown-reference"
    title = "Unknown domain or unit"


class InvalidInput(LifecycleError):
    status = 422
    slug = "invalid-input"
    title = "Invalid input"


class Conflict(LifecycleError):
    status = 409
    slug = "conflict"
    title = "Already exists"


class StoreUnavailable(LifecycleError):
    status = 503
    slug = "store-unavailable"
    title = "Account store unavailable"


class Unauthorized(LifecycleError):
    """No bearer token, or one that is not (or no longer) an administrator's."""

    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Forbidden(LifecycleError):
    """The administrator's role or unit does not cover this action; audited as 'denied'."""

    status = 403
    slug = "forbidden"
    title = "Not allowed"


class FeatureNotAllowed(Forbidden):
    """The account's service class does not include the feature asked for (R12); audited as 'denied'."""

    slug = "feature-not-allowed"
    title = "Feature not allowed"


class TooManyAttempts(LifecycleError):
    status = 429
    slug = "too-many-attempts"
    title = "Too many attempts"
