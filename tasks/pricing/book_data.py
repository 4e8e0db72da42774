"""The bundled, dated price book: on-demand list prices used when the Pricing API is not reachable.

Source: AWS public on-demand price lists (the AWS Price List API offer files for AmazonEC2,
AmazonRDS, AmazonVPC, AWSELB and AmazonS3, and the matching pricing pages), transcribed by hand
for the families, sizes and regions below.  Linux, shared tenancy, no pre-installed software;
RDS Single-AZ, license included where it applies.  Prices in USD; ``HOURS_PER_MONTH`` is AWS's
own convention (730 h) for turning hourly prices into monthly ones.

Anything not listed here is *unknown*: the price book answers ``None`` and the finding says the
price is unknown; it never guesses.  Refresh by running the Pricing API path
(``tasks.pricing.book.PricingApiPrices``) against a real account: its answers are cached on disk.
"""

from __future__ import annotations

from typing import Final

SOURCE: Final = (
    "AWS on-demand price lists (Price List API offer files AmazonEC2, AmazonRDS, AmazonVPC, "
    "AWSELB, AmazonS3), transcribed for common families and the main regions"
)
AS_OF: Final = "2025-06-01"
CURRENCY: Final = "USD"
HOURS_PER_MONTH: Final = 730

#: Regions whose prices are bundled.
REGIONS: Final = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1")

# fmt: off

_EC2_US: Final[dict[str, str]] = {
    "t2.nano": "0.0058", "t2.micro": "0.0116", "t2.small": "0.023", "t2.medium": "0.0464",
    "t2.large": "0.0928", "t2.xlarge": "0.1856", "t2.2xlarge": "0.3712",
    "t3.nano": "0.0052", "t3.micro": "0.0104", "t3.small": "0.0208", "t3.medium": "0.0416",
    "t3.large": "0.0832", "t3.xlarge": "0.1664", "t3.2xlarge": "0.3328",
    "t3a.nano": "0.0047", "t3a.micro": "0.0094", "t3a.small": "0.0188", "t3a.medium": "0.0376",
    "t3a.large": "0.0752", "t3a.xlarge": "0.1504", "t3a.2xlarge": "0.3008",
    "t4g.nano": "0.0042", "t4g.micro": "0.0084", "t4g.small": "0.0168", "t4g.medium": "0.0336",
    "t4g.large": "0.0672", "t4g.xlarge": "0.1344", "t4g.2xlarge": "0.2688",
    "m5.large": "0.096", "m5.xlarge": "0.192", "m5.2xlarge": "0.384", "m5.4xlarge": "0.768",
    "m5.8xlarge": "1.536", "m5.12xlarge": "2.304", "m5.16xlarge": "3.072", "m5.24xlarge": "4.608",
    "m6i.large": "0.096", "m6i.xlarge": "0.192", "m6i.2xlarge": "0.384", "m6i.4xlarge": "0.768",
    "m6i.8xlarge": "1.536", "m6g.large": "0.077", "m6g.xlarge": "0.154", "m6g.2xlarge": "0.308",
    "m7i.large": "0.1008", "m7i.xlarge": "0.2016", "m7i.2xlarge": "0.4032",
    "m7g.large": "0.0816", "m7g.xlarge": "0.1632", "m7g.2xlarge": "0.3264",
    "c5.large": "0.085", "c5.xlarge": "0.17", "c5.2xlarge": "0.34", "c5.4xlarge": "0.68",
    "c5.9xlarge": "1.53", "c6i.large": "0.085", "c6i.xlarge": "0.17", "c6i.2xlarge": "0.34",
    "c6i.4xlarge": "0.68", "c6g.large": "0.068", "c6g.xlarge": "0.136", "c6g.2xlarge": "0.272",
    "c7g.large": "0.0725", "c7g.xlarge": "0.145",
    "r5.large": "0.126", "r5.xlarge": "0.252", "r5.2xlarge": "0.504", "r5.4xlarge": "1.008",
    "r6i.large": "0.126", "r6i.xlarge": "0.252", "r6i.2xlarge": "0.504",
    "r6g.large": "0.1008", "r6g.xlarge": "0.2016",
}

_EC2_EU_WEST_1: Final[dict[str, str]] = {
    "t2.nano": "0.0063", "t2.micro": "0.0126", "t2.small": "0.025", "t2.medium": "0.05",
    "t2.large": "0.1008", "t2.xlarge": "0.2016", "t2.2xlarge": "0.4032",
    "t3.nano": "0.0057", "t3.micro": "0.0114", "t3.small": "0.0228", "t3.medium": "0.0456",
    "t3.large": "0.0912", "t3.xlarge": "0.1824", "t3.2xlarge": "0.3648",
    "t3a.nano": "0.0051", "t3a.micro": "0.0102", "t3a.small": "0.0204", "t3a.medium": "0.0408",
    "t3a.large": "0.0816", "t3a.xlarge": "0.1632", "t3a.2xlarge": "0.3264",
    "t4g.nano": "0.0046", "t4g.micro": "0.0092", "t4g.small": "0.0184", "t4g.medium": "0.0368",
    "t4g.large": "0.0736", "t4g.xlarge": "0.1472", "t4g.2xlarge": "0.2944",
    "m5.large": "0.107", "m5.xlarge": "0.214", "m5.2xlarge": "0.428", "m5.4xlarge": "0.856",
    "m5.8xlarge": "1.712", "m6i.large": "0.107", "m6i.xlarge": "0.214", "m6i.2xlarge": "0.428",
    "m6g.large": "0.086", "m6g.xlarge": "0.172", "m7i.large": "0.1124",
    "c5.large": "0.096", "c5.xlarge": "0.192", "c5.2xlarge": "0.384", "c5.4xlarge": "0.768",
    "c6i.large": "0.096", "c6i.xlarge": "0.192", "c6g.large": "0.077",
    "r5.large": "0.141", "r5.xlarge": "0.282", "r5.2xlarge": "0.564",
    "r6i.large": "0.141", "r6i.xlarge": "0.282", "r6g.large": "0.1128",
}

_EC2_EU_CENTRAL_1: Final[dict[str, str]] = {
    "t2.micro": "0.0134", "t2.small": "0.0268", "t2.medium": "0.0536", "t2.large": "0.1072",
    "t3.nano": "0.006", "t3.micro": "0.012", "t3.small": "0.024", "t3.medium": "0.048",
    "t3.large": "0.096", "t3.xlarge": "0.192", "t3.2xlarge": "0.384",
    "t4g.micro": "0.0096", "t4g.small": "0.0192", "t4g.medium": "0.0384",
    "m5.large": "0.115", "m5.xlarge": "0.23", "m5.2xlarge": "0.46", "m5.4xlarge": "0.92",
    "m6i.large": "0.115", "m6i.xlarge": "0.23", "c5.large": "0.097", "c5.xlarge": "0.194",
    "c6i.large": "0.097", "r5.large": "0.152", "r5.xlarge": "0.304", "r6i.large": "0.152",
}

#: On-demand Linux instance prices, USD per instance-hour, by region and instance type.
EC2_INSTANCE_HOUR: Final[dict[str, dict[str, str]]] = {
    "us-east-1": _EC2_US,
    "us-east-2": _EC2_US,
    "us-west-2": _EC2_US,
    "eu-west-1": _EC2_EU_WEST_1,
    "eu-central-1": _EC2_EU_CENTRAL_1,
}

_EBS_US: Final[dict[str, str]] = {
    "gp2": "0.10", "gp3": "0.08", "io1": "0.125", "io2": "0.125", "st1": "0.045",
    "sc1": "0.015", "standard": "0.05",
}
#: EBS storage, USD per GB-month, by region and volume type.
EBS_GB_MONTH: Final[dict[str, dict[str, str]]] = {
    "us-east-1": _EBS_US,
    "us-east-2": _EBS_US,
    "us-west-2": _EBS_US,
    "eu-west-1": {
        "gp2": "0.11", "gp3": "0.088", "io1": "0.138", "io2": "0.138", "st1": "0.05",
        "sc1": "0.0168", "standard": "0.055",
    },
    "eu-central-1": {
        "gp2": "0.119", "gp3": "0.0952", "io1": "0.149", "io2": "0.149", "st1": "0.054",
        "sc1": "0.018", "standard": "0.059",
    },
}

#: Provisioned IOPS, USD per IOPS-month (gp3: only IOPS above the free 3,000; io2: first tier).
EBS_IOPS_MONTH: Final[dict[str, dict[str, str]]] = {
    "us-east-1": {"gp3": "0.005", "io1": "0.065", "io2": "0.065"},
    "us-east-2": {"gp3": "0.005", "io1": "0.065", "io2": "0.065"},
    "us-west-2": {"gp3": "0.005", "io1": "0.065", "io2": "0.065"},
    "eu-west-1": {"gp3": "0.0055", "io1": "0.072", "io2": "0.072"},
    "eu-central-1": {"gp3": "0.006", "io1": "0.078", "io2": "0.078"},
}

#: gp3 provisioned throughput above the free 125 MiB/s, USD per MiB/s-month.
EBS_GP3_THROUGHPUT_MONTH: Final[dict[str, str]] = {
    "us-east-1": "0.04", "us-east-2": "0.04", "us-west-2": "0.04",
    "eu-west-1": "0.044", "eu-central-1": "0.048",
}

#: EBS snapshots (standard tier), USD per GB-month.
SNAPSHOT_GB_MONTH: Final[dict[str, str]] = {
    "us-east-1": "0.05", "us-east-2": "0.05", "us-west-2": "0.05",
    "eu-west-1": "0.05", "eu-central-1": "0.054",
}

#: Public IPv4 address (Elastic IP, associated or not, since 2024-02-01), USD per hour.
EIP_HOUR: Final[dict[str, str]] = {region: "0.005" for region in REGIONS}

#: NAT gateway, USD per gateway-hour (data processing is charged on top, per GB).
NAT_GATEWAY_HOUR: Final[dict[str, str]] = {
    "us-east-1": "0.045", "us-east-2": "0.045", "us-west-2": "0.045",
    "eu-west-1": "0.048", "eu-central-1": "0.052",
}

#: Load balancers, USD per load-balancer-hour (LCU/NLCU usage is charged on top).
LB_HOUR: Final[dict[str, dict[str, str]]] = {
    "us-east-1": {"application": "0.0225", "network": "0.0225", "classic": "0.025"},
    "us-east-2": {"application": "0.0225", "network": "0.0225", "classic": "0.025"},
    "us-west-2": {"application": "0.0225", "network": "0.0225", "classic": "0.025"},
    "eu-west-1": {"application": "0.0252", "network": "0.0252", "classic": "0.028"},
    "eu-central-1": {"application": "0.027", "network": "0.027", "classic": "0.03"},
}

_RDS_MYSQL_US: Final[dict[str, str]] = {
    "db.t3.micro": "0.017", "db.t3.small": "0.034", "db.t3.medium": "0.068",
    "db.t3.large": "0.136", "db.t3.xlarge": "0.272", "db.t4g.micro": "0.016",
    "db.t4g.small": "0.032", "db.t4g.medium": "0.065", "db.t4g.large": "0.129",
    "db.m5.large": "0.171", "db.m5.xlarge": "0.342", "db.m5.2xlarge": "0.684",
    "db.m6g.large": "0.152", "db.m6g.xlarge": "0.304", "db.m6i.large": "0.171",
    "db.r5.large": "0.24", "db.r5.xlarge": "0.48", "db.r6g.large": "0.215",
}
_RDS_POSTGRES_US: Final[dict[str, str]] = {
    "db.t3.micro": "0.018", "db.t3.small": "0.036", "db.t3.medium": "0.072",
    "db.t3.large": "0.145", "db.t4g.micro": "0.016", "db.t4g.small": "0.032",
    "db.t4g.medium": "0.065", "db.t4g.large": "0.129", "db.m5.large": "0.178",
    "db.m5.xlarge": "0.356", "db.m6g.large": "0.159", "db.m6i.large": "0.178",
    "db.r5.large": "0.25", "db.r5.xlarge": "0.5", "db.r6g.large": "0.225",
}
_RDS_MYSQL_EU_WEST_1: Final[dict[str, str]] = {
    "db.t3.micro": "0.018", "db.t3.small": "0.036", "db.t3.medium": "0.072",
    "db.t3.large": "0.144", "db.t4g.micro": "0.017", "db.t4g.small": "0.034",
    "db.t4g.medium": "0.068", "db.m5.large": "0.19", "db.m5.xlarge": "0.38",
    "db.m6g.large": "0.168", "db.r5.large": "0.27", "db.r6g.large": "0.24",
}
_RDS_POSTGRES_EU_WEST_1: Final[dict[str, str]] = {
    "db.t3.micro": "0.019", "db.t3.small": "0.038", "db.t3.medium": "0.076",
    "db.t3.large": "0.152", "db.t4g.micro": "0.018", "db.t4g.small": "0.036",
    "db.t4g.medium": "0.072", "db.m5.large": "0.197", "db.m5.xlarge": "0.394",
    "db.m6g.large": "0.175", "db.r5.large": "0.28", "db.r6g.large": "0.25",
}
#: RDS Single-AZ on-demand, USD per instance-hour, by region, engine family and class.
#: Multi-AZ deployments cost twice the Single-AZ price (two instances).
RDS_INSTANCE_HOUR: Final[dict[str, dict[str, dict[str, str]]]] = {
    "us-east-1": {"mysql": _RDS_MYSQL_US, "mariadb": _RDS_MYSQL_US, "postgres": _RDS_POSTGRES_US},
    "us-east-2": {"mysql": _RDS_MYSQL_US, "mariadb": _RDS_MYSQL_US, "postgres": _RDS_POSTGRES_US},
    "us-west-2": {"mysql": _RDS_MYSQL_US, "mariadb": _RDS_MYSQL_US, "postgres": _RDS_POSTGRES_US},
    "eu-west-1": {
        "mysql": _RDS_MYSQL_EU_WEST_1,
        "mariadb": _RDS_MYSQL_EU_WEST_1,
        "postgres": _RDS_POSTGRES_EU_WEST_1,
    },
}

#: RDS storage, USD per GB-month (Single-AZ), by region and storage type.
RDS_STORAGE_GB_MONTH: Final[dict[str, dict[str, str]]] = {
    "us-east-1": {"gp2": "0.115", "gp3": "0.115", "io1": "0.125", "standard": "0.10"},
    "us-east-2": {"gp2": "0.115", "gp3": "0.115", "io1": "0.125", "standard": "0.10"},
    "us-west-2": {"gp2": "0.115", "gp3": "0.115", "io1": "0.125", "standard": "0.10"},
    "eu-west-1": {"gp2": "0.127", "gp3": "0.127", "io1": "0.138", "standard": "0.11"},
}

#: S3 Standard storage, first 50 TB tier, USD per GB-month (incomplete multipart parts).
S3_STANDARD_GB_MONTH: Final[dict[str, str]] = {
    "us-east-1": "0.023", "us-east-2": "0.023", "us-west-2": "0.023",
    "eu-west-1": "0.023", "eu-central-1": "0.0245",
}
# fmt: on
