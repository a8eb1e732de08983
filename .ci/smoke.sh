#!/usr/bin/env bash
# The installed product works (issue 24): build the wheel, install it with NO extras into a fresh
# venv, and run every command on a new `genops init` workspace, from outside the checkout and with
# nothing of the development install on the path. Prints each command's time and the total.
#
# The model: a person answering request files (`--provider manual`), then the real anthropic SDK
# against genops's wire emulator (genops.testing ships in the wheel) with a scripted model
# (.ci/smoke_helper.py). `genops lock` runs only when the package index is reachable.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
helper="$repo/.ci/smoke_helper.py"
python="${PYTHON:-python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/genops-smoke.XXXXXX")"
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
  if [ -n "${SMOKE_KEEP:-}" ]; then echo "smoke: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Each step prints its wall time and the CPU time (user + sys) of what it ran; the total line adds
# them up (on a busy machine the CPU time is the steadier measure).
started_at="$(date +%s.%N)"
total_wall=0
total_cpu=0
# step NAME EXPECTED_EXIT COMMAND...: run it, print its time, stop the smoke on another exit code.
step() {
  local name="$1" expect="$2" rc=0 wall cpu
  shift 2
  local TIMEFORMAT='%R %U %S'
  { time "$@" >"$work/step.out" 2>"$work/step.err"; } 2>"$work/step.time" || rc=$?
  read -r wall cpu < <(awk '{ printf "%.1f %.1f\n", $1, $2 + $3 }' "$work/step.time")
  total_wall="$(awk -v a="$total_wall" -v b="$wall" 'BEGIN { print a + b }')"
  total_cpu="$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN { print a + b }')"
  printf 'smoke: %-36s %6.1fs wall %6.1fs cpu  exit %s\n' "$name" "$wall" "$cpu" "$rc"
  if [ "$rc" != "$expect" ]; then
    echo "smoke: FAILED: '$name' exited $rc, expected $expect ($*)" >&2
    echo "--- stdout (last 40 lines)" >&2; tail -n 40 "$work/step.out" >&2
    echo "--- stderr (last 40 lines)" >&2; tail -n 40 "$work/step.err" >&2
    exit 1
  fi
}
expect_out() {  # the last step's stdout+stderr holds this text
  if ! grep -qF -- "$1" "$work/step.out" "$work/step.err"; then
    echo "smoke: FAILED: the last step's output lacks: $1" >&2
    cat "$work/step.out" "$work/step.err" >&2
    exit 1
  fi
}

# -- the wheel, in a fresh venv, with no extras ---------------------------------------------------
mkdir -p "$work/src"
cp "$repo/pyproject.toml" "$repo/README.md" "$work/src/"
cp -r "$repo/genops" "$work/src/genops"  # a clean copy: no stale build/ of the checkout
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
step "build the wheel" 0 "$python" -m pip wheel -q --no-deps -w "$work/dist" "$work/src"
step "fresh venv" 0 "$python" -m venv "$work/venv"
venv="$work/venv"
wheel="$(ls "$work"/dist/genops-*.whl)"
step "pip install the wheel (no extras)" 0 "$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"

# Nothing of the checkout or of the developer's keys reaches the commands.
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*_API_KEY\)=.*/\1/p'); do unset "$name"; done
unset ANTHROPIC_BASE_URL OPENAI_BASE_URL GENOPS_SIGNING_KEY
# The venv and the system's tools (git, bubblewrap); no pyenv shim or developer bin directory.
export PATH="$venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export GENOPS_VENV_CACHE="$work/venv-cache"  # one tests-gate venv for the workspace, replay, stability
export GIT_AUTHOR_NAME=smoke GIT_AUTHOR_EMAIL=smoke@example.invalid
export GIT_COMMITTER_NAME=smoke GIT_COMMITTER_EMAIL=smoke@example.invalid
cd "$work"
step "genops comes from the venv" 0 "$venv/bin/python" -c \
  "import genops, sys; assert genops.__file__.startswith(sys.prefix), genops.__file__"
genops="$venv/bin/genops"
vpython="$venv/bin/python"

# -- init ----------------------------------------------------------------------------------------
proj="$work/proj"
step "init" 0 "$genops" init "$proj" --provider anthropic
mkdir "$work/here" && echo "print('mine')" >"$work/here/app.py"
step "init --here (no .gitignore)" 0 bash -c "cd '$work/here' && '$genops' init --here --provider fake"
test -f "$work/here/genops.toml" && test -f "$work/here/.gitignore"

cd "$proj"
sed -i 's/^rungs = \["senior", "fallback"\]/rungs = ["senior"]/' genops.toml  # no OpenAI key here
if ! command -v bwrap >/dev/null 2>&1; then
  echo "smoke: no bubblewrap on this machine: the tests gate runs unsandboxed (--allow-unsandboxed)"
  sed -i 's/^sandbox = "required"/sandbox = "off"/' genops.toml
  export GENOPS_ALLOW_UNSANDBOXED=1
fi
git commit -qam "smoke: one rung"

# -- a first release by hand: --provider manual, answered with files, then resume ----------------
step "regenerate --provider manual" 5 "$genops" regenerate --provider manual -m "first release, by hand"
expect_out "awaiting responses"
"$vpython" "$helper" answer "$proj" >/dev/null
step "resume (blueprint answered)" 5 "$genops" resume
"$vpython" "$helper" answer "$proj" >/dev/null
step "resume (core answered)" 5 "$genops" resume
"$vpython" "$helper" answer "$proj" >/dev/null
step "resume (tests answered: r0001)" 0 "$genops" resume
expect_out "promoted r0001"

# -- the anthropic SDK against the wire emulator ---------------------------------------------------
patch_instruction="add a comment saying why an empty name is refused"
SMOKE_PATCH="$patch_instruction" "$vpython" "$helper" emulator "$proj" "$work/emulator.url" &
emulator_pid=$!
for _ in $(seq 100); do [ -s "$work/emulator.url" ] && break; sleep 0.1; done
test -s "$work/emulator.url"
export ANTHROPIC_BASE_URL="$(cat "$work/emulator.url")"
export ANTHROPIC_API_KEY="sk-ant-smoke-0123456789abcdef"
printf -- '- **REQ-GREET-3** `shout(name)` returns the greeting in capitals.\n' >>specs/requirements.md
git commit -qam "spec: REQ-GREET-3"
step "regenerate (anthropic SDK: r0002)" 0 "$genops" regenerate -m "REQ-GREET-3: shout"
expect_out "promoted r0002"
step "runs" 0 "$genops" runs
step "patch (anthropic SDK: r0003)" 0 "$genops" patch "$patch_instruction"
expect_out "promoted r0003"
step "diff r0001 r0002" 0 "$genops" diff r0001 r0002
expect_out "shout"
step "check" 0 "$genops" check
step "verify" 0 "$genops" verify
step "review" 0 "$genops" review
step "summary" 0 "$genops" summary r0002
step "architecture" 0 "$genops" architecture
step "log" 0 "$genops" log
expect_out "REQ-GREET-3: shout"
step "cost" 0 "$genops" cost
step "rollback r0002 (r0004)" 0 "$genops" rollback r0002
step "replay r0002 (offline, archive)" 0 env -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL "$genops" replay r0002
expect_out "reproduced byte-for-byte"
step "stability -n 2" 0 "$genops" stability -n 2
mkdir -p "$work/keys"
step "keygen (key outside the workspace)" 0 "$genops" keygen "$work/keys/signing.pem"
test -f "$work/keys/signing.pem"

# -- lock: needs the package index (and uv, the [audit] extra's tool) ----------------------------
if "$vpython" -c "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/pip/', timeout=5)" 2>/dev/null; then
  if ! command -v uv >/dev/null 2>&1; then
    step "lock without uv says how to get it" 2 "$genops" lock
    expect_out "needs uv"
    step "pip install uv (the hint)" 0 "$vpython" -m pip install -q --disable-pip-version-check uv
  fi
  step "lock" 0 "$genops" lock
  expect_out "hash-pinned"
else
  echo "smoke: skipped genops lock: the package index (https://pypi.org/simple) is not reachable"
fi

printf 'smoke: %-36s %6.1fs wall %6.1fs cpu\n' "total of the steps" "$total_wall" "$total_cpu"
printf 'smoke: %-36s %6.1fs wall\n' "total, with setup between steps" \
  "$(awk -v a="$started_at" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
