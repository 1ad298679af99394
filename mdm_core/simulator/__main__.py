"""Simulated iPhones against a running portal.

Usage::

    python -m mdm_core.simulator --server https://mdm.example.com --api-token TOKEN \\
        --user 20 --device 5 --managed-apple-id-domain example.com [--poll-interval 30] [--once]

Each device gets its own enrollment profile minted through ``POST /api/v1/enrollment-profiles``
(``sim-user-<n>@<domain>`` or ``sim-device-<n>@<domain>``), installs it (SCEP, Authenticate,
TokenUpdate), then polls the command URL: once with ``--once``, otherwise every
``--poll-interval`` seconds until interrupted. One line is printed per event.

Account-Driven User Enrollment, as from Settings › Sign In to Work or School Account::

    python -m mdm_core.simulator --server http://127.0.0.1:8000 --account-driven \
        --managed-apple-id alice@example.org --sign-in user=demo-alice --sign-in action=sign_in --once

discovers the server (``--server`` stands in for the account domain's DNS), is challenged,
signs in headlessly by submitting the sign-in forms with the ``--sign-in`` answers (the demo
identity provider's person picker above; ``login=...`` and ``password=...`` for others) and
acknowledging the privacy notice, then enrolls with the access token and polls.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import httpx

from mdm_core.simulator.account_driven import enroll_account_driven
from mdm_core.simulator.device import SimulatedDevice, SimulatorError
from mdm_core.simulator.fleet import Fleet
from mdm_core.simulator.web_sign_in import FormWalker

PROFILE_PATH = "/api/v1/enrollment-profiles"


def mint_profile(http: httpx.Client, server: str, api_token: str, enrollment_type: str, managed_apple_id: str) -> bytes:
    """Ask the portal's API for a signed enrollment profile."""
    response = http.post(
        server.rstrip("/") + PROFILE_PATH,
        json={"enrollment_type": enrollment_type, "managed_apple_id": managed_apple_id},
        headers={"Authorization": f"Bearer {api_token}"},
    )
    if response.status_code != 201:
        raise SimulatorError(f"minting a profile answered {response.status_code}: {response.text[:200]}")
    return response.content


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mdm_core.simulator", description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="the portal's PUBLIC_URL")
    parser.add_argument("--api-token", help="API token that mints profiles (not needed with --account-driven)")
    parser.add_argument("--account-driven", action="store_true",
                        help="enroll one device by Account-Driven User Enrollment instead of minted profiles")
    parser.add_argument("--managed-apple-id", help="the account typed in Settings (--account-driven)")
    parser.add_argument("--sign-in", action="append", default=[], metavar="FIELD=VALUE",
                        help="a sign-in form answer for --account-driven (repeatable)")
    parser.add_argument("--user", type=int, default=1, help="number of User Enrollment devices")
    parser.add_argument("--device", type=int, default=0, help="number of legacy device-enrollment devices")
    parser.add_argument("--managed-apple-id-domain", default="example.com")
    parser.add_argument("--poll-interval", type=float, default=30.0, help="seconds between polls")
    parser.add_argument("--once", action="store_true", help="poll once and exit")
    parser.add_argument("--workers", type=int, default=8, help="devices acting at the same time")
    parser.add_argument("--insecure", action="store_true", help="do not verify the server's TLS certificate")
    return parser


def _enroll_account_driven(args: argparse.Namespace) -> list[SimulatedDevice]:
    answers = {"acknowledge": "yes"}
    for item in args.sign_in:
        name, _, value = item.partition("=")
        answers[name] = value
    device = SimulatedDevice("user", os_version="18.1", build_version="22B83", product_name="iPhone17,2")
    with httpx.Client(timeout=30.0, verify=not args.insecure) as web_sheet, \
            httpx.Client(timeout=30.0, verify=not args.insecure) as http:
        result = enroll_account_driven(device, http, args.managed_apple_id, FormWalker(web_sheet, answers),
                                       discovery_host=args.server)
    print(f"{args.managed_apple_id} enrolled user {device.identifier} (account-driven via {result.base_url})", flush=True)
    return [device]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.account_driven and not args.managed_apple_id:
        parser.error("--account-driven needs --managed-apple-id")
    if not args.account_driven and not args.api_token:
        parser.error("--api-token is needed to mint enrollment profiles")
    if args.account_driven:
        try:
            devices = _enroll_account_driven(args)
        except SimulatorError as exc:
            print(f"{args.managed_apple_id} enrollment failed: {exc}", file=sys.stderr, flush=True)
            return 1
        return _poll(args, devices, {id(devices[0]): args.managed_apple_id})
    devices = [SimulatedDevice("user") for _ in range(args.user)] + [SimulatedDevice("device") for _ in range(args.device)]
    names = {id(d): f"sim-{d.enrollment_type}-{n}@{args.managed_apple_id_domain}"
             for n, d in enumerate(devices, start=1)}

    with httpx.Client(timeout=30.0, verify=not args.insecure) as http:
        def enroll(device: SimulatedDevice) -> None:
            profile = mint_profile(http, args.server, args.api_token, device.enrollment_type, names[id(device)])
            device.install_profile(profile, http)
            print(f"{names[id(device)]} enrolled {device.enrollment_type} {device.identifier}", flush=True)

        failed = [o for o in Fleet(devices, workers=args.workers).each(enroll) if not o.ok]
        for outcome in failed:
            print(f"{names[id(outcome.device)]} enrollment failed: {outcome.error}", file=sys.stderr, flush=True)
    status = _poll(args, [d for d in devices if d.settings is not None], names)
    return 1 if failed else status


def _poll(args: argparse.Namespace, devices: list[SimulatedDevice], names: dict[int, str]) -> int:
    with httpx.Client(timeout=30.0, verify=not args.insecure) as http:
        def poll(device: SimulatedDevice) -> None:
            for exchange in device.poll(http):
                print(f"{names[id(device)]} {exchange.request_type} {exchange.command_uuid} -> {exchange.status}",
                      flush=True)

        fleet = Fleet(devices, workers=args.workers)
        try:
            while True:
                for outcome in fleet.each(poll):
                    if not outcome.ok:
                        print(f"{names[id(outcome.device)]} poll failed: {outcome.error}", file=sys.stderr, flush=True)
                if args.once:
                    break
                time.sleep(args.poll_interval)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
