"""A Python bot using voxcap as a service, through a client generated from
the live `/openapi.json` by openapi-python-client (at test time; nothing
generated is committed): it asks `voxcap serve` to record on a call of
`voxcap emulate`, waits for the signed callback on its own loopback
receiver, verifies the signature (HMAC-SHA256 over "timestamp.body",
compared in constant time), and fetches the audio. Then `/metrics`, read
with prometheus_client's text parser, must count what the test did, and a
`--log-format json` run must log JSON lines with the ids and no secret.

Run by scripts/service-clients; needs VOXCAP_BIN.
"""

import hashlib
import hmac
import http.server
import importlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(__file__))
import stack as stack_mod  # noqa: E402

WAIT_S = 30


class CallbackReceiver:
    """The bot's own endpoint for voxcap's callbacks: answers 200 and
    queues (headers with lower-case names, raw body)."""

    def __init__(self):
        got = self.got = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                got.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/voxcap"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def verify_signature(secret, headers, body, max_age_s=300):
    """The check docs/service.md gives a receiver."""
    ts = headers["x-voxcap-timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(ts)) < max_age_s
    return hmac.compare_digest(expected, headers["x-voxcap-signature-256"]) and fresh


def generated_client(stack, into):
    """Generates the client from the live document and imports it."""
    status, _, doc = stack_mod.http("GET", f"{stack.api}/openapi.json", headers={"Authorization": f"Bearer {stack.key}"})
    assert status == 200
    path = os.path.join(into, "openapi.json")
    with open(path, "wb") as f:
        f.write(doc)
    tool = os.path.join(os.path.dirname(sys.executable), "openapi-python-client")
    subprocess.run(
        [tool, "generate", "--path", path, "--meta", "none", "--output-path", os.path.join(into, "voxcap_api")],
        check=True, capture_output=True,
    )
    sys.path.insert(0, into)
    return importlib.import_module("voxcap_api")


@pytest.fixture()
def stack():
    s = stack_mod.Stack(log_format="json", rust_log="debug")
    yield s
    s.close()


def metric_samples(text):
    """{(name, frozenset(labels)): value} from the Prometheus text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_record_callback_audio_metrics_and_logs(stack, tmp_path):
    api = generated_client(stack, str(tmp_path))
    from voxcap_api.api.recordings import get_audio, get_recording, record_response
    from voxcap_api.models import RecordResponseBody, VoxcapOptions

    receiver = CallbackReceiver()
    client = api.AuthenticatedClient(base_url=stack.api, token=stack.key)
    call_id = stack.create_call(stack_mod.SCENARIO)
    started = time.monotonic()
    answer = record_response.sync_detailed(
        call_id,
        client=client,
        body=RecordResponseBody(stop_tones=["#"], voxcap=VoxcapOptions(callback_url=receiver.url)),
        idempotency_key="python-bot-1",
    )
    assert answer.status_code == 202, answer.content
    recording = answer.parsed
    assert recording.status.value == "running"

    headers, body = receiver.got.get(timeout=WAIT_S)
    took = time.monotonic() - started
    assert verify_signature(stack.callback_secret, headers, body), headers
    assert not verify_signature("another-secret-0123456789", headers, body)
    assert not verify_signature(stack.callback_secret, headers, body + b" ")
    resource = json.loads(body)
    assert resource["id"] == recording.id
    assert resource["status"] == "completed", resource
    print(f"recordResponse POST to signed callback: {took:.2f} s")

    fetched = get_recording.sync_detailed(recording.id, client=client)
    assert fetched.status_code == 200
    assert fetched.parsed.status.value == "completed"
    audio = get_audio.sync_detailed(recording.id, client=client)
    assert audio.status_code == 200
    assert audio.content[:4] == b"RIFF" and audio.content[8:12] == b"WAVE"
    part = get_audio.sync_detailed(recording.id, client=client, range_="bytes=0-43")
    assert part.status_code == 206 and len(part.content) == 44

    # The emulator served the recording once.
    downloads = stack.stats()["downloads"]
    assert len(downloads) == 1, downloads

    status, _, text = stack_mod.http("GET", f"{stack.api}/metrics", headers={"Authorization": f"Bearer {stack.key}"})
    assert status == 200
    samples = metric_samples(text.decode())

    def value(name, **labels):
        return samples.get((name, frozenset(labels.items())), 0.0)

    assert value("voxcap_recordings_finished_total", status="completed") == 1
    assert value("voxcap_recordings", status="completed") == 1
    assert value("voxcap_callback_attempts_total", outcome="delivered") == 1
    assert value("voxcap_callback_attempts_total", outcome="failed") == 0
    assert value("voxcap_download_bytes_count") == 1
    assert value("voxcap_download_seconds_count") == 1
    assert value("voxcap_analysis_seconds_count") == 1
    delivered = stack.stats()["notificationsDelivered"]
    assert value("voxcap_notifications_total", outcome="accepted", reason="") == delivered
    assert value("voxcap_operations_pending") == 0
    assert value("voxcap_api_requests_total", route="/v1/calls/{callId}/recordResponse", method="POST", status="202") == 1
    assert value("voxcap_api_requests_total", route="/v1/recordings/{id}/audio", method="GET", status="200") == 1
    assert value("voxcap_api_requests_total", route="/v1/recordings/{id}/audio", method="GET", status="206") == 1
    verdicts = sum(v for (n, _), v in samples.items() if n == "voxcap_completion_verdicts_total")
    assert verdicts == 1

    # The JSON log: every line an object; the recording's events carry its
    # ids; no key, secret or token anywhere.
    stack.close_serve()
    log = stack.read_log()
    # The CLI's own start and stop lines ("voxcap serve: ...") stay text.
    lines = [line for line in log.splitlines() if line.strip()]
    assert all(line.startswith(("{", "voxcap serve:")) for line in lines), log[:2000]
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert events, "no log events (RUST_LOG=debug in this run)"
    def fields_of(e):
        merged = dict(e.get("fields", {}))
        for span in e.get("spans", []):
            merged.update(span)
        return merged
    with_ids = [fields_of(e) for e in events if fields_of(e).get("recording_id") == recording.id]
    assert with_ids, log[:2000]
    assert any(f.get("call_id") == call_id for f in with_ids)
    assert any(f.get("operation_id") for f in with_ids)
    for secret in (stack.key, stack.callback_secret, stack_mod.CLIENT_SECRET):
        assert secret not in log
    # Every JWT (Graph's notification tokens, the app token) starts "eyJ".
    assert "eyJ" not in log and "Bearer " not in log
    receiver.close()
