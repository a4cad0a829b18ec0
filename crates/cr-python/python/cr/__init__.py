"""cr: reserve cloud compute capacity before a test cluster is provisioned, release it after.

The reference interface, one class per cloud, called on the class::

    from cr import GceCapacityReservation

    if GceCapacityReservation.is_enabled(params):
        reservations = GceCapacityReservation.reserve(params)   # all or nothing
        # ... provision: launch in params["availability_zone"], target
        # GceCapacityReservation.instance_target(zone="b", instance_type="n2-highmem-16")
        GceCapacityReservation.cancel(params)

``params`` is a mapping (a test framework's dict-like configuration object, or a plain dict)
or a list of SCT-style YAML paths, layered as the ``cr`` CLI layers them; ``SCT_*``
environment variables apply on top, as in the CLI. Options are keyword arguments:
``endpoint`` and ``ca_bundle`` (e.g. an emulator), ``reserve_timeout`` (seconds), ``env``
(variables that take precedence over the process environment for credentials and settings),
``progress`` (a callable receiving each progress event as a dict; without one, events go to the
``cr`` logger at INFO level).

Failures raise :class:`CrError` subclasses mirroring cr's error kinds, with the cloud's own
code and where it happened. Ctrl-C during ``reserve`` stops it, releases everything it
reserved, then raises :class:`Interrupted` (a :class:`KeyboardInterrupt`).

Everything runs in cr's Rust core (cr-facade) with the GIL released; this module only converts.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Callable, ClassVar, Optional, Sequence, Union

from . import _native

__all__ = [
    "CapacityReservation",
    "AwsCapacityReservation",
    "GceCapacityReservation",
    "AzureCapacityReservation",
    "OciCapacityReservation",
    "CrError",
    "CapacityUnavailable",
    "NotOffered",
    "QuotaExceeded",
    "Throttled",
    "Unauthorized",
    "ClockSkew",
    "InvalidRequest",
    "NotFound",
    "Timeout",
    "Transient",
    "InvalidConfig",
    "Unsupported",
    "Interrupted",
    "RollbackFailed",
    "compiled_backends",
]

log = logging.getLogger("cr")

Params = Union[Mapping[str, Any], Sequence[Union[str, "os.PathLike[str]"]]]


# ---------------------------------------------------------------------------------------------
# Errors


class CrError(Exception):
    """A cr failure. Attributes (``None`` or empty when not known):

    - ``kind``: cr's error kind (``capacity_unavailable``, ``quota_exceeded``, ...)
    - ``cloud``, ``region``, ``zone``, ``instance_type``: where it happened
    - ``code``, ``message``, ``request_id``: the cloud's own code, message and request id
    - ``zones_tried``: ``[{"zone": ..., "error": {...}}]`` for a search over zones that failed
    - ``still_held``: what a failed rollback or cancel left reserved (``cr cleanup`` removes it)
    - ``config``: for a configuration error, ``{"source", "key", "value", "expected"}``
    - ``document``: the whole failure document
    """

    kind: str = "other"

    def __init__(self, document: dict):
        self.document = document
        self.kind = document.get("kind", type(self).kind)
        cloud_error = document.get("cloud_error") or {}
        self.cloud = cloud_error.get("cloud")
        self.region = cloud_error.get("region")
        self.zone = cloud_error.get("zone")
        self.instance_type = cloud_error.get("instance_type")
        self.code = cloud_error.get("code") or None
        self.request_id = cloud_error.get("request_id")
        self.message = document.get("message", "")
        self.zones_tried = document.get("zones_tried") or []
        self.still_held = document.get("still_held") or []
        self.config = document.get("config")
        super().__init__(self.message)


class CapacityUnavailable(CrError):
    """The cloud has no capacity for the type in any zone tried; retry later or elsewhere."""

    kind = "capacity_unavailable"


class NotOffered(CrError):
    """A zone does not offer the instance type."""

    kind = "not_offered"


class QuotaExceeded(CrError):
    """A quota (of the region or account) is exhausted; the message names it."""

    kind = "quota_exceeded"


class Throttled(CrError):
    """The cloud kept rate-limiting the calls."""

    kind = "throttled"


class Unauthorized(CrError):
    """The credentials are missing, wrong, or lack a permission (see ``cr permissions``)."""

    kind = "unauthorized"


class ClockSkew(Unauthorized):
    """The cloud refused a request signed with this machine's clock, which is too far from its
    own (EC2 ``RequestExpired``, OCI 401 ``NotAuthenticated``, a GCE JWT's ``iat``/``exp``):
    sync the clock with NTP (``chronyc makestep``, ``timedatectl set-ntp true``) and retry. A
    subclass of ``Unauthorized``: handlers of refused credentials catch it too."""

    kind = "clock_skew"


class InvalidRequest(CrError):
    """The cloud refused the request as invalid."""

    kind = "invalid_request"


class NotFound(CrError):
    """Something the call needed does not exist."""

    kind = "not_found"


class Timeout(CrError):
    """A call or the whole reserve ran out of time (everything it reserved was released)."""

    kind = "timeout"


class Transient(CrError):
    """The cloud kept failing transiently."""

    kind = "transient"


class InvalidConfig(CrError):
    """The configuration is invalid; ``config`` names the source and key."""

    kind = "invalid_config"


class Unsupported(CrError):
    """The backend is unknown or not compiled into this package."""

    kind = "unsupported"


class RollbackFailed(CrError):
    """A rollback or cancel failed: ``still_held`` lists what is still reserved."""

    kind = "rollback_failed"


class Interrupted(CrError, KeyboardInterrupt):
    """Ctrl-C (or another signal) stopped the call; everything it reserved was released."""

    kind = "interrupted"


_BY_KIND = {
    cls.kind: cls
    for cls in (
        CapacityUnavailable,
        NotOffered,
        QuotaExceeded,
        Throttled,
        Unauthorized,
        ClockSkew,
        InvalidRequest,
        NotFound,
        Timeout,
        Transient,
        InvalidConfig,
        Unsupported,
        RollbackFailed,
        Interrupted,
    )
}


def _raise(err: _native.NativeError) -> None:
    document = json.loads(err.args[0])
    raise _BY_KIND.get(document.get("kind"), CrError)(document) from None


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except _native.NativeError as err:
        _raise(err)
    except KeyboardInterrupt as interrupt:
        # Raised by the core after it released everything.
        raise Interrupted(
            {"kind": "interrupted", "message": "interrupted; everything reserved was released"}
        ) from interrupt


# ---------------------------------------------------------------------------------------------
# Conversion


def _split(params: Optional[Params]) -> tuple[Optional[str], list[str]]:
    """(mapping as JSON, files) of ``params``."""
    if params is None:
        return None, []
    if isinstance(params, (str, os.PathLike)):
        return None, [os.fspath(params)]
    if isinstance(params, Mapping):
        return json.dumps(dict(params), default=str), []
    if hasattr(params, "keys") and hasattr(params, "__getitem__"):
        # Dict-like configuration objects that are not registered as Mapping.
        return json.dumps({k: params[k] for k in params.keys()}, default=str), []
    return None, [os.fspath(p) for p in params]


def _options(kwargs: dict) -> tuple[str, Optional[Callable[[str], None]]]:
    known = {"endpoint", "ca_bundle", "reserve_timeout", "env", "progress"}
    unknown = set(kwargs) - known
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    options = {k: (os.fspath(v) if k == "ca_bundle" else v) for k, v in kwargs.items() if k != "progress" and v is not None}
    callback = kwargs.get("progress")

    def progress(text: str) -> None:
        event = json.loads(text)
        if callback is not None:
            callback(event)
        else:
            log.info("%s", event.get("event"), extra={"cr_event": event})

    return json.dumps(options), progress


def _zone_letter(zone: Optional[str], region: str) -> Optional[str]:
    """The framework's zone letter of a full zone name (``us-east1-b`` → ``b``, Azure ``1``)."""
    if zone is None:
        return None
    ad = re.search(r"AD-(\d+)$", zone)
    if ad:
        # OCI: availability domain N is the framework's letter a, b, c.
        return chr(ord("a") + int(ad.group(1)) - 1)
    if zone.startswith(region):
        rest = zone[len(region):].lstrip("-")
        if rest:
            return rest
    return zone.rsplit("-", 1)[-1] if "-" in zone else zone


# ---------------------------------------------------------------------------------------------
# The interface


class CapacityReservation:
    """The capacity-reservation interface of one cloud. Use a subclass (or :meth:`for_backend`);
    every method is called on the class."""

    BACKEND: ClassVar[str] = ""

    @classmethod
    def for_backend(cls, name: str) -> type["CapacityReservation"]:
        """The class of backend ``name`` (``aws``, ``gce``, ``azure``, ``oci`` or an alias)."""
        canonical = {"ec2": "aws", "gcp": "gce"}.get(name, name)
        for sub in (AwsCapacityReservation, GceCapacityReservation, AzureCapacityReservation, OciCapacityReservation):
            if sub.BACKEND == canonical:
                return sub
        raise Unsupported(
            {
                "kind": "unsupported",
                "message": f"unknown backend {name!r}: one of aws (alias ec2), gce (alias gcp), azure, oci"
                f" (compiled into this package: {', '.join(compiled_backends())})",
            }
        )

    @classmethod
    def _backend(cls) -> str:
        if not cls.BACKEND:
            raise TypeError("call this on a cloud's class, e.g. GceCapacityReservation, or CapacityReservation.for_backend(name)")
        return cls.BACKEND

    @classmethod
    def plan(cls, params: Params) -> dict:
        """The capacity plan — what would be reserved, where, until when (offline, no cloud call)."""
        mapping, files = _split(params)
        return json.loads(_call(_native.plan, cls._backend(), mapping, files))

    @classmethod
    def is_enabled(cls, params: Params) -> bool:
        """Whether the configuration switches reservations on for this cloud (offline).

        Raises :class:`InvalidConfig` for a configuration that cannot be planned."""
        mapping, files = _split(params)
        return bool(_call(_native.is_enabled, cls._backend(), mapping, files))

    @classmethod
    def reserve(cls, params: Params, **options: Any) -> dict:
        """Reserves everything the configuration demands, all or nothing, and returns the
        reservation set (``{"backend", "test_id", "regions": [{"region", "zone", "reused",
        "reservations": [{"id", "zone", "instance_type", "count", "instance_target", ...}]}]}``).

        When ``params`` is a mutable mapping, the zone reserved in the first region is written
        back into ``params["availability_zone"]`` as the framework's letter (``b``; Azure
        ``1``), as the reference implementation does, so the provisioner launches there.

        Ctrl-C releases everything reserved, then raises :class:`Interrupted`."""
        mapping, files = _split(params)
        options_json, progress = _options(options)
        result = json.loads(_call(_native.reserve, cls._backend(), mapping, files, options_json, progress))
        regions = result.get("regions") or []
        if isinstance(params, MutableMapping) and regions and regions[0].get("zone"):
            letter = _zone_letter(regions[0]["zone"], regions[0]["region"])
            if letter:
                params["availability_zone"] = letter
        return result

    @classmethod
    def get_id(cls, zone: str, instance_type: str, params: Optional[Params] = None, **options: Any) -> Optional[str]:
        """The id of the reservation for ``instance_type`` in ``zone`` (letter or full name),
        or ``None``. Answers from this process's last ``reserve``/``discover``; in another
        process it discovers the test's reservations from the cloud, which needs ``params``
        (or the ``SCT_*`` environment). A letter matching zones of several regions is an error."""
        mapping, files = _split(params)
        options_json, _ = _options(options)
        return _call(_native.get_id, cls._backend(), zone, instance_type, mapping, files, options_json)

    @classmethod
    def instance_target(cls, zone: str, instance_type: str, params: Optional[Params] = None, **options: Any) -> Optional[dict]:
        """What to merge into the cloud's create-instance request so the instance consumes the
        reservation (EC2 ``CapacityReservationSpecification``, GCE ``reservationAffinity``,
        Azure ``capacityReservation``, OCI ``capacityReservationId``), or ``None``."""
        mapping, files = _split(params)
        options_json, _ = _options(options)
        text = _call(_native.instance_target, cls._backend(), zone, instance_type, mapping, files, options_json)
        return None if text is None else json.loads(text)

    @classmethod
    def discover(cls, params: Params, **options: Any) -> dict:
        """The test's reservations as the cloud reports them (and remembered for ``get_id``)."""
        mapping, files = _split(params)
        options_json, _ = _options(options)
        return json.loads(_call(_native.discover, cls._backend(), mapping, files, options_json))

    @classmethod
    def cancel(cls, params: Params, **options: Any) -> dict:
        """Cancels every reservation of the test in the configuration's regions; returns the
        report (``cancelled``, ``already_gone``, ``failed``, ``complete``). Raises
        :class:`RollbackFailed` when something could not be released."""
        mapping, files = _split(params)
        options_json, progress = _options(options)
        report = json.loads(_call(_native.cancel, cls._backend(), mapping, files, options_json, progress))
        _raise_incomplete(report)
        return report

    @classmethod
    def cancel_all_regions(cls, test_id: str, params: Optional[Params] = None, **options: Any) -> dict:
        """Cancels every reservation tagged with ``test_id`` in every region of the account
        (``params``, if given, supply settings such as ``gce_project``)."""
        mapping, files = _split(params)
        options_json, progress = _options(options)
        report = json.loads(
            _call(_native.cancel_all_regions, cls._backend(), test_id, mapping, files, options_json, progress)
        )
        _raise_incomplete(report)
        return report


def _raise_incomplete(report: dict) -> None:
    if not report.get("complete", True):
        held = report.get("failed") or []
        raise RollbackFailed(
            {
                "kind": "rollback_failed",
                "message": f"{len(held)} reservation(s) could not be cancelled and are still held; run cancel again or `cr cleanup`",
                "still_held": held,
            }
        )


class AwsCapacityReservation(CapacityReservation):
    """EC2 On-Demand Capacity Reservations (``cluster_backend: aws``)."""

    BACKEND = "aws"


class GceCapacityReservation(CapacityReservation):
    """Compute Engine reservations (``cluster_backend: gce``)."""

    BACKEND = "gce"


class AzureCapacityReservation(CapacityReservation):
    """Azure capacity reservation groups (``cluster_backend: azure``)."""

    BACKEND = "azure"


class OciCapacityReservation(CapacityReservation):
    """OCI compute capacity reservations (``cluster_backend: oci``)."""

    BACKEND = "oci"


def compiled_backends() -> list[str]:
    """The backends compiled into this package."""
    return list(_native.compiled_backends())
