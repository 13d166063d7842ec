"""The official Microsoft Graph Python SDKs against `voxcap emulate --tls`.

A bot written with msgraph-sdk / msgraph-beta-sdk and azure-identity is
pointed at the emulator with documented options only (authority, base URL,
allowed hosts, a trusted CA): no SDK internals are patched. Run by
scripts/sdk-test-python; needs VOXCAP_BIN (the voxcap binary).
"""

import asyncio
import http.server
import json
import os
import queue
import subprocess
import threading
import time
import uuid

import httpx
import jwt
import pytest
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.communications.calls.item.record_response.record_response_post_request_body import (
    RecordResponsePostRequestBody,
)
from msgraph.generated.communications.calls.item.update_recording_status.update_recording_status_post_request_body import (
    UpdateRecordingStatusPostRequestBody,
)
from msgraph.generated.models.call import Call
from msgraph.generated.models.modality import Modality
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.operation_status import OperationStatus
from msgraph.generated.models.record_operation import RecordOperation
from msgraph.generated.models.recording_status import RecordingStatus
from msgraph.generated.models.service_hosted_media_config import ServiceHostedMediaConfig
from msgraph_beta import GraphRequestAdapter as BetaGraphRequestAdapter
from msgraph_beta import GraphServiceClient as BetaGraphServiceClient
from msgraph_beta.generated.app.calls.item.record_response.record_response_post_request_body import (
    RecordResponsePostRequestBody as BetaRecordResponsePostRequestBody,
)
from msgraph_beta.generated.communications.calls.item.record.record_post_request_body import (
    RecordPostRequestBody,
)
from msgraph_beta.generated.models.call import Call as BetaCall
from msgraph_beta.generated.models.record_operation import (
    RecordOperation as BetaRecordOperation,
)
from msgraph_core import GraphClientFactory

# The emulator's test identity (crates/emulator/README.md): public test values.
TENANT = "5e1e0000-7e57-4e57-8e57-000000000001"
CLIENT_ID = "b07b0700-7e57-4e57-8e57-000000000002"
CLIENT_SECRET = "voxcap-emulator-test-secret"
SCOPES = ["https://graph.microsoft.com/.default"]
NOTIFICATION_ISSUER = "https://graph.microsoft.com"
WAIT_S = 20

# The caller: speaks a little, then presses # (the stop tone), in real time.
SCENARIO = {
    "name": "sdk_flow",
    "seed": 7,
    "steps": [
        {"type": "pause", "ms": 300},
        {"type": "voice", "ms": 800},
        {"type": "press", "digit": "#", "ms": 120},
        {"type": "silence"},
    ],
}


def voxcap_bin():
    path = os.environ.get("VOXCAP_BIN")
    if not path:
        pytest.fail("VOXCAP_BIN must name the voxcap binary (scripts/sdk-test-python sets it)")
    return path


class Webhook:
    """The bot's notification endpoint: a tiny HTTP server that answers 202
    at once and queues every POST (headers, body)."""

    def __init__(self):
        received = self.received = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.put((self.headers, body))
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notifications"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.seen = []

    def completion(self, op_id, change_type="deleted"):
        """Waits for the notification that finishes operation `op_id` (or,
        with change_type "updated", the streamWhileRecording one that says
        where it grows); returns (Authorization header, notification entry).
        Ids are compared normalised (dashes stripped, case ignored), as
        Graph writes both forms."""
        want = op_id.replace("-", "").lower()
        deadline = time.monotonic() + WAIT_S
        while True:
            for headers, entry in self.seen:
                path = entry.get("resourceUrl") or entry.get("resource") or ""
                if entry.get("changeType") == change_type and path.replace("-", "").lower().endswith(want):
                    return headers.get("Authorization", ""), entry
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no completion notification for operation {op_id}")
            try:
                headers, body = self.received.get(timeout=left)
            except queue.Empty:
                continue
            for entry in json.loads(body)["value"]:
                self.seen.append((headers, entry))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """`voxcap emulate --tls` on a free port; yields its base URL. The CA it
    writes is trusted through SSL_CERT_FILE (httpx, aiohttp, urllib) and
    REQUESTS_CA_BUNDLE (requests, which MSAL uses)."""
    tmp = tmp_path_factory.mktemp("emulator")
    ca = tmp / "ca.pem"
    scenario = tmp / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    proc = subprocess.Popen(
        [voxcap_bin(), "emulate", "--tls", "--listen", "127.0.0.1:0",
         "--ca-out", str(ca), "--scenario", str(scenario)],
        stdout=subprocess.PIPE, text=True,
    )
    base = None
    for line in proc.stdout:
        if line.strip().startswith("base URL:"):
            base = line.split("base URL:", 1)[1].strip()
        if "press ctrl-c" in line:
            break
    if base is None or not ca.exists():
        proc.kill()
        pytest.fail("voxcap emulate --tls did not announce a base URL and a CA file")
    # Keep reading stdout so the emulator never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    os.environ["SSL_CERT_FILE"] = str(ca)
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def webhook():
    hook = Webhook()
    yield hook
    hook.server.shutdown()


def credential(base, aio=False):
    # MSAL's instance discovery asks login.microsoftonline.com whether the
    # authority is known; a private authority turns it off (documented).
    cls = AsyncClientSecretCredential if aio else ClientSecretCredential
    return cls(TENANT, CLIENT_ID, CLIENT_SECRET, authority=base, disable_instance_discovery=True)


def graph_client(client_cls, adapter_cls, cred, base_url):
    """A GraphServiceClient on `base_url` (as for a national cloud): the
    auth provider must allow the host, or it sends no token."""
    host = httpx.URL(base_url).host
    auth = AzureIdentityAuthenticationProvider(cred, scopes=SCOPES, allowed_hosts=[host])
    http_client = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(base_url=base_url)
    )
    return client_cls(request_adapter=adapter_cls(auth, client=http_client))


def verified_claims(base, authorization):
    """The notification's JWT, checked against the JWKS the OpenID
    configuration names: signature, audience (our app id) and issuer."""
    assert authorization.startswith("Bearer "), "notification without a bearer JWT"
    config = httpx.get(f"{base}/v1/.well-known/OpenIdConfiguration").json()
    key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(authorization[7:])
    return jwt.decode(authorization[7:], key.key, algorithms=["RS256"],
                      audience=CLIENT_ID, issuer=NOTIFICATION_ISSUER)


def parse(model, resource_data):
    """resourceData parsed by the SDK's own JSON parse node."""
    node = JsonParseNodeFactory().get_root_parse_node(
        "application/json", json.dumps(resource_data).encode())
    return node.get_object_value(model)


def analyze(wav):
    out = subprocess.run(
        [voxcap_bin(), "analyze", str(wav), "--format", "json",
         "--stop-tones", "#", "--reported", "stopToneDetected"],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out.splitlines()[0])


def test_client_secret_credential_gets_a_token_sync_and_async(emulator):
    token = credential(emulator).get_token(*SCOPES)
    assert token.token and token.expires_on > time.time()

    async def aio():
        async with credential(emulator, aio=True) as cred:
            return await cred.get_token(*SCOPES)

    assert asyncio.run(aio()).token
    logged = httpx.get(f"{emulator}/_emulator/requests").json()
    paths = {r["path"] for r in logged}
    assert f"/{TENANT}/v2.0/.well-known/openid-configuration" in paths
    assert f"/{TENANT}/oauth2/v2.0/token" in paths


def test_v1_record_response_flow(emulator, webhook, tmp_path):
    async def flow():
        async with credential(emulator, aio=True) as cred:
            client = graph_client(GraphServiceClient, GraphRequestAdapter, cred, f"{emulator}/v1.0")
            call = await client.communications.calls.post(Call(
                callback_uri=webhook.url,
                requested_modalities=[Modality.Audio],
                media_config=ServiceHostedMediaConfig(),
                tenant_id=TENANT,
            ))
            calls = client.communications.calls.by_call_id(call.id)
            await calls.update_recording_status.post(UpdateRecordingStatusPostRequestBody(
                client_context="sdk-v1", status=RecordingStatus.Recording))
            op = await calls.record_response.post(RecordResponsePostRequestBody(
                client_context="sdk-v1",
                play_beep=False,
                stop_tones=["#"],
                initial_silence_timeout_in_seconds=5,
                max_silence_timeout_in_seconds=5,
                max_record_duration_in_seconds=5,
            ))
            assert isinstance(op, RecordOperation) and op.status == OperationStatus.Running
            authorization, entry = await asyncio.to_thread(webhook.completion, op.id)
            claims = verified_claims(emulator, authorization)
            assert claims["tid"] == TENANT
            done = parse(RecordOperation, entry["resourceData"])
            assert done.status == OperationStatus.Completed
            assert done.result_info.subcode == 8514

            # The download carries only the recording token, never the app token.
            wav = tmp_path / "answer.wav"
            async with httpx.AsyncClient() as dl:
                r = await dl.get(done.recording_location,
                                 headers={"Authorization": f"Bearer {done.recording_access_token}"})
            assert r.status_code == 200, r.text
            wav.write_bytes(r.content)
            report = analyze(wav)
            assert [d["digit"] for d in report["dtmf"]] == ["#"], report
            assert report["speech"], report

            await calls.update_recording_status.post(UpdateRecordingStatusPostRequestBody(
                client_context="sdk-v1", status=RecordingStatus.NotRecording))
            got = await calls.operations.by_comms_operation_id(op.id).get()
            assert got.status == OperationStatus.Completed
            ops = await calls.operations.get()
            assert any(o.id == op.id for o in ops.value)

            await calls.delete()
            # The SDK adds client-request-id only for Microsoft's own hosts;
            # a bot that logs it sets it per request, and Graph echoes it.
            config = RequestConfiguration()
            crid = str(uuid.uuid4())
            config.headers.add("client-request-id", crid)
            with pytest.raises(ODataError) as err:
                await calls.get(request_configuration=config)
            assert err.value.response_status_code == 404
            inner = err.value.error.inner_error
            assert inner.request_id and inner.client_request_id == crid

    asyncio.run(flow())


def test_beta_client_and_legacy_record(emulator, webhook):
    async def flow():
        async with credential(emulator, aio=True) as cred:
            client = graph_client(BetaGraphServiceClient, BetaGraphRequestAdapter, cred, f"{emulator}/beta")
            call = await client.app.calls.post(BetaCall(callback_uri=webhook.url, tenant_id=TENANT))
            app_call = client.app.calls.by_call_id(call.id)
            assert (await app_call.get()).id == call.id
            op = await client.communications.calls.by_call_id(call.id).record.post(RecordPostRequestBody(
                client_context="sdk-legacy",
                play_beep=False,
                stop_tones=["#"],
                max_record_duration_in_seconds=5,
            ))
            assert op is not None and op.id
            _, entry = await asyncio.to_thread(webhook.completion, op.id)
            assert "resource" in entry and "resourceUrl" not in entry
            done = entry["resourceData"]
            assert done["recordResourceLocation"] and done["completionReason"] == "stopToneDetected"

            # streamWhileRecording: the location comes while the caller speaks.
            streamed = await client.app.calls.by_call_id(call.id).record.post(RecordPostRequestBody(
                client_context="sdk-stream",
                play_beep=False,
                stop_tones=["#"],
                stream_while_recording=True,
            ))
            _, early = await asyncio.to_thread(webhook.completion, streamed.id, "updated")
            assert early["resourceData"]["status"] == "running"
            location = early["resourceData"]["recordResourceLocation"]
            token = early["resourceData"]["recordResourceAccessToken"]
            async with httpx.AsyncClient() as dl:
                grown = await dl.get(location, headers={"Authorization": f"Bearer {token}"})
            _, entry = await asyncio.to_thread(webhook.completion, streamed.id)
            assert entry["resourceData"]["recordResourceLocation"] == location
            assert grown.headers["accept-ranges"] == "none" and len(grown.content) > 44

            beta_op = await app_call.record_response.post(BetaRecordResponsePostRequestBody(
                client_context="sdk-beta", play_beep=False, stop_tones=["#"]))
            assert isinstance(beta_op, BetaRecordOperation)
            _, entry = await asyncio.to_thread(webhook.completion, beta_op.id)
            parsed = parse(BetaRecordOperation, entry["resourceData"])
            assert parsed.completion_reason.value == "stopToneDetected"
            await app_call.delete()

    asyncio.run(flow())


def test_graph_headers_and_content_type(emulator):
    token = credential(emulator).get_token(*SCOPES).token
    crid = str(uuid.uuid4())
    r = httpx.get(f"{emulator}/v1.0/communications/calls",
                  headers={"Authorization": f"Bearer {token}", "client-request-id": crid})
    assert r.status_code == 200
    assert r.headers["client-request-id"] == crid and r.headers["request-id"]
    assert r.headers["content-type"].startswith("application/json;odata.metadata=minimal")
