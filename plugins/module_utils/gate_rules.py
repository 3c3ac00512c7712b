# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Gate rules: a gate is a set of named asserts over the ledger.

Each assert names the host, the criterion, what was expected, what was found
and what to do. A gate that asserted nothing has proven nothing (NO-GO), and
so has a gate whose thresholds are not positive numbers (refused up front).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import asdict, dataclass, field

from ansible_collections.fleet.migration.plugins.module_utils.ledger_store import (
    CLOCK_CHECK,
    CONTROLLER,
    FLEET,
    Ledger,
    to_iso,
    utcnow,
)
from ansible_collections.fleet.migration.plugins.module_utils.stability import (
    DEFAULT_CLOCK_TOLERANCE_MINUTES,
    HostStability,
    clock_anomalies,
    hosts_stability,
    human_minutes,
    open_problems,
)

PHASE0_ACCEPTABLE = ("GO", "CONDITIONAL GO")
# Healthy checks a gate counts at most per host (or the threshold, if higher):
# it needs to know there are enough, and counting a year's rows one by one for
# 100 hosts costs more than the rest of the decision together.
HEALTHY_COUNTED = 100


class GateSpecError(ValueError):
    """A gate parameter that cannot be trusted; the message names the variable."""


@dataclass
class Assertion:
    """One named criterion for one host: what was expected, what was found."""

    host: str
    criterion: str
    ok: bool
    expected: str
    found: str
    remedy: str = ""

    @property
    def message(self) -> str:
        text = f"{self.host}: {self.criterion}: expected {self.expected}; found {self.found}."
        return text + (f" {self.remedy}" if self.remedy and not self.ok else "")


@dataclass
class GateSpec:
    """What a gate asserts. Every list of hosts comes from the inventory."""

    phase: int
    subjects: list[str]
    gate_name: str = "gate"
    stable_hosts: list[str] = field(default_factory=list)
    min_stable_minutes: float = 10080
    min_health_checks: int = 1
    max_health_age_minutes: float = 1440
    required_checks: dict[str, list[str]] = field(default_factory=dict)
    previous_gate: dict | None = None  # {"phase": int, "hosts": [...], "gate_name": "gate"}
    phase0: dict | None = None  # {"accepted_conditions": [...]}
    cumulative: dict | None = None  # {"hosts": [...], "min_minutes": float}
    problem_hosts: list[str] | None = None  # None: subjects + stable hosts; ["*"]: every host in the ledger
    rollback_plan: list[dict] | None = None  # [{"path": str, "mentions": [...]}]
    accept_stand_ins: bool = False
    clock_tolerance_minutes: float = DEFAULT_CLOCK_TOLERANCE_MINUTES
    # Names of the variables the thresholds came from, for messages.
    names: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        """Thresholds must be positive, finite numbers: zero, negative or NaN
        would let a gate with no evidence say GO."""
        checks = [
            ("min_stable_minutes", self.min_stable_minutes, True),
            ("min_health_checks", self.min_health_checks, True),
            ("max_health_age_minutes", self.max_health_age_minutes, True),
            ("clock_tolerance_minutes", self.clock_tolerance_minutes, True),
        ]
        if self.cumulative:
            checks.append(("cumulative.min_minutes", self.cumulative.get("min_minutes"), True))
        for key, value, needed in checks:
            if not needed:
                continue
            name = self.names.get(key, key)
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number) or number <= 0:
                raise GateSpecError(
                    f"phase {self.phase} {self.gate_name}: {name}: expected a positive number of "
                    f"{'checks' if key == 'min_health_checks' else 'minutes'}; found {value!r}. Set {name} to a "
                    f"positive value in inventory/group_vars/all.yml or with -e (tests shorten windows, they never "
                    f"turn them off)."
                )
        if int(self.min_health_checks) != float(self.min_health_checks):
            name = self.names.get("min_health_checks", "min_health_checks")
            raise GateSpecError(
                f"phase {self.phase} {self.gate_name}: {name}: expected a whole number of checks; found "
                f"{self.min_health_checks!r}. Set {name} to a positive whole number."
            )


@dataclass
class GateResult:
    spec: GateSpec
    asserts: list[Assertion]
    evaluated_at: _dt.datetime

    @property
    def passed(self) -> bool:
        # Fail closed: a gate that asserted nothing has proven nothing.
        return bool(self.asserts) and all(a.ok for a in self.asserts)

    @property
    def decision(self) -> str:
        return "GO" if self.passed else "NO-GO"

    @property
    def failures(self) -> list[str]:
        if not self.asserts:
            return [
                f"phase{self.spec.phase} {self.spec.gate_name}: expected at least one criterion to assert; "
                "found none. Check the gate's host groups in the inventory."
            ]
        return [a.message for a in self.asserts if not a.ok]

    def as_dict(self) -> dict:
        return {
            "phase": self.spec.phase,
            "gate": self.spec.gate_name,
            "decision": self.decision,
            "passed": self.passed,
            "evaluated_at": to_iso(self.evaluated_at),
            "asserts": [asdict(a) | {"message": a.message} for a in self.asserts],
            "failures": self.failures,
        }


class _Context:
    def __init__(self, ledger: Ledger, spec: GateSpec, now: _dt.datetime):
        self.ledger, self.spec, self.now = ledger, spec, now
        self.cache: dict[str, HostStability] = {}
        self.counted = max(HEALTHY_COUNTED, int(spec.min_health_checks))
        self._anomalies = None

    def anomalies(self):
        if self._anomalies is None:
            self._anomalies = clock_anomalies(self.ledger, self.now, self.spec.clock_tolerance_minutes)
        return self._anomalies

    def prefetch(self, hosts: list[str]) -> None:
        """The stability of every host a criterion will ask about, in one
        batch of statements for all of them."""
        missing = [h for h in dict.fromkeys(hosts) if h not in self.cache]
        if missing:
            self.cache.update(hosts_stability(self.ledger, missing, accept_stand_ins=self.spec.accept_stand_ins,
                                              healthy_needed=self.counted))

    def state(self, host: str) -> HostStability:
        self.prefetch([host])
        return self.cache[host]


def _deployed_asserts(host: str, state: HostStability) -> list[Assertion]:
    redeploy = f"Deploy {host} with its phase playbook, then record health with its verify step."
    if state.deployed_at is None:
        found = "only failed deployments" if state.last_deployment_failed else "no deployment recorded"
        return [Assertion(host, "deployed", False, "a successful deployment recorded in the ledger", found, redeploy)]
    if state.last_deployment_failed:
        return [
            Assertion(host, "deployed", False, "the latest deployment to have succeeded", "the latest deployment failed",
                      redeploy)
        ]
    return [Assertion(host, "deployed", True, "a successful deployment recorded", f"deployment at {to_iso(state.deployed_at)}")]


def _checks_passing(host: str, state: HostStability) -> Assertion:
    return Assertion(
        host,
        "checks_passing",
        not state.failing_now,
        "the latest record of every health check to be healthy",
        "failing: " + "; ".join(state.failing_now) if state.failing_now else "all passing",
        f"Fix the failing check on {host} and run the phase playbook with --tags verify,gate again; the stability "
        "clock restarts at the latest failure.",
    )


def _fresh(ctx: _Context, host: str, state: HostStability) -> Assertion:
    limit = ctx.spec.max_health_age_minutes
    age = None if state.last_ok_health_at is None else (ctx.now - state.last_ok_health_at).total_seconds() / 60.0
    return Assertion(
        host,
        "fresh_evidence",
        age is not None and age <= limit,
        f"a healthy check within the last {human_minutes(limit)}",
        "no healthy check since the stability clock started" if age is None else f"the latest {human_minutes(age)} ago",
        f"Run the phase playbook of {host} with --tags verify,gate (or install scripts/collect-evidence on a schedule).",
    )


def _stability_asserts(ctx: _Context, host: str) -> list[Assertion]:
    spec, state = ctx.spec, ctx.state(host)
    out = _deployed_asserts(host, state)
    if state.deployed_at is None:
        return out
    verify = f"Run the phase playbook with --tags verify,gate on {host} to record health checks."
    ignored = f" ({state.stand_in_rows_ignored} rows from stand-in hosts not counted)" if state.stand_in_rows_ignored else ""
    out.append(
        Assertion(
            host,
            "health_checks",
            state.healthy_checks >= spec.min_health_checks,
            f">= {int(spec.min_health_checks)} healthy checks since the stability clock started",
            f"{'at least ' if state.healthy_checks >= ctx.counted else ''}{state.healthy_checks}{ignored}",
            verify,
        )
    )
    out.append(_checks_passing(host, state))
    required = spec.required_checks.get(host) or []
    if required:
        missing = sorted(set(required) - state.checks_seen)
        out.append(
            Assertion(
                host,
                "required_checks",
                not missing,
                f"a healthy record of each of {', '.join(sorted(required))} since the stability clock started",
                f"missing {', '.join(missing)}" if missing else "all present",
                verify,
            )
        )
    minutes = state.stable_minutes(ctx.now)
    left = max(0.0, spec.min_stable_minutes - minutes)
    out.append(
        Assertion(
            host,
            "stable_for",
            minutes >= spec.min_stable_minutes,
            f"stable >= {human_minutes(spec.min_stable_minutes)} ({int(spec.min_stable_minutes)} min)",
            f"{human_minutes(minutes)} ({int(minutes)} min) of healthy evidence since {state.restart_reason}",
            f"Keep recording health (--tags verify,gate); about {human_minutes(left)} left before the window has passed.",
        )
    )
    out.append(_fresh(ctx, host, state))
    return out


def _previous_gate_asserts(ctx: _Context) -> list[Assertion]:
    """The previous phase counts only if its GO still stands (no deployment
    since) and its hosts are healthy now: a GO recorded at the time is not enough."""
    spec = ctx.spec
    prev_phase = int(spec.previous_gate["phase"])
    prev_name = spec.previous_gate.get("gate_name", "gate")
    prev_hosts = list(spec.previous_gate.get("hosts") or [])
    rerun = f"Run playbooks/phase{prev_phase}.yml --tags verify,gate until its gate says GO."
    if not prev_hosts:
        return [
            Assertion(f"phase{prev_phase}", "previous_gate", False, f"hosts in phase {prev_phase} whose gate passed",
                      "no hosts in that phase", "Check the phaseN tags in the clan inventory.")
        ]
    out = []
    decisions = ctx.ledger.latest_per_host(prev_hosts, kind="gate", phase=prev_phase, check=prev_name)
    for host in prev_hosts:
        decision = decisions.get(host)
        state = ctx.state(host)
        if decision is None:
            found, ok = "no gate decision recorded", False
        elif not decision.ok:
            found, ok = f"NO-GO recorded at {to_iso(decision.recorded_at)} (row {decision.id})", False
        elif state.last_deployment_id > decision.id:
            found, ok = (f"GO recorded at {to_iso(decision.recorded_at)} (row {decision.id}), but {host} was deployed "
                         f"again after it (row {state.last_deployment_id})"), False
        else:
            found, ok = f"GO recorded at {to_iso(decision.recorded_at)} (row {decision.id})", True
        out.append(Assertion(host, f"phase{prev_phase}_gate", ok, f"a standing GO decision of the phase {prev_phase} gate",
                             found, rerun))
        out.extend(a for a in _deployed_asserts(host, state) if not a.ok)
        out.append(_checks_passing(host, state))
        out.append(_fresh(ctx, host, state))
    return out


def _phase0_asserts(ctx: _Context) -> list[Assertion]:
    accepted = set(ctx.spec.phase0.get("accepted_conditions") or [])
    row = ctx.ledger.latest(host=FLEET, kind="gate", phase=0, check="gate")
    rerun = "Run playbooks/phase0.yml; it records its decision in the ledger."
    if row is None:
        return [Assertion(FLEET, "phase0_decision", False, "a recorded Phase 0 decision of GO or CONDITIONAL GO",
                          "no Phase 0 decision recorded", rerun)]
    decision = str(row.evidence.get("decision", "NO-GO"))
    conditions = [str(c) for c in row.evidence.get("conditions") or []]
    if decision not in PHASE0_ACCEPTABLE:
        blocking = ", ".join(str(b) for b in row.evidence.get("blocking") or []) or "none listed"
        return [Assertion(FLEET, "phase0_decision", False, "a recorded Phase 0 decision of GO or CONDITIONAL GO",
                          f"{decision} recorded at {to_iso(row.recorded_at)} (blocking: {blocking})",
                          "Fix the blocking criteria in reports/phase0/ and " + rerun[0].lower() + rerun[1:])]
    unaccepted = sorted(set(conditions) - accepted) if decision == "CONDITIONAL GO" else []
    return [
        Assertion(
            FLEET,
            "phase0_decision",
            not unaccepted,
            "Phase 0 GO, or CONDITIONAL GO with every condition accepted by name in fleet_phase0_accepted_conditions",
            f"{decision} recorded at {to_iso(row.recorded_at)}"
            + (f"; conditions not accepted: {', '.join(unaccepted)}" if unaccepted else ""),
            "Read each condition in reports/phase0/, and if you accept it add its name to fleet_phase0_accepted_conditions "
            "(inventory/group_vars/all.yml).",
        )
    ]


def _clock_assert(ctx: _Context, subject: str) -> Assertion:
    anomalies = ctx.anomalies()
    return Assertion(
        subject,
        "clock",
        not anomalies,
        f"every row dated no later than now and no earlier than the rows before it (tolerance "
        f"{human_minutes(ctx.spec.clock_tolerance_minutes)})",
        "; ".join(a.describe() for a in anomalies[:3]) + (" and more" if len(anomalies) > 3 else "") if anomalies else "consistent",
        "The controller's clock jumped. Fix it (timedatectl status; enable NTP), then acknowledge with "
        f"ansible-playbook playbooks/ledger-problem.yml -e problem_host='{CONTROLLER}' -e problem={CLOCK_CHECK} -e problem_ok=true "
        "-e \"problem_details='clock fixed: ...'\"; stability is then measured again from the acknowledgement.",
    )


def _rollback_asserts(spec: GateSpec, root: str, subjects: list[str]) -> list[Assertion]:
    """Each file of the plan is checked on its own: one file's mention does not
    stand in for another's."""
    out = []
    files = spec.rollback_plan or []
    if not files:
        return [Assertion(s, "rollback_plan", False, "a rollback plan of at least one file", "no files given",
                          "Set fleet_rollback_plan in inventory/group_vars/all.yml.") for s in subjects]
    for entry in files:
        path = str(entry.get("path") or "")
        mentions = [str(m) for m in entry.get("mentions") or []]
        full = os.path.join(root, path)
        if not path or not os.path.isfile(full):
            found = f"{path or '(no path)'} missing"
        else:
            with open(full, encoding="utf-8") as handle:
                text = handle.read()
            unmentioned = [m for m in mentions if m not in text]
            found = f"no mention of {', '.join(unmentioned)} in {path}" if unmentioned else "present"
        for subject in subjects:
            out.append(
                Assertion(
                    subject,
                    f"rollback_plan:{path}",
                    found == "present",
                    f"{path} to exist and mention {', '.join(mentions) or 'nothing in particular'}",
                    found,
                    "Write the rollback procedure (docs/ROLLBACK.md) and its playbook, covering this host.",
                )
            )
    return out


def evaluate_gate(ledger: Ledger, spec: GateSpec, *, now: _dt.datetime | None = None, root: str = ".") -> GateResult:
    """Evaluate every criterion of `spec`; reads the ledger only. Raises
    GateSpecError for thresholds that are not positive numbers."""
    spec.validate()
    ctx = _Context(ledger, spec, now or utcnow())
    asserts: list[Assertion] = []
    if not spec.subjects:
        asserts.append(Assertion(f"phase{spec.phase}", "subjects", False, "at least one host in the phase group", "none",
                                 "Tag the phase's machines phaseN in modules/clan/inventory/machines.nix."))
    subjects = spec.subjects or [f"phase{spec.phase}"]
    ctx.prefetch([*((spec.previous_gate or {}).get("hosts") or []), *spec.stable_hosts,
                  *((spec.cumulative or {}).get("hosts") or [])])
    if spec.phase0 is not None:
        asserts.extend(_phase0_asserts(ctx))
    if spec.previous_gate:
        asserts.extend(_previous_gate_asserts(ctx))
    for host in spec.stable_hosts:
        asserts.extend(_stability_asserts(ctx, host))
    if spec.cumulative:
        hosts = list(spec.cumulative.get("hosts") or [])
        need = float(spec.cumulative["min_minutes"])
        per_host = {h: ctx.state(h).stable_minutes(ctx.now) for h in hosts}
        total = sum(per_host.values())
        breakdown = ", ".join(f"{h} {int(m)} min" for h, m in per_host.items()) or "no hosts"
        for subject in subjects:
            asserts.append(
                Assertion(subject, "cumulative_stability", bool(hosts) and total >= need,
                          f">= {human_minutes(need)} ({int(need)} min) of stability summed over "
                          f"{', '.join(hosts) or 'the earlier hosts'}",
                          f"{human_minutes(total)} ({int(total)} min): {breakdown}",
                          "Wait and keep recording health on the earlier hosts.")
            )
    scope = spec.problem_hosts if spec.problem_hosts is not None else sorted(set(spec.subjects) | set(spec.stable_hosts))
    problems = open_problems(ledger)
    if scope != ["*"]:
        # Controller problems (the clock) block every gate.
        problems = {h: p for h, p in problems.items() if h in scope or h in (CONTROLLER, FLEET)}
    listed = "; ".join(f"{h}: {', '.join(p)}" for h, p in sorted(problems.items()))
    for subject in subjects:
        asserts.append(
            Assertion(subject, "no_open_problems", not problems,
                      "no open problem recorded" + (" on any host" if scope == ["*"] else f" on {', '.join(scope) or 'the controller'}"),
                      listed or "none",
                      "Resolve each problem, then close it with playbooks/ledger-problem.yml -e problem_ok=true.")
        )
        asserts.append(_clock_assert(ctx, subject))
    if spec.rollback_plan is not None:
        asserts.extend(_rollback_asserts(spec, root, subjects))
    return GateResult(spec=spec, asserts=asserts, evaluated_at=ctx.now)
