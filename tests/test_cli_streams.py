"""The command line in a pipeline: help that is whole, JSON Lines kept as JSON Lines, no
traceback when the reader closes the pipe early."""

from __future__ import annotations

import json
import subprocess
import sys

CLAIM = {"claim_id": "c1", "date_of_service": "2026-01-10", "product": "anzupgo-2pct-cream",
         "quantity": "30", "unit": "g", "days_supply": 30, "channel": "retail"}


def dqmc(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dqmc", *args], capture_output=True, text=True,
                          input=stdin, check=False)


def test_help_names_every_command_and_cuts_no_sentence() -> None:
    run = dqmc("--help")
    assert run.returncode == 0
    description = run.stdout.split("\n\n")[1]
    assert description.rstrip().endswith("."), description
    for command in ("check", "build", "eval", "review", "test", "new", "lsp", "diff", "impact",
                    "synth"):
        assert f"    {command} " in run.stdout or f"    {command}\n" in run.stdout, command


def test_json_lines_in_gives_json_lines_out() -> None:
    claims = [dict(CLAIM, claim_id=f"c{n}", quantity=str(q)) for n, q in enumerate((30, 60, 10))]
    run = dqmc("eval", "policy_specs/anzupgo.dqm", "--claims", "-",
               stdin="".join(json.dumps(c) + "\n" for c in claims))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3
    assert [json.loads(line)["outcome"] for line in lines] == ["paid", "rejected", "paid"]


def test_an_array_or_an_object_in_gives_the_same_shape_out() -> None:
    one = dqmc("eval", "policy_specs/anzupgo.dqm", "--claims", "-", stdin=json.dumps(CLAIM))
    assert json.loads(one.stdout)["outcome"] == "paid"
    both = dqmc("eval", "policy_specs/anzupgo.dqm", "--claims", "-",
                stdin=json.dumps([CLAIM, dict(CLAIM, quantity="60")]))
    assert [d["outcome"] for d in json.loads(both.stdout)] == ["paid", "rejected"]
    single = dqmc("eval", "policy_specs/anzupgo.dqm", "--claims", "-", stdin=json.dumps([CLAIM]))
    assert isinstance(json.loads(single.stdout), list)  # an array of one stays an array


def test_a_closed_pipe_ends_quietly() -> None:
    claims = "".join(json.dumps(dict(CLAIM, claim_id=f"c{n}")) + "\n" for n in range(2000))
    shell = (f"{sys.executable} -m dqmc eval policy_specs/anzupgo.dqm --claims - | head -n 1")
    run = subprocess.run(["bash", "-o", "pipefail", "-c", shell], input=claims,
                         capture_output=True, text=True, check=False)
    assert json.loads(run.stdout)["outcome"] == "paid"
    assert "Broken pipe" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert "Errno" not in run.stderr, run.stderr


MALFORMED = [
    dict(CLAIM, product="no-such-product"),
    dict(CLAIM, quantity="-1"),
    {k: v for k, v in CLAIM.items() if k != "product"} | {"ndc": "12345678901"},
    dict(CLAIM, channel="mail"),
    dict(CLAIM, days_supply=0),
    "not a claim",
    [1, 2],
]


def test_eval_and_eval_interpret_give_the_same_decisions_on_malformed_claims() -> None:
    # A new user saw `policy_id: null` and "no policy covers product X" from one and the
    # policy's id and "no product of this policy is product X" from the other.
    stdin = "".join(json.dumps(c) + "\n" for c in MALFORMED)
    generated = dqmc("eval", "policy_specs/anzupgo.dqm", "--claims", "-", stdin=stdin)
    interpreted = dqmc("eval", "policy_specs/anzupgo.dqm", "--claims", "-", "--interpret",
                       stdin=stdin)
    assert generated.returncode == interpreted.returncode == 0, generated.stderr
    assert generated.stdout == interpreted.stdout
    decisions = [json.loads(line) for line in generated.stdout.splitlines()]
    assert len(decisions) == len(MALFORMED)
    for decision in decisions:  # the policy is known: every decision names it
        assert decision["policy_id"] == "anzupgo-dqm"
        assert decision["policy_hash"].startswith("sha256:")
        assert all(step["source"] for step in decision["trace"]), decision["trace"]
