"""Speed-ups of moto internals that grow with the fleet, installed by the sandbox server.

* Tags: moto's EC2 models read each resource's tags with ``describe_tags(filters={"resource-id":
  [id]})``, which scans every tag of every resource in the region: describing N instances or
  volumes costs O(N^2) (about 5 s of CPU for 1,000 instances, minutes at 5,000).  A filter on
  one literal resource id becomes a dictionary look-up; every other filter stays moto's.
* Serialisation: for every field of every object in a response, moto's attribute picker builds
  six alias providers to find the attribute name, and scans the service's response transformers
  for the field's path.  Both depend only on the object's class, the field and its shape (and
  the path), so they are remembered; the values are still read from each object.
* Elastic IPs: every network interface with a public IP looks its Elastic IP up with
  ``address_by_ip``, which copies and scans every address of the region: describing N instances
  with N/k addresses is O(N^2) (about 8% of the server's time describing 10,000 instances).  A
  look-up of one IP reads an index by public IP, rebuilt whenever the address list changes (the
  list counts its own changes; an address's public IP is fixed when it is allocated).

The answers are the same (same tags, order and fields; byte-identical responses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core.serialize import AttributePicker, AttributePickerContext
from moto.core.utils import MISSING, get_value
from moto.ec2.exceptions import InvalidAddressError
from moto.ec2.models.elastic_ip_addresses import ElasticAddressBackend
from moto.ec2.models.tags import TagBackend
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

_ORIGINAL_DESCRIBE_TAGS: Callable[..., list[dict[str, str]]] = TagBackend.describe_tags
_WILDCARDS = frozenset("*?[")


def _describe_tags(
    self: TagBackend, filters: dict[str, list[str]] | None = None
) -> list[dict[str, str]]:
    if (
        filters is not None
        and list(filters) == ["resource-id"]
        and len(filters["resource-id"]) == 1
    ):
        resource_id = filters["resource-id"][0]
        if not _WILDCARDS.intersection(resource_id) and "\\" not in resource_id:
            # .get, not [ ]: moto's tags is a defaultdict and a read must not add a key
            tags = self.tags.get(resource_id, {})
            resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
            return [
                {
                    "resource_id": resource_id,
                    "key": key,
                    "value": value,
                    "resource_type": resource_type,
                }
                for key, value in tags.items()
            ]
    return _ORIGINAL_DESCRIBE_TAGS(self, filters)


_ORIGINAL_PICK: Callable[..., Any] = AttributePicker.__call__
_UNSET = object()
# (class, field, id(shape), id(parent shape)) -> (shape, parent, candidate attribute names);
# the shapes are kept so that a reused id can never match a different shape
_KEYS: dict[tuple[type, str, int, int], tuple[Any, Any, tuple[str, ...]]] = {}
# (id(transformers), field path) -> (transformers, transform or None)
_TRANSFORMS: dict[tuple[int, str], tuple[Any, Any]] = {}


def _pick(self: AttributePicker, context: AttributePickerContext) -> Any:
    obj, shape = context.obj, context.shape
    parent = getattr(shape, "parent", None)
    key = (type(obj), context.key, id(shape), id(parent))
    known = _KEYS.get(key)
    if known is None or known[0] is not shape or known[1] is not parent:
        known = (shape, parent, tuple(self.get_possible_keys(context)))
        _KEYS[key] = known
    value = None
    for possible_key in known[2]:
        found = get_value(obj, possible_key, MISSING)
        if found is not MISSING:
            value = found
            break
    key_path = f"{context.key_path}.{context.key}"
    transformers = self.response_transformers
    cached = _TRANSFORMS.get((id(transformers), key_path))
    if cached is None or cached[0] is not transformers:
        transform = None
        for transform_path, candidate in transformers.items():
            if key_path.endswith(transform_path):
                transform = candidate
                break
        cached = (transformers, transform)
        _TRANSFORMS[(id(transformers), key_path)] = cached
    return cached[1](value) if cached[1] is not None else value


class _CountedList(list):  # type: ignore[type-arg]
    """A list that counts the calls that change it (so an index over it knows when to rebuild)."""

    changes = 0


def _counting(name: str) -> Callable[..., Any]:
    method = getattr(list, name)

    def changed(self: _CountedList, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            # counted after the change: a reader that saw the old count rebuilds next time
            self.changes += 1

    changed.__name__ = name
    return changed


for _name in (
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "sort",
    "reverse",
    "__setitem__",
    "__delitem__",
    "__iadd__",
    "__imul__",
):
    setattr(_CountedList, _name, _counting(_name))

_ORIGINAL_ADDRESS_BY_IP: Callable[..., list[Any]] = ElasticAddressBackend.address_by_ip


def _address_by_ip(
    self: ElasticAddressBackend, ips: list[str], fail_if_not_found: bool = True
) -> list[Any]:
    if len(ips) != 1:
        return _ORIGINAL_ADDRESS_BY_IP(self, ips, fail_if_not_found)
    addresses = self.addresses
    if type(addresses) is not _CountedList:  # first look-up, or moto replaced the list
        addresses = _CountedList(addresses)
        self.addresses = addresses
    index = self.__dict__.get("_finops_ip_index")
    changes = addresses.changes  # read before the scan: a change during it forces a rebuild
    if index is None or index[0] is not addresses or index[1] != changes:
        by_ip: dict[str, list[Any]] = {}
        for address in addresses:  # list order, as moto's scan returns them
            by_ip.setdefault(address.public_ip, []).append(address)
        index = (addresses, changes, by_ip)
        self.__dict__["_finops_ip_index"] = index
    eips = list(index[2].get(ips[0], ()))
    if not eips and fail_if_not_found:
        raise InvalidAddressError(ips)
    return eips


def install() -> None:
    """Install the speed-ups (idempotent; process-wide).

    Example:
        >>> install(); uninstall()
    """
    TagBackend.describe_tags = _describe_tags  # type: ignore[method-assign]
    AttributePicker.__call__ = _pick  # type: ignore[method-assign]
    ElasticAddressBackend.address_by_ip = _address_by_ip  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto's own implementations."""
    TagBackend.describe_tags = _ORIGINAL_DESCRIBE_TAGS  # type: ignore[method-assign]
    AttributePicker.__call__ = _ORIGINAL_PICK  # type: ignore[method-assign]
    ElasticAddressBackend.address_by_ip = _ORIGINAL_ADDRESS_BY_IP  # type: ignore[method-assign]


def original_address_by_ip(backend: Any, ips: list[str], fail_if_not_found: bool = True) -> Any:
    """moto's own address_by_ip (the reference for tests)."""
    return _ORIGINAL_ADDRESS_BY_IP(backend, ips, fail_if_not_found)


def original_describe_tags(backend: Any, filters: dict[str, list[str]] | None = None) -> Any:
    """moto's own describe_tags (the reference for tests)."""
    return _ORIGINAL_DESCRIBE_TAGS(backend, filters)
