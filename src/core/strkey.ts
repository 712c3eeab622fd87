/**
 * Stellar StrKey (SEP-23) for claimant addresses: a `G…` ed25519 account or a `C…` contract.
 * Pure and dependency-free so the same check runs in the Worker, in Node tools and in the page
 * before anything is sent.
 *
 * Layout: base32(version byte ‖ 32-byte payload ‖ CRC16-XModem(version ‖ payload), little-endian)
 * = 35 bytes = exactly 56 characters of RFC 4648 base32 without padding.
 *
 * Input is taken exactly as given: surrounding whitespace and lowercase are refused, not repaired,
 * so an accepted `address` is always byte-for-byte the canonical form the caller passed in (and
 * the value we store and compare), never a silently rewritten one.
 */

export type ClaimantKind = "account" | "contract";

/** Stable codes for callers that branch on the failure; `reason` is for humans. */
export type ClaimantErrorCode =
  | "not_string"
  | "secret_key"
  | "whitespace"
  | "muxed"
  | "length"
  | "lowercase"
  | "not_base32"
  | "wrong_type"
  | "checksum"
  | "version";

export type ParsedClaimant =
  | { ok: true; address: string; kind: ClaimantKind }
  | { ok: false; code: ClaimantErrorCode; reason: string };

/** Version bytes (SEP-23): key type in the top 5 bits, algorithm (0 = ed25519/sha256) below. */
const VERSION: Record<ClaimantKind, number> = { account: 6 << 3, contract: 2 << 3 };

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const STRKEY_CHARS = 56;
const RAW_BYTES = 35;
const MUXED_CHARS = 69;

/** First characters of the other StrKey types, so a wrong paste is named rather than "invalid". */
const OTHER_TYPES: Record<string, string> = {
  T: "a pre-authorized transaction hash",
  X: "a hash-x signer",
  L: "a liquidity pool id",
  B: "a claimable balance id",
  P: "a signed-payload signer",
};

const fail = (code: ClaimantErrorCode, reason: string): ParsedClaimant => ({
  ok: false,
  code,
  reason,
});

/**
 * Validates a claimant address. Never throws, whatever the input (it sits on a trust boundary).
 * Reasons never echo the input, so a pasted secret does not end up in logs via the message.
 */
export function parseClaimant(input: string): ParsedClaimant {
  if (typeof input !== "string") return fail("not_string", "The address must be a string.");

  // Checked first and leniently (trimmed, any case, checksum not required): a seed pasted by
  // mistake must be called out as a secret even when it also has some other defect.
  const probe = input.trim().toUpperCase();
  if (probe.length === STRKEY_CHARS && probe.startsWith("S")) {
    return fail(
      "secret_key",
      "This is a secret key (S…), not an address: never send or share it. Use your public G… address.",
    );
  }
  if (input !== input.trim()) {
    return fail("whitespace", "The address has spaces or line breaks around it; remove them.");
  }
  if (probe.startsWith("M") && input.length === MUXED_CHARS) {
    return fail(
      "muxed",
      "Muxed (M…) addresses are not accepted; use the underlying G… account address.",
    );
  }
  if (input.length !== STRKEY_CHARS) {
    return fail(
      "length",
      `The address must be exactly ${STRKEY_CHARS} characters long, not ${input.length}.`,
    );
  }
  if (input !== input.toUpperCase()) {
    return fail("lowercase", "The address must be in uppercase letters.");
  }
  for (let i = 0; i < input.length; i++) {
    if (!ALPHABET.includes(input[i]!)) {
      return fail(
        "not_base32",
        `Character ${i + 1} is not base32 (only A–Z and 2–7 are allowed; no 0, 1, 8, 9 or padding).`,
      );
    }
  }
  const first = input[0]!;
  if (first !== "G" && first !== "C") {
    const what = OTHER_TYPES[first];
    return fail(
      "wrong_type",
      what
        ? `This is ${what} (${first}…), not an account (G…) or contract (C…) address.`
        : `The address must start with G (account) or C (contract), not ${first}.`,
    );
  }

  const raw = decodeBase32(input);
  const body = raw.subarray(0, RAW_BYTES - 2);
  const crc = crc16xmodem(body);
  // Checked before the exact version byte: a one-character typo is far likelier than a
  // deliberately crafted key type, and "typo" is then the right thing to tell the user.
  if (raw[RAW_BYTES - 2] !== (crc & 0xff) || raw[RAW_BYTES - 1] !== crc >> 8) {
    return fail("checksum", "The address checksum does not match; check it for a typo.");
  }
  const version = raw[0]!;
  // The first character fixes only the top 5 bits; the low 3 (algorithm) must be zero too.
  const kind = (Object.keys(VERSION) as ClaimantKind[]).find((k) => VERSION[k] === version);
  if (!kind) {
    return fail(
      "version",
      `Unsupported version byte 0x${version.toString(16).padStart(2, "0")}; expected an ed25519 account or a contract.`,
    );
  }
  return { ok: true, address: input, kind };
}

/** Builds the StrKey for a 32-byte payload (ed25519 public key or contract id). */
export function encodeStrKey(kind: ClaimantKind, payload32: Uint8Array): string {
  if (payload32.length !== 32) {
    throw new RangeError(`StrKey payload must be 32 bytes, got ${payload32.length}`);
  }
  const raw = new Uint8Array(RAW_BYTES);
  raw[0] = VERSION[kind];
  raw.set(payload32, 1);
  const crc = crc16xmodem(raw.subarray(0, RAW_BYTES - 2));
  raw[RAW_BYTES - 2] = crc & 0xff;
  raw[RAW_BYTES - 1] = crc >> 8;
  return encodeBase32(raw);
}

/** CRC16-XModem (poly 0x1021, init 0, unreflected), the checksum SEP-23 specifies. */
function crc16xmodem(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : crc << 1;
  }
  return crc & 0xffff;
}

function encodeBase32(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes already-validated base32 (56 alphabet characters → 35 bytes). SEP-23 also demands that
 * the unused low bits of the last character be zero, but 56 × 5 = 280 = 35 × 8 bits: at this
 * length every character is fully used, so every 56-character string has exactly one decoding
 * and re-encodes to itself — there is no non-canonical form left to reject.
 */
function decodeBase32(s: string): Uint8Array {
  const out = new Uint8Array(RAW_BYTES);
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (const ch of s) {
    acc = (acc << 5) | ALPHABET.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}
