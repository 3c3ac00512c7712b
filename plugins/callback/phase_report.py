# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations

DOCUMENTATION = r"""
name: phase_report
type: aggregate
short_description: Summary of the gates and decisions of a fleet migration run
version_added: "0.1.0"
description:
  - At the end of a run, states each decision first, plainly -- every C(fleet.migration.stability_gate) decision
    (GO or NO-GO, with its failed asserts) and every decision a play handed over with C(ansible.builtin.set_stats)
    under the key C(fleet_decisions) -- then lists the checks (each C(ansible.builtin.assert) task, per host).
  - A run in which a gate said NO-GO never ends with a line that reads as success.
  - "A decision is C(fleet_decisions: {<name>: {decision: GO|CONDITIONAL GO|NO-GO, failed_blocking: [...],
    failed_conditions: [...], report: <path>}}); every field but C(decision) is optional."
  - The summary is informational; it never changes the run's result, and a malformed entry is shown as is.
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
requirements:
  - enable in ansible.cfg with C(callbacks_enabled = fleet.migration.phase_report)
"""

from ansible.plugins.callback import CallbackBase

_ASSERT_ACTIONS = {"assert", "ansible.builtin.assert", "ansible.legacy.assert"}
_GATE_ACTIONS = {"fleet.migration.stability_gate", "stability_gate"}
_FAILURES_SHOWN = 12


class CallbackModule(CallbackBase):
    """Collects assert results and set_stats decisions; prints them at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleet.migration.phase_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # (task name, host, passed, message), in the order the gates ran.
        self.gates: list[tuple[str, str, bool, str]] = []
        # (phase, gate name, decision, failures), in the order the gates decided.
        self.decisions: list[tuple[str, str, str, list[str]]] = []

    def _record(self, result, passed: bool) -> None:
        try:
            task = result._task
            if task.action in _GATE_ACTIONS:
                self._record_decision(task, result._result)
                return
            if task.action not in _ASSERT_ACTIONS:
                return
            message = "" if passed else str(result._result.get("msg", ""))
            self.gates.append((task.get_name(), result._host.get_name(), passed, message))
        except Exception as exc:  # a summary must never break a run
            self._display.warning("phase_report: could not record a result: %s" % exc)

    def _record_decision(self, task, res: dict) -> None:
        decision = res.get("decision")
        if decision is None and res.get("skipped"):
            return
        args = task.args or {}
        phase = str(res.get("phase", args.get("phase", "?")))
        name = str(res.get("gate", args.get("gate_name", "gate")))
        failures = [str(f) for f in res.get("failures") or []]
        if decision is None:
            failures = failures or [str(res.get("msg", "the gate could not decide"))]
        entry = (phase, name, str(decision or "NO-GO"), failures)
        # The deploy plays repeat the preflight's check; say each decision once.
        if entry not in self.decisions:
            self.decisions.append(entry)

    def v2_runner_on_ok(self, result) -> None:
        self._record(result, True)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, False)

    def v2_playbook_on_stats(self, stats) -> None:
        try:
            self._print_summary(getattr(stats, "custom", {}) or {})
            self._print_outcome(stats)
        except Exception as exc:
            self._display.warning("phase_report: could not print the summary: %s" % exc)

    def _print_outcome(self, stats) -> None:
        """The run's own outcome, so that a summary of passed checks never reads
        as success when a host failed."""
        if not (self.gates or self.decisions):
            return
        failed = sorted(set(getattr(stats, "failures", {})) | set(getattr(stats, "dark", {})))
        if failed:
            self._display.display("Run: FAILED on %s" % ", ".join(failed), color="red")
        else:
            self._display.display("Run: every host succeeded", color="green")

    def _print_summary(self, custom: dict) -> None:
        decisions = {}
        # set_stats data lands under '_run' (per_host: false) or under each host.
        for scope in custom.values():
            if isinstance(scope, dict) and isinstance(scope.get("fleet_decisions"), dict):
                decisions.update(scope["fleet_decisions"])
        if not self.gates and not decisions and not self.decisions:
            return
        self._display.banner("FLEET PHASE REPORT")
        for phase, name, decision, failures in self.decisions:
            color = "green" if decision == "GO" else "red"
            self._display.display("Phase %s %s: %s" % (phase, name, decision), color=color)
            for failure in failures[:_FAILURES_SHOWN]:
                self._display.display("  failed: " + " ".join(failure.split())[:400], color="red")
            if len(failures) > _FAILURES_SHOWN:
                self._display.display("  ... and %d more failed asserts" % (len(failures) - _FAILURES_SHOWN), color="red")
        if self.gates:
            passed = sum(1 for gate in self.gates if gate[2])
            self._display.display("Checks: %d passed, %d failed" % (passed, len(self.gates) - passed))
            for name, host, ok, message in self.gates:
                line = "  %-4s %s [%s]" % ("ok" if ok else "FAIL", name, host)
                self._display.display(line, color=None if ok else "red")
                if not ok and message:
                    self._display.display("       " + " ".join(message.split())[:400], color="red")
        for name, entry in sorted(decisions.items()):
            entry = entry if isinstance(entry, dict) else {"decision": entry}
            decision = str(entry.get("decision", "unknown"))
            color = {"GO": "green", "CONDITIONAL GO": "yellow"}.get(decision, "red")
            self._display.display("Decision %s: %s" % (name, decision), color=color)
            for key in ("failed_blocking", "failed_conditions"):
                if entry.get(key):
                    self._display.display("  %s: %s" % (key.replace("_", " "), ", ".join(map(str, entry[key]))))
            if entry.get("report"):
                self._display.display("  report: %s" % entry["report"])
