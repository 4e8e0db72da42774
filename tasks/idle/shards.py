"""How a large idle scan is cut into shards of accounts, and what a shard's attempts came to.

Pure: no Prefect, no AWS.  A shard is a set of whole accounts (every region of an account stays
in one shard, so a shard's regions are discovered once per account as in an unsharded scan).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shard:
    """One child scan: its position and the accounts it scans."""

    index: int
    accounts: tuple[str, ...]
    targets: int

    @property
    def label(self) -> str:
        """How logs and errors name the shard.

        Example:
            >>> Shard(2, ("111111111111", "222222222222"), 4).label
            'shard 3 (2 accounts, 4 targets)'
        """
        return f"shard {self.index + 1} ({len(self.accounts)} accounts, {self.targets} targets)"


@dataclass
class ShardAttempts:
    """What happened to one shard: each attempt's flow run and final state, the last error."""

    shard: Shard
    runs: list[tuple[str, str]] = field(default_factory=list)  # (flow run id, state name)
    error: str = ""

    @property
    def attempts(self) -> int:
        return len(self.runs)


def should_shard(targets: int, threshold: int, from_deployment: bool, is_shard: bool) -> bool:
    """Whether a scan runs as shards: more targets than the threshold, from a deployment.

    A shard never shards again, and a scan run in a process of its own (the CLI, a test) has no
    work pool to spread over, so it scans in place whatever its size.

    Example:
        >>> should_shard(300, 200, from_deployment=True, is_shard=False)
        True
        >>> should_shard(300, 200, from_deployment=False, is_shard=False)
        False
        >>> should_shard(300, 0, from_deployment=True, is_shard=False)
        False
    """
    return threshold > 0 and targets > threshold and from_deployment and not is_shard


def plan_shards(targets: Iterable[tuple[str, str]], accounts_per_shard: int) -> list[Shard]:
    """Cut (account, region) targets into shards of whole accounts, in first-seen order.

    Example:
        >>> t = [("1", "a"), ("1", "b"), ("2", "a"), ("3", "a"), ("3", "b")]
        >>> [(s.accounts, s.targets) for s in plan_shards(t, 2)]
        [(('1', '2'), 3), (('3',), 2)]
    """
    per_account: dict[str, int] = {}
    for account_id, _region in targets:
        per_account[account_id] = per_account.get(account_id, 0) + 1
    accounts = list(per_account)
    size = max(1, accounts_per_shard)
    return [
        Shard(i // size, tuple(chunk), sum(per_account[a] for a in chunk))
        for i in range(0, len(accounts), size)
        for chunk in [accounts[i : i + size]]
    ]


def unscanned_targets(
    planned: Sequence[tuple[str, str]], scanned: Iterable[tuple[str, str, str]]
) -> list[tuple[str, str]]:
    """Planned (account, region) targets no (check, account, region) scope came back for.

    Example:
        >>> unscanned_targets([("1", "a"), ("1", "b")], [("ec2-idle", "1", "a")])
        [('1', 'b')]
    """
    covered = {(account_id, region) for _check, account_id, region in scanned}
    return [target for target in planned if target not in covered]
