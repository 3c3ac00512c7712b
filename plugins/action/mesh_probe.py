# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Action fleet.migration.mesh_probe: one host probes all its mesh peers, and its evidence comes back.

Why an action plugin: mesh_verify ran the probe with ansible.builtin.script
and then built the evidence (and before it, reset its facts) in set_fact
tasks of its own. Each of those tasks costs Ansible's per-task, per-host
overhead; the templating behind them was O(n) per host. Here the probe runs
on the host (the script copied to the host's temporary directory and run
with the host's Python, as the script module does) and the evidence and the
ledger row are built on the controller in the same task.
"""
from __future__ import annotations

import json
import os
from typing import Any

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.fleet.migration.plugins.module_utils import mesh

# The collection's own probe (also firewall_verify's), for a task that names none.
DEFAULT_PROBE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "roles", "firewall_verify", "files", "port_probe.py")


class ActionModule(ActionBase):
    # The probe is piped to the host's Python when the connection pipelines;
    # only otherwise is a temporary directory made (see _probe).
    TRANSFERS_FILES = False
    # The probe only reads (it connects and closes); running it in check mode
    # is what makes a check-mode verify mean something.
    _supports_check_mode = True

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=mesh.ARGUMENT_SPEC)
        result = super().run(tmp, task_vars)
        del tmp  # unused: the temporary directory, when needed, is made in _probe
        host = task_vars.get("inventory_hostname", "")
        peers = {str(k): str(v or "") for k, v in args["peers"].items()}
        probe: dict[str, Any] = {}
        if peers:
            probe = self._probe(peers, args)
            if probe["rc"] not in (0, 2):
                result.update(failed=True, probe_rc=probe["rc"], stdout=probe["stdout"], stderr=probe["stderr"],
                              msg=(f"{host}: mesh_verify: expected the probe ({args['python']} port_probe.py) "
                                   f"to run on this host and print its result (exit 0 or 2); found exit "
                                   f"{probe['rc']}: {probe['stderr'].strip()[-500:] or probe['stdout'].strip()[-500:]}. "
                                   "Set mesh_verify_python to a Python 3 interpreter present on the host, "
                                   "then re-run."))
                return result
        out = mesh.probe_output(probe["rc"], probe["stdout"], probe["stderr"]) if peers else {}
        summary = mesh.summarise(host, args["own_address"], args["port"], args["scope"], args["min_peers"],
                                 args["max_parallel"], peers, out)
        # probe_rc, not rc: Ansible reads a non-zero "rc" as a failure, and exit 2
        # (the probe's own error, recorded as every peer unreachable) is a result.
        result.update(changed=False, failed=False, summary=summary, probe_rc=probe.get("rc"))
        if args["record"]:
            # The row without its evidence, which is the summary: a result twice
            # the size costs the controller once more in every callback and in
            # every later read of the registered variable. The batch adds it.
            event = mesh.event_row(host, summary, args["phase"], args["stand_in"], args["run_id"])
            del event["evidence"]
            result["event"] = event
        return result

    def _probe(self, peers: dict[str, str], args: dict[str, Any]) -> dict[str, Any]:
        """Run the probe on the host for all peers: one command when the connection pipelines.

        With pipelining (ansible.cfg: pipelining = True) the script goes to the
        interpreter's stdin, so the host sees one command; otherwise it is
        copied to a temporary directory first, as the script module does
        (four commands: make the directory, copy, run, remove).
        """
        shell = self._connection._shell
        source = self._loader.get_real_file(args["probe_script"] or DEFAULT_PROBE)
        options = ["--targets", json.dumps(peers), "--tcp", str(args["port"]), "--timeout", str(args["timeout"]),
                   "--max-parallel", str(args["max_parallel"])]
        # The interpreter is not quoted, as the script module leaves its
        # `executable`: a value such as "/usr/bin/env python3" keeps working.
        if self._connection.is_pipelining_enabled():
            with open(source, "rb") as handle:
                script = handle.read()
            cmd = " ".join([args["python"], "-"] + [shell.quote(o) for o in options])
            res = self._low_level_execute_command(shell.wrap_for_exec(cmd), in_data=script, sudoable=True)
        else:
            try:
                tmpdir = self._make_tmp_path()
                remote = shell.join_path(tmpdir, os.path.basename(source))
                self._transfer_file(source, remote)
                self._fixup_perms2((tmpdir, remote))
                cmd = " ".join([args["python"], shell.quote(remote)] + [shell.quote(o) for o in options])
                res = self._low_level_execute_command(shell.wrap_for_exec(cmd), sudoable=True)
            finally:
                self._remove_tmp_path(shell.tmpdir)
        return {"rc": res.get("rc"), "stdout": to_text(res.get("stdout", "")), "stderr": to_text(res.get("stderr", ""))}
