"""`voxcap emulate` plus `voxcap serve` with the service API, on loopback, for
the example bots and the schemathesis run. Needs VOXCAP_BIN (the voxcap
binary); scripts/service-clients sets it.

Run as a program it starts both, prints one JSON line (the addresses and the
API key) and waits for stdin to close: how the Node example and schemathesis
get a live instance.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# The emulator's test identity (crates/emulator/README.md): public test values.
TENANT = "5e1e0000-7e57-4e57-8e57-000000000001"
CLIENT_ID = "b07b0700-7e57-4e57-8e57-000000000002"
CLIENT_SECRET = "voxcap-emulator-test-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, body bytes) of one request."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and not req.has_header("Content-type"):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def wait_until(what, check, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Stack:
    """The emulator and one `voxcap serve` (API keys, a callback secret,
    optionally `--relay-to`)."""

    def __init__(self, relay_to=None, log_format="text", rust_log="warn"):
        binary = os.environ["VOXCAP_BIN"]
        self.dir = tempfile.TemporaryDirectory(prefix="voxcap-stack-")
        self.key = secrets.token_hex(24)
        self.callback_secret = secrets.token_hex(24)
        keys = os.path.join(self.dir.name, "api-keys")
        with open(keys, "w") as f:
            f.write(f"# test key\n{self.key}\n")
        emu_port, hook_port, api_port = free_port(), free_port(), free_port()
        self.emulator = f"http://127.0.0.1:{emu_port}"
        self.webhook = f"http://127.0.0.1:{hook_port}/api/calls"
        self.api = f"http://127.0.0.1:{api_port}"
        self.log_path = os.path.join(self.dir.name, "serve.log")
        env = dict(os.environ, GRAPH_SECRET=CLIENT_SECRET, VOXCAP_CALLBACK_SECRET=self.callback_secret)
        env["RUST_LOG"] = rust_log
        self.procs = []
        self.procs.append(
            subprocess.Popen(
                [binary, "emulate", "--listen", f"127.0.0.1:{emu_port}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )
        wait_until("the emulator", lambda: http("GET", f"{self.emulator}/_emulator/stats")[0] == 200)
        args = [
            binary, "serve",
            "--graph-url", f"{self.emulator}/v1.0",
            "--tenant", TENANT,
            "--client-id", CLIENT_ID,
            "--client-secret-env", "GRAPH_SECRET",
            "--authority", self.emulator,
            "--listen", f"127.0.0.1:{hook_port}",
            "--notification-audience", CLIENT_ID,
            "--openid-config", f"{self.emulator}/v1/.well-known/OpenIdConfiguration",
            "--out", os.path.join(self.dir.name, "out"),
            "--api-listen", f"127.0.0.1:{api_port}",
            "--api-keys-file", keys,
            "--log-format", log_format,
        ]
        if relay_to:
            args += ["--relay-to", relay_to]
        self.log = open(self.log_path, "wb")
        serve = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        self.procs.append(serve)

        def ready():
            if serve.poll() is not None:
                raise RuntimeError(f"voxcap serve exited {serve.returncode}: {self.read_log()}")
            return http("GET", f"http://127.0.0.1:{hook_port}/readyz")[0] == 200

        wait_until("voxcap serve", ready)

    def read_log(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def app_token(self):
        form = (
            f"grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
            "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        ).encode()
        status, _, body = http(
            "POST", f"{self.emulator}/{TENANT}/oauth2/v2.0/token", form,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 200, body
        return json.loads(body)["access_token"]

    def create_call(self, scenario):
        """A call on the emulator whose notifications go to voxcap's webhook;
        `scenario` scripts the caller. Returns the call id."""
        body = {
            "@odata.type": "#microsoft.graph.call",
            "callbackUri": self.webhook,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "voxcapScenario": scenario,
        }
        status, _, answer = http(
            "POST", f"{self.emulator}/v1.0/communications/calls", body,
            {"Authorization": f"Bearer {self.app_token()}"},
        )
        assert status in (200, 201), answer
        return json.loads(answer)["id"]

    def stats(self):
        return json.loads(http("GET", f"{self.emulator}/_emulator/stats")[2])

    def close_serve(self):
        """Stops `voxcap serve` (SIGTERM), so that its log is complete."""
        serve = self.procs[-1]
        serve.terminate()
        serve.wait(timeout=20)

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is not None:
                continue
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.log.close()
        self.dir.cleanup()


# The caller: speaks a little, then presses # (the stop tone), in real time.
SCENARIO = {
    "name": "service_client",
    "seed": 11,
    "steps": [
        {"type": "pause", "ms": 300},
        {"type": "voice", "ms": 900},
        {"type": "pause", "ms": 200},
        {"type": "press", "digit": "#", "ms": 120},
        {"type": "silence"},
    ],
}


def main():
    relay = sys.argv[1] if len(sys.argv) > 1 else None
    stack = Stack(relay_to=relay)
    try:
        print(json.dumps({
            "emulator": stack.emulator, "webhook": stack.webhook, "api": stack.api,
            "key": stack.key, "callbackSecret": stack.callback_secret,
        }), flush=True)
        sys.stdin.read()
    finally:
        stack.close()


if __name__ == "__main__":
    main()
