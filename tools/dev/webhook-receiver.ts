/**
 * A Standard Webhooks receiver on loopback for the dev tools (`npm run bench:webhooks`,
 * `npm run game-flows`): it checks every delivery's signature against the `whsec_` secret and
 * records when each arrived, optionally refusing the first deliveries of each `webhook-id`.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";

/** One POST the receiver got. */
export interface Delivery {
  /** `webhook-id` ("" when missing). */
  id: string;
  /** 1 for the first delivery of this id, 2 for its first retry, … */
  nth: number;
  /** When its body had arrived (ms since the epoch, this machine's clock). */
  arrivedAt: number;
  /** `webhook-timestamp`, seconds. */
  timestamp: number;
  /** The signature verified (HMAC-SHA256 over `id.timestamp.body`, timestamp within 5 min). */
  verified: boolean;
  /** The status the receiver answered. */
  answered: number;
  /** The parsed body (null when it is not JSON). */
  payload: WebhookBody | null;
}

/** The parts of a Standard Webhooks body the scripts read. */
export interface WebhookBody {
  type?: string;
  timestamp?: string;
  data?: { job_id?: string; status?: string; claimant?: string | null; seal?: string | null };
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/webhooks`. */
  url: string;
  /** Every delivery, in arrival order. */
  deliveries: Delivery[];
  /** From now on, answer 500 to the first `k` deliveries of each webhook-id (0: accept all). */
  refuseFirst(k: number): void;
  close(): Promise<void>;
}

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/** Standard Webhooks' default tolerance for `webhook-timestamp`. */
const TIMESTAMP_TOLERANCE_S = 300;

/**
 * Standard Webhooks verification, with node:crypto: some `v1,<base64>` of the space-separated
 * `webhook-signature` list equals HMAC-SHA256(key, `${id}.${timestamp}.${body}`), the key being
 * the base64 after `whsec_`, and the timestamp is within 5 minutes of now.
 */
export function verifyWebhook(
  secret: string,
  id: string,
  timestamp: string,
  signature: string,
  body: string,
  now = Date.now(),
): boolean {
  if (!/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now / 1000 - Number(timestamp)) > TIMESTAMP_TOLERANCE_S) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  return signature.split(" ").some((entry) => {
    const [version, sig] = entry.split(",");
    if (version !== "v1" || !sig) return false;
    const got = Buffer.from(sig, "base64");
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

const BODY_LIMIT = 1 << 20;

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        resolve(null);
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * A webhook receiver on 127.0.0.1 (a free port): verifies each delivery with `secret`, records
 * it, and answers 204 (500 to the first `refuseFirst` deliveries of an id; 401 to a bad
 * signature, as a real receiver would). `onDelivery` runs after the answer is sent.
 */
export async function startWebhookReceiver(
  secret: string,
  onDelivery: (d: Delivery) => void = () => {},
): Promise<WebhookReceiver> {
  const deliveries: Delivery[] = [];
  const seen = new Map<string, number>();
  let refuse = 0;
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== "POST" || req.url !== "/webhooks") {
        res.writeHead(404).end();
        return;
      }
      const body = await readBody(req).catch(() => null);
      const arrivedAt = Date.now();
      if (body === null) {
        res.writeHead(413).end();
        return;
      }
      const header = (name: string) => String(req.headers[name] ?? "");
      const id = header("webhook-id");
      const text = body.toString("utf8");
      const verified = verifyWebhook(
        secret,
        id,
        header("webhook-timestamp"),
        header("webhook-signature"),
        text,
        arrivedAt,
      );
      const nth = (seen.get(id) ?? 0) + 1;
      seen.set(id, nth);
      const answered = !verified ? 401 : nth <= refuse ? 500 : 204;
      let payload: WebhookBody | null = null;
      try {
        payload = JSON.parse(text) as WebhookBody;
      } catch {
        // recorded as null
      }
      const d: Delivery = {
        id,
        nth,
        arrivedAt,
        timestamp: Number(header("webhook-timestamp")),
        verified,
        answered,
        payload,
      };
      deliveries.push(d);
      res.writeHead(answered).end();
      onDelivery(d);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/webhooks`,
    deliveries,
    refuseFirst(k) {
      refuse = k;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
