"""plugins/module_utils/runner.py: the command runner every module uses."""
from __future__ import annotations

import json
import os
import sys
import time

import pytest
from support import procs

from ansible_collections.fleet.migration.plugins.module_utils.runner import (
    REDACTED,
    CommandError,
    Runner,
    Scrubber,
    fail_from_error,
    parse_json,
    parse_json_lines,
    runner_for,
    tail,
)

PY = sys.executable


def test_success_returns_output_rc_and_duration():
    result = Runner().run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert (result.rc, result.stdout, result.stderr) == (0, "out\n", "err\n")
    assert result.duration > 0 and result.cmd.startswith(PY)


def test_failure_message_names_command_rc_stderr_tail_and_hint():
    script = "import sys\nfor i in range(30): print('line', i, file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(CommandError) as info:
        Runner().run([PY, "-c", script], hint="do the thing")
    error = info.value
    assert error.rc == 3 and error.kind == "exit"
    message = str(error)
    assert message.startswith("`%s -c " % PY) and "failed with exit code 3" in message
    assert "line 29" in message and "line 10" in message and "line 9\n" not in message
    assert message.endswith("What to do: do the thing")


def test_ok_rcs_and_check_false():
    runner = Runner()
    assert runner.run([PY, "-c", "raise SystemExit(2)"], ok_rcs=(0, 2)).rc == 2
    assert runner.run([PY, "-c", "raise SystemExit(5)"], check=False).rc == 5
    assert [r.rc for r in runner.history] == [2, 5]


def test_timeout_kills_the_process_group(tmp_path):
    marker = tmp_path / "child-survived"
    # The child of the child must die too, or it would keep the pipes open and write the marker.
    child = tmp_path / "child.py"
    child.write_text("import time\ntime.sleep(2)\nopen(%r, 'w').write('x')\n" % str(marker))
    parent = tmp_path / "parent.py"
    parent.write_text("import subprocess, sys, time\nsubprocess.Popen([sys.executable, %r])\ntime.sleep(30)\n"
                      % str(child))
    script_argv = [PY, str(parent)]
    started = time.monotonic()
    with pytest.raises(CommandError) as info:
        Runner(timeout=1).run(script_argv)
    assert time.monotonic() - started < 10
    assert info.value.kind == "timeout" and "timed out after 1 seconds" in str(info.value)
    assert "raise the module's timeout option" in str(info.value)
    time.sleep(2.5)
    assert not marker.exists()


def test_missing_executable():
    with pytest.raises(CommandError) as info:
        Runner().run(["definitely-not-a-command-xyz", "--help"])
    assert info.value.kind == "not_found"
    assert str(info.value).startswith("'definitely-not-a-command-xyz' was not found: no such executable on PATH")
    assert "*_bin option" in str(info.value)


def test_environment_is_added_and_removed(monkeypatch):
    monkeypatch.setenv("FLEET_RUNNER_DROP", "1")
    runner = Runner(env={"FLEET_RUNNER_ADD": "yes", "FLEET_RUNNER_DROP": None})
    out = runner.run([PY, "-c", "import os, json; print(json.dumps(dict(os.environ)))"]).stdout
    env = json.loads(out)
    assert env["FLEET_RUNNER_ADD"] == "yes" and "FLEET_RUNNER_DROP" not in env
    assert os.environ["FLEET_RUNNER_DROP"] == "1", "the runner changed the module's own environment"


def test_secrets_are_scrubbed_from_argv_output_and_errors():
    secret = "s3cr3t-value-123"
    runner = Runner(secrets=[secret])
    result = runner.run([PY, "-c", "import sys; print(sys.argv[1])", secret])
    assert secret not in result.stdout and REDACTED in result.stdout
    assert secret not in result.cmd
    with pytest.raises(CommandError) as info:
        runner.run([PY, "-c", "import sys; sys.stderr.write('bad ' + sys.argv[1]); sys.exit(1)", secret])
    assert secret not in str(info.value) and secret not in json.dumps(info.value.to_dict())


@pytest.mark.parametrize("text, leaked", [
    ("key: AGE-SECRET-KEY-" + "1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ", "AGE-SECRET-KEY-" + "1QQQ"),
    ("-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH " + "PRIVATE KEY-----", "b3BlbnNzaA"),
    ("HCLOUD password=hunter2hunter2 rest", "hunter2hunter2"),
    ('token: "abcd1234efgh"', "abcd1234efgh"),
])
def test_scrubber_patterns(text, leaked):
    cleaned = Scrubber()(text)
    assert leaked not in cleaned and REDACTED in cleaned


def test_scrubber_leaves_short_and_normal_text():
    scrub = Scrubber(["ab", "longer-secret"])
    assert scrub("ab cd longer-secret") == "ab cd %s" % REDACTED
    assert scrub(["x longer-secret"]) == ["x %s" % REDACTED]
    assert scrub(None) is None


def test_tail_keeps_last_nonempty_lines():
    assert tail("a\n\nb\nc\n", 2) == "b\nc"


def test_parse_json_and_bad_output():
    runner = Runner()
    assert parse_json(runner.run([PY, "-c", "print('{\"a\": 1}')"])) == {"a": 1}
    with pytest.raises(CommandError) as info:
        parse_json(runner.run([PY, "-c", "print('not json')"]), "the plan JSON")
    assert info.value.kind == "bad_output"
    assert "expected the plan JSON, found 'not json\\n'" in str(info.value)


def test_parse_json_lines():
    runner = Runner()
    assert parse_json_lines(runner.run([PY, "-c", "print('{\"a\":1}\\n\\n[2]')"])) == [{"a": 1}, [2]]
    with pytest.raises(CommandError) as info:
        parse_json_lines(runner.run([PY, "-c", "print('{}\\noops')"]))
    assert "line 2 is not JSON: 'oops'" in str(info.value)


def test_fail_from_error_passes_structure():
    class Module:
        def fail_json(self, **kw):
            self.kw = kw

    module = Module()
    try:
        Runner().run([PY, "-c", "raise SystemExit(4)"])
    except CommandError as error:
        fail_from_error(module, error, extra=1)
    assert module.kw["rc"] == 4 and module.kw["extra"] == 1 and module.kw["error_kind"] == "exit"
    assert "failed with exit code 4" in module.kw["msg"]


def test_runner_for_merges_environment_and_scrubs_secret_environment():
    class Module:
        params = {"timeout": 7, "environment": {"PLAIN": "visible-value", "SHARED": "plain"},
                  "secret_environment": {"SHARED": "hidden-secret-value"}}

    runner = runner_for(Module(), env={"BASE": "1"})
    assert runner.timeout == 7
    env = runner.environment()
    assert (env["BASE"], env["PLAIN"], env["SHARED"]) == ("1", "visible-value", "hidden-secret-value")
    with pytest.raises(CommandError) as info:
        runner.run([PY, "-c", "import os, sys; sys.stderr.write(os.environ['SHARED'] + ' ' + os.environ['PLAIN']); "
                              "raise SystemExit(2)"])
    assert "hidden-secret-value" not in str(info.value) and "hidden-secret-value" not in info.value.stderr
    assert REDACTED + " visible-value" in str(info.value)


def _shell(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def _wait_pids(pidfile, count):
    for _attempt in range(100):
        if pidfile.exists() and len(pidfile.read_text().split()) >= count:
            return [int(p) for p in pidfile.read_text().split()]
        time.sleep(0.05)
    raise AssertionError("the script did not write its children's pids")


def test_timeout_is_hard_when_a_child_left_the_group_holding_stdout(tmp_path):
    # One child stays in the tool's process group, one moves to its own session
    # (as a daemonising helper does); both hold stdout. Popen.communicate waited
    # for EOF from them forever after killing the group.
    pidfile = tmp_path / "pids"
    script = _shell(tmp_path / "tool.sh",
                    "sleep 1000 &\necho $! >> %s\n"
                    "%s -c 'import os, time; os.setsid(); time.sleep(1000)' &\necho $! >> %s\n"
                    "echo started\nsleep 1000\n" % (pidfile, PY, pidfile))
    started = time.monotonic()
    with pytest.raises(CommandError) as info:
        Runner(timeout=1).run([script])
    elapsed = time.monotonic() - started
    pids = _wait_pids(pidfile, 2)
    assert elapsed < 1 + 4, "the call took %.1f s with timeout=1" % elapsed
    assert info.value.kind == "timeout" and "timed out after 1 seconds" in str(info.value)
    assert "started" in info.value.stdout, "output printed before the timeout was lost"
    time.sleep(0.2)
    assert [p for p in pids if procs.running(p)] == [], "a child of the timed-out tool survived"


def test_tool_that_exits_leaving_a_child_on_its_pipes_returns_promptly(tmp_path):
    # The tool succeeds at once but its background child keeps stdout open: the
    # old runner waited for EOF until the timeout and then reported a timeout.
    pidfile = tmp_path / "pids"
    script = _shell(tmp_path / "tool.sh", "sleep 1000 &\necho $! >> %s\necho done\nexit 0\n" % pidfile)
    started = time.monotonic()
    result = Runner(timeout=20).run([script])
    elapsed = time.monotonic() - started
    assert (result.rc, result.stdout) == (0, "done\n")
    assert elapsed < 5, "the call waited %.1f s for a leftover child's pipe" % elapsed
    pids = _wait_pids(pidfile, 1)
    time.sleep(0.2)
    assert [p for p in pids if procs.running(p)] == [], "the leftover child was not stopped"


def test_timeout_sends_sigterm_before_sigkill(tmp_path):
    marker = tmp_path / "terminated"
    script = _shell(tmp_path / "tool.sh", "trap 'echo term > %s; exit 143' TERM\nwhile :; do sleep 0.1; done\n"
                    % marker)
    with pytest.raises(CommandError):
        Runner(timeout=1).run([script])
    assert marker.read_text().strip() == "term", "the tool was not given SIGTERM first"


def test_stdin_data_reaches_the_tool():
    assert Runner().run([PY, "-c", "import sys; print(sys.stdin.read().upper())"], data="abc").stdout == "ABC\n"


@pytest.mark.parametrize("form", [
    lambda s: json.dumps("note: " + s + "\n")[1:-1],              # JSON-escaped inside a job event
    lambda s: json.dumps(json.dumps({"stdout": "x" + s}))[1:-1],  # JSON inside JSON
    lambda s: "https://example/?q=" + __import__("urllib.parse").parse.quote(s, safe=""),
    lambda s: "Authorization: Basic " + __import__("base64").b64encode(s.encode()).decode(),
])
def test_scrubber_removes_encoded_forms_of_a_secret(form):
    secret = 'pa"ss/wörd\\+1234'  # characters JSON, URLs and base64 all transform
    text = form(secret)
    assert Scrubber([secret])(text).count(REDACTED) >= 1
    for encoded in (secret, json.dumps(secret)[1:-1]):
        assert encoded not in Scrubber([secret])(text)


def test_scrubber_removes_url_passwords_without_being_told():
    cleaned = Scrubber()("cloning https://ci-bot:glpat-Zx9Yw8Vu7@git.example.org/fleet.git")
    assert cleaned == "cloning https://ci-bot:%s@git.example.org/fleet.git" % REDACTED


def test_artifact_patterns_remove_secret_json_members_plain_and_escaped():
    from ansible_collections.fleet.migration.plugins.module_utils.runner import ARTIFACT_PATTERNS
    scrub = Scrubber(patterns=ARTIFACT_PATTERNS)
    text = '{"hcloud_token": "tok-123456", "res": "{\\"api_key\\": \\"k-998877\\"}", "host": "web"}'
    cleaned = scrub(text)
    assert "tok-123456" not in cleaned and "k-998877" not in cleaned and '"host": "web"' in cleaned
    assert '"hcloud_token": "%s"' % REDACTED in cleaned
