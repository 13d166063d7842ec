// A Node bot using voxcap as a service with plain fetch, through the relay:
// the call's callbackUri points at voxcap, which forwards every verified
// Graph notification unchanged to this bot's own webhook (`--relay-to`).
// The bot asks voxcap to record, receives the forwarded notifications in
// order, waits for the signed callback, verifies it (HMAC-SHA256 over
// "timestamp.body", constant time) and fetches the audio; the emulator must
// have served the recording once.
//
// `node bot.mjs` needs VOXCAP_BIN (the voxcap binary) and python3: the
// emulator and `voxcap serve` are started by ../service-python/stack.py.
// Run by scripts/service-clients.

import { spawn } from "node:child_process";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const WAIT_MS = 30_000;

function fail(message) {
  console.error(`service-node: ${message}`);
  process.exit(1);
}

/** The bot's HTTP server: /graph gets the relayed notifications, /voxcap the callbacks. */
function startBot() {
  const notifications = [];
  const callbacks = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.url === "/graph") {
        notifications.push({ auth: req.headers.authorization ?? "", type: req.headers["content-type"] ?? "", body });
        res.writeHead(202).end();
      } else if (req.url === "/voxcap") {
        callbacks.push({ headers: req.headers, body });
        res.writeHead(200).end();
      } else {
        res.writeHead(404).end();
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const base = `http://127.0.0.1:${server.address().port}`;
      resolve({ server, base, notifications, callbacks });
    });
  });
}

/** Starts the emulator and voxcap serve (relaying to `relayTo`); resolves to their addresses. */
function startStack(relayTo) {
  const child = spawn("python3", [join(here, "..", "service-python", "stack.py"), relayTo], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => resolve({ child, ...JSON.parse(line) }));
    child.once("exit", (code) => reject(new Error(`stack.py exited ${code}`)));
  });
}

async function waitFor(what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function signatureValid(secret, headers, body) {
  const ts = headers["x-voxcap-timestamp"];
  const mac = createHmac("sha256", secret).update(`${ts}.`).update(body).digest("hex");
  const expected = Buffer.from(`sha256=${mac}`);
  const given = Buffer.from(headers["x-voxcap-signature-256"] ?? "");
  const fresh = Math.abs(Date.now() / 1000 - Number(ts)) < 300;
  return expected.length === given.length && timingSafeEqual(expected, given) && fresh;
}

async function main() {
  const bot = await startBot();
  const stack = await startStack(`${bot.base}/graph`);
  try {
    await run(bot, stack);
  } finally {
    stack.child.stdin.end();
    bot.server.close();
  }
}

async function run(bot, stack) {
  const api = (path, init = {}) =>
    fetch(`${stack.api}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${stack.key}`, "content-type": "application/json", ...init.headers },
    });
  // The call, as the bot's own Graph code would create it: callbackUri is voxcap's webhook.
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: "b07b0700-7e57-4e57-8e57-000000000002",
    client_secret: "voxcap-emulator-test-secret",
    scope: "https://graph.microsoft.com/.default",
  });
  const token = await (await fetch(`${stack.emulator}/5e1e0000-7e57-4e57-8e57-000000000001/oauth2/v2.0/token`, { method: "POST", body: form })).json();
  const scenario = { name: "node_relay", seed: 5, steps: [{ type: "pause", ms: 300 }, { type: "voice", ms: 900 }, { type: "press", digit: "#", ms: 120 }, { type: "silence" }] };
  const created = await fetch(`${stack.emulator}/v1.0/communications/calls`, {
    method: "POST",
    headers: { authorization: `Bearer ${token.access_token}`, "content-type": "application/json" },
    body: JSON.stringify({
      "@odata.type": "#microsoft.graph.call",
      callbackUri: stack.webhook,
      requestedModalities: ["audio"],
      mediaConfig: { "@odata.type": "#microsoft.graph.serviceHostedMediaConfig" },
      voxcapScenario: scenario,
    }),
  });
  const call = await created.json();
  if (!created.ok) fail(`creating the call: ${JSON.stringify(call)}`);

  const posted = await api(`/v1/calls/${call.id}/recordResponse`, {
    method: "POST",
    body: JSON.stringify({ stopTones: ["#"], voxcap: { callbackUrl: `${bot.base}/voxcap` } }),
  });
  const recording = await posted.json();
  if (posted.status !== 202) fail(`recordResponse answered ${posted.status}: ${JSON.stringify(recording)}`);

  const callback = await waitFor("the signed callback", () => bot.callbacks[0]);
  if (!signatureValid(stack.callbackSecret, callback.headers, callback.body)) fail("the callback's signature does not verify");
  const final = JSON.parse(callback.body);
  if (final.id !== recording.id || final.status !== "completed") fail(`callback: ${callback.body}`);

  const audio = await api(`/v1/recordings/${recording.id}/audio`);
  const wav = Buffer.from(await audio.arrayBuffer());
  if (audio.status !== 200 || wav.subarray(0, 4).toString() !== "RIFF") fail(`audio: ${audio.status}`);

  // Every notification voxcap accepted was relayed, in the order voxcap got them.
  const stats = async () => (await fetch(`${stack.emulator}/_emulator/stats`)).json();
  const delivered = (await stats()).notificationsDelivered;
  await waitFor("every relayed notification", () => bot.notifications.length >= delivered);
  if (bot.notifications.length !== delivered) fail(`relayed ${bot.notifications.length} of ${delivered}`);
  const entries = bot.notifications.map((n) => {
    if (!n.auth.startsWith("Bearer ey")) fail("a relayed notification lost its Graph JWT");
    if (!n.type.startsWith("application/json")) fail(`content type ${n.type}`);
    return JSON.parse(n.body).value[0];
  });
  const ops = entries.filter((e) => e.resourceData?.["@odata.type"] === "#microsoft.graph.recordOperation");
  if (ops.length === 0) fail("no record operation notification relayed");
  if (ops[ops.length - 1].resourceData.status !== "completed") fail("the completion did not come last");
  const downloads = (await stats()).downloads;
  if (Object.keys(downloads).length !== 1) fail(`downloads: ${JSON.stringify(downloads)}`);
  console.log(`service-node: recorded ${recording.id}, ${wav.length} bytes; ${delivered} notifications relayed in order; callback verified`);
}

main().catch((e) => fail(e.stack ?? String(e)));
