"""What an approver reads before deciding: option labels, the preview and its totals (pure).

Every option of the approval form is one line that carries the whole finding: account/region,
resource, check, the action it proposes, its monthly dollars, risk and owner, and ends with the
first 12 characters of the fingerprint (``finops approve`` and the tests match on that end)::

    210987654321/us-east-1 vol-0ab12 ebs-unattached → snapshot_and_delete $12.50/mo risk low
    owner ana · 5f6c1a2b3c4d

The preview (the form's description, and the ``remediation-preview`` artifact) is narrow enough
for the Resume dialog: the dollars at stake per default action and in total first, then one short
line per finding under its action (id, $/mo, resource, check, account/region, risk, owner; long
values shortened with "…"; lines, not a wide table, since the dialog is about 400 px wide), then
the protected findings apart, with why; last, for the artifact's page, one wide table with every
column (the dialog scrolls it sideways).  Protected findings are offered no changing action
(``skip`` only, and not offered in the form at all) and are never counted in the dollars at stake.
Prefect's form cannot add up what is selected, so the preview says how the total of a choice is
computed: the sum of the ``$…/mo`` of the options picked; picking every option of an action
group approves that group's line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tasks.money import usd, usd_or_unknown
from tasks.remediation.actions.registry import ACTIONS, SKIP

FP_CHARS = 12
ARROW = " -> "
#: Where a label's fingerprint prefix starts (the label ends with it).
FP_MARK = " · "
#: The longest resource id and owner a label or table cell shows whole.
RESOURCE_CHARS = 40
OWNER_CHARS = 24


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e]+")


def shorten(text: str, limit: int) -> str:
    """``text`` on one line (control characters as a space), cut to ``limit`` characters with
    the cut marked "…": a tag value never breaks a label or a preview line.

    Example:
        >>> shorten("vol-0123456789abcdef0", 10), shorten("ana", 10), shorten("a\\nb", 10)
        ('vol-01234…', 'ana', 'a b')
    """
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def per_month(amount: Decimal | None) -> str:
    """A label's monthly dollars.

    Example:
        >>> per_month(Decimal("12.5")), per_month(None)
        ('$12.50/mo', 'unknown $/mo')
    """
    return f"{usd_or_unknown(amount, 'unknown $')}/mo"


@dataclass(frozen=True)
class Candidate:
    """A finding offered for approval, with its menu and the default action.

    ``protected`` is why the resource may not be changed ("" when it may): a protected candidate's
    menu is ``skip`` alone, it is not offered in the form and not counted in the dollars at stake.
    """

    fingerprint: str
    check: str
    account_id: str
    region: str
    resource_id: str
    menu: tuple[str, ...]
    default: str
    monthly_savings_usd: Decimal | None
    risk: str
    owner: str
    protected: str = ""
    #: the code that owns the resource ("" when none): changed only through a pull request
    code_owner: str = ""

    @property
    def label(self) -> str:
        """The option a person picks: every field of the finding, ending with its id."""
        return (
            f"{self.account_id}/{self.region} {shorten(self.resource_id, RESOURCE_CHARS)} "
            f"{self.check} → {self.default} {per_month(self.monthly_savings_usd)} "
            f"risk {self.risk} owner {shorten(self.owner, OWNER_CHARS)}"
            f"{FP_MARK}{self.fingerprint[:FP_CHARS]}"
        )

    def action_label(self, action: str) -> str:
        return f"{self.label}{ARROW}{action}"


def label_fingerprint(label: str) -> str:
    """The fingerprint prefix a finding label ends with.

    Example:
        >>> label_fingerprint("1/r vol-1 ebs-unattached → delete $1.00/mo risk low owner - · ab12")
        'ab12'
    """
    return label.rpartition(FP_MARK)[2]


def label_resource(label: str) -> str:
    """The resource id a finding label shows (shortened ones end with "…").

    Example:
        >>> label_resource("1/r vol-1 ebs-unattached → delete $1.00/mo risk low owner - · ab12")
        'vol-1'
    """
    parts = label.split(" ", 2)
    return parts[1] if len(parts) > 1 else ""


def offered(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates the form offers: every one that is not protected."""
    return [c for c in candidates if not c.protected]


def at_stake(candidates: Sequence[Candidate]) -> dict[str, tuple[int, Decimal]]:
    """Per default action, how many offered findings and the monthly dollars they would save.

    Protected findings are not counted; an unknown price, or a default of ``skip`` (nothing is
    done unless another action is picked), counts the finding but adds no dollars.

    Example:
        >>> at_stake([])
        {}
    """
    groups: dict[str, tuple[int, Decimal]] = {}
    for c in offered(candidates):
        count, dollars = groups.get(c.default, (0, Decimal(0)))
        saves = Decimal(0) if c.default == SKIP else (c.monthly_savings_usd or Decimal(0))
        groups[c.default] = (count + 1, dollars + saves)
    return groups


def approval_url(ui_url: str, run_id: str) -> str:
    """The Prefect UI page of a waiting run, where its Resume button opens the approval form.

    This is the link the Slack report carries.

    Example:
        >>> approval_url("http://127.0.0.1:4200/", "0b7c")
        'http://127.0.0.1:4200/runs/flow-run/0b7c'
    """
    return f"{ui_url.rstrip('/')}/runs/flow-run/{run_id}"


def _md(text: str, limit: int) -> str:
    """A value shortened and made inert for markdown (no emphasis, links or tables)."""
    return re.sub(r"([\\`*_\[\]|<>#])", r"\\\1", shorten(text, limit))


def _code(c: Candidate) -> str:
    """The owner in code, for a preview line: such a resource changes only by pull request."""
    return f" · code: {_md(c.code_owner, 60)} (API changes refused)" if c.code_owner else ""


def _item(c: Candidate, tail: str) -> str:
    """One finding as a short line that wraps in the dialog: id, dollars, what and where (and
    the code that owns it)."""
    return (
        f"- `{c.fingerprint[:FP_CHARS]}` **{usd_or_unknown(c.monthly_savings_usd)}** · "
        f"{_md(c.resource_id, 24)} · {c.check} · …{c.account_id[-4:]}/{c.region} · {tail}"
        + _code(c)
    )


def _count(n: int) -> str:
    """``1 finding``, ``2 findings``.

    Example:
        >>> _count(1), _count(0)
        ('1 finding', '0 findings')
    """
    return f"{n} finding" if n == 1 else f"{n} findings"


def preview_markdown(
    candidates: Sequence[Candidate],
    dry_run: bool,
    timeout_s: int,
    run_id: str = "",
    ui_url: str = "",
) -> str:
    """The preview an approver reads: what is at stake per action and in total, then each finding.

    Example:
        >>> preview_markdown([], dry_run=True, timeout_s=60).splitlines()[0]
        '### Remediation approval: 0 findings, $0.00 per month (USD) at stake'
    """
    offer = offered(candidates)
    kept = [c for c in candidates if c.protected]
    groups = at_stake(candidates)
    total = sum((dollars for _, dollars in groups.values()), Decimal(0))
    unknown = sum(1 for c in offer if c.monthly_savings_usd is None)
    lines = [
        f"### Remediation approval: {_count(len(offer))}, {usd(total)} per month (USD) at stake",
        "",
        "Mode: **DRY RUN** (permissions are checked, nothing changes)"
        if dry_run
        else "Mode: **LIVE**: approved actions change AWS resources",
        "",
        "**At stake by default action** (per month, if every finding of the line is included):",
        "",
        "| default action | findings | $/month |",
        "|---|---:|---:|",
        *(f"| {a} | {n} | {usd(d)} |" for a, (n, d) in sorted(groups.items())),
        f"| **total** | **{len(offer)}** | **{usd(total)}** |",
        "",
        "The form cannot add up what you select: the total you approve is the sum of the "
        "`$…/mo` in the labels you pick (each label: account/region resource check → default "
        "action, $/mo, risk, owner, then the id); picking every finding of a line above "
        "approves that line's total."
        + (f" {unknown} finding(s) have an unknown price and add no dollars." if unknown else ""),
    ]
    for action in sorted(groups):
        count, dollars = groups[action]
        group = [c for c in offer if c.default == action]
        lines += ["", f"#### {action}: {_count(count)}, {usd(dollars)}/month", ""]
        lines += [_item(c, f"risk {c.risk} · owner {_md(c.owner, 16)}") for c in group]
    if kept:
        kept_dollars = sum((c.monthly_savings_usd or Decimal(0) for c in kept), Decimal(0))
        lines += [
            "",
            f"#### Protected: {_count(len(kept))} ({usd(kept_dollars)}/month), never changed "
            "and not counted",
            "",
            *(_item(c, c.protected) for c in kept),
        ]
    menus = {a for c in offer for a in c.menu}
    notes = [f"- `{a}`: {spec.note}" for a, spec in ACTIONS.items() if spec.note and a in menus]
    if notes:
        lines += ["", "Good to know:", *notes]
    lines += [
        "",
        "Nothing is approved unless you include it. Pick findings under *Findings to include* "
        "(type to search: account, region, resource, check, action or id); to use another "
        f"action than the default, pick `… -> ACTION` under *Actions* ({SKIP} leaves it out). "
        f"This request expires in {timeout_s / 3600:g} h with nothing done.",
    ]
    if run_id and ui_url:
        lines.append(f"Approve in the Prefect UI: {approval_url(ui_url, run_id)} (Resume).")
    if run_id:
        lines.append(f"CLI: `finops approve {run_id} --only FP ... --as YOUR-NAME`")
    return "\n".join([*lines, *_full_table(offer)])


#: Where the wide table starts: everything above it fits the Resume dialog.
FULL_TABLE = "#### Every column (wide: whole on the `remediation-preview` artifact's page)"


def _full_table(offer: Sequence[Candidate]) -> list[str]:
    """The offered findings with every column, last: the artifact page shows it whole."""
    lines = [
        "",
        FULL_TABLE,
        "",
        "| resource | check | action (default) | other actions | $/mo | risk | owner | id |",
        "|---|---|---|---|---:|---|---|---|",
    ]
    for c in offer:
        others = ", ".join(a for a in c.menu if a not in {c.default, SKIP}) or "-"
        lines.append(
            f"| {c.account_id}/{c.region}/{_md(c.resource_id, RESOURCE_CHARS)} | {c.check} "
            f"| {c.default} | {others} | {usd_or_unknown(c.monthly_savings_usd)} | {c.risk} "
            f"| {_md(c.owner, OWNER_CHARS)} | {c.fingerprint[:FP_CHARS]} |"
        )
    return lines
