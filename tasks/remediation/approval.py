"""The approval form: a preview table, a typed Prefect ``RunInput``, and reading the answer.

The form is built per run from the findings offered, so the Prefect UI's Resume dialog shows
plain choices (JSON-schema enums it renders as selects): decide approve or reject, pick the
findings to include (none by default), optionally pick another action for a finding from its
menu, and give your name.  Each choice is a readable label (account/region, resource, check, the
action, $/mo, risk, owner: :mod:`tasks.remediation.preview`) that ends with the first 12
characters of the finding's fingerprint, so the CLI (``finops approve``) and the Slack link can
fill the same form from fingerprints.  Protected resources are not offered (their menu is
``skip`` alone) and an answer naming one leaves it out.  Nothing is approved unless it is
chosen; an explicit-only action (``terminate``) runs only when it was picked by name.

The approver's name is what the audit log, the ledger and the findings history record, and what
``finops audit`` prints, so it is checked before anything is recorded: 1 to 100 characters once
surrounding spaces are stripped, no control, zero-width or bidirectional-override characters
(:func:`clean_approver`).  The form's JSON schema carries the same rule as a ``pattern``, so the
Prefect server refuses a UI Resume that breaks it, and the model refuses it again when the flow
reads the answer.  A comment is free text, stored as given; it is escaped where it is printed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pydantic
from prefect.input import RunInput
from pydantic import AfterValidator, WithJsonSchema

from tasks.findings.store import StoredFinding
from tasks.iac.ownership import ownership_from_evidence
from tasks.remediation.actions.registry import ACTIONS, SKIP
from tasks.remediation.menu import default_action, menu_for, protected_reason
from tasks.remediation.preview import (
    ARROW,
    FP_CHARS,
    Candidate,
    approval_url,
    label_fingerprint,
    label_resource,
    offered,
    preview_markdown,
)

__all__ = ["ARROW", "FP_CHARS", "Candidate", "approval_url", "preview_markdown"]

#: The longest approver name (after stripping spaces); the ledger's column holds 128.
APPROVER_MAX_CHARS = 100
#: Characters a name may not hold: C0/C1 controls (newline, CR, ESC ...), zero-width and
#: bidirectional-override characters (they change what a terminal or a page shows), and the
#: Unicode line and paragraph separators.  Written so that Python, JavaScript (the UI) and
#: jsonschema (the Prefect server) read the same class.
_FORBIDDEN = r"\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
#: A whole approver field: optional spaces around 1-100 allowed characters, not starting or
#: ending with whitespace (so "   " does not pass).  The form's JSON schema carries it; the
#: lookahead is there because jsonschema runs Python's ``re.search``, whose ``$`` also matches
#: before a final newline.
_EDGE = rf"[^\s{_FORBIDDEN}]"  # a name's first and last character
_MIDDLE = rf"[^{_FORBIDDEN}]{{0,{APPROVER_MAX_CHARS - 2}}}"
APPROVER_PATTERN = rf"^(?![\s\S]*\n) *{_EDGE}(?:{_MIDDLE}{_EDGE})? *$"
_APPROVER = re.compile(APPROVER_PATTERN)
_BAD_CHAR = re.compile(f"[{_FORBIDDEN}]")


def clean_approver(value: str) -> str:
    """The approver's name without surrounding spaces, or ``ValueError`` saying what to fix.

    Example:
        >>> clean_approver("  Ana Lima ")
        'Ana Lima'
        >>> clean_approver("   ")
        Traceback (most recent call last):
        ...
        ValueError: the approver's name is empty; give your name (approvals are recorded by name)
        >>> clean_approver("ana\\napproved by root")
        Traceback (most recent call last):
        ...
        ValueError: the approver's name holds a control character ('\\n'); give a plain name
    """
    name = value.strip(" ")
    if not name.strip():
        raise ValueError(
            "the approver's name is empty; give your name (approvals are recorded by name)"
        )
    if len(name) > APPROVER_MAX_CHARS:
        raise ValueError(
            f"the approver's name has {len(name)} characters; give at most {APPROVER_MAX_CHARS}"
        )
    bad = _BAD_CHAR.search(name)
    if bad:
        raise ValueError(
            f"the approver's name holds a control character ({bad.group()!r}); give a plain name"
        )
    if not _APPROVER.fullmatch(value):
        raise ValueError("the approver's name starts or ends with a blank; give a plain name")
    return name


def candidate_from(stored: StoredFinding) -> Candidate:
    """The approval view of a stored finding.

    Example:
        >>> candidate_from(stored).default  # doctest: +SKIP
        'snapshot_and_delete'
    """
    finding = stored.finding
    why = protected_reason(finding.tags, finding.evidence, finding.recommended_actions)
    code = ownership_from_evidence(finding.evidence, finding.tags)
    kind = code.kind if code else ""
    return Candidate(
        fingerprint=finding.fingerprint,
        check=finding.check,
        account_id=finding.account_id,
        region=finding.region,
        resource_id=finding.resource_id,
        menu=menu_for(finding.check, finding.recommended_actions, bool(why), kind),
        default=default_action(finding.check, finding.recommended_actions, bool(why), kind),
        monthly_savings_usd=finding.monthly_savings_usd,
        risk=finding.risk,
        owner=finding.owner or finding.tags.get("owner", "") or "-",
        protected=why,
        code_owner=code.describe() if code else "",
    )


def build_form(candidates: Sequence[Candidate]) -> type[RunInput]:
    """A ``RunInput`` subclass whose choices are exactly these findings and their menus.

    Example:
        >>> form = build_form([cand])  # doctest: +SKIP
        >>> form(approver="ana").decision  # doctest: +SKIP
        'reject'
    """
    if not candidates:
        raise ValueError("no findings to approve; the form needs at least one")
    # Protected findings are not offered; if every one is, they are (skip is all they offer).
    offer = offered(candidates) or list(candidates)
    finding_choices = tuple(c.label for c in offer)
    action_choices = tuple(c.action_label(a) for c in offer for a in c.menu)
    # An explicit enum even for one choice: pydantic would write a lone choice as "const",
    # which the UI's form does not render as a select.
    finding_type: Any = Annotated[
        Literal[finding_choices],  # type: ignore[valid-type]
        WithJsonSchema({"type": "string", "enum": list(finding_choices)}),
    ]
    action_type: Any = Annotated[
        Literal[action_choices],  # type: ignore[valid-type]
        WithJsonSchema({"type": "string", "enum": list(action_choices)}),
    ]
    fields: dict[str, Any] = {
        "decision": (
            Literal["reject", "approve"],
            pydantic.Field("reject", title="Decision", description="Approve or reject."),
        ),
        "findings": (
            list[finding_type],
            pydantic.Field(
                default_factory=list,
                title="Findings to include",
                description="Only these are acted on, each by the action after →; the total "
                "approved is the sum of their $/mo (the preview gives it per action).",
            ),
        ),
        "actions": (
            list[action_type],
            pydantic.Field(
                default_factory=list,
                title="Actions",
                description="Optional: '… -> ACTION' uses ACTION instead of the one after →.",
            ),
        ),
        "approver": (
            Annotated[str, AfterValidator(clean_approver)],
            pydantic.Field(
                ...,
                min_length=1,
                title="Approver",
                description=f"Your name (1-{APPROVER_MAX_CHARS} characters, plain text).",
                json_schema_extra={"pattern": APPROVER_PATTERN},
            ),
        ),
        "comment": (str, pydantic.Field("", title="Comment")),
    }
    return pydantic.create_model("RemediationApproval", __base__=RunInput, **fields)  # type: ignore[no-any-return, call-overload]


@dataclass
class ApprovalDecision:
    """What the approver decided, resolved to fingerprints and actions."""

    decision: Literal["approved", "rejected", "expired"]
    approver: str = ""
    comment: str = ""
    selections: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def decide(values: dict[str, Any], candidates: Sequence[Candidate]) -> ApprovalDecision:
    """Turn the submitted form into fingerprint -> action, refusing anything not chosen.

    A finding gets its default action unless one of its menu actions was picked; two different
    picks for one finding leave it out (ambiguous); an action picked for a finding that was not
    included is ignored (noted); ``skip`` leaves the finding out.

    Example:
        >>> decide({"decision": "reject", "approver": "ana"}, []).decision
        'rejected'

    Raises:
        ValueError: the approver's name breaks :func:`clean_approver`'s rule.
    """
    # The form refused a bad name already; this keeps a hand-built answer to the same rule.
    approver = clean_approver(str(values.get("approver", "")))
    comment = str(values.get("comment", "") or "")
    if values.get("decision") != "approve":
        return ApprovalDecision("rejected", approver, comment)
    by_label = {c.label: c for c in candidates}
    included = [by_label[label] for label in values.get("findings", []) if label in by_label]
    picked: dict[str, set[str]] = {}
    notes: list[str] = []
    for choice in values.get("actions", []):
        label, _, action = str(choice).rpartition(ARROW)
        candidate = by_label.get(label)
        if candidate is None or action not in candidate.menu:
            notes.append(f"unknown action choice {choice!r} ignored")
            continue
        picked.setdefault(candidate.fingerprint, set()).add(action)
    selections: dict[str, str] = {}
    for candidate in included:
        actions = picked.pop(candidate.fingerprint, set())
        if len(actions) > 1:
            notes.append(f"{candidate.label}: several actions picked ({sorted(actions)}); left out")
            continue
        if candidate.protected:
            notes.append(f"{candidate.label}: {candidate.protected}; left out")
            continue
        action = next(iter(actions)) if actions else candidate.default
        if action in ACTIONS and ACTIONS[action].explicit_only and not actions:
            continue
        if action == SKIP:
            notes.append(f"{candidate.label}: skip chosen")
            continue
        selections[candidate.fingerprint] = action
    for fingerprint in picked:
        notes.append(f"action picked for {fingerprint[:FP_CHARS]} which was not included; ignored")
    return ApprovalDecision("approved", approver, comment, selections, notes)


def _shows_resource(label: str, ident: str) -> bool:
    """Whether a finding label shows this resource id (whole, or shortened with "…")."""
    shown = label_resource(label).lower()
    return shown == ident or (shown.endswith("…") and ident.startswith(shown[:-1]))


class FormError(ValueError):
    """The CLI's choices do not fit the waiting run's form."""


def run_input_for(
    schema: dict[str, Any],
    approver: str,
    reject: bool = False,
    only: Sequence[str] = (),
    actions: Sequence[str] = (),
    comment: str = "",
) -> dict[str, Any]:
    """Fill a waiting run's approval form from fingerprints, as ``finops approve`` does.

    Args:
        schema: the form's JSON schema as the run saved it (what the UI renders).
        approver: the approver's name (required).
        reject: reject instead of approving.
        only: findings to include, by fingerprint (prefix of at least 4) or resource id.
        actions: ``FP=ACTION`` overrides; naming a finding here includes it.
        comment: free text for the audit trail.

    Raises:
        FormError: a bad approver name, or a finding or action that the form does not offer,
            in one line.

    Example:
        >>> run_input_for(schema, "ana", only=["5f6c1a2b"])  # doctest: +SKIP
        {'decision': 'approve', 'findings': ['1111/us-east-1 vol-1 ... · 5f6c1a2b9d0e'], ...}
    """
    try:
        approver = clean_approver(approver)
    except ValueError as error:
        raise FormError(f"--as NAME: {error}") from None
    properties = schema.get("properties", {})
    finding_labels: list[str] = list(
        properties.get("findings", {}).get("items", {}).get("enum", [])
    )
    action_labels: list[str] = list(properties.get("actions", {}).get("items", {}).get("enum", []))
    if reject:
        return {
            "decision": "reject",
            "findings": [],
            "actions": [],
            "approver": approver,
            "comment": comment,
        }

    def find(identifier: str) -> str:
        ident = identifier.strip().lower()
        matches = [
            label
            for label in finding_labels
            if (len(ident) >= 4 and label_fingerprint(label).startswith(ident[:FP_CHARS]))
            or _shows_resource(label, ident)
        ]
        if not matches:
            raise FormError(
                f"{identifier!r} is not offered by this run; offered: " + "; ".join(finding_labels)
            )
        if len(matches) > 1:
            raise FormError(
                f"{identifier!r} matches {len(matches)} findings; give more of the fingerprint"
            )
        return matches[0]

    chosen = [find(i) for i in only]
    picked: list[str] = []
    for spec in actions:
        identifier, sep, action = spec.partition("=")
        if not sep or not action:
            raise FormError(f"--action {spec!r}: use FP=ACTION, e.g. 5f6c1a2b=delete")
        label = find(identifier)
        menu = [a.rpartition(ARROW)[2] for a in action_labels if a.rpartition(ARROW)[0] == label]
        wanted = f"{label}{ARROW}{action.strip()}"
        if wanted not in action_labels:
            raise FormError(
                f"--action {spec!r}: {action!r} is not on this finding's menu; choose from "
                + ", ".join(menu)
            )
        picked.append(wanted)
        if label not in chosen:
            chosen.append(label)
    return {
        "decision": "approve",
        "findings": list(dict.fromkeys(chosen)),
        "actions": picked,
        "approver": approver,
        "comment": comment,
    }
