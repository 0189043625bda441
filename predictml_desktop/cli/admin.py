"""``predictml admin …``, ``predictml approve`` and ``predictml reject``: governance from the shell.

The password is read from ``PREDICTML_ADMIN_PASSWORD``, else from standard input when it is not a
terminal (one line), else from a hidden prompt. It is never echoed, logged or put in a message.
With several admins, ``--as NAME`` (or ``PREDICTML_ADMIN_NAME``) says who is acting. Every decision
goes through `core.governance` (same session rules, gates and audit trail as the UI). The audit
trail's check and the signed settings are in `cli.oversight`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from predictml_desktop.cli.common import EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_USAGE, CliError, print_json

PASSWORD_ENV = "PREDICTML_ADMIN_PASSWORD"
NAME_ENV = "PREDICTML_ADMIN_NAME"


def add_actor_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--as NAME``: which admin acts (needed when there are several)."""
    parser.add_argument("--as", dest="actor", metavar="NAME",
                        help=f"which admin you are, when there are several (or set {NAME_ENV})")


def register(sub: Any) -> None:
    """Add the ``admin``, ``approve`` and ``reject`` commands."""
    admin = sub.add_parser("admin", help="the admin account (password, lockout state, audit trail)")
    actions = admin.add_subparsers(dest="admin_action", metavar="ACTION")
    actions.required = True
    sp = actions.add_parser("set-password", help="create the first admin account, or change your password")
    sp.add_argument("--name", metavar="NAME", help="the admin's name or e-mail (when creating the account)")
    add_actor_option(sp)
    sp.set_defaults(handler=_set_password)
    ls = actions.add_parser("list", help="list the admin accounts")
    ls.add_argument("--json", action="store_true", help="print one JSON document")
    ls.set_defaults(handler=_list)
    ad = actions.add_parser("add", help="add another admin, with their own password")
    ad.add_argument("--name", metavar="NAME", required=True, help="the new admin's name or e-mail")
    add_actor_option(ad)
    ad.set_defaults(handler=_add)
    rm = actions.add_parser("remove", help="remove an admin account (never the last one)")
    rm.add_argument("name", metavar="NAME", help="the admin to remove")
    rm.add_argument("--reason", metavar="TEXT", help="why (recorded in the audit trail)")
    add_actor_option(rm)
    rm.set_defaults(handler=_remove)
    st = actions.add_parser("status", help="show whether an admin exists and whether unlocking is locked")
    st.add_argument("--json", action="store_true", help="print one JSON document")
    st.set_defaults(handler=_status)
    au = actions.add_parser("audit", help="print or export the audit trail")
    au.add_argument("--job", metavar="JOB", help="only lines about this job")
    au.add_argument("--action", metavar="ACTION", action="append", help="only these actions (repeatable)")
    au.add_argument("--export", metavar="FILE", type=Path, help="write to a .csv or .jsonl file instead")
    au.add_argument("--json", action="store_true", help="print one JSON document")
    au.set_defaults(handler=_audit)
    from predictml_desktop.cli.oversight import register_admin_actions

    register_admin_actions(actions)

    ap = sub.add_parser("approve", help="approve a job for the local service or export it for Azure ML")
    ap.add_argument("job_id", metavar="JOB", help="a training job id (training_<n>)")
    ap.add_argument("--to", dest="target", choices=("local", "azure"), required=True, help="where to deploy it")
    ap.add_argument("--out", metavar="DIR", type=Path, help="azure: the bundle folder (default: exports/JOB/azure)")
    ap.add_argument("--reason", metavar="TEXT", help="why (recorded in the audit trail)")
    ap.add_argument("--override", action="store_true", help="approve although policy gates warn")
    ap.add_argument("--json", action="store_true", help="print the deployment as JSON")
    add_actor_option(ap)
    ap.set_defaults(handler=_approve)

    rj = sub.add_parser("reject", help="reject a job waiting for review")
    rj.add_argument("job_id", metavar="JOB", help="a training job id (training_<n>)")
    rj.add_argument("--reason", metavar="TEXT", required=True, help="why (required; recorded in the audit trail)")
    add_actor_option(rj)
    rj.set_defaults(handler=_reject)


def read_password(prompt: str = "Admin password: ") -> str:
    """Return the admin password from the environment, piped standard input, or a hidden prompt.

    Raises
    ------
    CliError
        If no password can be read (exit code 2).
    """
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        value = line.rstrip("\r\n")
        if value:
            return value
        raise CliError(f"No password given: set {PASSWORD_ENV} or pipe the password on standard input.", EXIT_USAGE)
    try:
        return getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt):
        raise CliError("No password given.", EXIT_USAGE) from None


def read_new_password(prompt: str = "New admin password (at least 15 characters): ") -> str:
    """Return a new password from ``PREDICTML_ADMIN_PASSWORD_NEW``, the next line of piped input, or a prompt.

    Raises
    ------
    CliError
        If none is given (exit code 2).
    """
    new = os.environ.get(PASSWORD_ENV + "_NEW")
    if not new:
        new = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    if not new:
        raise CliError(f"No new password given: set {PASSWORD_ENV}_NEW or pipe it on standard input.", EXIT_USAGE)
    return new


def actor_name(args: argparse.Namespace) -> str | None:
    """Return the acting admin's name (``--as`` or ``PREDICTML_ADMIN_NAME``), or None."""
    return getattr(args, "actor", None) or os.environ.get(NAME_ENV) or None


def _governance() -> Any:
    from predictml_desktop.core.governance import Governance

    return Governance()


def _failure(exc: Exception) -> CliError:
    from predictml_desktop.core.store import NotFoundError

    return CliError(str(exc), EXIT_NOT_FOUND if isinstance(exc, NotFoundError) else EXIT_FAILURE)


def _set_password(args: argparse.Namespace) -> int:
    from predictml_desktop.core.governance import GovernanceError

    gov = _governance()
    try:
        if not gov.has_admin():
            if not args.name:
                raise CliError("No admin exists yet: give the admin's name with --name.", EXIT_USAGE)
            password = read_password("New admin password (at least 15 characters): ")
            gov.create_admin(args.name, password)
            print(f"Admin account created for {gov.admin_name()}.")
            return 0
        # Changing: the current password as for any admin command, the new one from
        # PREDICTML_ADMIN_PASSWORD_NEW, the next line of standard input, or a prompt.
        old = read_password("Current admin password: ")
        new = read_new_password()
        session = gov.unlock(old, actor_name(args))
        gov.change_password(session, old, new)
        gov.lock(session)
        print("Admin password changed.")
        return 0
    except GovernanceError as exc:
        raise _failure(exc) from None


def _status(args: argparse.Namespace) -> int:
    gov = _governance()
    state = gov.lockout_state()
    doc = {"adminExists": gov.has_admin(), "admin": gov.admin_name(), "admins": gov.admin_names(),
           "failedAttempts": state.failed_attempts, "lockedForSeconds": round(state.retry_after_s)}
    if args.json:
        print_json(doc)
    elif not doc["adminExists"]:
        print("No admin account yet: predictml admin set-password --name NAME")
    elif len(doc["admins"]) > 1:
        print(f"Admins: {', '.join(doc['admins'])} (predictml admin list shows their lockouts).")
    else:
        locked = f"; unlocking is locked for {doc['lockedForSeconds']} s" if state.locked else ""
        print(f"Admin: {doc['admin']} ({state.failed_attempts} failed attempt(s) in a row{locked}).")
    return 0


def _list(args: argparse.Namespace) -> int:
    from predictml_desktop.cli.common import print_table

    admins = [a.to_dict() for a in _governance().admins()]
    if args.json:
        print_json({"admins": admins})
    else:
        print_table(admins, [("name", "Admin"), ("createdAt", "Created"), ("createdBy", "Added by"),
                             ("passwordChangedAt", "Password changed"), ("failedAttempts", "Failures"),
                             ("lockedForSeconds", "Locked (s)")])
    return 0


def _add(args: argparse.Namespace) -> int:
    from predictml_desktop.core.governance import GovernanceError

    gov = _governance()
    session = _unlock(gov, args)
    try:
        new = read_new_password(f"Password for {args.name} (at least 15 characters): ")
        gov.add_admin(session, args.name, new)
    except GovernanceError as exc:
        raise _failure(exc) from None
    finally:
        gov.lock(session)
    print(f"Admin {args.name} added; they unlock with their own password (--as {args.name!r}).")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from predictml_desktop.core.governance import GovernanceError

    gov = _governance()
    session = _unlock(gov, args)
    try:
        gov.remove_admin(session, args.name, args.reason)
    except GovernanceError as exc:
        raise _failure(exc) from None
    finally:
        gov.lock(session)
    print(f"Admin {args.name} removed.")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from predictml_desktop.core.audit import AuditLog

    gov = _governance()
    events = AuditLog.filter(gov.audit.events(), actions=args.action, job_id=args.job)
    if args.export:
        path = AuditLog.export(events, args.export)
        print(f"Wrote {len(events)} audit line(s) to {path}.")
    elif args.json:
        print_json({"events": [e.to_dict() for e in events]})
    else:
        for e in events:
            subject = e.job_id or e.deployment_id or e.dataset_id or ""
            reason = f" — {e.reason}" if e.reason else ""
            print(f"{e.at}  {e.actor}  {e.action}  {subject}{reason}")
    return 0


def _unlock(gov: Any, args: argparse.Namespace | None = None) -> Any:
    from predictml_desktop.core.governance import AdminNameRequiredError, GovernanceError

    name = actor_name(args) if args is not None else None
    try:
        return gov.unlock(read_password(), name)
    except AdminNameRequiredError:
        raise CliError(f"Several admins exist: say who you are with --as NAME (or {NAME_ENV}).", EXIT_USAGE) from None
    except GovernanceError as exc:
        raise _failure(exc) from None


def _approve(args: argparse.Namespace) -> int:
    from predictml_desktop.core.governance import AwaitingSecondApprovalError, GovernanceError, OverrideRequiredError

    gov = _governance()
    session = _unlock(gov, args)
    try:
        dep = gov.approve(session, args.job_id, args.target, reason=args.reason, out_dir=args.out,
                          override=args.override)
    except AwaitingSecondApprovalError as exc:
        # Recorded, as asked: nothing more to do until another admin approves.
        if args.json:
            print_json({"approvalRecorded": True, "awaitingSecondApproval": True, "message": str(exc)})
        else:
            print(str(exc))
        return 0
    except OverrideRequiredError as exc:
        raise CliError(f"{exc} Repeat with --override to approve anyway.", EXIT_FAILURE) from None
    except GovernanceError as exc:
        raise _failure(exc) from None
    finally:
        gov.lock(session)
    if args.json:
        print_json(dep.to_dict())
    elif dep.target == "azure":
        print(f"Approved {args.job_id} for Azure ML; bundle written to {dep.bundle_path} (see its README.md).")
    else:
        print(f"Approved {args.job_id}: {dep.id} is active at {dep.endpoint}")
    return 0


def _reject(args: argparse.Namespace) -> int:
    from predictml_desktop.core.governance import GovernanceError

    gov = _governance()
    session = _unlock(gov, args)
    try:
        gov.reject(session, args.job_id, args.reason)
    except GovernanceError as exc:
        raise _failure(exc) from None
    finally:
        gov.lock(session)
    print(f"Rejected {args.job_id}.")
    return 0
