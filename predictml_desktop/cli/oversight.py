"""``predictml audit verify|acknowledge`` and ``predictml admin settings|policy``: checking the trail and the rules.

``audit verify`` says "intact (N entries)" (exit 0) or exactly where the chain breaks (exit 1), and
needs no password: anyone may check. Acknowledging a break, deciding on a settings file changed
outside PredictML and changing the policy are admin actions (password, audit line).
"""

from __future__ import annotations

import argparse
from typing import Any

from predictml_desktop.cli.common import EXIT_FAILURE, EXIT_USAGE, CliError, print_json


def register(sub: Any) -> None:
    """Add the ``audit`` command group."""
    from predictml_desktop.cli.admin import add_actor_option

    audit = sub.add_parser("audit", help="check the audit trail's hash chain and signed head")
    actions = audit.add_subparsers(dest="audit_action", metavar="ACTION")
    actions.required = True
    vf = actions.add_parser("verify", help='say "intact (N entries)" or where the chain breaks (exit 1 if broken)')
    vf.add_argument("--json", action="store_true", help="print one JSON document")
    vf.set_defaults(handler=_verify)
    ack = actions.add_parser("acknowledge", help="an admin acknowledges the breaks reported now (audited)")
    ack.add_argument("--reason", metavar="TEXT", required=True, help="why they are accepted (recorded)")
    add_actor_option(ack)
    ack.set_defaults(handler=_acknowledge)


def register_admin_actions(actions: Any) -> None:
    """Add ``admin settings`` and ``admin policy`` to the ``admin`` group."""
    from predictml_desktop.cli.admin import add_actor_option

    st = actions.add_parser("settings", help="show whether settings.json is signed; confirm or discard a hand edit")
    st.add_argument("decision", nargs="?", choices=("show", "confirm", "discard"), default="show",
                    help="confirm: keep a hand-edited file's values (signed); discard: restore the last signed one")
    st.add_argument("--reason", metavar="TEXT", help="why (recorded in the audit trail)")
    st.add_argument("--json", action="store_true", help="print one JSON document")
    add_actor_option(st)
    st.set_defaults(handler=_settings)
    po = actions.add_parser("policy", help="show or change the approval gates and the two-person rule")
    po.add_argument("--set", metavar="GATE=MODE", action="append", default=[],
                    help="a gate's mode: block, warn or off (repeatable), e.g. --set perfectScore=off")
    po.add_argument("--two-person", choices=("off", "azure", "all"),
                    help="deployments that need two different admins' approvals")
    po.add_argument("--json", action="store_true", help="print the policy in force as JSON")
    add_actor_option(po)
    po.set_defaults(handler=_policy)


def _governance() -> Any:
    from predictml_desktop.cli.admin import _governance as governance

    return governance()


def _verify(args: argparse.Namespace) -> int:
    report = _governance().verify_audit()
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"Audit trail: {report.message}")
        for b in report.breaks:
            where = f"line {b.line}" if b.line else "end of the trail"
            state = "acknowledged" if b.acknowledged else "BROKEN"
            print(f"  {state} at {where}: {b.message}")
        for note in report.notes:
            print(f"  note: {note}")
    return 0 if report.ok else EXIT_FAILURE


def _admin_call(args: argparse.Namespace, call: Any) -> Any:
    from predictml_desktop.cli.admin import _failure, _unlock
    from predictml_desktop.core.governance import GovernanceError

    gov = _governance()
    session = _unlock(gov, args)
    try:
        return call(gov, session)
    except GovernanceError as exc:
        raise _failure(exc) from None
    finally:
        gov.lock(session)


def _acknowledge(args: argparse.Namespace) -> int:
    report = _admin_call(args, lambda gov, session: gov.acknowledge_audit(session, args.reason))
    print(f"Acknowledged. Audit trail: {report.message}")
    return 0


def _settings(args: argparse.Namespace) -> int:
    if args.decision == "show":
        status = _governance().settings_status()
        if args.json:
            print_json(status.to_dict())
        else:
            print(f"settings.json: {status.state}. {status.message}")
        return 0 if status.trusted else EXIT_FAILURE
    accept = args.decision == "confirm"
    status = _admin_call(args, lambda gov, session: gov.confirm_settings(session, accept=accept, reason=args.reason))
    print(f"settings.json {'confirmed' if accept else 'discarded'}: {status.message}")
    return 0


def _policy(args: argparse.Namespace) -> int:
    changes: dict[str, dict[str, Any]] = {}
    for item in args.set:
        gate, sep, mode = item.partition("=")
        if not sep or not gate or not mode:
            raise CliError(f"--set {item!r}: write GATE=MODE, e.g. perfectScore=off.", EXIT_USAGE)
        changes.setdefault(gate.strip(), {})["mode"] = mode.strip()
    if args.two_person:
        changes["twoPersonRule"] = {"mode": args.two_person}
    if changes:
        _admin_call(args, lambda gov, session: gov.set_policy(session, changes))
    rules = _governance().policy()
    if args.json:
        print_json(rules)
    else:
        for key, gate in rules.items():
            extra = ", ".join(f"{k} {v}" for k, v in gate.items() if k != "mode")
            print(f"{key}: {gate.get('mode')}" + (f" ({extra})" if extra else ""))
    return 0
