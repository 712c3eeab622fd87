/** Who counts as one client: the address rule, pure (src/http/client.ts hashes its answer). */

/**
 * The network an address stands for, as one canonical string. An IPv6 address is its /64
 * (`v6 2001:db8:0:1::/64`): a home or a server is given a whole /64 and picks addresses in it at
 * will, so one machine must not count as many clients. An IPv4 address is itself (`v4 1.2.3.4`),
 * also when written IPv4-mapped (`::ffff:1.2.3.4`, `::ffff:102:304`). A missing or malformed
 * address is one client, `unknown` (behind Cloudflare the header is always a well-formed address).
 */
export function clientNetwork(address: string | undefined): string {
  const text = (address ?? "").trim();
  const v4 = parseIPv4(text);
  if (v4) return `v4 ${v4.join(".")}`;
  const v6 = parseIPv6(text.replace(/^\[(.*)\]$/, "$1").replace(/%[^%]*$/, ""));
  if (!v6) return "unknown";
  const mapped = v6.slice(0, 5).every((h) => h === 0) && v6[5] === 0xffff;
  if (mapped) return `v4 ${v6[6]! >> 8}.${v6[6]! & 0xff}.${v6[7]! >> 8}.${v6[7]! & 0xff}`;
  return `v6 ${v6
    .slice(0, 4)
    .map((h) => h.toString(16))
    .join(":")}::/64`;
}

/** Four decimal octets (0–255, at most three digits each); null for anything else. */
function parseIPv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return null;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

/**
 * Eight 16-bit groups from any RFC 4291 text form: full, `::`-compressed (once), with a trailing
 * dotted IPv4; null for anything else.
 */
function parseIPv6(text: string): number[] | null {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (const [i, p] of parts.entries()) {
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIPv4(p);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  // A dotted IPv4 may only end the address.
  if (halves.length === 2 && halves[0]!.includes(".")) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...Array<number>(missing).fill(0), ...tail] : null;
}
