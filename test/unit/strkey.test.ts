/**
 * Claimant StrKey parsing (src/core/strkey.ts) against published vectors:
 *  - SEP-23 "Strkeys", stellar/stellar-protocol ecosystem/sep-0023.md (valid and invalid lists);
 *  - stellar/rs-stellar-strkey tests/tests.rs (valid/invalid G, C, L, T, X, M, S keys);
 *  - stellar/js-stellar-base test/unit/strkey_test.js (isValidEd25519PublicKey lists, checksum
 *    and version cases, seeds).
 * Then properties: random payloads round-trip, and any single-character change is refused.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ClaimantKind, encodeStrKey, parseClaimant } from "../../src/core/strkey.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!, (b) => parseInt(b, 16));

// SEP-23 valid account/contract; payload 3f0c34bf… given there and in rs-stellar-strkey.
const SEP23_ACCOUNT = "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ";
const SEP23_CONTRACT = "CA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUWDA";
const SEP23_PAYLOAD = hex("3f0c34bf93ad0d9971d04ccc90f705511c838aad9734a4a2fb0d7a03fc7fe89a");
// rs-stellar-strkey's second key, as account and contract.
const RS_ACCOUNT = "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5";
const RS_CONTRACT = "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE";
const RS_PAYLOAD = hex("363eaa3867841fbad0f4ed88c779e4fe66e56a2470dc98c0ec9c073d05c7b103");
const ZERO_ACCOUNT = "GAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAWHF";

// js-stellar-base isValidEd25519PublicKey "returns true" list (plus its version-byte test key).
const JS_VALID_ACCOUNTS = [
  "GBBM6BKZPEHWYO3E3YKREDPQXMS4VK35YLNU7NFBRI26RAN7GI5POFBB",
  "GB7KKHHVYLDIZEKYJPAJUOTBE5E3NJAXPSDZK7O6O44WR3EBRO5HRPVT",
  "GD6WVYRVID442Y4JVWFWKWCZKB45UGHJAABBJRS22TUSTWGJYXIUR7N2",
  "GBCG42WTVWPO4Q6OZCYI3D6ZSTFSJIXIS6INCIUF23L6VN3ADE4337AP",
  "GDFX463YPLCO2EY7NGFMI7SXWWDQAMASGYZXCG2LATOF3PP5NQIUKBPT",
  "GBXEODUMM3SJ3QSX2VYUWFU3NRP7BQRC2ERWS7E2LZXDJXL2N66ZQ5PT",
  "GAJHORKJKDDEPYCD6URDFODV7CVLJ5AAOJKR6PG2VQOLWFQOF3X7XLOG",
  "GACXQEAXYBEZLBMQ2XETOBRO4P66FZAJENDHOQRYPUIXZIIXLKMZEXBJ",
  "GDD3XRXU3G4DXHVRUDH7LJM4CD4PDZTVP4QHOO4Q6DELKXUATR657OZV",
  "GDTYVCTAUQVPKEDZIBWEJGKBQHB4UGGXI2SXXUEW7LXMD4B7MK37CWLJ",
  "GBPXXOA5N4JYPESHAADMQKBPWZWQDQ64ZV6ZL2S3LAGW4SY7NTCMWIVL",
];

// Published test seeds (js-stellar-base, rs-stellar-strkey): throwaway keys, public on purpose.
const TEST_SEEDS = [
  "SBGWKM3CD4IL47QN6X54N6Y33T3JDNVI6AIJ6CD5IM47HG3IG4O36XCU",
  "SBU2RRGLXH3E5CQHTD3ODLDF2BWDCYUSSBLLZ5GNW7JXHDIYKXZWHOKR",
  "SAB5556L5AN5KSR5WF7UOEFDCIODEWEO7H2UR4S5R62DFTQOGLKOVZDY",
];

const refused = (input: string) => {
  const r = parseClaimant(input);
  if (r.ok) throw new Error(`accepted ${input}`);
  return r;
};

describe("parseClaimant accepts published valid addresses", () => {
  it.each([
    [SEP23_ACCOUNT, "account"],
    [RS_ACCOUNT, "account"],
    [ZERO_ACCOUNT, "account"],
    [SEP23_CONTRACT, "contract"],
    [RS_CONTRACT, "contract"],
    ...JS_VALID_ACCOUNTS.map((a) => [a, "account"]),
  ])("%s is a valid %s", (address, kind) => {
    expect(parseClaimant(address)).toEqual({ ok: true, address, kind });
  });

  it("encodes the published payloads to the published addresses", () => {
    expect(encodeStrKey("account", SEP23_PAYLOAD)).toBe(SEP23_ACCOUNT);
    expect(encodeStrKey("contract", SEP23_PAYLOAD)).toBe(SEP23_CONTRACT);
    expect(encodeStrKey("account", RS_PAYLOAD)).toBe(RS_ACCOUNT);
    expect(encodeStrKey("contract", RS_PAYLOAD)).toBe(RS_CONTRACT);
    expect(encodeStrKey("account", new Uint8Array(32))).toBe(ZERO_ACCOUNT);
  });

  it("encodeStrKey refuses a payload that is not 32 bytes", () => {
    expect(() => encodeStrKey("account", new Uint8Array(31))).toThrow(RangeError);
    expect(() => encodeStrKey("account", new Uint8Array(33))).toThrow(RangeError);
  });
});

describe("parseClaimant refuses published invalid strkeys", () => {
  it.each([
    // SEP-23 invalid list (every one: none is a 56-character G/C key).
    ["GAAAAAAAACGC6", "length"],
    ["MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUR", "muxed"],
    ["GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZA", "length"],
    ["GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUACUSI", "length"],
    ["G47QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVP2I", "version"],
    ["MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVAAAAAAAAAAAAAJLKA", "length"],
    ["MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVAAAAAAAAAAAAAAV75I", "length"],
    ["M47QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUQ", "muxed"],
    ["MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUK===", "length"],
    ["MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUO", "muxed"],
    [
      "PA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAQACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB6IAAAAAAAAPM",
      "length",
    ],
    ["BAAD6DBUX6J22DMZOHIEZTEQ64CVCHEDRKWZONFEUL5Q26QD7R76RGR4TV", "length"],
    ["BAAT6DBUX6J22DMZOHIEZTEQ64CVCHEDRKWZONFEUL5Q26QD7R76RGXACA", "length"],
    // rs-stellar-strkey invalid G/C: too long, and an in-stream padding character.
    ["GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJV75ERQ", "length"],
    ["CA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJV72WFI", "length"],
    ["G=3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5", "not_base32"],
    // js-stellar-base isValidEd25519PublicKey "returns false" list and checksum case.
    ["GBPXX0A5N4JYPESHAADMQKBPWZWQDQ64ZV6ZL2S3LAGW4SY7NTCMWIVL", "not_base32"],
    ["GCFZB6L25D26RQFDWSSBDEYQ32JHLRMTT44ZYE3DZQUTYOL7WY43PLBG++", "length"],
    ["GADE5QJ2TY7S5ZB65Q43DFGWYWCPHIYDJ2326KZGAGBN7AE5UY6JVDRRA", "length"],
    ["GB6OWYST45X57HCJY5XWOHDEBULB6XUROWPIKW77L5DSNANBEQGUPADT2", "length"],
    ["GB6OWYST45X57HCJY5XWOHDEBULB6XUROWPIKW77L5DSNANBEQGUPADT2T", "length"],
    ["GDXIIZTKTLVYCBHURXL2UPMTYXOVNI7BRAEFQCP6EZCY4JLKY4VKFNLT", "checksum"],
    ["GBPXXOA5N4JYPESHAADMQKBPWZWQDQ64ZV6ZL2S3LAGW4SY7NTCMWIVT", "checksum"],
    ["gWRYUerEKuz53tstxEuR3NCkiQDcV4wzFHmvLnZmj7PUqxW2wt", "length"],
    ["test", "length"],
    ["", "length"],
  ])("%s → %s", (input, code) => {
    const r = refused(input);
    expect(r.code).toBe(code);
    expect(r.reason.length).toBeGreaterThan(0);
  });

  it("other valid StrKey types of the right length are refused, naming what they are", () => {
    // Valid L / T / X keys from SEP-23 and rs-stellar-strkey (correct checksums, 56 characters).
    const cases: [string, RegExp][] = [
      ["LA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUPJN", /liquidity pool/],
      ["TBU2RRGLXH3E5CQHTD3ODLDF2BWDCYUSSBLLZ5GNW7JXHDIYKXZWHXL7", /pre-authorized transaction/],
      ["XBU2RRGLXH3E5CQHTD3ODLDF2BWDCYUSSBLLZ5GNW7JXHDIYKXZWGTOG", /hash-x/],
    ];
    for (const [input, what] of cases) {
      const r = refused(input);
      expect(r.code).toBe("wrong_type");
      expect(r.reason).toMatch(what);
    }
  });

  it.each([
    "MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUQ",
    "MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVAAAAAAAAAAAAAJLK",
    "MA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAAAAAAAAAPCICBKU",
  ])("a valid muxed account %s is refused, pointing to the G… account", (input) => {
    const r = refused(input);
    expect(r.code).toBe("muxed");
    expect(r.reason).toMatch(/[Mm]uxed/);
    expect(r.reason).toMatch(/G…/);
  });
});

describe("secret keys", () => {
  it.each(TEST_SEEDS)("seed %s is refused as a secret that must never be sent", (seed) => {
    const r = refused(seed);
    expect(r.code).toBe("secret_key");
    expect(r.reason).toMatch(/secret key/i);
    expect(r.reason).toMatch(/never send/i);
    // The message must not repeat the secret (it may be logged or shown).
    expect(r.reason).not.toContain(seed.slice(1, 10));
  });

  it("a seed is still called a secret when lowercase, padded with spaces or mistyped", () => {
    const seed = TEST_SEEDS[0]!;
    expect(refused(seed.toLowerCase()).code).toBe("secret_key");
    expect(refused(`  ${seed}\n`).code).toBe("secret_key");
    // js-stellar-base's bad-checksum seed.
    expect(refused("SBGWKM3CD4IL47QN6X54N6Y33T3JDNVI6AIJ6CD5IM47HG3IG4O36XCX").code).toBe(
      "secret_key",
    );
  });
});

describe("form: exact length, uppercase, no whitespace", () => {
  it("56 characters is accepted; 55 and 57 are refused as the wrong length", () => {
    expect(parseClaimant(SEP23_ACCOUNT).ok).toBe(true);
    for (const input of [SEP23_ACCOUNT.slice(0, 55), `${SEP23_ACCOUNT}A`]) {
      const r = refused(input);
      expect(r.code).toBe("length");
      expect(r.reason).toContain(String(input.length));
    }
    expect(refused(SEP23_CONTRACT.slice(0, 55)).code).toBe("length");
    expect(refused(`${SEP23_CONTRACT}A`).code).toBe("length");
  });

  it("lowercase, even a single letter, is refused rather than upper-cased", () => {
    expect(refused(SEP23_ACCOUNT.toLowerCase()).code).toBe("lowercase");
    expect(refused(`g${SEP23_ACCOUNT.slice(1)}`).code).toBe("lowercase");
    expect(refused(`${SEP23_CONTRACT.slice(0, 55)}a`).code).toBe("lowercase");
  });

  it("surrounding whitespace is refused rather than trimmed", () => {
    for (const input of [` ${SEP23_ACCOUNT}`, `${SEP23_ACCOUNT}\n`, `\t${SEP23_CONTRACT} `]) {
      expect(refused(input).code).toBe("whitespace");
    }
  });

  it("characters outside the base32 alphabet are refused by position", () => {
    const r = refused(`${SEP23_ACCOUNT.slice(0, 10)}1${SEP23_ACCOUNT.slice(11)}`);
    expect(r.code).toBe("not_base32");
    expect(r.reason).toContain("Character 11");
  });
});

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// Beyond the alphabet: lowercase, digits base32 lacks, padding, whitespace, a lookalike.
const OTHER_CHARS = ["a", "g", "0", "1", "8", "9", "=", " ", "Ö"];

describe("checksum: every single-character change of a valid address is refused", () => {
  it.each([SEP23_ACCOUNT, SEP23_CONTRACT, ZERO_ACCOUNT, RS_CONTRACT])("%s", (valid) => {
    let tried = 0;
    for (let i = 0; i < valid.length; i++) {
      for (const ch of [...ALPHABET, ...OTHER_CHARS]) {
        if (ch === valid[i]) continue;
        const mutated = valid.slice(0, i) + ch + valid.slice(i + 1);
        expect(parseClaimant(mutated).ok, mutated).toBe(false);
        tried++;
      }
    }
    expect(tried).toBe(56 * (31 + OTHER_CHARS.length));
  });
});

const kindArb = fc.constantFrom<ClaimantKind>("account", "contract");
const payloadArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("properties", () => {
  it("encode then parse round-trips any payload, with the right prefix and kind", () => {
    fc.assert(
      fc.property(kindArb, payloadArb, (kind, payload) => {
        const address = encodeStrKey(kind, payload);
        expect(address).toMatch(/^[A-Z2-7]{56}$/);
        expect(address[0]).toBe(kind === "account" ? "G" : "C");
        expect(parseClaimant(address)).toEqual({ ok: true, address, kind });
      }),
      { numRuns: 1000 },
    );
  });

  it("a random single-character change of a random valid address is refused", () => {
    fc.assert(
      fc.property(
        kindArb,
        payloadArb,
        fc.nat(55),
        fc.constantFrom(...ALPHABET),
        (kind, payload, i, ch) => {
          const address = encodeStrKey(kind, payload);
          fc.pre(address[i] !== ch);
          expect(parseClaimant(address.slice(0, i) + ch + address.slice(i + 1)).ok).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("never throws, whatever the input", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[A-Z2-7]{50,60}$/)), (s) => {
        const r = parseClaimant(s);
        if (r.ok) expect(r.address).toBe(s);
        else expect(r.reason).not.toBe("");
      }),
      { numRuns: 2000 },
    );
    expect(refused(undefined as unknown as string).code).toBe("not_string");
  });
});
