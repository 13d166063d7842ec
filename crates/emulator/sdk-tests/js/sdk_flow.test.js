// Microsoft's JavaScript Graph client (@microsoft/microsoft-graph-client)
// and @azure/identity against `voxcap emulate --tls`, with documented
// options only (authorityHost, disableInstanceDiscovery, baseUrl,
// customHosts, NODE_EXTRA_CA_CERTS). Run by scripts/sdk-test-js, which
// starts the emulator and passes VOXCAP_BASE_URL.
"use strict";
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const http = require("node:http");
const test = require("node:test");
const { ClientSecretCredential } = require("@azure/identity");
const { Client } = require("@microsoft/microsoft-graph-client");
const {
  TokenCredentialAuthenticationProvider,
} = require("@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials");

// The emulator's public test identity (crates/emulator/README.md).
const TENANT = "5e1e0000-7e57-4e57-8e57-000000000001";
const CLIENT_ID = "b07b0700-7e57-4e57-8e57-000000000002";
const SECRET = "voxcap-emulator-test-secret";
const SCOPE = "https://graph.microsoft.com/.default";
const base = process.env.VOXCAP_BASE_URL;
const norm = (id) => id.replace(/-/g, "").toLowerCase();

function webhook() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      for (const entry of JSON.parse(body).value) seen.push({ auth: req.headers.authorization, entry });
      res.writeHead(202).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        server,
        url: `http://127.0.0.1:${server.address().port}/notifications`,
        async completion(opId) {
          for (let i = 0; i < 2000; i++) {
            const hit = seen.find(({ entry }) =>
              entry.changeType === "deleted" &&
              norm(entry.resourceUrl || entry.resource || "").endsWith(norm(opId)));
            if (hit) return hit;
            await new Promise((r) => setTimeout(r, 10));
          }
          throw new Error(`no completion notification for operation ${opId}`);
        },
      })));
}

// RS256 checked with node:crypto against the JWKS the OpenID configuration names.
async function verify(authorization) {
  assert.match(authorization, /^Bearer /);
  const [h, p, s] = authorization.slice(7).split(".");
  const header = JSON.parse(Buffer.from(h, "base64url"));
  const config = await (await fetch(`${base}/v1/.well-known/OpenIdConfiguration`)).json();
  const jwks = await (await fetch(config.jwks_uri)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  const ok = crypto.verify("RSA-SHA256", Buffer.from(`${h}.${p}`),
    crypto.createPublicKey({ key: jwk, format: "jwk" }), Buffer.from(s, "base64url"));
  assert.ok(ok, "notification JWT signature");
  const claims = JSON.parse(Buffer.from(p, "base64url"));
  assert.equal(claims.aud, CLIENT_ID);
  assert.equal(claims.iss, "https://graph.microsoft.com");
  assert.ok(claims.exp > Date.now() / 1000);
  return claims;
}

test("the JavaScript Graph client records a caller", async () => {
  const credential = new ClientSecretCredential(TENANT, CLIENT_ID, SECRET, {
    authorityHost: base,
    disableInstanceDiscovery: true,
  });
  const graph = Client.initWithMiddleware({
    authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [SCOPE] }),
    baseUrl: base,
    defaultVersion: "v1.0",
    customHosts: new Set([new URL(base).hostname]),
  });
  const hook = await webhook();
  try {
    const call = await graph.api("/communications/calls").post({
      "@odata.type": "#microsoft.graph.call",
      callbackUri: hook.url,
      requestedModalities: ["audio"],
      mediaConfig: { "@odata.type": "#microsoft.graph.serviceHostedMediaConfig" },
      tenantId: TENANT,
    });
    const calls = `/communications/calls/${call.id}`;
    await graph.api(`${calls}/updateRecordingStatus`).post({ clientContext: "js", status: "recording" });
    const op = await graph.api(`${calls}/recordResponse`).post({
      clientContext: "js", playBeep: false, stopTones: ["#"], maxRecordDurationInSeconds: 5,
    });
    assert.equal(op.status, "running");
    const { auth, entry } = await hook.completion(op.id);
    assert.equal((await verify(auth)).tid, TENANT);
    const done = entry.resourceData;
    assert.equal(done.resultInfo.subcode, 8514);
    const wav = await fetch(done.recordingLocation, {
      headers: { Authorization: `Bearer ${done.recordingAccessToken}` },
    });
    assert.equal(wav.status, 200);
    assert.ok((await wav.arrayBuffer()).byteLength > 44);
    await graph.api(`${calls}/updateRecordingStatus`).post({ clientContext: "js", status: "notRecording" });
    assert.equal((await graph.api(`${calls}/operations/${op.id}`).get()).status, "completed");
    await graph.api(calls).delete();
    await assert.rejects(graph.api(calls).get(), (e) => e.statusCode === 404);
  } finally {
    hook.server.close();
  }
});
