// Rapport seen by the official libraries: the CloudEvents JavaScript SDK (`cloudevents`)
// and Standard Webhooks (`standardwebhooks`). Driven by tests/interop/interop_test.py.
//
//   node interop.mjs receive SECRET PORT_FILE OUT_FILE
//       an HTTP receiver: every request is verified with Webhook.verify and parsed with
//       HTTP.toEvent, then validated strictly and against sdk/schemas/action.schema.json;
//       one JSON line per request in OUT_FILE
//       ({id, ok, error, mode, type}); 200 when both pass, else 400.
//   node interop.mjs send URL SECRET SPEC_JSON
//       sends events made with the SDK (each checked against sdk/schemas/event.schema.json),
//       signed with Webhook.sign: SPEC_JSON is a list of
//       {mode: structured|binary|batch, id?, events: [{id, type, subject, time?, data}]};
//       prints one JSON list of {status, body} to standard output.
//   node interop.mjs lines FILE
//       validates every line of a JSON-lines file as a CloudEvent, strictly, and against
//       sdk/schemas/action.schema.json; prints
//       {lines, valid, errors: [first few]}.
import { createServer } from "node:http";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { CloudEvent, HTTP } from "cloudevents";
import { Webhook } from "standardwebhooks";

// Rapport's own JSON Schemas (sdk/schemas), as installed with the SDK.
const schemas = new URL("../../sdk/schemas/", import.meta.url);
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const actionSchema = ajv.compile(JSON.parse(readFileSync(new URL("action.schema.json", schemas))));
const eventSchema = ajv.compile(JSON.parse(readFileSync(new URL("event.schema.json", schemas))));

// The event as JSON, checked against our schema of it (an action, or an event sent to us).
function conforms(check, event, what) {
  const json = JSON.parse(JSON.stringify(event));
  if (!check(json)) throw new Error(`not a ${what} per sdk/schemas: ${ajv.errorsText(check.errors)}`);
}

function strict(event) {
  // Constructing with strict validation throws a ValidationError listing what is wrong.
  const checked = new CloudEvent({ ...event }, true);
  checked.validate();
  return checked;
}

function describe(error) {
  return error && error.errors ? `${error.message}: ${JSON.stringify(error.errors)}` : String(error);
}

function receive(secret, portFile, outFile) {
  const webhook = new Webhook(secret);
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const record = { id: req.headers["webhook-id"] || "", ok: false, error: "" };
      const type = req.headers["content-type"] || "";
      record.mode = req.headers["ce-specversion"] ? "binary" : type.split(";")[0];
      try {
        webhook.verify(body, req.headers);
        const parsed = HTTP.toEvent({ headers: req.headers, body });
        const events = Array.isArray(parsed) ? parsed : [parsed];
        for (const e of events) {
          const checked = strict(e);
          conforms(actionSchema, checked, "rapport action");
          record.type = checked.type;
          if (checked.id !== record.id) throw new Error(`ce id ${checked.id} is not the webhook-id`);
        }
        record.ok = true;
      } catch (error) {
        record.error = describe(error);
      }
      appendFileSync(outFile, JSON.stringify(record) + "\n");
      res.writeHead(record.ok ? 200 : 400, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: record.ok }));
    });
  });
  server.listen(0, "127.0.0.1", () => writeFileSync(portFile, String(server.address().port)));
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

async function send(url, secret, spec) {
  const webhook = new Webhook(secret);
  const results = [];
  for (const request of JSON.parse(spec)) {
    const events = request.events.map((e) => {
      const attributes = { ...e, source: "platform", datacontenttype: "application/json" };
      if (!attributes.time) delete attributes.time;  // the SDK then stamps its own
      const event = new CloudEvent(attributes, true);
      conforms(eventSchema, event, "rapport event");
      return event;
    });
    let message;
    if (request.mode === "batch") {
      message = {
        headers: { "content-type": "application/cloudevents-batch+json; charset=utf-8" },
        body: JSON.stringify(events.map((e) => e.toJSON())),
      };
    } else {
      message = (request.mode === "binary" ? HTTP.binary : HTTP.structured)(events[0]);
    }
    const body = typeof message.body === "string" ? message.body : JSON.stringify(message.body);
    const id = request.id || events[0].id;
    // One moment for the signature and its header: read twice, a second could pass
    // between them, and the signature would not match its timestamp (a flaky 401).
    const at = new Date();
    const signature = webhook.sign(id, at, body);
    const now = Math.floor(at.getTime() / 1000);
    const headers = {
      ...message.headers,
      "webhook-id": id,
      "webhook-timestamp": String(now),
      "webhook-signature": signature,
    };
    const response = await fetch(url, { method: "POST", headers, body });
    results.push({ status: response.status, body: await response.text() });
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}

function lines(file) {
  const out = { lines: 0, valid: 0, errors: [] };
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    out.lines += 1;
    try {
      conforms(actionSchema, strict(JSON.parse(line)), "rapport action");
      out.valid += 1;
    } catch (error) {
      if (out.errors.length < 5) out.errors.push(describe(error));
    }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

const [command, ...args] = process.argv.slice(2);
if (command === "receive") receive(...args);
else if (command === "send") await send(...args);
else if (command === "lines") lines(...args);
else {
  process.stderr.write("usage: node interop.mjs receive|send|lines ...\n");
  process.exit(2);
}
