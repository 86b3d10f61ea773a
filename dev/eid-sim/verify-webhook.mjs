// Verifies webhook deliveries with an independent Standard Webhooks implementation (the
// `standardwebhooks` package), as a service provider's receiver would.
//
// Usage: node verify-webhook.mjs <secret> < messages.json
// where messages.json is an array of {"headers": {"webhook-id", "webhook-timestamp",
// "webhook-signature"}, "body": "<the raw body>"}. Prints the verified payloads as a JSON array
// and exits 0, or prints the first error and exits 1.

import { Webhook } from 'standardwebhooks';

const [secret] = process.argv.slice(2);
if (!secret) {
  console.error('usage: node verify-webhook.mjs <secret> < messages.json');
  process.exit(2);
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const messages = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const webhook = new Webhook(secret);
const verified = [];
for (const { headers, body } of messages) {
  try {
    verified.push(webhook.verify(body, headers));
  } catch (err) {
    console.error(`${headers['webhook-id']}: ${err.name}: ${err.message}`);
    process.exit(1);
  }
}
console.log(JSON.stringify(verified));
