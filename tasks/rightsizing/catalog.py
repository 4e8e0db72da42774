"""The EC2 instance types rightsizing may choose from: size, architecture and platform features.

A dated catalogue (AWS EC2 "Instance types" specifications, 2026), covering the types of the
bundled price book (:mod:`tasks.pricing.book_data`); a type missing here is never proposed.
Features are what an instance's AMI and drivers depend on: the CPU architecture, the Nitro
platform (NVMe EBS and ENA drivers; Xen types such as ``t2`` have neither), instance store, and
the virtualisation type.  Burstable (``t*``) types earn CPU credits at a baseline.

Pure data and lookups (no AWS calls).
"""

from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2026-11-01"


@dataclass(frozen=True)
class InstanceSpec:
    """One instance type.

    Attributes:
        name: ``m5.large``.
        vcpus: virtual CPUs.
        memory_gib: memory in GiB.
        architecture: ``x86_64`` or ``arm64``.
        burstable: earns CPU credits (``t*``).
        nitro: Nitro platform (ENA networking, NVMe EBS).
        instance_store: has local instance-store disks.
        virtualization: ``hvm``.
    """

    name: str
    vcpus: int
    memory_gib: float
    architecture: str
    burstable: bool = False
    nitro: bool = True
    instance_store: bool = False
    virtualization: str = "hvm"

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    def features(self) -> tuple[str, bool, bool, str]:
        """What a replacement must match: architecture, Nitro, instance store, virtualisation."""
        return (self.architecture, self.nitro, self.instance_store, self.virtualization)


_T_SIZES = {
    "nano": (2, 0.5),
    "micro": (2, 1.0),
    "small": (2, 2.0),
    "medium": (2, 4.0),
    "large": (2, 8.0),
    "xlarge": (4, 16.0),
    "2xlarge": (8, 32.0),
}
_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "9xlarge": 36}
_SIZES |= {"12xlarge": 48, "16xlarge": 64, "24xlarge": 96}
#: GiB of memory per vCPU of the general (m), compute (c) and memory (r) families.
_GIB_PER_VCPU = {"m": 4.0, "c": 2.0, "r": 8.0}
_ARM = {"t4g", "m6g", "m7g", "c6g", "c7g", "r6g"}
_FAMILIES = {
    "m": ("m5", "m6i", "m6g", "m7i", "m7g"),
    "c": ("c5", "c6i", "c6g", "c7g"),
    "r": ("r5", "r6i", "r6g"),
}


def _build() -> dict[str, InstanceSpec]:
    specs: dict[str, InstanceSpec] = {}
    for family in ("t2", "t3", "t3a", "t4g"):
        for size, (vcpus, memory) in _T_SIZES.items():
            name = f"{family}.{size}"
            specs[name] = InstanceSpec(
                name,
                vcpus if size not in {"nano", "micro", "small"} or family != "t2" else 1,
                memory,
                "arm64" if family in _ARM else "x86_64",
                burstable=True,
                nitro=family != "t2",
            )
    for kind, families in _FAMILIES.items():
        for family in families:
            for size, vcpus in _SIZES.items():
                if size == "9xlarge" and family != "c5":
                    continue
                name = f"{family}.{size}"
                specs[name] = InstanceSpec(
                    name,
                    vcpus,
                    vcpus * _GIB_PER_VCPU[kind],
                    "arm64" if family in _ARM else "x86_64",
                )
    return specs


#: name -> spec.
CATALOG: dict[str, InstanceSpec] = _build()


def spec(instance_type: str) -> InstanceSpec | None:
    """The spec of a type, or None when the catalogue does not know it.

    Example:
        >>> s = spec("r5.xlarge")
        >>> (s.vcpus, s.memory_gib, s.architecture, s.burstable)
        (4, 32.0, 'x86_64', False)
        >>> spec("m6g.large").architecture, spec("t2.micro").nitro, spec("x1.huge")
        ('arm64', False, None)
    """
    return CATALOG.get(instance_type)
