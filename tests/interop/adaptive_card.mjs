// Reads a Teams message (the envelope a Workflows webhook takes) on standard input and
// checks its card with Microsoft's own Adaptive Cards library: the envelope's shape, and
// the card parsed as version 1.5 without a single warning (an unknown element or
// property, a wrong type) or validation failure. Prints "ok" or the problems; exit 1.
import { createRequire } from "module";
const require = createRequire(import.meta.url);
const AC = require("adaptivecards/dist/adaptivecards.js");

let input = "";
for await (const chunk of process.stdin) input += chunk;
const problems = [];
const message = JSON.parse(input);
if (message.type !== "message") problems.push("type is not message");
const attachments = message.attachments || [];
if (attachments.length !== 1) problems.push("not one attachment");
for (const a of attachments) {
  if (a.contentType !== "application/vnd.microsoft.card.adaptive") problems.push("contentType");
  const content = a.content || {};
  if (content.type !== "AdaptiveCard" || content.version !== "1.5") problems.push("not a 1.5 card");
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext(AC.Versions.v1_5);
  card.parse(content, context);
  for (let i = 0; i < context.eventCount; i++) problems.push(context.getEventAt(i).message);
  const validation = card.validateProperties();
  for (const e of validation.validationEvents) problems.push(e.message);
  if (card.getItemCount() === 0) problems.push("an empty card");
}
if (problems.length) {
  console.log(problems.join("\n"));
  process.exit(1);
}
console.log("ok");
