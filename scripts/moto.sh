# Sourced by scripts/test.sh and scripts/bench-endpoint.sh: a local AWS endpoint (moto
# server) for the AWS-backend tests and benchmark. Installs a pinned moto into a venv under
# target/, starts it on 127.0.0.1 on a free port with moto's ~1300 public AMIs off, and
# stops it by its PID when the calling script exits (tests passing or failing).

MOTO_VERSION=5.2.5
MOTO_VENV=target/moto-venv
MOTO_LOG=target/moto-server.log
moto_pid=""
moto_pip_pid=""

moto_stop() {
    if [ -n "$moto_pip_pid" ]; then kill "$moto_pip_pid" 2>/dev/null || true; fi
    if [ -n "$moto_pid" ]; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
        moto_pid=""
    fi
}
trap moto_stop EXIT

moto_installed() {
    [ -x "$MOTO_VENV/bin/moto_server" ] &&
        "$MOTO_VENV/bin/python" -c "import sys, importlib.metadata as m; sys.exit(m.version('moto') != '$MOTO_VERSION')" 2>/dev/null
}

# Starts installing in the background (if needed); moto_start waits for it.
moto_install_begin() {
    mkdir -p target
    if ! moto_installed; then
        (
            rm -rf "$MOTO_VENV"
            python3 -m venv "$MOTO_VENV" &&
                "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[ec2,autoscaling,iam,server]==$MOTO_VERSION"
        ) >target/moto-install.log 2>&1 &
        moto_pip_pid=$!
    fi
}

# Exports CELLAR_MOTO_ENDPOINT, or prints SKIPPED: and exports CELLAR_MOTO=skipped.
moto_start() {
    if [ -n "$moto_pip_pid" ]; then
        wait "$moto_pip_pid" || true
        moto_pip_pid=""
    fi
    if ! moto_installed; then
        echo "SKIPPED: moto[ec2,autoscaling,iam,server]==$MOTO_VERSION could not be installed (see target/moto-install.log); the AWS-endpoint tests (tests/aws.rs) will not run"
        export CELLAR_MOTO=skipped
        return 0
    fi
    # Known moto bugs that stand between cellar and AWS's documented behaviour, fixed in
    # the installed copy (each patch says what and why).
    local patch
    for patch in scripts/moto-patches/*.py; do
        "$MOTO_VENV/bin/python" "$patch" || return 1
    done
    local port endpoint
    port=$("$MOTO_VENV/bin/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
    MOTO_EC2_LOAD_DEFAULT_AMIS=false "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
    moto_pid=$!
    endpoint="http://127.0.0.1:$port"
    # Wait until it answers, starting from a clean state (POST /moto-api/reset).
    if ! "$MOTO_VENV/bin/python" - "$endpoint" <<'PY'
import sys, time, urllib.request
endpoint = sys.argv[1]
for _ in range(150):
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST"), timeout=2)
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit("moto server did not answer at " + endpoint)
PY
    then
        echo "moto server failed to start; its log:" >&2
        cat "$MOTO_LOG" >&2
        return 1
    fi
    echo "moto $MOTO_VERSION serving EC2, Auto Scaling and IAM at $endpoint (pid $moto_pid, log $MOTO_LOG)"
    export CELLAR_MOTO_ENDPOINT="$endpoint"
    # Dummy credentials and a region for the SDK; never a real account.
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
}
